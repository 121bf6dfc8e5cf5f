"""Time budgets: minutes of use counted from the stream of decisions, kept in ``hearth.db``, and what is spent.

What counts (the only place that says it):
- a *minute* counts as used for a budget when, in that clock minute, any device of the child asked for one of
  the budget's foreground hosts and was answered (a blocked query is no use). Minutes, not queries: a video that
  asks its CDN forty times a minute uses one minute, and two devices of one child in the same minute use one;
- the foreground hosts of an app are the catalog's ``foreground:`` (suffix-matched). A budget over a category
  counts the foreground hosts of that category's apps, and for a category without apps any name in it;
- a day is a local day in the config's time zone, midnight to midnight (23 or 25 hours on a DST change); a budget
  counts and blocks only on its ``days``. The allowance of a day is ``minutes`` plus the grants of that day.

``BudgetSink`` is a sink on the stream shaped like the alerts' sink: ``put`` and ``repeat`` only add a
(minute, child, name) triple to a set in memory (bounded; a full set counts a drop), and a batch every couple of
seconds while there are any (state/doorbell.py: an idle sink does not wake), in a worker thread, matches the names
and writes the minutes. When a batch takes a budget to 80% or
100% of its day, the parents are told once per budget and day through the notification queue (appliance.notify);
when a budget becomes spent the batch bumps ``budget_state.stamp``, and the daemon's database watch
(state/watch.py) hears the file change and asks the engine to re-read what is spent (``Engine.refresh_budgets``). The DNS path never
reads this table: decisions read the snapshot.

The tables are created by migration 2 (appliance/state/migrate.py).
"""
from __future__ import annotations

import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Callable, Iterable, Mapping
from zoneinfo import ZoneInfo

from appliance.config import Budget, Config
from appliance.model import Action
from appliance.state import db, migrate
from appliance.state.doorbell import Doorbell, beat

log = logging.getLogger("hearth.budgets")

FLUSH_EVERY = 2.0           # seconds between two batches
MAX_PENDING = 50_000        # distinct (minute, child, name) waiting for a batch; past that, drops are counted
KEEP_DAYS = 40              # minutes and grants older than this are pruned nightly
LEVELS = (80, 100)          # percent of a day's allowance at which the parents hear of it
_BLOCK = Action.BLOCK


def day_of(ts: float, tz: ZoneInfo) -> date:
    """The local day of the instant ``ts``."""
    return datetime.fromtimestamp(ts, tz).date()


def applies(budget: Budget, day: date) -> bool:
    return day.weekday() in budget.days


# --- what a budget counts ----------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Counted:
    budget: str
    hosts: frozenset[str]           # foreground suffixes
    categories: frozenset[str]      # categories without apps: any name the index puts in them
    budget_def: Budget


class Counting:
    """Which budgets a name asked by a child counts for: the config's budgets against the catalog."""

    def __init__(self, config: Config, apps: Mapping | None = None):
        if apps is None:
            from appliance.lists.catalog import load_catalog
            apps = load_catalog(config.blocklists_dir).apps
        by_category: dict[str, list] = {}
        for a in apps.values():
            by_category.setdefault(a.category, []).append(a)
        self.profiles: dict[str, tuple[_Counted, ...]] = {}
        for p in config.profiles.values():
            if not p.budgets:
                continue
            out = []
            for b in p.budgets:
                hosts = {h for name in b.apps if name in apps for h in apps[name].foreground}
                bare = set()
                for cat in b.block:
                    members = by_category.get(cat, ())
                    if members:
                        hosts.update(h for a in members for h in a.foreground)
                    else:
                        bare.add(cat)
                out.append(_Counted(b.name, frozenset(hosts), frozenset(bare), b))
            self.profiles[p.name] = tuple(out)

    def budgets(self, profile: str, name: str, lookup: Callable[[str], Iterable[str]] | None) -> list[str]:
        """The budgets of ``profile`` that a query for ``name`` counts for (empty for most names)."""
        counted = self.profiles.get(profile)
        if not counted:
            return []
        suffixes = _suffixes(name)
        lists: set[str] | None = None
        out = []
        for c in counted:
            if c.hosts and any(s in c.hosts for s in suffixes):
                out.append(c.budget)
            elif c.categories and lookup is not None:
                if lists is None:
                    lists = set(lookup(name))
                if lists & c.categories:
                    out.append(c.budget)
        return out


def _suffixes(name: str) -> list[str]:
    name = name.lower().rstrip(".")
    parts = name.split(".")
    return [".".join(parts[i:]) for i in range(len(parts))]


