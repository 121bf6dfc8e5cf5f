"""The query log: every decision, whole, so a parent can ask "why was this blocked?" later.

DNS never waits on disk: ``put`` appends to a bounded deque (counting a drop when full) and the writer commits the
queue to SQLite from a worker thread once its oldest entry has waited 0.9 s, sooner when a burst fills a batch,
never more than four times a second. A kill -9 so loses at most the last second; WAL with synchronous=NORMAL makes a
commit an append, not an fsync. The same commit records the devices seen and the quarter-hour rollup the reports
read.

What a commit costs the SD card is a page for each table and index it touches (the rows' table, the decision,
client and name indexes, the rollup), whatever the rows in it: so commits are as few as a crash allows (one a
second at most under load, one per burst when quiet), pages are 1 KB on a new file (state/db.py), and the WAL is
checkpointed every 8 MB. bench/log_writes.py measures it.

Repeats answered from the hot cache are counted (by the stream: appliance/stream.py), not queued: the same device
asking the same name in the same second, with the same answer, is one row with ``count``. Phones repeat themselves a
lot; this keeps the log small on an SD card and cheap to write, and loses nothing a parent reads (which device, what,
when to the second, why).

What is kept (settings under ``query_log``): nothing when ``enabled`` is false; blocked and rewritten answers
always; allowed ones unless ``log_allowed`` is false (for the whole house, or per profile). The nightly ``prune``
deletes rows older than ``keep_days``, allowed rows older than ``keep_allowed_days``, and then the names, clients
and decisions no row uses any more (IPv6 privacy addresses make new clients every day), in small chunks with a
pause between, so the writer waits at most one chunk.

When the disk is full, the file is locked for too long or anything else refuses a write, DNS goes on: the entries
are counted in ``dropped`` and ``last_error`` says why in words (``hearth status`` shows both). A batch refused
because another program held the file is tried once more with the next one.
"""
from __future__ import annotations

import collections
import itertools
import json
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

from appliance.model import Action, Client, Decision
from appliance.state import db, migrate
from appliance.state.doorbell import Doorbell
from appliance.stream import fit

log = logging.getLogger("hearth.querylog")

INTERVAL = 0.75     # seconds an entry waits at most for its commit: a kill -9 loses at most this plus a write,
                    # and a Pi's slower write keeps that within the second issue 16 allows
MIN_GAP = 0.25      # ... and never closer than this, however busy: at most four commits a second
TICK = 0.05         # how often the writer looks at the queue
BATCH = 5_000       # rows that make a commit worth doing before the interval is up
MAX_IDS = 100_000   # remembered name, decision and client ids; past that the memo starts again (ids stay in the db)
BUCKET_MS = 900_000  # per rollup row: a quarter hour lines up with local hours in every time zone
BUCKET_S = BUCKET_MS // 1000
BLOCK_BITS = 12      # the name index leads with id >> 12 (see migrate, version 1)
SLACK_MS = 300_000   # rows are in time order to within this (repeats follow their second; a refused batch is
                     # retried once): far more than happens, so time bounds never miss a row
PRUNE_CHUNK = 5_000     # rows per DELETE
PRUNE_PAUSE = 0.05      # seconds between chunks: the writer gets the file in between
MAX_DEVICES_SEEN = 10_000   # a flood of spoofed addresses must not grow the table without end
WAL_BYTES = 8 << 20  # the writer's WAL checkpoints at about this size (see _open)
WARN_EVERY = 60.0   # seconds between two warnings about failed writes in the system log

_ALLOW = Action.ALLOW
_entry = tuple.__new__      # an Entry from a tuple without the named tuple's Python-level __new__ (a third of a µs)
_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_READONLY, _SQLITE_CANTOPEN, _SQLITE_FULL = 5, 6, 8, 14, 13


