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

Memory, for a 1 GB Pi and the unit's MemoryMax (issue 16): the compile reads each parent's list twice from its
file (DomainIndex.compile) and never holds its names; a big compile runs in a child process under a memory cap
(CHILD_MEMORY), and a child that fails leaves the last good index in force: DNS never goes without filtering,
and never compiles a big list inside the daemon.
"""
from __future__ import annotations

import hashlib
import logging
import os
import time
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterator

from ..config import Config, ListSource
from .catalog import category_domains_path, load_catalog
from .guard import SHARED_FILE, shared_matcher, shared_suffixes
from .index import EXACT, DomainIndex
from .names import stored_form
from .parse import RULE, LineCounts, iter_names, open_list, parse_file

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
    with ExitStack() as files:
        index = DomainIndex.compile(_rules(config, files))
    _return_memory_to_os()
    return index


def load_or_compile(config: Config, *, child_over: int | None = None,
                    child_memory: int | None = None) -> DomainIndex:
    """The cached index if its inputs are unchanged, else a fresh compile (saved, older caches removed).

    With ``child_over`` (bytes), a compile whose parent-added lists are larger than that runs in a child process
    held to ``child_memory`` bytes of address space (default CHILD_MEMORY, or HEARTH_COMPILE_MEMORY_MB): the
    daemon never holds a compile's memory, and the compile's Python work does not hold the GIL the DNS loop needs.
    If the child fails (a list too big for its memory, a crash), nothing is compiled in this process: the last
    good index on disk is returned, with ``stale`` saying why, and DNS goes on filtering with it.
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
            return compile_in_child(config, child_memory or _child_memory()).index
        except CompileFailed as e:
            return _last_good(config, path, str(e))
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


# --- the compile child -------------------------------------------------------------------------------------------

# Address space the compile child may use. Measured (bench/lists.py, x86_64, Python 3.11 and 3.13): the child of a
# 1,000,000-name list peaks at ~131 MB of address space and ~113 MB resident, so 192 MB leaves room for about
# 1.5M names. systemd/hearth-dns.service's MemoryMax is this plus the daemon's own memory plus a margin: a list too
# big for it fails in the child, with a clear message, instead of taking the whole unit (and DNS) down.
CHILD_MEMORY = 192 * 1024 * 1024
_MEMORY_ENV = "HEARTH_COMPILE_MEMORY_MB"
_OUT_OF_MEMORY = 3          # the child's exit code when the compile ran out of its memory


class CompileFailed(Exception):
    """The compile child gave no index; the message says why, for the log and the parent."""


@dataclass(frozen=True, slots=True)
class ChildCompile:
    index: DomainIndex
    seconds: float
    peak_rss: int           # bytes: the child's high-water mark, what the unit's MemoryMax must allow for
    peak_vm: int            # bytes: its largest address space, what CHILD_MEMORY bounds


def _child_memory() -> int:
    raw = os.environ.get(_MEMORY_ENV, "")
    try:
        return int(raw) * 1024 * 1024 if raw else CHILD_MEMORY
    except ValueError:
        log.warning("ignoring %s=%r: not a whole number of megabytes", _MEMORY_ENV, raw)
        return CHILD_MEMORY


