"""Parent alerts: the decisions a parent wants to hear about, raised from the stream of decisions.

``AlertSink`` is a sink on the stream. Its ``put``, ``repeat`` and ``seen`` only append to memory (never block,
never raise; a full queue counts a drop); a batch is raised into SQLite off the DNS path every couple of seconds while there is something to raise
(state/doorbell.py: an idle sink does not wake).

What raises an alert (``config.alerts``):
- a *blocked* attempt on a listed category (``alerts.categories``), or on a listed app (``alerts.apps``), by a
  child's device. The category is the Decision's own list, or, when something else blocked the name first (a
  bedtime ``everything`` window, a pause, the deny list), the lists the name is on. An app counts for its catalog
  category too (Omegle-style chat sites are random-chat). Allowed names never alert: a category the profile lets
  through is one the parent chose to allow, and hearing about it every hour would drown the alerts that matter;
- a new unknown device (no configured name) seen for the first time: its MAC, else its IPv4 address (an IPv6
  address without a MAC is skipped: privacy addresses change daily). The devices already known at the first
  start are read from the query log's ``devices_seen``.
Devices on the default profile (no child assigned) raise no attempt alerts: they are often the parents' own.

Deduplication: one alert per child, list and domain for an hour from its first attempt, with a count and the first
and last time; a burst on one list (another domain of the same list within BURST seconds of the last attempt) folds
into the same alert. A dismissed alert is closed: a later attempt opens a new one.

Severity: high for random-chat and adult, and for bypass at night (the quiet hours, else 22:00-07:00); normal for
everything else, new devices included. Each alert keeps the explanation of its first entry in words.
"""
from __future__ import annotations

import collections
import json
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from datetime import time as dtime
from pathlib import Path
from typing import Callable, Iterable, NamedTuple
from zoneinfo import ZoneInfo

from appliance.config import DEFAULT_PROFILE, AlertsConfig
from appliance import wording
from appliance.model import Action, Client, Decision, Reason
from appliance.state import db
from appliance.state.doorbell import Doorbell, beat
from appliance.stream import fit

log = logging.getLogger("hearth.alerts")

SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,            -- attempt | device | text | ask | pinned (the last three from the proxy)
    child TEXT,                    -- the profile; NULL for a new device
    device TEXT,                   -- the device's name, else its address
    address TEXT, mac TEXT,
    domain TEXT,                   -- the rule that matched (omegle.com for www.omegle.com)
    qname TEXT,                    -- the name first asked
    list TEXT,                     -- the category or "app:<name>" the alert is about
    reason TEXT NOT NULL,          -- the first entry's Decision reason, or NEW_DEVICE
    decision TEXT,                 -- the first entry's whole Decision (JSON), to explain it again in any language
    count INTEGER NOT NULL,
    first REAL NOT NULL,           -- unix time
    last REAL NOT NULL,
    severity TEXT NOT NULL,        -- high | normal
    status TEXT NOT NULL DEFAULT 'new',   -- new | seen | dismissed
    words TEXT NOT NULL,           -- the first entry explained, in the configured language
    notified REAL                  -- when a message about it was queued; NULL: not yet
);
CREATE INDEX IF NOT EXISTS alerts_open ON alerts(child, list, first);
CREATE INDEX IF NOT EXISTS alerts_unnotified ON alerts(notified) WHERE notified IS NULL;
CREATE TABLE IF NOT EXISTS alert_devices (
    key TEXT PRIMARY KEY,          -- the MAC when known, else the address (as devices_seen)
    first_seen REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS alert_tally (
    day TEXT NOT NULL,             -- the local date of the digest that reports it
    child TEXT NOT NULL,
    what TEXT NOT NULL,            -- a category, "app:<name>", "schedule:<window>", or a reason (paused, deny)
    count INTEGER NOT NULL,
    PRIMARY KEY (day, child, what)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS alert_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
"""

HOUR = 3600.0
BURST = 120.0              # seconds: another domain of the same list this soon after the last attempt is one burst
FLUSH_EVERY = 2.0          # seconds between two batches
MAX_QUEUE = 20_000         # entries waiting for the next batch; past that, drops are counted
MAX_KNOWN = 50_000         # device keys remembered in memory (the db stays the truth)
TALLY_KEEP_DAYS = 40
STATUSES = ("new", "seen", "dismissed")
NEW_DEVICE = "NEW_DEVICE"
MANY_DEVICES = "NEW_DEVICES"   # the alert that counts new devices past NEW_DEVICES_PER_HOUR
NEW_DEVICES_PER_HOUR = 10      # new-device alerts of their own in an hour: a home rarely sees more, and a device
                               # spoofing addresses would otherwise raise one alert (and message) per address
HIGH_CATEGORIES = frozenset({"random-chat", "adult"})
NIGHT = (dtime(22, 0), dtime(7, 0))     # "at night" when no quiet hours are set


def ensure_schema(conn: sqlite3.Connection) -> None:
    """Create the alert tables (idempotent); the lead folds this into the versioned migrations."""
    conn.executescript(SCHEMA)


# --- settings ----------------------------------------------------------------------------------------------------

def settings(config) -> AlertsConfig:
    return getattr(config, "alerts", None) or AlertsConfig()


def in_window(t: dtime, window: tuple[dtime, dtime] | None) -> bool:
    """Is the wall-clock time ``t`` inside ``window`` (start inclusive, end exclusive; may run past midnight)?"""
    if window is None:
        return False
    start, end = window
    if start <= end:
        return start <= t < end
    return t >= start or t < end


def digest_day(ts: float, tz: ZoneInfo, digest: dtime | None) -> str:
    """The local date of the digest that reports an event at ``ts``: today's, or tomorrow's once today's is out."""
    local = datetime.fromtimestamp(ts, tz)
    if digest is not None and local.time() >= digest:
        return (local.date() + timedelta(days=1)).isoformat()
    return local.date().isoformat()


# --- words -------------------------------------------------------------------------------------------------------

def child_name(profile: str | None) -> str:
    return (profile or "").replace("-", " ").replace("_", " ").title()


def describe(d: Decision, lang: str = "en", titles: Callable[[str, str], str] | None = None) -> str:
    """The decision in a parent's words: appliance.wording's, so `hearth explain`, the log and the alerts say
    the same thing."""
    try:
        return wording.describe(d, lang=lang, titles=titles.mapping(lang) if isinstance(titles, Titles) else None)
    except Exception:     # a wording bug must not lose an alert
        log.exception("wording failed")
        return f"{d.action.value} ({d.reason.value})"


_W = {
    "en": {"device": "a new device joined the network: {who}. It gets the default rules until you assign it to a "
                     "child.",
           "quarantined": "a new device joined the network: {who}. It can reach only essential services until you "
                          "assign it to a child or to the parents.",
           "many": "more than {n} new devices joined the network within an hour, among them {who}. So many at once "
                   "usually means that one device is pretending to be many. If you did not expect this, look at "
                   "the devices page, and change your Wi-Fi password."},
    "fr": {"device": "un nouvel appareil s'est connecté au réseau : {who}. Il suit les règles par défaut tant que "
                     "vous ne l'attribuez pas à un enfant.",
           "quarantined": "un nouvel appareil s'est connecté au réseau : {who}. Il n'accède qu'aux services "
                          "essentiels tant que vous ne l'attribuez pas à un enfant ou aux parents.",
           "many": "plus de {n} nouveaux appareils se sont connectés au réseau en une heure, dont {who}. "
                   "Autant à la fois, c'est en général un seul appareil qui se fait passer pour beaucoup. Si vous "
                   "ne vous y attendiez pas, regardez la page des appareils et changez le mot de passe du Wi-Fi."},
}


class Titles:
    """Category and app names as a parent reads them, from the shipped catalog (the raw name if it is missing).
    Read on first use, so a reload on the event loop does not read files."""

    def __init__(self, blocklists_dir: str | Path | None):
        self.root = blocklists_dir
        self._categories: dict[str, tuple[str, str]] | None = None
        self._apps: dict[str, tuple[str, str]] = {}      # name -> (title, category)

    def _load(self) -> dict[str, tuple[str, str]]:
        if self._categories is not None:
            return self._categories
        self._categories = {}
        if self.root is None:
            return self._categories
        try:
            from appliance.lists.catalog import load_catalog
            cat = load_catalog(self.root)
        except Exception:       # a broken catalog is reported by check-config; alerts still work without titles
            log.warning("alerts: cannot read the catalog in %s; using raw list names", self.root)
            return self._categories
        self._apps = {n: (a.title, a.category) for n, a in cat.apps.items()}
        self._categories = {n: (c.title, c.title_fr or c.title) for n, c in cat.categories.items()}
        return self._categories

    @property
    def apps(self) -> dict[str, tuple[str, str]]:
        self._load()
        return self._apps

    def __call__(self, name: str, lang: str = "en") -> str:
        if name.startswith("app:"):
            a = self.apps.get(name[4:])
            return a[0] if a else name[4:]
        c = self._load().get(name)
        return (c[1] if lang == "fr" else c[0]) if c else name

    def mapping(self, lang: str = "en") -> dict[str, str]:
        """{"dating": "Dating and hook-up", "app:tiktok": "TikTok", ...} in ``lang`` (for appliance.wording)."""
        names = {n: (t[1] if lang == "fr" else t[0]) for n, t in self._load().items()}
        names.update({"app:" + n: t for n, (t, _) in self.apps.items()})
        return names

    def category_of(self, name: str) -> str:
        """The category an alert list belongs to: itself, or an app's catalog category."""
        if name.startswith("app:"):
            a = self.apps.get(name[4:])
            return a[1] if a else name
        return name


# --- the alert, as the CLI and the admin read it -------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Alert:
    id: int
    child: str | None        # None: a new device, no child yet
    device: str | None
    domain: str | None
    list: str | None
    reason: str
    count: int
    first: datetime
    last: datetime
    severity: str            # high | normal
    status: str              # new | seen | dismissed
    words: str

    def as_dict(self) -> dict:
        return {"id": self.id, "child": self.child, "device": self.device, "domain": self.domain,
                "list": self.list, "reason": self.reason, "count": self.count, "first": self.first.isoformat(),
                "last": self.last.isoformat(), "severity": self.severity, "status": self.status,
                "words": self.words}


class AlertNotFound(LookupError):
    def __init__(self, alert_id):
        super().__init__(f"there is no alert {alert_id}")


class Alerts:
    """The alert store's read and status API, for the CLI, the admin and the notifier."""

    def __init__(self, db_path: str | Path, tz: ZoneInfo | None = None):
        self.path = Path(db_path)
        self.tz = tz or timezone.utc
        self._conn: sqlite3.Connection | None = None

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = db.connect(self.path)
            ensure_schema(self._conn)
        return self._conn

    def _alert(self, row: sqlite3.Row) -> Alert:
        return Alert(row["id"], row["child"], row["device"], row["domain"], row["list"], row["reason"],
                     row["count"], datetime.fromtimestamp(row["first"], self.tz),
                     datetime.fromtimestamp(row["last"], self.tz), row["severity"], row["status"], row["words"])

    def list(self, status: str | None = None, limit: int = 100, include_dismissed: bool = False,
             child: str | None = None) -> list[Alert]:
        """Newest first. ``status`` picks one status; otherwise new and seen (and dismissed if asked).
        ``child``: that child's alerts only."""
        if status is not None:
            if status not in STATUSES:
                raise ValueError(f"unknown alert status {status!r} (known: {', '.join(STATUSES)})")
            where, args = "status = ?", [status]
        elif include_dismissed:
            where, args = "1", []
        else:
            where, args = "status != 'dismissed'", []
        if child is not None:
            where, args = where + " AND child = ?", [*args, child]
        rows = self.conn.execute(f"SELECT * FROM alerts WHERE {where} ORDER BY last DESC, id DESC LIMIT ?",
                                 (*args, int(limit))).fetchall()
        return [self._alert(r) for r in rows]

    def counts(self) -> dict[str, int]:
        """For a badge: {"new": n, "new_high": n}."""
        row = self.conn.execute("SELECT count(*), coalesce(sum(severity = 'high'), 0) FROM alerts"
                                " WHERE status = 'new'").fetchone()
        return {"new": row[0], "new_high": row[1]}

    def get(self, alert_id: int) -> Alert:
        row = self.conn.execute("SELECT * FROM alerts WHERE id = ?", (int(alert_id),)).fetchone()
        if row is None:
            raise AlertNotFound(alert_id)
        return self._alert(row)

    def _set(self, alert_id: int, status: str) -> Alert:
        with self.conn:
            cur = self.conn.execute("UPDATE alerts SET status = ? WHERE id = ?", (status, int(alert_id)))
        if cur.rowcount == 0:
            raise AlertNotFound(alert_id)
        return self.get(alert_id)

    def mark_seen(self, alert_id: int) -> Alert:
        """New becomes seen; a dismissed alert stays dismissed."""
        a = self.get(alert_id)
        return a if a.status == "dismissed" else self._set(alert_id, "seen")

    def dismiss(self, alert_id: int) -> Alert:
        return self._set(alert_id, "dismissed")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


# --- the sink ----------------------------------------------------------------------------------------------------

class _Row(NamedTuple):
    """A blocked decision as the batch raises it: a full-chain entry, or a run of hot-cache repeats."""

    ts: float
    last: float
    client: Client
    qname: str
    decision: Decision
    count: int


_BLOCK = Action.BLOCK


class Notice(NamedTuple):
    """An alert that is not a blocked name, raised by a front end that saw it (the proxy): risky text in a page
    (``text``), a child's ask for access (``ask``), an app that refused the proxy and is passed through from now
    on (``pinned``). ``words`` say it in the parent's language, excerpt included; one per child, kind, list and
    domain an hour, counted like attempts."""

    kind: str
    ts: float
    client: Client
    profile: str
    domain: str
    list: str | None        # the text's category ("grooming"); None for ask and pinned
    rule: str | None        # the detector's rule, or the URL asked for
    words: str
    severity: str = "normal"
    decision: Decision | None = None    # ask: the decision that blocked the page (an approval allows its rule)


def _who(client: Client) -> str:
    """A device as an alert names it: its address, and its MAC when known."""
    return f"{client.address} ({client.mac})" if client.mac else client.address


class AlertSink:
    """The alerts' sink on the stream of decisions.

    The DNS thread calls ``put``, ``repeat`` and ``seen``; ``flush`` (a coroutine, in the daemon's loop) takes
    the batch and raises it into SQLite in a worker thread. Only blocked decisions are queued (an allowed one never
    alerts), unless an observer is attached: observers (the metrics) see every batch, ``observer(entries,
    repeats)`` with the Entries as they came and the repeats as [count, first second, last second, client, hot
    entry], so the DNS path pays for one queue, not one per consumer. The batch work is kept to a few hundred
    nanoseconds a row: it runs in the DNS process and its CPU counts against every query."""

    def __init__(self, config, db_path: str | Path, *, clock: Callable[[], float] = time.time,
                 lookup: Callable[[str], Iterable[str]] | None = None,
                 observers: Iterable[Callable[[list, list], None]] = (), maxsize: int = MAX_QUEUE):
        self.path = Path(db_path)
        self.clock = clock
        self.maxsize = maxsize
        self.observers: tuple = ()
        self._all = False            # queue allowed decisions too (for an observer)
        for obs in observers:
            self.add_observer(obs)
        self.dropped = 0
        self.raised = 0              # alerts opened since start (the metrics read it)
        self.failed_batches = 0
        self._q: collections.deque = collections.deque()
        self._batches: list[list] = []   # the stream's repeat batches as handed over, counted in the writer thread
        self._batched = 0
        self._devices: collections.deque = collections.deque()
        self._bell = Doorbell()      # the writer sleeps until something is queued
        self._notices: collections.deque = collections.deque()
        self._known: set[str] = set()
        self._conn: sqlite3.Connection | None = None
        # One batch at a time on the connection: at shutdown the periodic flush may still be running in a worker
        # thread when the last flush starts, and two threads on one sqlite3 connection crash the process.
        self._writing = threading.Lock()
        self._lookup_memo: dict[str, tuple] = {}
        self._stream = None                  # the stream counting hot-cache repeats, once bound
        self.reload(config, lookup)
        try:
            self.conn      # now, before DNS starts: the devices the log already knows are read before it adds more
        except (sqlite3.Error, OSError) as e:     # a full disk must not stop DNS: the next batch tries again
            log.error("alerts: cannot open %s (%s); alerts wait until it opens", self.path, e)

    def reload(self, config, lookup: Callable[[str], Iterable[str]] | None = None) -> None:
        """A new config (and the new lists' lookup): swapped whole, read by the next batch."""
        if config is getattr(self, "config", None) and lookup is self.lookup:
            return       # an override change swaps the snapshot but keeps its config
        self.config = config
        self.settings = settings(config)
        self.tz = ZoneInfo(getattr(config, "timezone", "UTC") or "UTC")
        self.titles = Titles(getattr(config, "blocklists_dir", None))
        self.lookup = lookup
        self._lookup_memo = {}
        self._categories = frozenset(self.settings.categories)
        self._apps = frozenset("app:" + a if not a.startswith("app:") else a for a in self.settings.apps)
        self._alerting: frozenset[str] | None = None

    def add_observer(self, fn: Callable[[list, list], None]) -> None:
        self.observers += (fn,)
        self._all = True

    def remove_observer(self, fn: Callable[[list, list], None]) -> None:
        self.observers = tuple(o for o in self.observers if o != fn)      # bound methods compare equal, not same
        self._all = bool(self.observers)

    # -- the DNS side: memory only ------------------------------------------------------------------------------

    def put(self, entry) -> None:
        """Queue one decision; never blocks, never raises."""
        if not self._relevant(entry.decision):
            return
        if len(self._q) >= self.maxsize:
            self.dropped += 1
            return
        self._q.append(entry)
        if self._bell.armed:
            self._bell.ring()

    def repeats(self, batch: list[list]) -> None:
        """Keep the stream's hot-cache repeats (``[n, second, client, hot]`` each) for the next batch; never
        blocks. They are sorted and counted in the writer's thread (``_counted``): on the event loop, a busy
        second's couple of thousand counts held up DNS for milliseconds."""
        if not batch:
            return
        if self._batched + len(batch) > self.maxsize:     # under pressure only: keep what may alert
            batch, lost = fit([r for r in batch if self._relevant(r[3].decision)], self.maxsize - self._batched)
            self.dropped += lost
            if not batch:
                return
        self._batches.append(batch)
        self._batched += len(batch)
        if self._bell.armed:
            self._bell.ring()

    def _relevant(self, d: Decision) -> bool:
        return self._all or (d.action is _BLOCK and d.profile != DEFAULT_PROFILE)

    def _counted(self, batches: list[list]) -> list[list]:
        """The repeats of a batch that may alert, per device and answer: ``[n, first, last, client, hot]``."""
        counts: dict[tuple[int, int], list] = {}
        relevant = self._relevant
        for batch in batches:
            for n, second, client, h in batch:
                if not relevant(h.decision):
                    continue
                r = counts.get((id(client), id(h)))
                if r is not None:
                    r[0] += n
                    r[1], r[2] = min(r[1], second), max(r[2], second)
                else:      # the references keep both ids unique while this runs
                    counts[(id(client), id(h))] = [n, second, second, client, h]
        return list(counts.values())

    def bind(self, stream) -> None:
        """The stream whose counted repeats each batch takes first."""
        self._stream = stream

    def wake(self) -> None:
        """The stream holds repeats for the next batch."""
        if self._bell.armed:
            self._bell.ring()

    def seen(self, client: Client, now: float) -> None:
        """A device identified; an unknown one seen for the first time is queued for a new-device alert."""
        if client.device is not None:
            return
        if client.mac is None and ":" in client.address:
            return      # an IPv6 privacy address with no MAC: a known phone gets a new one every day
        key = client.mac or client.address
        if key in self._known:
            return
        if len(self._known) >= MAX_KNOWN:
            self._known.clear()       # the db decides; memory only spares it the question
        self._known.add(key)
        if len(self._devices) < self.maxsize:
            self._devices.append((client, now))
            if self._bell.armed:
                self._bell.ring()
        else:
            self.dropped += 1

    def notice(self, n: Notice) -> None:
        """Queue a front end's alert (the proxy's); never blocks, never raises."""
        if len(self._notices) >= self.maxsize:
            self.dropped += 1
            return
        self._notices.append(n)
        if self._bell.armed:
            self._bell.ring()

    # -- batches --------------------------------------------------------------------------------------------------

    def take(self, final: bool = False) -> tuple[collections.deque, list, collections.deque]:
        """What is queued (call it on the thread that calls put, i.e. the event loop): swapped, not copied.
        ``final``: the repeats of the second still counting too. The front ends' notices ride with the devices
        (the batch keeps its shape)."""
        if self._stream is not None:
            self._stream.drain(final)
        entries, self._q = self._q, collections.deque()
        batches, self._batches, self._batched = self._batches, [], 0
        devices, self._devices = self._devices, collections.deque()
        notices, self._notices = self._notices, collections.deque()
        devices.extend(notices)
        return entries, batches, devices

    async def flush(self, final: bool = False) -> None:
        batch = self.take(final)
        if any(batch):
            import asyncio      # here: `hearth alerts` reads the store and never runs the sink
            await asyncio.get_running_loop().run_in_executor(None, self.process, *batch)

    def flush_now(self) -> None:
        """Take and raise the queue in this thread (tests, and a last flush at shutdown)."""
        self.process(*self.take(final=True))

    def _empty(self) -> bool:
        return not (self._q or self._batches or self._devices or self._notices
                    or (self._stream is not None and self._stream.depth))

    async def run(self, every: float = FLUSH_EVERY) -> None:
        """A batch every ``every`` seconds while there is something to raise; asleep while there is not."""
        await beat(self._bell, self._empty, self.flush, every)

    def process(self, entries, batches: list[list], devices) -> None:
        """Raise one batch into the store (a worker thread). Never raises: a bad batch is logged and counted."""
        with self._writing:
            self._process_batch(entries, self._counted(batches), devices)

    def _process_batch(self, entries, repeats: list, devices) -> None:
        for obs in self.observers:
            try:
                obs(entries, repeats)
            except Exception:
                log.exception("an alert observer failed")
        for attempt in (1, 2):
            try:
                self._process(entries, repeats, devices)    # one transaction: a failed try leaves nothing
                return
            except sqlite3.OperationalError as e:
                if attempt == 1 and "locked" in str(e):     # busy past the timeout: once more, a second later
                    time.sleep(1.0)
                    continue
                error = e
            except Exception as e:
                error = e
            break
        self.failed_batches += 1
        self.dropped += len(entries) + sum(r[0] for r in repeats)
        log.error("raising alerts failed; %d entries lost: %s", len(entries), error)

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = db.connect(self.path)
            ensure_schema(self._conn)
            _seed_known_devices(self._conn, self.clock())
        return self._conn

    def _process(self, entries, repeats: list, devices) -> None:
        """One pass over the batch. Most blocked rows only count towards the day's tally (a dict increment);
        a row becomes an _Row only when it may alert."""
        if not entries and not repeats and not devices:
            return
        conn = self.conn
        s = self.settings
        candidates: list[tuple[_Row, str, str]] = []
        tally: dict[tuple[str, str, str], int] = collections.defaultdict(int)
        days: dict[int, str] = {}          # by minute: the digest day changes on a minute boundary
        alerting = self._alert_lists
        lookup = self.lookup
        rows = [(e.ts, e.ts, e.client, e.qname, e.decision, e.count) for e in entries]
        rows += [(float(first), float(last), c, h.qname, h.decision, n) for n, first, last, c, h in repeats]
        for ts, last, client, qname, d, n in rows:
            if d.action is not _BLOCK or d.profile == DEFAULT_PROFILE or d.reason is Reason.RATE_LIMIT:
                continue
            minute = int(ts) // 60
            day = days.get(minute)
            if day is None:
                day = days[minute] = digest_day(ts, self.tz, s.digest)
            lst = d.list
            tally[(day, d.profile, lst or _tally_key(d))] += n
            if lst is not None:
                if lst in alerting:
                    candidates.append((_Row(ts, last, client, qname, d, n), lst, d.rule or qname))
            elif lookup is not None:      # blocked by a window, a pause, the deny list: what is the name?
                hit = self._looked_up(qname)
                if hit is not None:
                    candidates.append((_Row(ts, last, client, qname, d, n), hit[0], hit[1] or d.rule or qname))
        with conn:
            self._attempts(conn, candidates)
            recent = None      # new-device alerts raised in the last hour, read once a batch
            crowd: list[tuple[Client, float]] = []      # the new devices past NEW_DEVICES_PER_HOUR
            for item in devices:
                if isinstance(item, Notice):
                    self._notice(conn, item)
                elif s.new_devices:
                    client, now = item
                    if recent is None:
                        recent = conn.execute("SELECT count(*) FROM alerts WHERE kind = 'device' AND reason = ?"
                                              " AND first > ?", (NEW_DEVICE, now - HOUR)).fetchone()[0]
                    if recent < NEW_DEVICES_PER_HOUR:
                        recent += self._device(conn, client, now)
                    else:
                        crowd.append(item)
            if crowd:
                self._many_devices(conn, crowd)
            conn.executemany("INSERT INTO alert_tally (day, child, what, count) VALUES (?,?,?,?)"
                             " ON CONFLICT(day, child, what) DO UPDATE SET count = count + excluded.count",
                             [(*k, n) for k, n in tally.items()])

    def _attempts(self, conn, candidates: list[tuple[_Row, str, str]]) -> None:
        """Fold the batch's attempts into the open alerts (read once per child and list), then write."""
        opened: dict[tuple[str, str], list[dict]] = {}
        last: dict[tuple[str, str, str], dict] = {}     # the alert the previous attempt on this domain went to
        for r, lst, rule in sorted(candidates, key=lambda c: c[0].ts):
            child = r.decision.profile
            a = last.get((child, lst, rule))
            if a is not None and r.ts - a["first"] < HOUR:     # the common case: the same name again
                a["add"] += r.count
                if r.last > a["last"]:
                    a["last"] = r.last
                continue
            alerts = opened.get((child, lst))
            if alerts is None:
                alerts = opened[(child, lst)] = [
                    {"id": a["id"], "domain": a["domain"], "first": a["first"], "last": a["last"], "add": 0}
                    for a in conn.execute(
                        "SELECT id, domain, first, last FROM alerts WHERE kind = 'attempt' AND child = ?"
                        " AND list = ? AND status != 'dismissed' AND first > ?", (child, lst, r.ts - HOUR))]
            live = [a for a in alerts if r.ts - a["first"] < HOUR]
            target = next((a for a in live if a["domain"] == rule), None) \
                or next((a for a in live if r.ts - a["last"] <= BURST), None)
            if target is None:
                target = {"id": None, "domain": rule, "first": r.ts, "last": r.last, "add": r.count, "row": r,
                          "list": lst}
                alerts.append(target)
            else:
                target["add"] += r.count
                target["last"] = max(target["last"], r.last)
            last[(child, lst, rule)] = target
        for alerts in opened.values():
            for a in alerts:
                if a["id"] is None:
                    self._insert_attempt(conn, a["row"], a["list"], a["domain"], a["add"], a["last"])
                elif a["add"]:
                    conn.execute("UPDATE alerts SET count = count + ?, last = max(last, ?) WHERE id = ?",
                                 (a["add"], a["last"], a["id"]))

    def _looked_up(self, qname: str) -> tuple[str, str | None] | None:
        """(an alerting list the name is on, its rule), from the lists' own lookup, remembered per name."""
        name = qname.lower().rstrip(".")
        memo = self._lookup_memo
        if name in memo:
            return memo[name]
        try:
            found = self.lookup(name)
        except Exception:
            log.exception("alerts: list lookup failed for %s", name)
            found = ()
        hit = None
        for item in found:
            lst, rule = item if isinstance(item, tuple) else (item, None)
            if lst in self._alert_lists:
                hit = (lst, rule)
                break
        if len(memo) > 10_000:
            memo.clear()
        memo[name] = hit
        return hit

    @property
    def _alert_lists(self) -> frozenset[str]:
        """Every list name that alerts: the listed categories and apps, and the apps of listed categories."""
        if self._alerting is None:
            cats = self._categories
            self._alerting = cats | self._apps | frozenset("app:" + n for n, (_, c) in self.titles.apps.items()
                                                           if c in cats)
        return self._alerting

    def severity(self, lst: str | None, ts: float) -> str:
        if lst is None:
            return "normal"
        category = self.titles.category_of(lst)
        if category in HIGH_CATEGORIES:
            return "high"
        if category == "bypass":
            night = self.settings.quiet or NIGHT
            if in_window(datetime.fromtimestamp(ts, self.tz).time(), night):
                return "high"
        return "normal"

    def _insert_attempt(self, conn, row: _Row, lst: str, rule: str, n: int, last: float) -> None:
        child, first = row.decision.profile, row.ts
        d, c = row.decision, row.client
        words = describe(d, self.settings.language, self.titles)
        conn.execute(
            "INSERT INTO alerts (kind, child, device, address, mac, domain, qname, list, reason, decision, count,"
            " first, last, severity, words) VALUES ('attempt',?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (child, c.device or c.address, c.address, c.mac, rule, row.qname, lst, d.reason.value,
             json.dumps(d.as_dict()), n, first, last, self.severity(lst, first), words))
        self.raised += 1

    def _device(self, conn, client: Client, now: float) -> int:
        """An alert for a device seen for the first time; returns how many were raised (0 or 1)."""
        key = client.mac or client.address
        cur = conn.execute("INSERT OR IGNORE INTO alert_devices (key, first_seen) VALUES (?, ?)", (key, now))
        if cur.rowcount == 0:
            return 0    # known before (an earlier run, or this run's memory was cleared)
        who = _who(client)
        held = getattr(getattr(self.config, "unknown_devices", None), "profile", "default") == "quarantine"
        words = _W.get(self.settings.language, _W["en"])["quarantined" if held else "device"].format(who=who)
        conn.execute(
            "INSERT INTO alerts (kind, child, device, address, mac, domain, list, reason, count, first, last,"
            " severity, words) VALUES ('device', NULL, ?, ?, ?, NULL, NULL, ?, 1, ?, ?, 'normal', ?)",
            (client.address, client.address, client.mac, NEW_DEVICE, now, now, words))
        self.raised += 1
        return 1

    def _many_devices(self, conn, crowd: list[tuple[Client, float]]) -> None:
        """Past NEW_DEVICES_PER_HOUR, one alert counts the newcomers (a batch's in one write). They are not
        remembered as known: a real device among them gets an alert of its own when it comes back after the flood."""
        (first_client, first), last = crowd[0], max(now for _, now in crowd)
        row = conn.execute("SELECT id FROM alerts WHERE kind = 'device' AND reason = ? AND status != 'dismissed'"
                           " AND first > ? ORDER BY id DESC LIMIT 1", (MANY_DEVICES, first - HOUR)).fetchone()
        if row is not None:
            conn.execute("UPDATE alerts SET count = count + ?, last = max(last, ?) WHERE id = ?",
                         (len(crowd), last, row[0]))
            return
        words = _W.get(self.settings.language, _W["en"])["many"].format(n=NEW_DEVICES_PER_HOUR,
                                                                         who=_who(first_client))
        conn.execute(
            "INSERT INTO alerts (kind, child, device, address, mac, domain, list, reason, count, first, last,"
            " severity, words) VALUES ('device', NULL, NULL, ?, ?, NULL, NULL, ?, ?, ?, ?, 'high', ?)",
            (first_client.address, first_client.mac, MANY_DEVICES, len(crowd), first, last, words))
        self.raised += 1

    def _notice(self, conn, n: Notice) -> None:
        """One alert per child, kind, list and domain an hour; a repeat within it is counted."""
        row = conn.execute("SELECT id FROM alerts WHERE kind = ? AND child = ? AND domain = ? AND list IS ?"
                           " AND status != 'dismissed' AND first > ? ORDER BY id DESC LIMIT 1",
                           (n.kind, n.profile, n.domain, n.list, n.ts - HOUR)).fetchone()
        if row is not None:
            conn.execute("UPDATE alerts SET count = count + 1, last = max(last, ?) WHERE id = ?", (n.ts, row[0]))
            return
        c = n.client
        conn.execute(
            "INSERT INTO alerts (kind, child, device, address, mac, domain, qname, list, reason, decision, count,"
            " first, last, severity, words) VALUES (?,?,?,?,?,?,?,?,?,?,1,?,?,?,?)",     # reason: TEXT, ASK, ...
            (n.kind, n.profile, c.device or c.address, c.address, c.mac, n.domain, n.rule, n.list,
             n.kind.upper(),
             json.dumps(n.decision.as_dict()) if n.decision else None, n.ts, n.ts, n.severity, n.words))
        self.raised += 1

    def prune(self, keep_days: float | None = None) -> None:
        with self._writing:
            self._prune(keep_days)

    def _prune(self, keep_days: float | None = None) -> None:
        """Nightly: alerts go when the query log would have lost their entries (query_log.keep_days), the daily
        tallies after TALLY_KEEP_DAYS."""
        now = self.clock()
        if keep_days is None:
            keep_days = getattr(getattr(self.config, "query_log", None), "keep_days", 90)
        cutoff = datetime.fromtimestamp(now - TALLY_KEEP_DAYS * 86400, self.tz).date().isoformat()
        try:
            with self.conn:
                self.conn.execute("DELETE FROM alert_tally WHERE day < ?", (cutoff,))
                self.conn.execute("DELETE FROM alerts WHERE last < ?", (now - keep_days * 86400,))
        except sqlite3.Error:
            log.exception("pruning old alerts failed; trying again tomorrow")

    def close(self) -> None:
        with self._writing:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def follow(sink: AlertSink, engine) -> AlertSink:
    """Keep ``sink`` on the engine's current snapshot: its config, and its lists for the names something else
    blocked first. (Duck-typed on Engine and Snapshot: the state layer does not import policy.)"""
    def lookup(name: str):
        return [(h.list, h.rule) for h in engine.snapshot.rules.index.lookup(name)]
    sink.reload(engine.snapshot.config, lookup)
    engine.on_swap(lambda snap: sink.reload(snap.config, lookup))
    return sink


def _tally_key(d: Decision) -> str:
    if d.list:
        return d.list
    if d.schedule:
        return "schedule:" + d.schedule
    return {Reason.PAUSED: "paused", Reason.DENY_LIST: "deny"}.get(d.reason, d.reason.value.lower())


def _seed_known_devices(conn: sqlite3.Connection, now: float) -> None:
    """Once, at the first start: the devices the query log has already seen are not new."""
    if conn.execute("SELECT 1 FROM alert_meta WHERE key = 'devices_seeded'").fetchone():
        return
    with conn:
        has_seen = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'devices_seen'"
                                ).fetchone()
        if has_seen:
            conn.execute("INSERT OR IGNORE INTO alert_devices (key, first_seen)"
                         " SELECT key, first_seen FROM devices_seen")
        conn.execute("INSERT OR REPLACE INTO alert_meta (key, value) VALUES ('devices_seeded', ?)", (str(now),))
        conn.execute("INSERT OR IGNORE INTO alert_meta (key, value) VALUES ('installed', ?)", (str(now),))