# --- the store -----------------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Usage:
    """One budget on one day, as ``hearth budgets`` and the admin show it."""

    profile: str
    budget: str
    day: date
    applies: bool           # the budget counts on this day of the week
    used: int               # minutes
    minutes: int            # the configured allowance
    granted: int            # added by parents for this day

    @property
    def allowed(self) -> int:
        return self.minutes + self.granted

    @property
    def left(self) -> int:
        return max(0, self.allowed - self.used) if self.applies else 0

    @property
    def spent(self) -> bool:
        return self.applies and self.used >= self.allowed

    def as_dict(self) -> dict:
        return {"child": self.profile, "budget": self.budget, "day": self.day.isoformat(), "applies": self.applies,
                "used": self.used, "minutes": self.minutes, "granted": self.granted, "allowed": self.allowed,
                "left": self.left, "spent": self.spent}


class BudgetStore:
    """The budget tables. Thread-safe; every process opens its own."""

    def __init__(self, db_path: str | Path, *, readonly: bool = False):
        self.path = Path(db_path)
        self._conn = db.connect(self.path, readonly=readonly)
        if not readonly:
            migrate.upgrade(self._conn)
        self._lock = threading.RLock()

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "BudgetStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def conn(self) -> sqlite3.Connection:
        return self._conn

    def add_minutes(self, rows: Iterable[tuple[str, str, str, int]]) -> None:
        """(profile, budget, day ISO, unix minute) rows; a minute already counted stays one minute."""
        with self._lock, self._conn:
            self._conn.executemany("INSERT OR IGNORE INTO budget_minutes (profile, budget, day, minute)"
                                   " VALUES (?,?,?,?)", rows)

    def used(self, profile: str, budget: str, day: date) -> int:
        with self._lock:
            return self._conn.execute("SELECT COUNT(*) FROM budget_minutes WHERE profile = ? AND budget = ?"
                                      " AND day = ?", (profile, budget, day.isoformat())).fetchone()[0]

    def granted(self, profile: str, budget: str, day: date) -> int:
        with self._lock:
            return self._conn.execute("SELECT COALESCE(SUM(minutes), 0) FROM budget_grants WHERE profile = ?"
                                      " AND budget = ? AND day = ?", (profile, budget, day.isoformat())).fetchone()[0]

    def grant(self, profile: str, budget: str, day: date, minutes: int, now: float) -> None:
        with self._lock, self._conn:
            self._conn.execute("INSERT INTO budget_grants (profile, budget, day, minutes, created)"
                               " VALUES (?,?,?,?,?)", (profile, budget, day.isoformat(), int(minutes), now))
            self._bump()

    def usage(self, config: Config, day: date) -> list[Usage]:
        """Every child's budgets on ``day``, in file order."""
        out = []
        for p in config.children():
            for b in p.budgets:
                out.append(Usage(p.name, b.name, day, applies(b, day), self.used(p.name, b.name, day), b.minutes,
                                 self.granted(p.name, b.name, day)))
        return out

    def spent(self, config: Config, day: date) -> dict[str, tuple[str, ...]]:
        """The budgets spent on ``day``, by child: what the policy blocks until midnight."""
        out: dict[str, list[str]] = {}
        for u in self.usage(config, day):
            if u.spent:
                out.setdefault(u.profile, []).append(u.budget)
        return {k: tuple(v) for k, v in out.items()}

    def stamp(self) -> int:
        """Moves when what is spent may have changed (a grant, a budget crossing 100%): cheap to poll."""
        with self._lock:
            row = self._conn.execute("SELECT stamp FROM budget_state WHERE id = 1").fetchone()
            return row[0] if row else 0

    def _bump(self) -> None:
        self._conn.execute("INSERT INTO budget_state (id, stamp) VALUES (1, 1)"
                           " ON CONFLICT(id) DO UPDATE SET stamp = stamp + 1")

    def bump(self) -> None:
        with self._lock, self._conn:
            self._bump()

    def note_once(self, profile: str, budget: str, day: date, level: int, now: float,
                  message: Callable[[], tuple[str, str] | None]) -> bool:
        """Record that the parents hear of ``level``% for this budget and day, and queue ``message()`` (a title
        and a body, or None: nowhere to send) in the same transaction; False if they already heard."""
        from appliance import notify
        with self._lock, self._conn:
            cur = self._conn.execute("INSERT OR IGNORE INTO budget_notes (profile, budget, day, level, at)"
                                     " VALUES (?,?,?,?,?)", (profile, budget, day.isoformat(), level, now))
            if cur.rowcount != 1:
                return False
            m = message()
            if m is not None:
                notify.queue(self._conn, f"budget:{profile}:{budget}:{day.isoformat()}:{level}", "budget", *m, now)
            return True

    def prune(self, today: date, keep_days: int = KEEP_DAYS) -> None:
        cutoff = date.fromordinal(today.toordinal() - keep_days).isoformat()
        with self._lock, self._conn:
            for table in ("budget_minutes", "budget_grants", "budget_notes"):
                self._conn.execute(f"DELETE FROM {table} WHERE day < ?", (cutoff,))


