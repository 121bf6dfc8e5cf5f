"""The one way to read the query log: searches, one entry, day summaries, devices seen, totals.

The CLI, the admin and the proxy read through here and never write SQL against the log: the schema (see
``migrate``) stays free to change, and another backend could stand behind the same calls.

The connection is read-only (``db.connect(readonly=True)``): it works for a user who cannot write the data folder,
creates no file, never takes a write lock from the DNS daemon, and a missing file reads as an empty log. It sees
the log as it was when opened if no writer had the file open then: open a Reports per request, not per process.

How a search stays fast at millions of rows: each filter becomes a set of ids in a small table (decisions hold
profile, action, reason and list; clients hold device, address, MAC and source; names hold the domain), and the
rows have one index per set. The decision and client indexes order each id's rows by row id, that is by the time
they were written; the name index is led by the row's block of 4,096 ids (so the writer appends to it), and a
domain search scans its small entries block by block. The search walks the newest rows through the index of the
domain, else of the narrowest set, in windows of row ids that grow eightfold from about an hour of a busy home
(2,000 rows, 16,000, 128,000, a million, the rest) until the page is full, so the cost follows the rows shown,
not the rows stored. A set too big to be narrow (every allowed decision) is a filter on a walk down the table
itself. A time bound becomes a row-id bound by binary search (``querylog.id_at``), widened by the few seconds
rows can be out of order, and the row's own time is checked too.

Pages are keyset pages, newest first (most recently written first: rows are written within a second or two of
their time): the cursor is the last row's id, so rows written meanwhile never shift a page, and a page deep in the
log costs what the first one does.

Counts (``SUM(count)``: a row holds the repeats of one second) for summaries and totals come from the
quarter-hour rollup the writer keeps; only the top blocked domains read rows.
"""
from __future__ import annotations

import base64
import binascii
import json
import sqlite3
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from pathlib import Path

from appliance.model import Action, Decision, Reason
from appliance.state import db, migrate
from appliance.state.querylog import BLOCK_BITS, BUCKET_MS, SLACK_MS, id_at

__all__ = ["LogEntry", "LogFilter", "Page", "DaySummary", "DeviceSeen", "Totals", "Reports", "BadFilter",
           "LogUnreadable"]

WINDOWS = (2_000, 16_000, 128_000, 1_024_000, None)   # row ids a search looks back per step; None: the rest
NARROW = 4000                                   # ids in a set that still make it worth walking its own index
SEEK_NAMES = 500        # names a domain matched, up to which seeking each (block, name) beats scanning the blocks
TOP = 10


class BadFilter(ValueError):
    """A filter or cursor that cannot be read; the message is for parents."""


class LogUnreadable(Exception):
    """The log's file is there but cannot be read (rights, damage, an older Hearth); the message is for parents."""


@dataclass(frozen=True, slots=True)
class LogEntry:
    id: int
    ts: datetime                 # aware, UTC
    source: str                  # "dns" or "proxy"
    address: str
    mac: str | None
    device: str | None
    profile: str
    qname: str
    qtype: int
    action: str
    reason: str
    list: str | None
    rule: str | None
    schedule: str | None
    target: str | None
    nxdomain: bool
    rcode: int
    cached: bool
    upstream: str | None
    ms: float | None
    count: int

    @property
    def decision(self) -> Decision:
        return Decision(Action(self.action), Reason(self.reason), self.profile, self.list, self.rule,
                        self.schedule, self.target, self.nxdomain)

    def as_dict(self) -> dict:
        """Plain data for JSON: the whole decision, ts as ISO 8601."""
        return {"id": self.id, "ts": self.ts.isoformat(), "source": self.source, "address": self.address,
                "mac": self.mac, "device": self.device, "profile": self.profile, "qname": self.qname,
                "qtype": self.qtype, "action": self.action, "reason": self.reason, "list": self.list,
                "rule": self.rule, "schedule": self.schedule, "target": self.target, "nxdomain": self.nxdomain,
                "rcode": self.rcode, "cached": self.cached, "upstream": self.upstream, "ms": self.ms,
                "count": self.count}