def compile_in_child(config: Config, memory: int = CHILD_MEMORY) -> ChildCompile:
    """Compile (and cache) the index in a fresh process held to ``memory`` bytes; CompileFailed if it gives none."""
    import multiprocessing      # here: a CLI command that reads the compiled index never starts a process
    import pickle
    ctx = multiprocessing.get_context("spawn")      # never fork a process that runs an event loop and threads
    receive, send = ctx.Pipe(duplex=False)
    p = ctx.Process(target=_child_main, args=(config, send, memory), name="hearth-compile", daemon=True)
    t0 = time.monotonic()
    try:
        p.start()
    except OSError as e:
        raise CompileFailed(f"the lists could not be compiled: cannot start a process: {e}") from None
    finally:
        send.close()        # ours: the child's end then reads as closed when the child is gone, whatever killed it
    data = None
    try:
        result = receive.recv()
        if result and result[0] == "ok":
            data = receive.recv_bytes()     # the index as one buffer: no pickled copy of it
    except (EOFError, OSError, ValueError, pickle.UnpicklingError):    # the child died before it answered
        result = None
    finally:
        receive.close()
    p.join()
    if data is None:
        raise CompileFailed(f"the lists could not be compiled: {_why(result, p.exitcode, memory, config)}")
    _, peak_rss, peak_vm = result
    try:
        index = DomainIndex.frombytes(data, "the compiled lists")
    except ValueError as e:
        raise CompileFailed(str(e)) from None
    del data
    _return_memory_to_os()
    done = ChildCompile(index, time.monotonic() - t0, peak_rss, peak_vm)
    log.info("lists compiled in a separate process: %d rules in %.1f s, peak %.0f MB resident (%.0f MB of %.0f MB "
             "address space)", len(index), done.seconds, peak_rss / 2**20, peak_vm / 2**20, memory / 2**20)
    return done


def _why(result, exitcode: int | None, memory: int, config: Config) -> str:
    import signal
    if result and result[0] == "failed":
        return result[1]
    # Out of its address space, the trie library crashes (SIGSEGV) rather than raising; the kernel's OOM killer
    # sends SIGKILL. Under the child's memory cap both mean the same thing.
    if exitcode in (_OUT_OF_MEMORY, -signal.SIGSEGV, -signal.SIGKILL):
        return (f"they need more than the {memory / 2**20:.0f} MB a compile may use (the parents' lists are "
                f"{_source_bytes(config) / 1e6:.0f} MB of text); remove a big list or choose a smaller one")
    if exitcode is not None and exitcode < 0:
        return f"the compile process was stopped by signal {-exitcode}"
    return f"the compile process failed (exit status {exitcode})"


def _child_main(config: Config, conn, memory: int) -> None:
    """In the compile child: cap its memory, compile, hand the index back through ``conn``."""
    _limit_memory(memory)
    try:
        data = load_or_compile(config).tobytes()
    except MemoryError:
        os._exit(_OUT_OF_MEMORY)      # the parent words it
    except Exception as e:         # the parent logs it: the child has no logging of its own
        _send(conn, ("failed", str(e) or "the compile process failed"))
        raise
    status = _proc_status()
    if _send(conn, ("ok", status.get("VmHWM", 0), status.get("VmPeak", 0))):
        _send(conn, data, raw=True)


def _send(conn, message, *, raw: bool = False) -> bool:
    try:
        conn.send_bytes(message) if raw else conn.send(message)
        return True
    except (OSError, MemoryError):      # the parent has gone: nobody to tell
        return False


