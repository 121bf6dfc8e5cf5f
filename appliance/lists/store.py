"""Compile every list a config uses into one DomainIndex, and keep the compiled index on disk between restarts.

Inputs, fed curated first so that a name in a curated list and a parent's list is reported as curated:
- categories/<name>/domains.txt    -> list <name>,           source "curated"
- apps/<name>.yaml domains         -> list "app:<name>" and the app's category, source "curated"
- apps/<name>.yaml needs           -> list "needs:<name>", exact hosts, source "curated"
- never-block.txt                  -> list "never-block",    source "curated"
- config.essentials                -> list "never-block",    source "config"
- school.txt                       -> list "school",         source "curated"
- config.school                    -> list "school",         source "config"
- config.lists.sources             -> list source.category,  source source.name (URL sources: the last good
                                      download under data_dir/lists/; path sources: the file itself)

The cache file's name carries a fingerprint of every input (file sizes, mtimes, inodes, the config's list
settings), so a restart with nothing changed loads in a fraction of a second and any change recompiles. Plain
blocking code with no event loop: the daemon runs it in a worker thread and swaps the result in.
"""
from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Iterator

from ..config import Config, ListSource
from .catalog import category_domains_path, load_catalog
from .guard import SHARED_FILE, narrowed, shared_suffixes
from .index import DomainIndex
from .parse import parse_file

log = logging.getLogger(__name__)

NEVER_BLOCK = "never-block"
SCHOOL = "school"
CURATED = "curated"
# Bump when parsing or the index format changes meaning: old caches then stop matching.
_CACHE_VERSION = "2"      # 2: exact-host rules (hosts-file lines), the shared-infrastructure guard


def lists_dir(config: Config) -> Path:
    return Path(config.data_dir) / "lists"


def cache_dir(config: Config) -> Path:
    return Path(config.data_dir) / "cache"


def source_path(config: Config, source: ListSource) -> Path:
    """Where a source's list text is read from: its file, or the last good download of its URL."""
    if source.path:
        return Path(source.path).expanduser()
    return lists_dir(config) / f"{source.name}.txt"


def compile_index(config: Config) -> DomainIndex:
    entries, exceptions, exact = _inputs(config)
    index = DomainIndex.build(entries, exceptions, exact)
    _return_memory_to_os()
    return index


def load_or_compile(config: Config, *, child_over: int | None = None) -> DomainIndex:
    """The cached index if its inputs are unchanged, else a fresh compile (saved, older caches removed).

    With ``child_over`` (bytes), a compile whose parent-added lists are larger than that runs in a child process:
    a million names briefly take ~200 MB, which a Pi's daemon should not keep, and the compile's Python work
    would otherwise hold the GIL the DNS loop needs. The daemon then loads the child's cache file (~20 ms).
    """
    path = cache_dir(config) / f"index-{fingerprint(config)}.bin"
    if path.is_file():
        try:
            return DomainIndex.load(path)
        except (OSError, ValueError) as e:
            log.warning("recompiling: cached index unusable: %s", e)
            path.unlink(missing_ok=True)
    if child_over is not None and _source_bytes(config) > child_over:
        try:
            _compile_in_child(config)
            return DomainIndex.load(path)
        except (OSError, ValueError, RuntimeError) as e:
            log.warning("compiling in this process instead: %s", e)
    index = compile_index(config)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        index.save(path)
    except OSError as e:          # a full or read-only disk costs a slower restart, not the filtering
        log.warning("cannot cache the compiled index at %s: %s", path, e)
        return index
    for old in path.parent.glob("index-*.bin"):
        if old != path:
            old.unlink(missing_ok=True)
    return index


def _source_bytes(config: Config) -> int:
    total = 0
    for src in config.lists.sources:
        try:
            total += source_path(config, src).stat().st_size
        except OSError:
            pass
    return total


def _compile_in_child(config: Config) -> None:
    import multiprocessing      # here: a CLI command that reads the compiled index never starts a process
    ctx = multiprocessing.get_context("spawn")      # never fork a process that runs an event loop and threads
    p = ctx.Process(target=load_or_compile, args=(config,), name="hearth-compile", daemon=True)
    p.start()
    p.join()
    if p.exitcode != 0:
        raise RuntimeError(f"the compile process exited with {p.exitcode}")


