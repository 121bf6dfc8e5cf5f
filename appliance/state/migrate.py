"""The versioned schema of ``hearth.db``: today's tables as version 0, then an ordered list of migrations.

``PRAGMA user_version`` says which migrations a file has had. Whoever opens the file for writing calls
``upgrade(conn)`` first: it takes the write lock (``BEGIN IMMEDIATE``), reads the version inside that lock (two
processes starting at once do not both migrate), creates the version-0 tables that are missing (a new file gets
today's schema first, so every file takes the same path through the migrations), runs each later migration, and
sets the version, all in one transaction: a crash or a full disk half-way leaves the file as it was.

To change the schema, append a ``Migration`` to ``MIGRATIONS`` with the next number (never edit one that has
shipped) and a test that upgrades a file from the version before. A module that owns tables (overrides, alerts)
adds its migrations here too: one list, one order, one number per file.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Callable

__all__ = ["Migration", "MIGRATIONS", "LATEST", "BASELINE", "SchemaError", "upgrade", "version"]


class SchemaError(Exception):
    """The file cannot be used by this version of Hearth; the message says why, for a parent."""


# Version 0: the tables as Hearth created them before the schema had a version (commit 9ded1e2). Kept verbatim,
# with IF NOT EXISTS: on a file of that time it changes nothing, on a new file it lays the same ground.
BASELINE = """
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY,
    action TEXT NOT NULL, reason TEXT NOT NULL, profile TEXT NOT NULL,
    list TEXT, rule TEXT, schedule TEXT, target TEXT, nxdomain INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS clients (
    id INTEGER PRIMARY KEY,
    address TEXT NOT NULL, mac TEXT, device TEXT, profile TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS queries (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    client_id INTEGER NOT NULL REFERENCES clients(id),
    qname TEXT NOT NULL, qtype INTEGER NOT NULL,
    decision_id INTEGER NOT NULL REFERENCES decisions(id),
    rcode INTEGER NOT NULL,
    count INTEGER NOT NULL DEFAULT 1,
    cached INTEGER NOT NULL,
    upstream TEXT,
    ms REAL
);
CREATE INDEX IF NOT EXISTS queries_ts ON queries(ts);
CREATE INDEX IF NOT EXISTS decisions_rule ON decisions(rule, profile);
CREATE INDEX IF NOT EXISTS clients_address ON clients(address);
CREATE VIEW IF NOT EXISTS query_log AS
    SELECT q.id, q.ts, c.address AS client, c.mac, c.device, c.profile, q.qname, q.qtype,
           d.action, d.reason, d.list, d.rule, d.schedule, d.target, d.nxdomain,
           q.rcode, q.cached, q.upstream, q.ms, q.count
    FROM queries q JOIN clients c ON c.id = q.client_id JOIN decisions d ON d.id = q.decision_id;
CREATE TABLE IF NOT EXISTS devices_seen (
    key TEXT PRIMARY KEY,
    mac TEXT, ip TEXT NOT NULL, device TEXT, profile TEXT NOT NULL,
    first_seen REAL NOT NULL, last_seen REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS overrides (
    id       INTEGER PRIMARY KEY,
    profile  TEXT NOT NULL,
    kind     TEXT NOT NULL CHECK (kind IN ('pause', 'allow', 'later', 'end')),
    target   TEXT,
    day      TEXT,
    delay    REAL,
    ended_at REAL,
    created  REAL NOT NULL,
    expires  REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS overrides_expires ON overrides (expires);
"""

# Version 1: the query log as the reader needs it (issues 7 and 8), about 60 bytes a row with its indexes.
# - Names and upstreams live once in their own tables: a home asks the same few thousand names all day, so a row
#   carries small ids instead of text, and a domain-substring search scans the names, not the rows.
# - ``clients.source`` says which front end saw the query ("dns" or "proxy"): nothing per row, and filtering on
#   it is a filter on clients.
# - Rows are kept in the order written (``id``), which is time order to within a few seconds (a batch holds the
#   queue in order, then the repeats of the seconds just ended, and batches are half a second apart). So the
#   rowid is the time axis: no index on time at all, one index per thing a parent filters on (decision, client,
#   name), each of which orders its rows by id for free, and a time bound becomes an id bound by binary search
#   (see querylog.id_at). This halves the indexes' size against (thing, time) indexes and a time index
#   (measured: 63 against 103 bytes a row).
# - The name index leads with the row's block of 4,096 ids: a home asks thousands of names, and an index led by
#   the name would take each new row to a different page (every commit rewriting hundreds of pages to the WAL);
#   led by the block, new rows land in the last few pages. A domain search scans the index's small entries in
#   windows of blocks, newest first (measured: 2.7 µs less CPU a row written under load).
# - Times are integers (milliseconds, microseconds): 6 and 3 bytes where a REAL takes 8.
# - ``rollup``: queries per quarter hour per decision (the writer files a tally under one decision of each
#   profile, action and list: see querylog), kept by the writer with the rows, so the day summaries,
#   the activity chart and the totals read a few hundred rows instead of a day's tens of thousands.
# - ``log_meta.cleanup``: bumped by every deletion of names, clients or decisions, so a writer that remembers
#   ids from before knows to forget them (see querylog). Upstreams are a handful and never deleted.
V1 = """
CREATE TABLE names (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
INSERT INTO names (name) SELECT DISTINCT qname FROM queries;
CREATE TABLE upstreams (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
INSERT INTO upstreams (name) SELECT DISTINCT upstream FROM queries WHERE upstream IS NOT NULL;
CREATE TABLE queries_v1 (
    id INTEGER PRIMARY KEY,            -- in the order written: time order to within a few seconds
    at INTEGER NOT NULL,               -- unix time, milliseconds
    client_id INTEGER NOT NULL REFERENCES clients(id),
    name_id INTEGER NOT NULL REFERENCES names(id),
    qtype INTEGER NOT NULL,
    decision_id INTEGER NOT NULL REFERENCES decisions(id),
    rcode INTEGER NOT NULL,
    count INTEGER NOT NULL DEFAULT 1,  -- identical queries answered in that second (hot-cache repeats)
    cached INTEGER NOT NULL,           -- 1: answered from the hot cache
    upstream_id INTEGER REFERENCES upstreams(id),   -- which upstream answered; "cache", "stale" or "failed"
    us INTEGER                         -- time to answer in the full chain, microseconds
);
INSERT INTO queries_v1 (id, at, client_id, name_id, qtype, decision_id, rcode, count, cached, upstream_id, us)
    SELECT q.id, CAST(round(q.ts * 1000) AS INTEGER), q.client_id, n.id, q.qtype, q.decision_id, q.rcode, q.count,
           q.cached, u.id, CAST(round(q.ms * 1000) AS INTEGER)
    FROM queries q JOIN names n ON n.name = q.qname LEFT JOIN upstreams u ON u.name = q.upstream
    ORDER BY q.id;
DROP VIEW query_log;
DROP TABLE queries;
ALTER TABLE queries_v1 RENAME TO queries;
CREATE INDEX queries_decision ON queries(decision_id);
CREATE INDEX queries_client ON queries(client_id);
CREATE INDEX queries_name ON queries(id >> 12, name_id);
ALTER TABLE clients ADD COLUMN source TEXT NOT NULL DEFAULT 'dns';
CREATE INDEX clients_device ON clients(device);
CREATE INDEX decisions_profile ON decisions(profile, action);
CREATE INDEX devices_seen_last ON devices_seen(last_seen);
CREATE TABLE rollup (
    bucket INTEGER NOT NULL,           -- at / 900000: the quarter hour
    decision_id INTEGER NOT NULL REFERENCES decisions(id),
    queries INTEGER NOT NULL,          -- SUM(count) of its rows
    PRIMARY KEY (bucket, decision_id)
) WITHOUT ROWID;
INSERT INTO rollup (bucket, decision_id, queries)
    SELECT at / 900000, decision_id, SUM(count) FROM queries GROUP BY 1, 2;
CREATE TABLE log_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO log_meta (key, value) VALUES ('cleanup', 0);
CREATE VIEW query_log AS
    SELECT q.id, q.at / 1000.0 AS ts, c.source, c.address AS client, c.mac, c.device, d.profile, n.name AS qname,
           q.qtype, d.action, d.reason, d.list, d.rule, d.schedule, d.target, d.nxdomain, q.rcode, q.cached,
           u.name AS upstream, q.us / 1000.0 AS ms, q.count
    FROM queries q JOIN clients c ON c.id = q.client_id JOIN decisions d ON d.id = q.decision_id
         JOIN names n ON n.id = q.name_id LEFT JOIN upstreams u ON u.id = q.upstream_id;
"""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    what: str                                           # one line, for the log
    sql: str | Callable[[sqlite3.Connection], None]     # a script, or a function given the connection


# Time budgets (appliance/state/budgets.py): the minutes a child used, the grants, the notes sent, a change stamp.
V2 = """
CREATE TABLE IF NOT EXISTS budget_minutes (
    profile TEXT NOT NULL,
    budget TEXT NOT NULL,
    day TEXT NOT NULL,             -- the local day (ISO date) in the config's time zone
    minute INTEGER NOT NULL,       -- unix time // 60: one row per minute used, whatever the queries in it
    PRIMARY KEY (profile, budget, day, minute)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS budget_grants (
    id INTEGER PRIMARY KEY,
    profile TEXT NOT NULL,
    budget TEXT NOT NULL,
    day TEXT NOT NULL,
    minutes INTEGER NOT NULL,      -- added to that day's allowance
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS budget_grants_day ON budget_grants(profile, budget, day);
CREATE TABLE IF NOT EXISTS budget_notes (
    profile TEXT NOT NULL,
    budget TEXT NOT NULL,
    day TEXT NOT NULL,
    level INTEGER NOT NULL,        -- 80 or 100 (percent): the parents were told once
    at REAL NOT NULL,
    PRIMARY KEY (profile, budget, day, level)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS budget_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    stamp INTEGER NOT NULL         -- moves when what is spent may have changed: the daemon re-reads it then
);
"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "query log: names and upstreams apart, a source per client, rows in written order, rollup", V1),
    Migration(2, "time budgets: minutes used, grants, notes sent", V2),
)
LATEST = MIGRATIONS[-1].version


def version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def upgrade(conn: sqlite3.Connection, migrations: tuple[Migration, ...] = MIGRATIONS) -> int:
    """Bring the file to the latest version; the version it had. Raises SchemaError if it is newer than this
    code knows (a downgrade), sqlite3.Error if the disk refuses (nothing changed then)."""
    latest = migrations[-1].version if migrations else 0
    if version(conn) == latest:        # the usual case, without taking the write lock
        return latest
    saved = conn.isolation_level
    conn.isolation_level = None        # our own BEGIN / COMMIT: the sqlite3 module must not add any
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            before = version(conn)
            if before > latest:
                raise SchemaError(f"the database {_name(conn)} was written by a newer Hearth (schema version "
                                  f"{before}; this one knows up to {latest}): upgrade Hearth again, or move the "
                                  f"file away to start a new log")
            if before == 0:
                _script(conn, BASELINE)
            for m in migrations:
                if m.version > before:
                    _script(conn, m.sql) if isinstance(m.sql, str) else m.sql(conn)
            conn.execute(f"PRAGMA user_version = {int(latest)}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return before
    finally:
        conn.isolation_level = saved


def _script(conn: sqlite3.Connection, sql: str) -> None:
    """Run statements one by one: ``executescript`` would commit the transaction we are in."""
    stmt = ""
    for line in sql.splitlines(keepends=True):
        stmt += line
        if sqlite3.complete_statement(stmt):
            conn.execute(stmt)
            stmt = ""
    if stmt.strip():
        raise ValueError(f"incomplete SQL statement in a migration: {stmt.strip()[:80]}")


def _name(conn: sqlite3.Connection) -> str:
    row = conn.execute("PRAGMA database_list").fetchone()
    return row[2] if row and row[2] else "(in memory)"