@dataclass(frozen=True, slots=True)
class LogFilter:
    """What to show; every field narrows (None: any). Times are aware datetimes; ``until`` is exclusive."""

    profile: str | None = None
    device: str | None = None        # a device name, a MAC or an address
    domain: str | None = None        # a part of the name ("tiktok" finds www.tiktok.com)
    action: str | None = None        # allow | block | rewrite
    reason: str | None = None        # a Reason name (SCHEDULE, APP, ...)
    list: str | None = None          # a category, a list, or an app ("tiktok" or "app:tiktok")
    since: datetime | None = None
    until: datetime | None = None
    source: str | None = None        # dns | proxy
    blocked_only: bool = False


@dataclass(frozen=True, slots=True)
class Page:
    entries: tuple[LogEntry, ...]
    next_cursor: str | None          # None: this was the last page


@dataclass(frozen=True, slots=True)
class DaySummary:
    profile: str
    day: date
    queries: int
    blocks: int
    top_domains: tuple[tuple[str, int], ...]      # blocked names, most asked first
    top_apps: tuple[tuple[str, int], ...]         # app names (without "app:")
    top_categories: tuple[tuple[str, int], ...]
    by_hour: tuple[int, ...]                      # 24 query counts, local hours
    blocks_by_hour: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class DeviceSeen:
    key: str                 # the MAC when known, else the address
    mac: str | None
    ip: str
    device: str | None       # the configured name; None: nobody assigned it
    profile: str
    first_seen: datetime     # aware, UTC
    last_seen: datetime
    assigned: bool


@dataclass(frozen=True, slots=True)
class Totals:
    queries: int
    blocks: int


_ENTRY_SQL = """
SELECT q.id, q.at, c.source, c.address, c.mac, c.device, d.profile, n.name, q.qtype, d.action, d.reason, d.list,
       d.rule, d.schedule, d.target, d.nxdomain, q.rcode, q.cached, u.name, q.us, q.count
FROM queries q JOIN clients c ON c.id = q.client_id JOIN decisions d ON d.id = q.decision_id
     JOIN names n ON n.id = q.name_id LEFT JOIN upstreams u ON u.id = q.upstream_id
"""
_IN = "(SELECT value FROM json_each(?))"


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, timezone.utc)


def _entry(r) -> LogEntry:
    return LogEntry(r[0], _utc(r[1] / 1000), r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12],
                    r[13], r[14], bool(r[15]), r[16], bool(r[17]), r[18], None if r[19] is None else r[19] / 1000,
                    r[20])


