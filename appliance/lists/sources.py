"""Download the parents' list URLs, keeping the last good copy whenever a new one looks wrong.

A list host that breaks (an HTML error page, an empty or cut-off body, a list shrunk to a fraction) must never
unblock a child's device: the new text is checked before it replaces data_dir/lists/<name>.txt, and the reason
for a refusal is recorded in data_dir/lists/status.json for the admin and ``hearth lists status``.
"""
from __future__ import annotations

import codecs
import filecmp
import json
import logging
import os
import re
import socket
import threading
import time
import zlib
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator, TypeVar

from ..config import Config, ListSource
from ..files import atomic_write
from .parse import EXCEPTION, HOST, RULE, LineCounts, iter_names, open_list
from .store import lists_dir, source_path

log = logging.getLogger(__name__)
T = TypeVar("T")

USER_AGENT = "Hearth/0.1 (home DNS filter; daily list update)"
_CHUNK = 64 * 1024
_SAFE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*\Z")
_status_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class UpdateResult:
    name: str
    changed: bool
    entries: int                  # entries of the list now in use (the new one, or the last good one kept)
    error: str | None = None      # why the download was refused; the last good copy stays
    had_copy: bool = True         # False: there was no good copy to keep (a first download that failed)


@dataclass(frozen=True, slots=True)
class SourceStatus:
    name: str
    url: str | None = None
    entries: int = 0
    exceptions: int = 0
    unsupported: int = 0
    samples: tuple[str, ...] = ()
    last_success: str | None = None      # ISO 8601 UTC: the last time a download was accepted or was unchanged
    last_changed: str | None = None
    last_error: str | None = None        # cleared by the next success
    last_error_at: str | None = None
    etag: str | None = None
    last_modified: str | None = None


class _Refused(Exception):
    """A download that must not replace the last good copy; the message is what the parent reads."""


# --- updating --------------------------------------------------------------------------------------------------

def update_all(config: Config,
               progress: Callable[[int, int, ListSource, UpdateResult], None] | None = None, *,
               only: str | None = None, accept_shrink: bool = False) -> list[UpdateResult]:
    """Update every URL source in turn (or the one named ``only``); ``progress(i, total, source, result)`` after
    each (i from 1). ``accept_shrink``: the parent has checked that a list really shrank by more than half."""
    todo = [s for s in config.lists.sources if s.url and (only is None or s.name == only)]
    results = []
    for i, source in enumerate(todo, 1):
        result = update_source(config, source, accept_shrink=accept_shrink)
        results.append(result)
        if progress:
            progress(i, len(todo), source, result)
    return results


def update_source(config: Config, source: ListSource, now: datetime | None = None, *,
                  accept_shrink: bool = False) -> UpdateResult:
    """Fetch one URL source; never raises for a network or content problem (that is what ``error`` is for)."""
    now = now or datetime.now(timezone.utc)
    stamp = now.astimezone(timezone.utc).isoformat(timespec="seconds")
    old = read_status(config).get(source.name) or SourceStatus(source.name)
    if not source.url:
        return UpdateResult(source.name, False, old.entries, "not a URL source")
    if not source.url.lower().startswith(("http://", "https://")):     # urllib would also open file:// and ftp://
        return _failed(config, source, old, stamp, "only http:// and https:// list URLs are supported")
    if not _SAFE_NAME.match(source.name):
        return _failed(config, source, old, stamp, f"list name {source.name!r} cannot be a file name")
    path = source_path(config, source)
    have_copy = path.is_file()
    old_entries = old.entries if have_copy else 0
    if have_copy and not old.entries:      # a copy without a status (status.json lost): count it once
        old_entries = _count_names(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.download")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            counts, headers = _fetch(source.url, config, old if have_copy else None,
                                     lambda chunks: _write_checked(chunks, tmp))
            if counts is None:                 # 304 Not Modified
                new = _status(old, source, stamp, entries=old_entries, headers=headers)
                _write_status(config, new)
                return UpdateResult(source.name, False, old_entries)
            _check(counts, old_entries, source.name, accept_shrink)
        except _Refused as e:
            tmp.unlink(missing_ok=True)        # first: on a full disk, the status needs its room
            return _failed(config, source, old, stamp, str(e), entries=old_entries, had_copy=have_copy)
        changed = not have_copy or not filecmp.cmp(tmp, path, shallow=False)
        if changed:
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    new = _status(old, source, stamp, entries=counts.entries, headers=headers, changed=changed,
                  exceptions=counts.exceptions, unsupported=counts.unsupported, samples=tuple(counts.samples))
    _write_status(config, new)
    log.info("list %s: %d entries%s", source.name, counts.entries, " (changed)" if changed else "")
    return UpdateResult(source.name, changed, counts.entries)