# --- the notes to parents ------------------------------------------------------------------------------------------

_W = {
    "en": {
        80: ("{child}: {budget} nearly used up", "{child} has used {used} of {allowed} minutes of {budget} today "
             "({what}). When it is spent they are blocked until midnight."),
        100: ("{child}: {budget} used up for today", "{child} has used all {allowed} minutes of {budget} today: "
              "{what} blocked until midnight. To give more time: hearth budget {profile} {budget} +30m"),
    },
    "fr": {
        80: ("{child} : {budget} presque épuisé", "{child} a utilisé {used} des {allowed} minutes de {budget} "
             "aujourd'hui ({what}). Une fois épuisé, c'est bloqué jusqu'à minuit."),
        100: ("{child} : {budget} épuisé pour aujourd'hui", "{child} a utilisé les {allowed} minutes de {budget} "
              "aujourd'hui : {what} bloqué jusqu'à minuit. Pour donner plus de temps : hearth budget {profile} "
              "{budget} +30m"),
    },
}


def note_text(level: int, u: Usage, what: str, lang: str = "en") -> tuple[str, str]:
    from appliance.state.alerts import child_name
    title, body = _W.get(lang, _W["en"])[level]
    fields = {"child": child_name(u.profile), "profile": u.profile, "budget": u.budget, "used": u.used,
              "allowed": u.allowed, "what": what}
    return title.format(**fields), body.format(**fields)


# --- the sink --------------------------------------------------------------------------------------------------------