class Reports:
    def __init__(self, db_path: str | Path):
        self.path = Path(db_path)
        self._db: sqlite3.Connection | None = None

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> "Reports":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- the connection -------------------------------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection | None:
        """Read-only; None while there is no log yet."""
        if self._db is None:
            if not self.path.exists():
                return None
            try:
                conn = db.connect(self.path, readonly=True)     # creates no file, with or without a writer
                conn.row_factory = None
                v = migrate.version(conn)
            except sqlite3.Error as e:
                raise LogUnreadable(f"the log at {self.path} cannot be read ({e}): check that this user may "
                                    f"read the data folder") from None
            if v < 1:
                old = conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'queries'").fetchone()[0] and \
                    conn.execute("SELECT 1 FROM queries LIMIT 1").fetchone()
                conn.close()
                if not old:        # only the overrides so far: the writer has not opened the file yet
                    return None
                raise LogUnreadable("the log is from an older Hearth: it becomes readable once the DNS daemon "
                                    "has started and upgraded it")
            self._db = conn
        return self._db

    # --- searching ------------------------------------------------------------------------------------------------

    def search(self, filter: LogFilter = LogFilter(), limit: int = 50, cursor: str | None = None) -> Page:
        """The newest entries matching ``filter``, ``limit`` at most, after ``cursor`` (from the previous page)."""
        if not 1 <= limit <= 10_000:
            raise BadFilter("a page holds between 1 and 10,000 entries")
        conn = self._conn()
        after = _decode(cursor) if cursor else None
        if conn is None:
            return Page((), None)
        sets = self._sets(conn, filter)
        if sets is None:
            return Page((), None)
        # A name set drives whatever its size: its index is the cheapest walk there is. Then the first narrow set.
        driver = next((col for col, ids in sets if col == "name_id" or len(ids) <= NARROW), None)
        conds, params = [], []
        for col, ids in sets:
            conds.append(f"{col} IN {_IN}")
            params.append(json.dumps(ids))
        lo, hi = 1, conn.execute("SELECT max(id) FROM queries").fetchone()[0]
        if hi is None:
            return Page((), None)
        hi += 1                                          # exclusive
        if filter.since:
            since = int(filter.since.timestamp() * 1000)
            lo = id_at(conn, since - SLACK_MS)
            conds.append("at >= ?")
            params.append(since)
        if filter.until:
            until = int(filter.until.timestamp() * 1000)
            hi = min(hi, id_at(conn, until + SLACK_MS))
            conds.append("at < ?")
            params.append(until)
        if after is not None:
            hi = min(hi, after)
        index = {"name_id": "queries_name", "client_id": "queries_client",
                 "decision_id": "queries_decision"}.get(driver)
        found = _walk(conn, index, conds, params, lo, hi, limit + 1, WINDOWS if driver else (None,),
                      names=len(sets[0][1]) if driver == "name_id" else 0)
        more = len(found) > limit
        found = found[:limit]
        nxt = _encode(found[-1]) if more else None
        return Page(tuple(self._entries(conn, found)), nxt)

    def entry(self, entry_id: int) -> LogEntry | None:
        conn = self._conn()
        if conn is None:
            return None
        r = conn.execute(_ENTRY_SQL + " WHERE q.id = ?", (int(entry_id),)).fetchone()
        return _entry(r) if r else None

    def _entries(self, conn: sqlite3.Connection, ids: list[int]) -> list[LogEntry]:
        if not ids:
            return []
        rows = {r[0]: _entry(r) for r in conn.execute(_ENTRY_SQL + f" WHERE q.id IN {_IN}", (json.dumps(ids),))}
        return [rows[i] for i in ids if i in rows]

    def _sets(self, conn: sqlite3.Connection, f: LogFilter) -> list[tuple[str, list[int]]] | None:
        """Each filter as (queries column, the ids it allows), narrowest kind first; None if one allows nothing."""
        sets = []
        if f.domain:
            part = f.domain.strip().rstrip(".").lower()
            like = "%" + part.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            sets.append(("name_id", [r[0] for r in conn.execute(
                "SELECT id FROM names WHERE name LIKE ? ESCAPE '\\'", (like,))]))
        where, params = [], []
        if f.device:
            where.append("(device = ? OR mac = ? OR address = ?)")
            params += [f.device, f.device.lower(), f.device]
        if f.source:
            if f.source not in ("dns", "proxy"):
                raise BadFilter(f"unknown source {f.source!r} (dns or proxy)")
            where.append("source = ?")
            params.append(f.source)
        if where:
            sets.append(("client_id", [r[0] for r in conn.execute(
                f"SELECT id FROM clients WHERE {' AND '.join(where)}", params)]))
        where, params = _decision_where(f)
        if where:
            sets.append(("decision_id", [r[0] for r in conn.execute(
                f"SELECT id FROM decisions WHERE {' AND '.join(where)}", params)]))
        if any(not ids for _, ids in sets):
            return None
        return sets

    # --- summaries ------------------------------------------------------------------------------------------------

    def day_summary(self, profile: str, day: date, tz: tzinfo) -> DaySummary:
        """One child's day, midnight to midnight on the local clock."""
        start = datetime.combine(day, time(0), tzinfo=tz)
        end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
        conn = self._conn()
        empty = (0,) * 24
        if conn is None:
            return DaySummary(profile, day, 0, 0, (), (), (), empty, empty)
        buckets = self._buckets(conn, profile, start, end)
        queries = sum(q for q, _ in buckets.values())
        blocks = sum(b for _, b in buckets.values())
        lists: dict[str, int] = {}
        for lst, n in conn.execute(
                "SELECT d.list, SUM(r.queries) FROM rollup r JOIN decisions d ON d.id = r.decision_id "
                "WHERE r.bucket >= ? AND r.bucket < ? AND d.profile = ? AND d.action = 'block' "
                "AND d.list IS NOT NULL GROUP BY d.list", (_bucket(start), _bucket(end), profile)):
            lists[lst] = n
        apps = sorted(((k[4:], n) for k, n in lists.items() if k.startswith("app:")), key=lambda x: (-x[1], x[0]))
        cats = sorted(((k, n) for k, n in lists.items() if not k.startswith("app:") and k != "deny"),
                      key=lambda x: (-x[1], x[0]))
        blocked = [r[0] for r in conn.execute("SELECT id FROM decisions WHERE profile = ? AND action = 'block'",
                                               (profile,))]
        t0, t1 = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
        top = conn.execute(
            f"SELECT n.name, SUM(q.count) AS c FROM queries q INDEXED BY queries_decision "
            f"JOIN names n ON n.id = q.name_id WHERE q.decision_id IN {_IN} AND q.id >= ? AND q.id < ? "
            f"AND q.at >= ? AND q.at < ? GROUP BY q.name_id ORDER BY c DESC, n.name LIMIT ?",
            (json.dumps(blocked), id_at(conn, t0 - SLACK_MS), id_at(conn, t1 + SLACK_MS), t0, t1, TOP)).fetchall()
        return DaySummary(profile, day, queries, blocks, tuple((n, c) for n, c in top), tuple(apps[:TOP]),
                          tuple(cats[:TOP]), _by_hour(buckets, tz, 0), _by_hour(buckets, tz, 1))

    def activity_by_hour(self, profile: str, since: datetime, until: datetime, tz: tzinfo) -> tuple[int, ...]:
        """Queries per local hour of the day (24 counts) between two instants, to the quarter hour."""
        conn = self._conn()
        if conn is None:
            return (0,) * 24
        return _by_hour(self._buckets(conn, profile, since, until), tz, 0)

    def totals(self, since: datetime, until: datetime) -> dict[str, Totals]:
        """Queries and blocks per profile between two instants, to the quarter hour."""
        conn = self._conn()
        if conn is None:
            return {}
        out: dict[str, list[int]] = {}
        for profile, action, n in conn.execute(     # sum per decision first: the join then sees a few rows
                "SELECT d.profile, d.action, SUM(r.n) FROM (SELECT decision_id, SUM(queries) AS n FROM rollup "
                "WHERE bucket >= ? AND bucket < ? GROUP BY decision_id) r JOIN decisions d ON d.id = r.decision_id "
                "GROUP BY d.profile, d.action", (_bucket(since), _bucket(until))):
            t = out.setdefault(profile, [0, 0])
            t[0] += n
            if action == "block":
                t[1] += n
        return {p: Totals(q, b) for p, (q, b) in sorted(out.items())}

    def devices(self) -> list[DeviceSeen]:
        """Every device seen within the retention, the most recently seen first."""
        conn = self._conn()
        if conn is None:
            return []
        return [DeviceSeen(k, mac, ip, dev, prof, _utc(first), _utc(last), dev is not None)
                for k, mac, ip, dev, prof, first, last in conn.execute(
                    "SELECT key, mac, ip, device, profile, first_seen, last_seen FROM devices_seen "
                    "ORDER BY last_seen DESC, key")]

    @staticmethod
    def _buckets(conn: sqlite3.Connection, profile: str, since: datetime, until: datetime) -> dict[int, list[int]]:
        """Quarter hour -> [queries, blocks] of one profile (in rollup order: no sorting)."""
        out: dict[int, list[int]] = {}
        for i, action in enumerate(("", "block")):
            ids = [r[0] for r in conn.execute(
                "SELECT id FROM decisions WHERE profile = ?" + (" AND action = ?" if action else ""),
                (profile, action) if action else (profile,))]
            for bucket, n in conn.execute(
                    f"SELECT bucket, SUM(queries) FROM rollup WHERE bucket >= ? AND bucket < ? "
                    f"AND decision_id IN {_IN} GROUP BY bucket", (_bucket(since), _bucket(until), json.dumps(ids))):
                out.setdefault(bucket, [0, 0])[i] += n
        return out