def _fetch(url: str, config: Config, old: SourceStatus | None,
           consume: Callable[[Iterator[bytes]], T]) -> "tuple[T | None, http.client.HTTPMessage]":
    """``consume(chunks of the body)`` (None for 304) and the headers; _Refused on any transport problem, within
    one overall deadline. The body goes to ``consume`` as it arrives: a 60 MB list is never held whole."""
    import http.client      # here: with ssl they cost `hearth lists status` 15 ms, and only a download needs them
    import urllib.error
    import urllib.request
    limit, timeout = config.lists.max_bytes, config.lists.timeout
    deadline = time.monotonic() + timeout
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, identity"}
    if old and old.etag:
        headers["If-None-Match"] = old.etag
    if old and old.last_modified:
        headers["If-Modified-Since"] = old.last_modified
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            length = resp.headers.get("Content-Length")
            expected = int(length) if length and length.isdigit() else None
            if expected is not None and expected > limit:
                raise _Refused(f"list is {expected:,} bytes, over the {limit:,} byte limit")
            gzip = resp.headers.get("Content-Encoding", "").lower() in ("gzip", "x-gzip")
            inflate = zlib.decompressobj(wbits=31) if gzip else None
            received = size = 0

            def chunks() -> Iterator[bytes]:
                nonlocal received, size
                while True:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise _Refused(f"timed out after {timeout:g} s")
                    _socket_timeout(resp, remaining)
                    # read1: returns what has arrived; read(n) would wait for n bytes from a slow-drip server
                    chunk = resp.read1(_CHUNK)
                    if not chunk:
                        return
                    received += len(chunk)
                    if inflate:
                        chunk = inflate.decompress(chunk, limit + 1 - size)
                    size += len(chunk)
                    if size > limit:
                        raise _Refused(f"list is over the {limit:,} byte limit")
                    yield chunk

            result = consume(chunks())
            if expected is not None and received != expected:
                raise _Refused(f"truncated: received {received:,} of {expected:,} bytes")
            if inflate and not inflate.eof:
                raise _Refused("truncated: the compressed body ends early")
            return result, resp.headers
    except urllib.error.HTTPError as e:
        if e.code == 304 and old:
            return None, e.headers
        raise _Refused(f"HTTP {e.code} {e.reason}") from None
    except http.client.IncompleteRead as e:
        raise _Refused(f"truncated: received {len(e.partial):,} bytes, more were announced") from None
    except (TimeoutError, socket.timeout):
        raise _Refused(f"timed out after {timeout:g} s") from None
    except urllib.error.URLError as e:
        reason = e.reason
        if isinstance(reason, (TimeoutError, socket.timeout)):
            raise _Refused(f"timed out after {timeout:g} s") from None
        raise _Refused(f"cannot reach the list: {reason}") from None
    except (OSError, http.client.HTTPException, zlib.error, ValueError) as e:
        raise _Refused(f"download failed: {e}") from None


def _socket_timeout(resp, remaining: float) -> None:
    # urlopen's timeout is per socket operation; tightening it to what is left of the deadline bounds the whole
    # download. The socket hides behind http.client's file object; if that ever moves, the per-read timeout and
    # the deadline check between reads still bound it.
    sock = getattr(getattr(getattr(resp, "fp", None), "raw", None), "_sock", None)
    if sock is not None:
        sock.settimeout(max(0.05, remaining))


@dataclass(slots=True)
class _Counts(LineCounts):
    entries: int = 0            # names that block (a name given twice counts twice)
    exceptions: int = 0
    printable: bool = False     # some line held more than white space


def _write_checked(chunks: Iterator[bytes], tmp: Path) -> _Counts:
    """Parse the body as it arrives and write it to ``tmp`` normalised: one name a line, smaller than most
    sources (fewer SD card writes) and re-read on the parser's fast path at every compile. Exceptions keep their
    adblock form, and a hosts-file line its hosts form (it blocks that one host, not the names under it)."""
    counts = _Counts()
    form = {RULE: "{}\n", HOST: "0.0.0.0 {}\n", EXCEPTION: "@@||{}^\n"}
    out = _saving(tmp, open, tmp, "w", encoding="ascii")
    try:
        write = out.write
        for name, kind in iter_names(_first_line_checked(_lines(chunks), counts), counts):
            _saving(tmp, write, form[kind].format(name))     # only the file's errors: the socket's are _fetch's
            if kind == EXCEPTION:
                counts.exceptions += 1
            else:
                counts.entries += 1
        _saving(tmp, out.flush)
        _saving(tmp, os.fsync, out.fileno())
    finally:
        try:
            out.close()
        except OSError:     # the rest of a buffer that did not fit: the error already on its way says why
            pass
    return counts