class Entry(NamedTuple):
    """One row, as the writer receives it: a full-chain answer, or (count > 1) repeats from the hot cache."""

    ts: float
    client: Client
    qname: str
    qtype: int
    decision: Decision
    rcode: int
    cached: bool
    upstream: str | None
    ms: float | None
    count: int
    source: str = "dns"     # the front end that decided: "dns" or "proxy"


@dataclass(frozen=True, slots=True)
class Pruned:
    """What one ``prune`` deleted, for the system log."""

    queries: int = 0        # rows older than keep_days
    allowed: int = 0        # allowed rows older than keep_allowed_days
    rollup: int = 0
    devices: int = 0
    names: int = 0
    clients: int = 0
    decisions: int = 0
    seconds: float = 0.0


def open_db(path: str | Path) -> sqlite3.Connection:
    """A writing connection on the file, its schema brought up to date."""
    conn = db.connect(path)
    conn.isolation_level = None       # every write takes BEGIN IMMEDIATE itself
    migrate.upgrade(conn)
    return conn


class QueryLog:
    def __init__(self, path: str | Path, maxsize: int = 50_000, interval: float = INTERVAL, enabled: bool = True,
                 *, max_bytes: int | None = None):
        self.path = Path(path)
        self.enabled = enabled
        self.maxsize = maxsize
        self.interval = interval
        self.max_bytes = max_bytes          # a ceiling on the file: past it the writer acts as on a full disk
        self.busy_ms = 5000                 # how long a write waits for another program's lock before it fails
        self._busy_applied: int | None = None
        self.keep_days: float = 90
        self.keep_allowed_days: float = 30
        self.dropped = 0                    # queries not written: queue full, disk full, database locked ...
        self.written = 0                    # queries written (a row of repeats counts each)
        self.commits = 0
        self.last_error: str | None = None  # in words, with the time; None until something failed
        self._q: collections.deque = collections.deque()
        self._seen: dict[str, tuple] = {}
        self._pending: list[Entry] = []     # refused once by a busy database: tried once more
        self._batches: list[list] = []      # the stream's counted repeats, as it handed them over (see repeats)
        self._batched = 0                   # ... how many
        self._log_allowed: dict[str, bool] = {}
        self._log_allowed_default = True
        self._filtering = False             # some profile does not log allowed answers
        self._conn: sqlite3.Connection | None = None
        self._stream = None                 # the stream counting hot-cache repeats, once bound
        self._bell = Doorbell()             # the writer sleeps until something is queued
        self._writing = threading.Lock()    # one write at a time, even when a shutdown flush meets a cancelled one
        # Writer thread only: ids of rows in the small tables.
        self._decisions: dict[int, tuple[Decision, int, int]] = {}   # id(obj) -> (obj, row id, its tally's id)
        self._decision_values: dict[Decision, tuple[Decision, int, int]] = {}    # the same, by value
        self._tallies: dict[tuple, int] = {}    # (profile, action, list) -> the decision id its rollup rows use
        self._clients: dict[str, dict[int, tuple[Client, int]]] = {}   # source -> id(obj) -> (obj, row id)
        self._names: dict[str, int] = {}
        self._upstreams: dict[str, int] = {}
        self._epoch: int | None = None      # log_meta.cleanup when the memos were filled
        self._last_warning = 0.0
        self._suppressed = 0

    # --- settings -----------------------------------------------------------------------------------------------

    def configure(self, config) -> None:
        """Take the ``query_log`` settings and each profile's ``log_allowed`` from a Config (at start and reload)."""
        ql = getattr(config, "query_log", None)
        self.enabled = bool(getattr(ql, "enabled", True))
        self.keep_days = getattr(ql, "keep_days", 90)
        self.keep_allowed_days = getattr(ql, "keep_allowed_days", None) or self.keep_days
        default = getattr(ql, "log_allowed", True)
        default = True if default is None else bool(default)
        per = {}
        for name, p in (getattr(config, "profiles", None) or {}).items():
            own = getattr(p, "log_allowed", None)
            per[name] = default if own is None else bool(own)
        self._log_allowed, self._log_allowed_default = per, default
        self._filtering = not default or not all(per.values())

    def _keeps(self, d: Decision) -> bool:
        return d.action is not _ALLOW or self._log_allowed.get(d.profile, self._log_allowed_default)

    # --- the stream's sink (event loop; never blocks, never raises) ---------------------------------------------

    def put(self, row: Entry) -> None:
        """Queue one entry."""
        if not self.enabled or (self._filtering and not self._keeps(row.decision)):
            return
        if len(self._q) + self._batched >= self.maxsize:
            self.dropped += row.count
            return
        self._q.append(row)
        if self._bell.armed:
            self._bell.ring()

    def repeats(self, batch: list[list]) -> None:
        """Queue the stream's counted hot-cache answers, ``[n, second, client, hot]`` each: a row each.

        The batch is kept as it is: its rows are built in the writer's thread (``_repeated``), not here on the
        event loop, where a second of a busy house (a couple of thousand counts) held up DNS for milliseconds."""
        if not self.enabled or not batch:
            return
        batch, lost = fit(batch, self.maxsize - len(self._q) - self._batched)
        self.dropped += lost
        if not batch:
            return
        self._batches.append(batch)
        self._batched += len(batch)

    def bind(self, stream) -> None:
        """The stream whose counted repeats each batch takes first (all of them when the batch is the last)."""
        self._stream = stream

    def seen(self, client: Client, now: float) -> None:
        """Note a device as seen (written with the next batch)."""
        key = client.mac or client.address
        if key in self._seen or len(self._seen) < self.maxsize:
            self._seen[key] = (key, client.mac, client.address, client.device, client.profile, now)
            if self._bell.armed:
                self._bell.ring()

    @property
    def depth(self) -> int:
        """Entries waiting to be written."""
        return len(self._q) + len(self._pending) + self._batched

    def status(self) -> dict:
        """For ``hearth status`` and the metrics."""
        return {"written": self.written, "dropped": self.dropped, "queued": self.depth, "commits": self.commits,
                "last_error": self.last_error}

    # --- the writer ---------------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Commit what waits once its oldest entry has waited ``interval`` (measured from the start of the last
        commit, or from the entry that woke the writer after a quiet spell), sooner when a batch is full, never
        closer than MIN_GAP; asleep while there is nothing to write (state/doorbell.py: the first entry wakes it),
        so an idle Pi is not woken.

        A commit costs the card a page per table and index it touches, however few rows it holds, so the writer
        waits as long as a crash may lose: a burst of names (a web page) that wakes it goes out in one commit,
        not in a first one of a single row and a second of the rest."""
        import asyncio      # here: the CLI's readers (hearth log, devices) import this module and never run it
        loop = asyncio.get_running_loop()
        last = time.monotonic()
        while True:
            if self._empty():
                await self._bell.wait(self._empty)
                last = max(last, time.monotonic())      # nothing waited before this entry
            while not self._empty():
                now = time.monotonic()
                due = last + self.interval
                if now >= due or (now - last >= MIN_GAP and len(self._q) + self._batched >= BATCH):
                    last = now
                    await self.flush(loop, final=False)
                else:
                    await asyncio.sleep(min(TICK, due - now))

    def _empty(self) -> bool:
        return not (self._q or self._batches or self._pending or self._seen
                    or (self._stream is not None and self._stream.depth))

    def wake(self) -> None:
        """The stream holds repeats for the next batch."""
        if self._bell.armed:
            self._bell.ring()

    async def flush(self, loop=None, *, final: bool = True) -> None:
        """Write what is queued. ``final=False`` (the timer) leaves the current second's repeats to go on counting."""
        if loop is None:
            import asyncio
            loop = asyncio.get_running_loop()
        rows, retried, batches = self._take(final)
        seen, self._seen = self._seen, {}
        if not rows and not seen and not batches:
            return
        try:
            n = await loop.run_in_executor(None, self._write, rows, list(seen.values()), batches)
        except Exception as e:     # a full disk must not take DNS down: count the loss and go on
            self._failed(rows, retried, e)
            return
        self.written += n
        self.commits += 1

    def _take(self, final: bool) -> tuple[list[Entry], int, list[list]]:
        if self._stream is not None:
            self._stream.drain(final)
        rows, self._pending = self._pending, []
        retried = len(rows)
        q, self._q = self._q, collections.deque()
        rows.extend(q)
        batches, self._batches, self._batched = self._batches, [], 0
        return rows, retried, batches

    def _failed(self, rows: list[Entry], retried: int, e: Exception) -> None:
        code = (getattr(e, "sqlite_errorcode", None) or 0) & 0xFF
        busy = code in (_SQLITE_BUSY, _SQLITE_LOCKED)
        lost = rows[:retried] if busy else rows
        if busy:     # another program held the file: the new rows get one more try, the retried ones are lost
            self._pending = rows[retried:]
        n = sum(r.count for r in lost)
        self.dropped += n
        words = _plain_error(e)
        kept = f", {sum(r.count for r in self._pending):,} to be tried again" if self._pending else ""
        self.last_error = f"{datetime.now():%Y-%m-%d %H:%M:%S}: {words} ({n:,} queries not saved{kept})"
        if not busy and code not in (_SQLITE_FULL,):
            self.close()        # start again from a fresh connection next time
        now = time.monotonic()
        if now - self._last_warning >= WARN_EVERY:
            more = f" ({self._suppressed} more failures since the last report)" if self._suppressed else ""
            log.warning("query log: %s%s", self.last_error, more)
            self._last_warning, self._suppressed = now, 0
        else:
            self._suppressed += 1

    def _open(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = db.connect(self.path)
            try:
                conn.isolation_level = None
                self._busy_applied = None
                # Checkpoint when the WAL holds about 8 MB, not SQLite's 1,000 pages (1 MB of 1 KB pages): each
                # checkpoint writes every page the WAL touched again, in place (bench/log_writes.py: 10% fewer
                # bytes a commit than at 1,000).
                page = conn.execute("PRAGMA page_size").fetchone()[0]
                conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_BYTES // page}")
                if self.max_bytes:
                    conn.execute(f"PRAGMA max_page_count = {max(1, int(self.max_bytes // page))}")
                migrate.upgrade(conn)
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def _write(self, rows: list[Entry], seen: list[tuple], batches: list[list] = ()) -> int:
        """In a worker thread: one transaction for the rows (``batches`` of repeats added to ``rows`` first, so a
        refused write finds them there), their rollup and the devices seen."""
        if batches:
            self._repeated(rows, batches)
        with self._writing:
            return self._write_locked(rows, seen)

    def _repeated(self, rows: list[Entry], batches: list[list]) -> None:
        """The stream's counted repeats as rows, in slices that each let the event loop have the interpreter
        lock back (``time.sleep(0)``) rather than wait for a whole batch."""
        keeps = self._keeps if self._filtering else None
        append = rows.append
        for batch in batches:
            for i in range(0, len(batch), _SLICE):
                for n, second, c, h in batch[i:i + _SLICE]:
                    if keeps is None or keeps(h.decision):
                        append(_entry(Entry, (second, c, h.qname, h.qtype, h.decision, h.rcode, True, None, None, n,
                                              getattr(h, "source", "dns"))))
                time.sleep(0)

    def _write_locked(self, rows: list[Entry], seen: list[tuple]) -> int:
        conn = self._open()
        if self.busy_ms != self._busy_applied:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_ms)}")
            self._busy_applied = self.busy_ms
        conn.execute("BEGIN IMMEDIATE")
        try:
            epoch = conn.execute("SELECT value FROM log_meta WHERE key = 'cleanup'").fetchone()[0]
            if epoch != self._epoch or len(self._names) > MAX_IDS or len(self._decisions) > MAX_IDS:
                self._forget()      # a prune deleted rows whose ids we remember, or the memos grew too big
                self._epoch = epoch
            rollup: dict[tuple[int, int], int] = {}
            total = 0
            # A slice of rows built, then inserted: the thread holds the interpreter lock for one slice at a time
            # (about 0.1 ms) and lets it go while SQLite writes, instead of building a whole batch in one burst
            # that DNS queries wait behind.
            for i in range(0, len(rows), _CHUNK):
                total += _insert(conn, self._rows(conn, rows[i:i + _CHUNK], rollup))
            conn.executemany(_ROLLUP, [(b, d, n) for (b, d), n in rollup.items()])
            conn.executemany(
                "INSERT INTO devices_seen (key, mac, ip, device, profile, first_seen, last_seen)"
                " VALUES (?,?,?,?,?,?,?) ON CONFLICT(key) DO UPDATE SET ip=excluded.ip, mac=excluded.mac,"
                " device=excluded.device, profile=excluded.profile, last_seen=excluded.last_seen",
                [(k, mac, ip, dev, prof, ts, ts) for k, mac, ip, dev, prof, ts in seen])
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self._forget()          # ids inserted in the rolled-back transaction are not in the file
            raise
        return total

    def _rows(self, conn: sqlite3.Connection, rows: list[Entry], rollup: dict[tuple[int, int], int]) -> list[tuple]:
        """Rows as the table takes them, their quarter-hour counts added to ``rollup`` (times are scaled in SQL).

        The counts go by tally, not by decision: the reports read only a rollup row's profile, action and list,
        and one decision per blocked rule made as many rollup rows as rules (an upsert each, 1.2 µs a row).
        A tally is filed under the first of its decisions in the table; any of them would say the same."""
        decisions, names, upstreams, by_source = self._decisions, self._names, self._upstreams, self._clients
        tallies, by_value = self._tallies, self._decision_values
        out = []
        append = out.append
        src_last, clients = None, None
        for ts, c, qname, qtype, d, rcode, cached, up, ms, n, src in rows:
            # Memo by identity: the hot path hands the same Decision and Client objects over and over, and
            # hashing a dataclass's fields per row would cost more than the insert.
            e = decisions.get(id(d))
            if e is None or e[0] is not d:
                # Every miss of the full chain brings a new Decision object equal to one seen before: by value
                # (a hash of its fields, about a µs) before asking SQLite (several).
                e = by_value.get(d)
                if e is None:
                    t = tallies.get((d.profile, d.action, d.list))
                    did = _decision_id(conn, d)
                    if t is None:
                        t = tallies[(d.profile, d.action, d.list)] = _tally_id(conn, d)
                    e = by_value[d] = (d, did, t)
                decisions[id(d)] = (d, e[1], e[2])
            if src is not src_last:
                src_last, clients = src, by_source.setdefault(src, {})
            f = clients.get(id(c))
            if f is None or f[0] is not c:
                f = clients[id(c)] = (c, _client_id(conn, c, src))
            nid = names.get(qname)
            if nid is None:
                nid = names[qname] = _text_id(conn, "names", qname)
            if up is None:
                uid = None
            else:
                uid = upstreams.get(up)
                if uid is None:
                    uid = upstreams[up] = _text_id(conn, "upstreams", up)
            append((ts, f[1], nid, qtype, e[1], rcode, cached, uid, ms, n))
            key = (int(ts // BUCKET_S), e[2])
            rollup[key] = rollup.get(key, 0) + n
        return out

    def _forget(self) -> None:
        self._upstreams.clear()
        self._decisions.clear()
        self._tallies.clear()
        self._decision_values.clear()
        self._clients.clear()
        self._names.clear()

    def close(self) -> None:
        with self._writing:
            if self._conn is not None:
                try:
                    self._conn.close()
                finally:
                    self._conn = None

    # --- retention (an apscheduler job, in its own thread and connection) -------------------------------------

    def schedule(self, scheduler) -> None:
        """Add the nightly prune to the daemon's scheduler (it reads the settings ``configure`` last gave)."""
        scheduler.add_job(self.prune, "cron", hour=3, minute=30, id="prune-log", name="prune the query log",
                          coalesce=True, max_instances=1, replace_existing=True)

    def prune(self, keep_days: float | None = None, keep_allowed_days: float | None = None, *,
              now: float | None = None, chunk: int = PRUNE_CHUNK, pause: float = PRUNE_PAUSE) -> Pruned:
        """Delete what retention no longer keeps; what was deleted. Chunks of ``chunk`` rows, ``pause`` seconds
        apart, each its own transaction, so the writer is never held up for more than one chunk."""
        t0 = time.monotonic()
        now = time.time() if now is None else now
        keep_days = self.keep_days if keep_days is None else keep_days
        keep_allowed_days = self.keep_allowed_days if keep_allowed_days is None else keep_allowed_days
        old = now - keep_days * 86400
        old_allowed = now - min(keep_allowed_days, keep_days) * 86400
        conn = open_db(self.path)
        try:
            def chunks(sql: str, params: tuple) -> int:
                return _chunked(conn, sql, params, chunk, pause)
            bound = id_at(conn, int(old * 1000) + SLACK_MS)       # no row past it is that old
            queries = chunks("DELETE FROM queries WHERE id IN (SELECT id FROM queries NOT INDEXED "
                             "WHERE id < ? AND at < ? ORDER BY id LIMIT ?)", (bound, int(old * 1000)))
            bound = id_at(conn, int(old_allowed * 1000) + SLACK_MS)
            allowed = chunks("DELETE FROM queries WHERE id IN (SELECT id FROM queries INDEXED BY queries_decision "
                             "WHERE decision_id IN (SELECT id FROM decisions WHERE action = 'allow') AND id < ? "
                             "AND at < ? LIMIT ?)", (bound, int(old_allowed * 1000)))
            # Counts hold no names and no devices: they stay for keep_days, allowed ones included.
            rollup = chunks("DELETE FROM rollup WHERE (bucket, decision_id) IN "
                            "(SELECT bucket, decision_id FROM rollup WHERE bucket < ? LIMIT ?)",
                            (int(old * 1000) // BUCKET_MS,))
            devices = chunks("DELETE FROM devices_seen WHERE key IN (SELECT key FROM devices_seen "
                             "WHERE last_seen < ? LIMIT ?)", (old,))
            edge = conn.execute("SELECT last_seen FROM devices_seen ORDER BY last_seen DESC LIMIT 1 OFFSET ?",
                                (MAX_DEVICES_SEEN,)).fetchone()
            if edge is not None:     # past the cap: the least recently seen go first
                devices += chunks("DELETE FROM devices_seen WHERE key IN (SELECT key FROM devices_seen "
                                  "WHERE last_seen <= ? LIMIT ?)", (edge[0],))
            names = _clean_names(conn, chunk, pause)
            clients = _clean(conn, "clients", "NOT EXISTS (SELECT 1 FROM queries WHERE client_id = clients.id)",
                             chunk, pause)
            decisions = _clean(conn, "decisions", "NOT EXISTS (SELECT 1 FROM queries WHERE decision_id = "
                               "decisions.id) AND id NOT IN (SELECT decision_id FROM rollup)", chunk, pause)
        finally:
            conn.close()
        result = Pruned(queries, allowed, rollup, devices, names, clients, decisions,
                        round(time.monotonic() - t0, 3))
        log.info("query log pruned: %s", result)
        return result


# --- SQL helpers ------------------------------------------------------------------------------------------------

_INSERT = ("INSERT INTO queries (at, client_id, name_id, qtype, decision_id, rcode, cached, upstream_id, us, count)"
           " VALUES ")
_ROW = "(CAST(? * 1000 AS INTEGER),?,?,?,?,?,?,?,CAST(? * 1000 AS INTEGER),?)"     # seconds -> ms, ms -> µs
# Counted in Python per batch: summing the rows back in SQL cost three times as much (measured: 1.7 µs a row).
_ROLLUP = ("INSERT INTO rollup (bucket, decision_id, queries) VALUES (?, ?, ?) "
           "ON CONFLICT (bucket, decision_id) DO UPDATE SET queries = queries + excluded.queries")
_CHUNK = 100
_SLICE = 200        # repeats made into rows between two releases of the interpreter lock (about 0.1 ms)
_INSERT_CHUNK = _INSERT + ",".join([_ROW] * _CHUNK)


def _insert(conn: sqlite3.Connection, rows: list[tuple]) -> int:
    """Up to a hundred rows in one statement (a third of executemany's cost per row, measured: 1.4 µs against
    2.3); the queries they count."""
    sql = _INSERT_CHUNK if len(rows) == _CHUNK else _INSERT + ",".join([_ROW] * len(rows))
    conn.execute(sql, tuple(itertools.chain.from_iterable(rows)))
    return sum(r[-1] for r in rows)


def _decision_id(conn: sqlite3.Connection, d: Decision) -> int:
    return _row_id(conn, "decisions", "decisions_rule",
                   ("action", "reason", "profile", "list", "rule", "schedule", "target", "nxdomain"),
                   (d.action.value, d.reason.value, d.profile, d.list, d.rule, d.schedule, d.target,
                    int(d.nxdomain)))


def _tally_id(conn: sqlite3.Connection, d: Decision) -> int:
    """The decision a profile's counts for one action and list are filed under in the rollup."""
    return conn.execute("SELECT min(id) FROM decisions WHERE profile = ? AND action = ? AND list IS ?",
                        (d.profile, d.action.value, d.list)).fetchone()[0]


def _client_id(conn: sqlite3.Connection, c: Client, source: str) -> int:
    return _row_id(conn, "clients", "clients_address", ("address", "mac", "device", "profile", "source"),
                   (c.address, c.mac, c.device, c.profile, source))


def _text_id(conn: sqlite3.Connection, table: str, name: str) -> int:
    # One statement for a new name (the writer's usual case: a name it has not remembered is mostly new): the
    # insert says its id, and only a name already there costs the second look.
    row = conn.execute(f"INSERT INTO {table} (name) VALUES (?) ON CONFLICT (name) DO NOTHING RETURNING id",
                       (name,)).fetchone()
    if row is not None:
        return row[0]
    return conn.execute(f"SELECT id FROM {table} WHERE name = ?", (name,)).fetchone()[0]


def id_at(conn: sqlite3.Connection, at_ms: int) -> int:
    """The first id at or after which rows are no older than ``at_ms`` (milliseconds), by binary search on the
    rowid: rows are in written order, which is time order to within SLACK_MS. Callers widen by SLACK_MS and check
    the row's own time; max(id) + 1 when every row is older."""
    lo, hi = conn.execute("SELECT (SELECT min(id) FROM queries), (SELECT max(id) FROM queries)").fetchone()
    if lo is None:
        return 1
    hi += 1
    while lo < hi:
        mid = (lo + hi) // 2
        row = conn.execute("SELECT id, at FROM queries WHERE id >= ? ORDER BY id LIMIT 1", (mid,)).fetchone()
        if row is None or row[1] >= at_ms:
            hi = mid
        else:
            lo = row[0] + 1
    return lo


def _row_id(conn: sqlite3.Connection, table: str, index: str, cols: tuple[str, ...], values: tuple) -> int:
    """The id of the row with exactly these values (NULLs included: ``IS``, not ``=``), inserted if there is none.

    ``index`` is the one that narrows to a few rows (a rule, an address): left to itself the planner took the
    profile's or the device's index and read every decision of a child (5,000 rows for each new one in the
    bench's mix: 15% of the DNS process's time)."""
    where = " AND ".join(f"{c} IS ?" for c in cols)
    row = conn.execute(f"SELECT id FROM {table} INDEXED BY {index} WHERE {where} LIMIT 1", values).fetchone()
    if row is not None:
        return row[0]
    return conn.execute(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                        values).lastrowid


def _chunked(conn: sqlite3.Connection, sql: str, params: tuple, chunk: int, pause: float) -> int:
    """Run a DELETE that takes a LIMIT as its last parameter until it deletes less than a chunk."""
    total = 0
    while True:
        conn.execute("BEGIN IMMEDIATE")
        try:
            n = conn.execute(sql, (*params, chunk)).rowcount
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        total += n
        if n < chunk:
            return total
        time.sleep(pause)


def _clean(conn: sqlite3.Connection, table: str, unused: str, chunk: int, pause: float) -> int:
    """Delete the rows of a small table that nothing uses, a range of ids at a time. Each deletion bumps
    ``log_meta.cleanup`` in the same transaction, so a writer remembering those ids forgets them first."""
    top = conn.execute(f"SELECT max(id) FROM {table}").fetchone()[0] or 0
    total = 0
    for lo in range(0, top, chunk):
        n = _delete_chunk(conn, f"DELETE FROM {table} WHERE id > ? AND id <= ? AND {unused}", (lo, lo + chunk))
        total += n
        if n:
            time.sleep(pause)
    return total


def _delete_chunk(conn: sqlite3.Connection, sql: str, params: tuple) -> int:
    """One chunk of a cleanup in its own write transaction; the rows deleted. A deletion bumps the cleanup epoch
    so the writer forgets ids it may have memoised."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        n = conn.execute(sql, params).rowcount
        if n:
            conn.execute("UPDATE log_meta SET value = value + 1 WHERE key = 'cleanup'")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return n


def _clean_names(conn: sqlite3.Connection, chunk: int, pause: float) -> int:
    """Delete names no row uses. The name index leads with the block, so "is this name used?" is a scan: read
    the names in use once, outside any lock, then delete the others in chunks, each checked again against the
    rows written since (a short walk of the newest rows) in the same transaction as its deletion."""
    top = conn.execute("SELECT max(id) FROM queries").fetchone()[0] or 0
    used = {r[0] for r in conn.execute("SELECT DISTINCT name_id FROM queries INDEXED BY queries_name")}
    unused = [r[0] for r in conn.execute("SELECT id FROM names") if r[0] not in used]
    total = 0
    for i in range(0, len(unused), chunk):
        total += _delete_chunk(conn, "DELETE FROM names WHERE id IN (SELECT value FROM json_each(?)) AND id NOT IN "
                               "(SELECT name_id FROM queries NOT INDEXED WHERE id > ?)",
                               (json.dumps(unused[i:i + chunk]), top))
        time.sleep(pause)
    return total


def _plain_error(e: Exception) -> str:
    """Why a write failed, in words for ``hearth status``."""
    if isinstance(e, migrate.SchemaError):
        return str(e)
    code = (getattr(e, "sqlite_errorcode", None) or 0) & 0xFF
    if code == _SQLITE_FULL or getattr(e, "errno", None) == 28:
        return "the disk is full"
    if code in (_SQLITE_BUSY, _SQLITE_LOCKED):
        return "another program held the database for too long"
    if code == _SQLITE_READONLY:
        return "the database is read-only for the user Hearth runs as"
    if code == _SQLITE_CANTOPEN:
        return "the database cannot be opened (check the data folder exists and belongs to Hearth's user)"
    return f"the log could not be written ({e})"