def _limit_memory(memory: int) -> None:
    # RLIMIT_AS bounds everything the child maps, so its resident memory can never pass ``memory``: a list too big
    # fails in the child (MemoryError, or a crash inside the trie library, which does not check every allocation)
    # instead of pushing the unit over MemoryMax, where the kernel might kill the daemon. oom_score_adj: if the unit fills up anyway, the child is the one the kernel kills.
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("1000")
    except OSError:
        pass
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = memory if hard == resource.RLIM_INFINITY else min(memory, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _proc_status() -> dict[str, int]:
    out = {}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(("VmHWM:", "VmPeak:")):
                    out[line.split(":")[0]] = int(line.split()[1]) * 1024
    except OSError:
        pass
    return out


def _last_good(config: Config, current: Path, why: str) -> DomainIndex:
    """After a failed compile: the newest index compiled before (the lists as they were), else the curated lists
    alone (compiled here: they are small). Either way ``stale`` says why, and the log says it loudly."""
    older = []
    for p in cache_dir(config).glob("index-*.bin"):
        try:
            older.append((p.stat().st_mtime, p))
        except OSError:             # removed meanwhile by another compile
            pass
    for mtime, p in sorted(older, reverse=True):
        if p == current:
            continue
        try:
            index = DomainIndex.load(p)
        except (OSError, ValueError):
            continue
        stamp = datetime.fromtimestamp(mtime, config.tz).strftime("%Y-%m-%d %H:%M")
        index.stale = f"{why}; still blocking with the lists as compiled on {stamp}"
        log.error("%s", index.stale)
        return index
    index = compile_index(replace(config, lists=replace(config.lists, sources=())))
    index.stale = f"{why}; blocking with Hearth's own lists only until the parents' lists compile"
    log.error("%s", index.stale)
    return index


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


def _rules(config: Config, files: ExitStack) -> Callable[[], Iterator[tuple[str, str, str, int]]]:
    """Every rule a config uses, as a function that gives them again at each call (DomainIndex.compile reads
    them twice). The curated data is small and parsed once; a parent's list is read from its open file at each
    pass, so a million-line list is never held and a download that replaces the file mid-compile cannot change
    what the second pass reads."""
    root = Path(config.blocklists_dir)
    catalog = load_catalog(root)
    curated: list[tuple[str, str, str, int]] = []
    for name in catalog.categories:
        parsed = _parse(category_domains_path(root, name), name)
        if parsed:
            curated.extend((d, name, CURATED, RULE) for d in parsed.domains)
    needs: list[tuple[str, str, str, int]] = []
    for app in catalog.apps.values():
        for d in app.domains:
            curated.append((d, f"app:{app.name}", CURATED, RULE))
            curated.append((d, app.category, CURATED, RULE))
        # what the app needs, as exact hosts of a list no profile blocks: a timed allow of the app lets them
        # through (policy/decide.py, link c)
        needs.extend((h, f"needs:{app.name}", CURATED, EXACT) for h in app.needs)
    parsed = _parse(root / "never-block.txt", NEVER_BLOCK)
    if parsed:
        curated.extend((d, NEVER_BLOCK, CURATED, RULE) for d in parsed.domains)
    curated.extend((d, NEVER_BLOCK, "config", RULE) for d in config.essentials)
    parsed = _parse(root / "school.txt", SCHOOL) if (root / "school.txt").exists() else None
    if parsed:
        curated.extend((d, SCHOOL, CURATED, RULE) for d in parsed.domains)
    curated.extend((d, SCHOOL, "config", RULE) for d in config.school)
    curated.extend(needs)
    curated = [(name, lst, src, kind) for d, lst, src, kind in curated if (name := stored_form(d))]
    shared = shared_matcher(shared_suffixes(root) if config.lists.sources else frozenset())
    opened = []
    for src in config.lists.sources:
        f = _open(source_path(config, src), src.name)
        if f is not None:
            opened.append((src, files.enter_context(f)))
    passes = 0

    def rules() -> Iterator[tuple[str, str, str, int]]:
        nonlocal passes
        passes += 1
        yield from curated
        for src, f in opened:
            f.seek(0)
            yield from _source_rules(f, src, shared, report=passes == 1)

    return rules


def _source_rules(f, src: ListSource, on_shared: Callable[[str], bool], *,
                  report: bool) -> Iterator[tuple[str, str, str, int]]:
    """One parent's list: a suffix rule on shared infrastructure blocks its own host only (guard.py)."""
    counts = LineCounts()
    lst, name = src.category, src.name
    narrowed: list[str] = []
    n_narrowed = 0
    for d, kind in iter_names(f, counts):
        if kind == RULE and on_shared(d):
            kind = EXACT
            n_narrowed += 1
            if len(narrowed) < 3:
                narrowed.append(d)
        yield d, lst, name, kind
    if report and n_narrowed:
        log.warning("list %s: %d rules on shared infrastructure (e.g. %s) block their own host only",
                    name, n_narrowed, ", ".join(narrowed))
    if report and counts.unsupported:
        log.warning("list %s: %d unsupported lines in %s, e.g. %s", name, counts.unsupported, f.name,
                    "; ".join(counts.samples[:2]))


def _open(path: Path, what: str):
    try:
        return open_list(path)
    except FileNotFoundError:
        # A URL list not yet downloaded, or a parent's file that went away: the rest still blocks.
        log.warning("list %s: %s not found; skipped", what, path)
    except OSError as e:
        log.warning("list %s: cannot read %s: %s; skipped", what, path, e)
    return None


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
