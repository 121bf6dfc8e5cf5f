"""``hearth lists status`` and ``hearth lists update``: what a parent (or their helper) reads in a terminal."""
from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TextIO

from ..config import Config, ListSource
from .catalog import CatalogError, category_domains_path, load_catalog
from .guard import shared_matcher, shared_suffixes
from .parse import EXCEPTION, RULE, LineCounts, iter_names, open_list
from .sources import UpdateResult, read_status, update_all
from .store import source_path


def status_lines(config: Config) -> list[str]:
    """A table of every list: the parent's sources with their update status, then the curated categories."""
    status = read_status(config)
    rows: list[tuple[str, ...]] = [("LIST", "CATEGORY", "ENTRIES", "LAST SUCCESS", "LAST ERROR")]
    protect: dict[str, int] = {}          # names guarding each category, every list of it added up
    for src in config.lists.sources:
        if src.url:
            st = status.get(src.name)
            if st is None:
                rows.append((src.name, src.category, "-", "never", "not downloaded yet"))
                continue
            error = f"{_when(config, st.last_error_at)}: {st.last_error}" if st.last_error else "-"
            notes = [f"{st.unsupported:,} lines not understood (skipped)"] if st.unsupported else []
            notes += _narrowed_note(config, source_path(config, src))
            if notes:
                error = "; ".join(([] if error == "-" else [error]) + notes)
            rows.append((src.name, src.category, f"{st.entries:,}", _when(config, st.last_success), error))
            protect[src.category] = protect.get(src.category, 0) + st.entries
        else:
            row = _file_row(config, source_path(config, src), parent=True)
            rows.append((src.name, src.category, *row))
            protect[src.category] = protect.get(src.category, 0) + _count(row[0])
    extra: list[str] = []
    try:
        catalog = load_catalog(config.blocklists_dir)
    except CatalogError as e:
        extra.append(f"curated lists unusable: {e}")
    else:
        for name in catalog.categories:
            entries, _, error = _file_row(config, category_domains_path(config.blocklists_dir, name))
            apps = sum(len(a.domains) for a in catalog.apps.values() if a.category == name)
            protect[name] = protect.get(name, 0) + _count(entries) + apps
            if apps and entries != "-":
                entries = f"{entries} +{apps:,} app"
            rows.append((f"{name} (curated)", name, entries, "shipped", error))
        extra.append("entries protecting each category (a name may sit in several lists): " + ", ".join(
            f"{name} {protect.get(name, 0):,}" for name in sorted(protect)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1] for r in rows]
    return [line.rstrip() for line in lines] + extra


def run_update(config: Config, out: TextIO = sys.stdout, *, only: str | None = None,
               accept_shrink: bool = False) -> int:
    """Update every URL source now (or the one named ``only``), one progress line each; 0 if all succeeded, 1 if
    any failed, 2 if ``only`` names no URL list."""
    urls = [s.name for s in config.lists.sources if s.url]
    if not urls:
        print("no list URLs configured (lists.sources in the config)", file=out)
        return 0
    if only is not None and only not in urls:
        print(f"no list URL named {only!r} (lists with a URL: {', '.join(urls)})", file=out)
        return 2

    def progress(i: int, total: int, source: ListSource, result: UpdateResult) -> None:
        if result.error:
            what = f"{'kept last good copy' if result.had_copy else 'not downloaded'}: {result.error}"
        else:
            what = f"{result.entries:,} entries ({'changed' if result.changed else 'unchanged'})"
        print(f"[{i}/{total}] {source.name}: {what}", file=out, flush=True)

    # The progress lines say it all: the module's own log lines would say each result a second time.
    quiet = logging.getLogger("appliance.lists.sources")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        results = update_all(config, progress, only=only, accept_shrink=accept_shrink)
    finally:
        quiet.setLevel(level)
    return 1 if any(r.error for r in results) else 0


def _count(entries: str) -> int:
    return int(entries.replace(",", "")) if entries[:1].isdigit() else 0


@dataclass(frozen=True, slots=True)
class _Summary:
    entries: int            # names that block (a name given twice counts twice, as for a download)
    unsupported: int
    narrowed: int           # suffix rules the shared-infrastructure guard keeps to their own host
    example: str | None     # the first of those


def _summary(config: Config, path: Path, guard: bool) -> _Summary:
    """One pass over a list file, a line at a time: a million-line list costs no memory to describe."""
    on_shared = shared_matcher(shared_suffixes(config.blocklists_dir) if guard else frozenset())
    counts = LineCounts()
    entries = n_narrowed = 0
    example = None
    with open_list(path) as f:
        for name, kind in iter_names(f, counts):
            if kind == EXCEPTION:
                continue
            entries += 1
            if kind == RULE and on_shared(name):
                n_narrowed += 1
                example = example or name
    return _Summary(entries, counts.unsupported, n_narrowed, example)


def _file_row(config: Config, path: Path, parent: bool = False) -> tuple[str, str, str]:
    """(entries, last success, last error) for a list read from a file rather than downloaded."""
    try:
        summary = _summary(config, path, guard=parent)
        mtime = datetime.fromtimestamp(path.stat().st_mtime, config.tz).strftime("%Y-%m-%d %H:%M")
    except OSError as e:
        return "-", "-", f"cannot read {path}: {e.strerror or e}"
    notes = [f"{summary.unsupported:,} unsupported lines"] if summary.unsupported else []
    if parent:
        notes += _narrowed_note(config, path, summary)
    return f"{summary.entries:,}", f"file {mtime}", "; ".join(notes) or "-"


def _narrowed_note(config: Config, path: Path, summary: _Summary | None = None) -> list[str]:
    """What the shared-infrastructure guard did to a parent's list, in words."""
    try:
        summary = summary or _summary(config, path, guard=True)
    except OSError:
        return []
    if not summary.narrowed:
        return []
    return [f"{summary.narrowed:,} names on shared infrastructure block their own host only "
            f"(e.g. {summary.example})"]


def _when(config: Config, iso: str | None) -> str:
    if not iso:
        return "never"
    try:
        return datetime.fromisoformat(iso).astimezone(config.tz).strftime("%Y-%m-%d %H:%M")
    except (ValueError, OSError):
        return iso