class BudgetSink:
    """The budgets' sink on the stream of decisions. ``put``/``repeat``/``seen`` never block and never raise."""

    def __init__(self, config: Config, db_path: str | Path, *, clock: Callable[[], float] = time.time,
                 lookup: Callable[[str], Iterable[str]] | None = None, counting: Counting | None = None,
                 maxsize: int = MAX_PENDING):
        self.path = Path(db_path)
        self.clock = clock
        self.maxsize = maxsize
        self.dropped = 0
        self.failed_batches = 0
        self.counted = 0                     # minutes written since start
        self._pending: set[tuple[int, str, str]] = set()
        self._stream = None                  # the stream counting hot-cache repeats, once bound
        self._bell = Doorbell()              # the writer sleeps until a minute is queued
        self._store: BudgetStore | None = None
        self.reload(config, lookup, counting)

    def reload(self, config: Config, lookup: Callable[[str], Iterable[str]] | None = None,
               counting: Counting | None = None) -> None:
        if config is getattr(self, "config", None) and lookup is getattr(self, "lookup", None) and counting is None:
            return
        self.config = config
        self.tz = config.tz
        self.lookup = lookup
        self._counting = counting       # None: built by the next batch (it reads the catalog: not on the loop)
        self._titles = None
        self._profiles = frozenset(p.name for p in config.profiles.values() if p.budgets)

    @property
    def counting(self) -> Counting:
        if self._counting is None:
            try:
                self._counting = Counting(self.config)
            except Exception:    # a broken catalog is reported by check-config; budgets then count nothing
                log.exception("budgets: cannot read the catalog; nothing is counted until it can be read")
                self._counting = Counting(self.config, apps={})
        return self._counting

    @property
    def store(self) -> BudgetStore:
        if self._store is None:
            self._store = BudgetStore(self.path)
            from appliance import notify
            notify.ensure_schema(self._store.conn)
        return self._store

    # -- the DNS side: memory only ----------------------------------------------------------------------------

    def _add(self, ts: float, profile: str, qname: str) -> None:
        key = (int(ts // 60), profile, qname)
        if key in self._pending:
            return
        if len(self._pending) >= self.maxsize:
            self.dropped += 1
            return
        self._pending.add(key)
        if self._bell.armed:
            self._bell.ring()

    def put(self, entry) -> None:
        d = entry.decision
        if d.profile in self._profiles and d.action is not _BLOCK:
            self._add(entry.ts, d.profile, entry.qname)

    def repeats(self, batch: list[list]) -> None:
        profiles = self._profiles
        if not profiles:
            return
        for _, second, _, h in batch:
            d = h.decision
            if d.profile in profiles and d.action is not _BLOCK:
                self._add(second, d.profile, h.qname)

    def seen(self, client, now: float) -> None:
        pass

    # -- batches ------------------------------------------------------------------------------------------------

    def bind(self, stream) -> None:
        """The stream whose counted repeats each batch takes first."""
        self._stream = stream

    def wake(self) -> None:
        """The stream holds repeats for the next batch."""
        if self._bell.armed:
            self._bell.ring()

    def take(self, final: bool = False) -> set:
        if self._stream is not None:
            self._stream.drain(final)
        pending, self._pending = self._pending, set()
        return pending

    async def flush(self, final: bool = False) -> None:
        import asyncio      # here: the CLI reads budgets through the store and never runs the sink
        batch = self.take(final)
        if batch:
            await asyncio.get_running_loop().run_in_executor(None, self.process, batch)

    def flush_now(self) -> None:
        self.process(self.take(final=True))

    async def run(self, every: float = FLUSH_EVERY) -> None:
        """A batch every ``every`` seconds while minutes are queued; asleep while none are."""
        await beat(self._bell, self._empty, self.flush, every)

    def _empty(self) -> bool:
        return not (self._pending or (self._stream is not None and self._stream.depth))

    def process(self, batch) -> None:
        """Write one batch (a worker thread). Never raises: a bad batch is logged and counted."""
        try:
            self._process(batch)
        except Exception:
            self.failed_batches += 1
            self.dropped += len(batch)
            log.exception("counting budget minutes failed; %d lost", len(batch))

    def _process(self, batch) -> None:
        if not batch:
            return
        counting, lookup, tz = self.counting, self.lookup, self.tz
        defs = {(p, c.budget): c.budget_def for p, cs in counting.profiles.items() for c in cs}
        rows: set[tuple[str, str, str, int]] = set()
        days: dict[int, date] = {}
        for minute, profile, qname in batch:
            names = counting.budgets(profile, qname, lookup)
            if not names:
                continue
            day = days.get(minute)
            if day is None:
                day = days[minute] = day_of(minute * 60, tz)
            for b in names:
                if applies(defs[(profile, b)], day):
                    rows.add((profile, b, day.isoformat(), minute))
        if not rows:
            return
        store = self.store
        touched = {(p, b, d) for p, b, d, _ in rows}
        before = {k: store.used(k[0], k[1], date.fromisoformat(k[2])) for k in touched}
        store.add_minutes(rows)
        self.counted += sum(1 for _ in rows)
        crossed = False
        now = self.clock()
        for (p, b, d) in touched:
            day = date.fromisoformat(d)
            budget = defs[(p, b)]
            u = Usage(p, b, day, True, store.used(p, b, day), budget.minutes, store.granted(p, b, day))
            was = before[(p, b, d)]
            for level in LEVELS:
                mark = -(-u.allowed * level // 100)        # the minute at which the level is reached
                if was < mark <= u.used:
                    if level == 100:
                        crossed = True
                    store.note_once(p, b, day, level, now, lambda: self._message(level, u, budget))
        if crossed:
            store.bump()

    def _message(self, level: int, u: Usage, budget: Budget) -> tuple[str, str] | None:
        from appliance.state.alerts import Titles, settings
        s = settings(self.config)
        if not s.notify:
            return None     # nowhere to send; `hearth budgets` and the admin still show it
        if self._titles is None:
            self._titles = Titles(self.config.blocklists_dir)
        what = ", ".join([self._titles("app:" + a, s.language) for a in budget.apps] +
                         [self._titles(c, s.language) for c in budget.block])
        return note_text(level, u, what, s.language)

    def prune(self) -> None:
        try:
            self.store.prune(day_of(self.clock(), self.tz))
        except sqlite3.Error:
            log.exception("pruning old budget minutes failed; trying again tomorrow")

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


def follow(sink: BudgetSink, engine) -> BudgetSink:
    """Keep ``sink`` on the engine's current config and lists (a reload may add a budget or an app)."""
    def lookup_of(snap):
        index = snap.rules.index
        return lambda name: [h.list for h in index.lookup(name)]

    def swapped(snap):
        if snap.config is not sink.config:
            sink.reload(snap.config, lookup_of(snap))
    sink.reload(engine.snapshot.config, lookup_of(engine.snapshot))
    engine.on_swap(swapped)
    return sink