def _saving(tmp: Path, fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except OSError as e:           # a full SD card: the last good copy stays, and the parent reads why
        raise _Refused(f"cannot save the download in {tmp.parent}: {e.strerror or e}") from None


def _first_line_checked(lines: Iterator[str], counts: _Counts) -> Iterator[str]:
    # No list format starts with "<", every HTML or XML page does (a captive portal, a host's error page, a login
    # wall). The Content-Type is not trusted either way: some list hosts serve plain lists as text/html.
    for line in lines:
        if not counts.printable and line.strip():
            counts.printable = True
            if line.lstrip().startswith("<"):
                raise _Refused("HTML instead of a list")
        yield line


_LINE_ENDS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"      # where str.splitlines splits


def _lines(chunks: Iterator[bytes]) -> Iterator[str]:
    """The body's lines, decoded as they arrive (undecodable bytes become U+FFFD), without the leading BOM."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    rest, first = "", True
    for chunk in chunks:
        text = rest + decoder.decode(chunk)
        if first and text:
            text, first = text.removeprefix("\ufeff"), False
        parts = text.splitlines(True)
        rest = parts.pop() if parts and parts[-1][-1] not in _LINE_ENDS else ""
        yield from parts
    rest += decoder.decode(b"", final=True)
    if rest:
        yield rest.removeprefix("\ufeff") if first else rest


def _check(counts: _Counts, old_entries: int, name: str, accept_shrink: bool) -> None:
    if not counts.printable:
        raise _Refused("empty body")
    if not counts.entries:
        raise _Refused(f"no valid domains in {counts.lines:,} lines")
    if counts.entries * 2 < old_entries and not accept_shrink:
        raise _Refused(f"shrank from {old_entries:,} to {counts.entries:,} entries (if the list really got "
                       f"smaller, accept it with: hearth lists update {name} --accept-shrink)")


def _count_names(path: Path) -> int:
    with open_list(path) as f:
        return sum(1 for _, kind in iter_names(f) if kind != EXCEPTION)


def _failed(config: Config, source: ListSource, old: SourceStatus, stamp: str, error: str,
            entries: int | None = None, had_copy: bool | None = None) -> UpdateResult:
    had_copy = source_path(config, source).is_file() if had_copy is None else had_copy
    log.warning("list %s: %s: %s", source.name, "kept last good copy" if had_copy else "not downloaded", error)
    entries = old.entries if entries is None else entries
    _write_status(config, _replace(old, url=source.url, entries=entries, last_error=error, last_error_at=stamp))
    return UpdateResult(source.name, False, entries, error, had_copy)


def _status(old: SourceStatus, source: ListSource, stamp: str, *, entries: int, headers, changed: bool = False,
            **counts) -> SourceStatus:
    return _replace(old, url=source.url, entries=entries, last_success=stamp,
                    last_changed=stamp if changed else old.last_changed, last_error=None, last_error_at=None,
                    etag=headers.get("ETag") or old.etag, last_modified=headers.get("Last-Modified") or old.last_modified,
                    **counts)


def _replace(status: SourceStatus, **changes) -> SourceStatus:
    return SourceStatus(**{**asdict(status), **changes})


# --- status.json -----------------------------------------------------------------------------------------------

def status_path(config: Config) -> Path:
    return lists_dir(config) / "status.json"


def read_status(config: Config) -> dict[str, SourceStatus]:
    """Per-list status by name; {} if no update has run yet. A damaged file reads as empty, never as an error."""
    try:
        raw = json.loads(status_path(config).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        log.warning("ignoring unreadable %s: %s", status_path(config), e)
        return {}
    known = set(SourceStatus.__dataclass_fields__)
    out = {}
    for name, fields in raw.items() if isinstance(raw, dict) else ():
        if isinstance(fields, dict):
            fields = {k: v for k, v in fields.items() if k in known}
            fields["samples"] = tuple(fields.get("samples") or ())
            out[name] = SourceStatus(**{**fields, "name": name})
    return out


def _write_status(config: Config, status: SourceStatus) -> None:
    with _status_lock:
        all_ = read_status(config)
        all_[status.name] = status
        data = {name: asdict(s) for name, s in sorted(all_.items())}
        atomic_write(status_path(config), (json.dumps(data, indent=1) + "\n").encode())


# --- the daily job ---------------------------------------------------------------------------------------------

JOB_ID = "hearth-lists-update"


def schedule_updates(scheduler, config: Config, on_change: Callable[[], None]):
    """Add (or replace) the daily update job on an apscheduler 3.x scheduler; returns the job.

    The job runs in the scheduler's thread pool (an AsyncIOScheduler too, since it is a plain function), so
    ``on_change`` is called from a worker thread: the daemon should hand it to its event loop.
    """
    def job() -> None:
        try:
            results = update_all(config)
        except Exception:                          # a bug here must not kill the scheduler's job
            log.exception("list update failed")
            return
        if any(r.changed for r in results):
            on_change()

    daily = scheduler.add_job(
        job, trigger="cron", hour=config.lists.update_hour, minute=0, timezone=config.tz,
        jitter=config.lists.update_jitter_minutes * 60 or None, id=JOB_ID, name="update block lists",
        replace_existing=True, coalesce=True, max_instances=1, misfire_grace_time=3600)
    if any(s.url and not source_path(config, s).is_file() for s in config.lists.sources):
        # A list never downloaded yet (the starter config's adult list on a new Pi): fetch it now, not at 04:00.
        scheduler.add_job(job, id=JOB_ID + "-first", name="first download of block lists", replace_existing=True,
                          max_instances=1)
    return daily