# --- helpers ----------------------------------------------------------------------------------------------------

def _decision_where(f: LogFilter) -> tuple[list[str], list]:
    where, params = [], []
    if f.profile:
        where.append("profile = ?")
        params.append(f.profile)
    action = "block" if f.blocked_only else None
    if f.action:
        a = f.action.strip().lower()
        if a not in {x.value for x in Action}:
            raise BadFilter(f"unknown verdict {f.action!r} (allow, block or rewrite)")
        if action and a != action:
            where.append("0")
        action = a
    if action:
        where.append("action = ?")
        params.append(action)
    if f.reason:
        r = f.reason.strip().upper().replace("-", "_")
        if r not in Reason.__members__:
            raise BadFilter(f"unknown reason {f.reason!r} (one of: {', '.join(Reason.__members__).lower()})")
        where.append("reason = ?")
        params.append(Reason[r].value)
    if f.list:
        name = f.list.strip().lower()
        where.append("(list = ? OR list = ?)")
        params += [name, name if name.startswith("app:") else "app:" + name]
    return where, params


def _walk(conn: sqlite3.Connection, index: str | None, conds: list[str], params: list, lo: int, hi: int, n: int,
          windows: tuple, names: int = 0) -> list[int]:
    """Ids of the newest ``n`` matching rows with lo <= id < hi, newest first. ``names``: with the name index,
    how many names the domain matched (its IN list is the first condition)."""
    found: list[int] = []
    where = "".join(f" AND {c}" for c in conds)
    for span in windows:
        start = lo if span is None else max(lo, hi - span)
        first, last = start >> BLOCK_BITS, (hi - 1) >> BLOCK_BITS
        if index == "queries_name" and names <= SEEK_NAMES:
            # Few names: seek each (block, name) pair, newest block first; a stale name costs a seek a block.
            sql = (f"WITH RECURSIVE b(x) AS (SELECT ? UNION ALL SELECT x - 1 FROM b WHERE x > ?) "
                   f"SELECT id FROM b CROSS JOIN queries INDEXED BY queries_name ON (id >> {BLOCK_BITS}) = b.x "
                   f"WHERE id >= ? AND id < ?{where} ORDER BY id DESC LIMIT ?")
            args = [last, first, start, hi, *params, n - len(found)]
        elif index == "queries_name":
            # Many names: scan the index's small entries in the window's blocks.
            sql = (f"SELECT id FROM queries INDEXED BY queries_name WHERE (id >> {BLOCK_BITS}) BETWEEN ? AND ? "
                   f"AND id >= ? AND id < ?{where} ORDER BY id DESC LIMIT ?")
            args = [first, last, start, hi, *params, n - len(found)]
        else:
            table = f"queries INDEXED BY {index}" if index else "queries NOT INDEXED"
            sql = f"SELECT id FROM {table} WHERE id >= ? AND id < ?{where} ORDER BY id DESC LIMIT ?"
            args = [start, hi, *params, n - len(found)]
        found += [r[0] for r in conn.execute(sql, args)]
        if len(found) >= n or start <= lo:
            break
        hi = start
    return found


def _encode(row_id: int) -> str:
    return base64.urlsafe_b64encode(f"v1:{row_id}".encode()).decode().rstrip("=")


def _decode(cursor: str) -> int:
    try:
        tag, row_id = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().split(":")
        if tag != "v1":
            raise ValueError(tag)
        return int(row_id)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadFilter("this page link cannot be read; start again from the newest entries") from None


def _bucket(t: datetime) -> int:
    return int(t.timestamp() * 1000) // BUCKET_MS


def _by_hour(buckets: dict[int, list[int]], tz: tzinfo, which: int) -> tuple[int, ...]:
    """Quarter hours to the 24 hours of the local clock (a DST day's repeated hour adds up in one slot)."""
    hours = [0] * 24
    for bucket, counts in buckets.items():
        hours[datetime.fromtimestamp(bucket * BUCKET_MS / 1000, tz).hour] += counts[which]
    return tuple(hours)