def fingerprint(config: Config) -> str:
    """A short digest of everything compile_index reads; cheap (stat calls and a few YAML-free paths)."""
    h = hashlib.sha256()
    h.update(f"{_CACHE_VERSION}\0{sorted(config.essentials)}\0{sorted(config.school)}\0".encode())
    for src in config.lists.sources:
        h.update(f"{src.name}\0{src.category}\0{src.url}\0{src.path}\0".encode())
        _stat_into(h, source_path(config, src))
    root = Path(config.blocklists_dir)
    h.update(f"{root.resolve()}\0".encode())
    for path in _curated_files(root):
        _stat_into(h, path)
    return h.hexdigest()[:16]


def _stat_into(h: "hashlib._Hash", path: Path) -> None:
    try:
        st = path.stat()
        h.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ino}\0".encode())
    except OSError:
        h.update(f"{path}\0missing\0".encode())


def _curated_files(root: Path) -> list[Path]:
    files = sorted(root.glob("categories/*/domains.txt")) + sorted(root.glob("categories/*/category.yaml"))
    files += sorted(root.glob("apps/*.yaml"))
    files.append(root / "never-block.txt")
    files.append(root / "school.txt")
    files.append(root / SHARED_FILE)
    return files


def _inputs(config: Config) -> tuple[Iterator[tuple[str, str, str]], list[tuple[str, str, str]],
                                     list[tuple[str, str, str]]]:
    root = Path(config.blocklists_dir)
    catalog = load_catalog(root)
    exceptions: list[tuple[str, str, str]] = []
    exact: list[tuple[str, str, str]] = []      # hosts-file lines, and rules the shared-infrastructure guard narrows
    shared = shared_suffixes(root) if config.lists.sources else frozenset()

    def entries() -> Iterator[tuple[str, str, str]]:
        # A generator: a million-line list is parsed, fed and freed one source at a time.
        for name in catalog.categories:
            parsed = _parse(category_domains_path(root, name), name)
            if parsed:
                yield from ((d, name, CURATED) for d in parsed.domains)
        for app in catalog.apps.values():
            for d in app.domains:
                yield d, f"app:{app.name}", CURATED
                yield d, app.category, CURATED
            # what the app needs, as exact hosts of a list no profile blocks: a timed allow of the app lets
            # them through (policy/decide.py, link c)
            exact.extend((h, f"needs:{app.name}", CURATED) for h in app.needs)
        parsed = _parse(root / "never-block.txt", NEVER_BLOCK)
        if parsed:
            yield from ((d, NEVER_BLOCK, CURATED) for d in parsed.domains)
        yield from ((d, NEVER_BLOCK, "config") for d in config.essentials)
        parsed = _parse(root / "school.txt", SCHOOL) if (root / "school.txt").exists() else None
        if parsed:
            yield from ((d, SCHOOL, CURATED) for d in parsed.domains)
        yield from ((d, SCHOOL, "config") for d in config.school)
        for src in config.lists.sources:
            parsed = _parse(source_path(config, src), src.name)
            if parsed:
                narrow = set(narrowed(parsed.domains, parsed.exact, shared))
                if narrow:
                    log.warning("list %s: %d rules on shared infrastructure (e.g. %s) block their own host only",
                                src.name, len(narrow), ", ".join(sorted(narrow)[:3]))
                one_host = parsed.exact | narrow
                for d in parsed.domains:
                    if d in one_host:
                        exact.append((d, src.category, src.name))
                    else:
                        yield d, src.category, src.name
                exceptions.extend((d, src.category, src.name) for d in parsed.exceptions)

    # exceptions and exact fill while entries() runs; DomainIndex.build consumes entries before it reads them.
    return entries(), exceptions, exact


def _return_memory_to_os() -> None:
    # A million-name compile frees ~100 MB that glibc keeps mapped for the daemon's lifetime (measured: +97 MB RSS
    # after the compile, +9 MB after malloc_trim). On a 1 GB Pi that matters; elsewhere this is a no-op.
    import ctypes      # only after a compile
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _parse(path: Path, what: str):
    try:
        parsed = parse_file(path)
    except FileNotFoundError:
        # A URL list not yet downloaded, or a parent's file that went away: the rest still blocks.
        log.warning("list %s: %s not found; skipped", what, path)
        return None
    except OSError as e:
        log.warning("list %s: cannot read %s: %s; skipped", what, path, e)
        return None
    if parsed.unsupported:
        log.warning("list %s: %d unsupported lines in %s, e.g. %s", what, parsed.unsupported, path,
                    "; ".join(parsed.samples[:2]))
    return parsed
