"""The query log: every decision, whole, so a parent can ask "why was this blocked?" later.

DNS never waits on disk: ``put`` appends a tuple to a bounded deque (counting a drop when full) and a writer
task batches the rows into SQLite from a worker thread once a second. The same batch records the devices seen.
"""
from __future__ import annotations

import asyncio
import collections
import logging
import sqlite3
import time
from pathlib import Path
from typing import NamedTuple

from appliance.model import Client, Decision
from appliance.state import db

log = logging.getLogger("hearth.querylog")

SCHEMA = """
CREATE TABLE IF NOT EXISTS query_log (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,          -- unix time
    client TEXT NOT NULL,      -- source address (or the forwarded client's)
    mac TEXT, device TEXT, profile TEXT NOT NULL,
    qname TEXT NOT NULL, qtype INTEGER NOT NULL,
    action TEXT NOT NULL, reason TEXT NOT NULL,
    list TEXT, rule TEXT, schedule TEXT, target TEXT,
    rcode INTEGER NOT NULL,
    cached INTEGER NOT NULL,   -- 1: answered from the hot cache
    upstream TEXT,             -- which upstream answered, "stale" for a stale answer
    ms REAL                    -- time to answer, milliseconds
);
CREATE INDEX IF NOT EXISTS query_log_ts ON query_log(ts);
CREATE INDEX IF NOT EXISTS query_log_blocked ON query_log(action, ts) WHERE action = 'block';
CREATE TABLE IF NOT EXISTS devices_seen (
    key TEXT PRIMARY KEY,      -- the MAC when known, else the address
    mac TEXT, ip TEXT NOT NULL, device TEXT, profile TEXT NOT NULL,
    first_seen REAL NOT NULL, last_seen REAL NOT NULL
);
"""


class Entry(NamedTuple):
    """One row. Built as a plain tuple on the hot path (same field order) to keep it cheap."""

    ts: float
    client: Client
    qname: str
    qtype: int
    decision: Decision
    rcode: int
    cached: bool
    upstream: str | None
    ms: float | None


def open_db(path: str | Path) -> sqlite3.Connection:
    conn = db.connect(path)
    conn.executescript(SCHEMA)
    return conn


class QueryLog:
    def __init__(self, path: str | Path, maxsize: int = 50_000, interval: float = 1.0):
        self.path = Path(path)
        self.maxsize = maxsize
        self.interval = interval
        self.dropped = 0
        self.written = 0
        self._q: collections.deque = collections.deque()
        self._seen: dict[str, tuple] = {}
        self._conn: sqlite3.Connection | None = None

    def put(self, row: tuple) -> None:
        """Queue one Entry-shaped tuple; never blocks, never raises."""
        if len(self._q) >= self.maxsize:
            self.dropped += 1
            return
        self._q.append(row)

    def seen(self, client: Client, now: float) -> None:
        """Note a device as seen (flushed with the next batch)."""
        key = client.mac or client.address
        self._seen[key] = (key, client.mac, client.address, client.device, client.profile, now)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.interval)
            await self.flush(loop)

    async def flush(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        loop = loop or asyncio.get_running_loop()
        q, seen = self._q, self._seen
        if not q and not seen:
            return
        rows = [q.popleft() for _ in range(len(q))]
        self._seen = {}
        try:
            await loop.run_in_executor(None, self._write, rows, list(seen.values()))
        except Exception:     # a full disk must not take DNS down: count the loss and go on
            self.dropped += len(rows)
            log.exception("query log write failed; %d entries lost", len(rows))

    def _write(self, rows: list[tuple], seen: list[tuple]) -> None:
        if self._conn is None:
            self._conn = open_db(self.path)
        conn = self._conn
        with conn:
            conn.executemany(
                "INSERT INTO query_log (ts, client, mac, device, profile, qname, qtype, action, reason, list, rule,"
                " schedule, target, rcode, cached, upstream, ms) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [(ts, c.address, c.mac, c.device, c.profile, qname, qtype, d.action.value, d.reason.value, d.list,
                  d.rule, d.schedule, d.target, rcode, int(cached), up, ms)
                 for ts, c, qname, qtype, d, rcode, cached, up, ms in rows])
            conn.executemany(
                "INSERT INTO devices_seen (key, mac, ip, device, profile, first_seen, last_seen)"
                " VALUES (?,?,?,?,?,?,?) ON CONFLICT(key) DO UPDATE SET ip=excluded.ip, mac=excluded.mac,"
                " device=excluded.device, profile=excluded.profile, last_seen=excluded.last_seen",
                [(k, mac, ip, dev, prof, ts, ts) for k, mac, ip, dev, prof, ts in seen])
        self.written += len(rows)

    def prune(self, keep_days: float) -> int:
        """Delete rows older than keep_days (an apscheduler job, in its own thread and connection)."""
        conn = open_db(self.path)
        try:
            with conn:
                cur = conn.execute("DELETE FROM query_log WHERE ts < ?", (time.time() - keep_days * 86400,))
            return cur.rowcount
        finally:
            conn.close()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
