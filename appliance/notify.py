"""Telling parents: alerts and daily digests sent through Apprise (e-mail, ntfy, Gotify, Signal, webhooks, ...).

Every message is written to SQLite before anything is sent (table ``notifications``), in the same transaction that
marks its alerts as told: a message whose channel is down stays pending and is sent later, by this process or the
next one after a restart; nothing is lost. Each message remembers the channels that already took it, so a retry
goes only to the ones that failed: nothing is sent twice (unless the process dies between a channel's yes and our
note of it, a window of one database write).

When messages go out (``Notifier.tick``, every minute from the daemon's scheduler, off the DNS path):
- high alerts at once, all those raised since the last tick in one message (a burst is one message);
- normal alerts in each child's daily digest at ``alerts.digest`` ("what Emma's devices tried today": blocks by
  category and app, alerts, new devices); with no digest they go out like high ones, but
- quiet hours (``alerts.quiet``) hold normal alerts and digests until they end. High alerts are not held: a child
  on a random video chat at 23:00 is what the parent asked to be woken for.
A failed send is retried with backoff (30 s, doubling, at most 30 minutes apart) for two days, then dropped and
counted. Messages are short, in English or French, name domains only (never a URL path or page text), and say what
happened and what to do.
"""
from __future__ import annotations

import hashlib
import io
import logging
import re
import sqlite3
import threading
import time
import warnings
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable
from zoneinfo import ZoneInfo

from appliance.state import db
from appliance.state.alerts import MANY_DEVICES, NEW_DEVICES_PER_HOUR, Titles, child_name, in_window, settings

log = logging.getLogger("hearth.notify")

SCHEMA = """
CREATE TABLE IF NOT EXISTS notifications (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,      -- what it is about: "alerts:3,4", "digest:emma:2026-12-01"; made once
    kind TEXT NOT NULL,            -- alerts | digest
    created REAL NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,            -- empty: nothing to say (an empty digest), recorded so it is not made again
    done TEXT NOT NULL DEFAULT '', -- fingerprints of the channels that took it, space-separated
    attempts INTEGER NOT NULL DEFAULT 0,
    next_try REAL NOT NULL,
    error TEXT,                    -- the last failure, in words
    sent REAL,                     -- when every channel had it
    expired REAL                   -- when it was given up
);
CREATE INDEX IF NOT EXISTS notifications_pending ON notifications(next_try) WHERE sent IS NULL AND expired IS NULL;
"""
TICK = 60.0                      # seconds between two ticks: high alerts are batched per minute
RETRY_FIRST = 30.0
RETRY_MAX = 1800.0
KEEP = 2 * 86400.0               # a message still undelivered after two days is dropped (and counted)
STALE_ALERT = 2 * 86400.0        # alerts older than this when a channel appears are not sent any more
DIGEST_LATE = 12 * 3600.0        # a digest more than this late (the Pi was off) is skipped
MAX_LINES = 8                    # alerts named in one message; the rest are counted
SEND_TIMEOUT = 10                # seconds Apprise may wait for a channel


def ensure_schema(conn: sqlite3.Connection) -> None:
    from appliance.state.alerts import ensure_schema as alert_schema
    alert_schema(conn)
    conn.executescript(SCHEMA)


def fingerprint(url: str) -> str:
    """A channel's name in the database: its URL holds passwords, the database must not."""
    return hashlib.sha256(url.encode()).hexdigest()[:16]


# --- sending through Apprise ---------------------------------------------------------------------------------

_capture_lock = threading.Lock()


def _apprise():
    """Apprise, imported on first use (150 ms: not at daemon start when no channel is set). Its PGP support
    imports the deprecated imghdr on Python 3.11-3.12; that warning is Apprise's, not ours."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        import apprise
    return apprise


@contextmanager
def _apprise_log():
    """Apprise's own log of one send, for the reason a channel failed; kept out of the system log meanwhile
    (it narrates payloads at debug level)."""
    logger = logging.getLogger("apprise")
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    with _capture_lock:
        level, propagate = logger.level, logger.propagate
        logger.setLevel(logging.DEBUG)
        logger.propagate = False
        logger.addHandler(handler)
        try:
            yield buf
        finally:
            logger.removeHandler(handler)
            logger.setLevel(level)
            logger.propagate = propagate


def display_url(url: str) -> str:
    """A channel as a parent can be shown it: passwords and tokens masked, no query string."""
    try:
        apprise = _apprise()
        obj = apprise.Apprise.instantiate(url)
        if obj is not None:
            return obj.url(privacy=True).split("?", 1)[0]
    except Exception:
        pass
    return re.sub(r"//[^@/]*@", "//…@", url).split("?", 1)[0]


def check_url(url: str) -> str | None:
    """None if Apprise can send to ``url``, else why not, in words (for config validation)."""
    try:
        ok = _apprise().Apprise.instantiate(url) is not None
    except Exception:
        ok = False
    if ok:
        return None
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if not scheme:
        return "not a notification address: write it like mailtos://user:password@example.com or ntfy://topic"
    return f'"{scheme}://" addresses are not known, or this one is missing a part (see the Apprise URL list)'


_WHY = (   # what Apprise's log says -> what a parent reads
    (re.compile(r"connection refused|errno 111", re.I), "the server refused the connection (is it running?)"),
    (re.compile(r"timed? ?out", re.I), "the server did not answer in time"),
    (re.compile(r"name or service not known|getaddrinfo|nodename nor servname|temporary failure in name",
                re.I), "the server's name could not be found (check the address, or the Pi's internet)"),
    (re.compile(r"authenticat|535|username and password|login", re.I),
     "the server refused the user name or password"),
    (re.compile(r"certificate|ssl|tls", re.I), "a secure connection could not be made (certificate or TLS problem)"),
    (re.compile(r"error=(\d{3})|\b(\d{3})\b - ", re.I), None),     # an HTTP status: said below
    (re.compile(r"network is unreachable|no route to host", re.I), "no network route to the server"),
)


def _why(logtext: str) -> str:
    for pattern, words in _WHY:
        m = pattern.search(logtext)
        if m:
            if words is None:
                code = next(g for g in m.groups() if g)
                return f"the server answered with an error (HTTP {code})"
            return words
    warnings = [line.split(" ", 1)[1] for line in logtext.splitlines() if line.startswith(("WARNING", "ERROR"))]
    return warnings[-1].rstrip(".") if warnings else "the channel did not take the message (no reason given)"


def send(url: str, title: str, body: str) -> str | None:
    """Send one message to one channel: None when it was taken, else why not, in words."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)     # Apprise's e-mail PGP: imghdr
        return _send(url, title, body)


def _send(url: str, title: str, body: str) -> str | None:
    a = _apprise().Apprise()
    if not a.add(url):
        return check_url(url) or "this address cannot be used"
    for server in a:        # a channel that hangs must not hold every other message
        for attr in ("socket_connect_timeout", "socket_read_timeout"):
            if hasattr(server, attr):
                setattr(server, attr, SEND_TIMEOUT)
    with _apprise_log() as out:
        try:
            ok = a.notify(title=title, body=body)
        except Exception as e:     # Apprise catches its own; this is belt and braces
            return f"the send failed: {e}"
    return None if ok else _why(out.getvalue())


def test_channels(urls, lang: str = "en") -> list[tuple[str, str | None]]:
    """Send a test message to every channel: [(channel as shown, None or why it failed)]."""
    w = _T.get(lang, _T["en"])
    return [(display_url(u), send(u, w["test_title"], w["test_body"])) for u in urls]


# --- words -----------------------------------------------------------------------------------------------------

_T = {
    "en": {
        "one_attempt": "Hearth: {child} tried to reach {domain}",
        "one_device": "Hearth: a new device joined your network",
        "one_many": "Hearth: many new devices joined your network",
        "many": "Hearth: {n} alerts",
        "attempt": "{at} {child} ({device}): {domain}, {list}, blocked{times}",
        "times": " ({n} tries)",
        "more": "… and {n} more",
        "device": "{at} new device: {who}",
        "many_devices": "{at} more than {limit} new devices within an hour ({n} past that so far), among them "
                        "{who}: one device may be pretending to be many",
        "do_attempt": "Hearth blocked it; nothing to do right now. If it worries you, talk with {child}. "
                      "Details: Alerts in Hearth, or `hearth alerts`.",
        "do_attempts": "Hearth blocked them; nothing to do right now. Details: Alerts in Hearth, or `hearth alerts`.",
        "do_device": "If you do not know this device, change your Wi-Fi password; otherwise give it a name and a "
                     "child in Hearth.",
        "digest_title": "Hearth: what {child}'s devices tried today",
        "digest_blocks": "{n} blocked: {parts}.",
        "digest_alerts": "Alerts: {parts}.",
        "digest_alert": "{domain} ({list}) {n}× at {at}",
        "digest_devices_title": "Hearth: new devices on your network",
        "digest_devices": "New devices: {parts}.",
        "digest_many": "{n} more within an hour (one device may be pretending to be many)",
        "digest_do": "Nothing to do unless something surprises you; the details are in Hearth's log.",
        "schedule": "{name} window",
        "paused": "while paused",
        "deny": "deny list",
        "test_title": "Hearth: test message",
        "test_body": "This is a test from Hearth. If you can read it, alerts will reach you here.",
    },
    "fr": {
        "one_attempt": "Hearth : {child} a essayé d'aller sur {domain}",
        "one_device": "Hearth : un nouvel appareil sur votre réseau",
        "one_many": "Hearth : beaucoup de nouveaux appareils sur votre réseau",
        "many": "Hearth : {n} alertes",
        "attempt": "{at} {child} ({device}) : {domain}, {list}, bloqué{times}",
        "times": " ({n} essais)",
        "more": "… et {n} de plus",
        "device": "{at} nouvel appareil : {who}",
        "many_devices": "{at} plus de {limit} nouveaux appareils en une heure ({n} de plus pour l'instant), "
                        "dont {who} : un appareil se fait peut-être passer pour beaucoup",
        "do_attempt": "Hearth l'a bloqué ; rien à faire pour l'instant. Si cela vous inquiète, parlez-en avec "
                      "{child}. Détails : Alertes dans Hearth, ou `hearth alerts`.",
        "do_attempts": "Hearth les a bloqués ; rien à faire pour l'instant. Détails : Alertes dans Hearth, ou "
                       "`hearth alerts`.",
        "do_device": "Si vous ne connaissez pas cet appareil, changez le mot de passe du Wi-Fi ; sinon donnez-lui "
                     "un nom et un enfant dans Hearth.",
        "digest_title": "Hearth : ce que les appareils de {child} ont tenté aujourd'hui",
        "digest_blocks": "{n} blocages : {parts}.",
        "digest_alerts": "Alertes : {parts}.",
        "digest_alert": "{domain} ({list}) {n}× à {at}",
        "digest_devices_title": "Hearth : nouveaux appareils sur votre réseau",
        "digest_devices": "Nouveaux appareils : {parts}.",
        "digest_many": "{n} de plus en une heure (un appareil se fait peut-être passer pour beaucoup)",
        "digest_do": "Rien à faire sauf si quelque chose vous surprend ; les détails sont dans le journal de Hearth.",
        "schedule": "plage {name}",
        "paused": "pendant la pause",
        "deny": "liste interdite",
        "test_title": "Hearth : message de test",
        "test_body": "Ceci est un test de Hearth. Si vous le lisez, les alertes vous parviendront ici.",
    },
}


def _domain(text: str | None) -> str:
    """A name only: whatever a front end put there, no path, query or page text goes into a message."""
    if not text:
        return "?"
    text = text.split("://", 1)[-1]
    return re.split(r"[/?#\s]", text, maxsplit=1)[0][:80]


def queue(conn: sqlite3.Connection, key: str, kind: str, title: str, body: str, now: float) -> int:
    """Queue one message for the channels, once per ``key`` (a second call with the same key does nothing); the
    notifier's next tick sends it. For the parts of Hearth that tell parents of something themselves (budgets).
    Runs in the caller's transaction, if it has one."""
    cur = conn.execute("INSERT OR IGNORE INTO notifications (key, kind, created, title, body, next_try, sent)"
                       " VALUES (?,?,?,?,?,?,?)", (key, kind, now, title, body, now, None if body else now))
    return 1 if cur.rowcount and body else 0


# --- the notifier ----------------------------------------------------------------------------------------------

class Notifier:
    """Plans messages from the alert store and sends what is due. One instance per process; ``tick`` from one
    thread at a time (the scheduler's job runs with max_instances=1)."""

    def __init__(self, config, db_path: str | Path, *, clock: Callable[[], float] = time.time,
                 sender: Callable[[str, str, str], str | None] = send):
        self.path = Path(db_path)
        self.clock = clock
        self.sender = sender
        self.failed = 0          # channel sends that failed (the metrics read it)
        self.sent = 0
        self.expired = 0
        self._conn: sqlite3.Connection | None = None
        self._using = threading.RLock()    # the scheduler's thread ticks; shutdown closes from the loop's
        self.reload(config)

    def reload(self, config) -> None:
        if config is getattr(self, "config", None):
            return
        self.config = config
        self.settings = settings(config)
        self.tz = ZoneInfo(getattr(config, "timezone", "UTC") or "UTC")
        self.titles = Titles(getattr(config, "blocklists_dir", None))
        self.lang = self.settings.language if self.settings.language in _T else "en"
        self.channels = {fingerprint(u): u for u in self.settings.notify}

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = db.connect(self.path)
            ensure_schema(self._conn)
        return self._conn

    def tick(self) -> None:
        """Plan, then send what is due. Never raises (a scheduler job)."""
        try:
            with self._using:
                self.plan()
                self.send_due()
        except Exception:
            log.exception("notifications: a tick failed; trying again next minute")

    # -- planning: alerts and digests become rows, in the transaction that marks them told -----------------

    def plan(self) -> int:
        """Queue the messages due now; returns how many were made."""
        if not self.channels:
            return 0       # nowhere to send: alerts wait, and show in the admin and `hearth alerts`
        now = self.clock()
        local = datetime.fromtimestamp(now, self.tz)
        quiet = in_window(local.time(), self.settings.quiet)
        made = 0
        conn = self.conn
        with conn:
            conn.execute("UPDATE alerts SET notified = ? WHERE notified IS NULL AND last < ?",
                         (-now, now - STALE_ALERT))     # too old to be news: negative marks "never sent"
            sev = "severity = 'high'" if quiet or self.settings.digest is not None else "1"
            rows = conn.execute(f"SELECT * FROM alerts WHERE notified IS NULL AND status = 'new' AND {sev}"
                                " ORDER BY first, id").fetchall()
            if rows:
                title, body = self._alert_message(rows)
                made += self._queue(conn, "alerts:" + ",".join(str(r["id"]) for r in rows), "alerts", title,
                                    body, now)
                conn.executemany("UPDATE alerts SET notified = ? WHERE id = ?", [(now, r["id"]) for r in rows])
        if self.settings.digest is not None and not quiet:
            made += self._plan_digests(now, local)
        return made

    def _queue(self, conn, key: str, kind: str, title: str, body: str, now: float) -> int:
        return queue(conn, key, kind, title, body, now)

    def _at(self, ts: float) -> str:
        return datetime.fromtimestamp(ts, self.tz).strftime("%H:%M")

    def _alert_message(self, rows) -> tuple[str, str]:
        w = _T[self.lang]
        lines = []
        for r in rows[:MAX_LINES]:
            if r["kind"] == "device":
                who = f"{r['address']} ({r['mac']})" if r["mac"] else r["address"]
                many = r["reason"] == MANY_DEVICES
                lines.append(w["many_devices" if many else "device"].format(at=self._at(r["first"]), who=who,
                                                                           n=r["count"], limit=NEW_DEVICES_PER_HOUR))
            elif r["kind"] != "attempt":      # the proxy's alerts (text, ask, pinned) carry their own words
                lines.append(f"{self._at(r['first'])} {child_name(r['child'])} ({r['device']}): {r['words']}")
            else:
                times = w["times"].format(n=r["count"]) if r["count"] > 1 else ""
                lines.append(w["attempt"].format(at=self._at(r["first"]), child=child_name(r["child"]),
                                                 device=r["device"], domain=_domain(r["domain"]),
                                                 list=self.titles(r["list"], self.lang), times=times))
        if len(rows) > MAX_LINES:
            lines.append(w["more"].format(n=len(rows) - MAX_LINES))
        kinds = {r["kind"] for r in rows}
        if len(rows) == 1:
            r = rows[0]
            title = (w["one_many" if r["reason"] == MANY_DEVICES else "one_device"] if r["kind"] == "device" else
                     w["one_attempt"].format(child=child_name(r["child"]), domain=_domain(r["domain"]))
                     if r["kind"] == "attempt" else f"Hearth: {child_name(r['child'])}: {r['words']}"[:120])
        else:
            title = w["many"].format(n=len(rows))
        attempts = [r for r in rows if r["kind"] == "attempt"]
        if len(attempts) == 1:
            lines.append(w["do_attempt"].format(child=child_name(attempts[0]["child"])))
        elif attempts:
            lines.append(w["do_attempts"])
        if "device" in kinds:
            lines.append(w["do_device"])
        return title, "\n".join(lines)

    def _plan_digests(self, now: float, local: datetime) -> int:
        """Each child's digest for the latest digest time passed (once; late after a restart, not past
        DIGEST_LATE), and one for the household's new devices."""
        digest = self.settings.digest
        day = local.date() if local.time() >= digest else local.date() - timedelta(days=1)
        from appliance.policy.schedules import local_instant
        slot = local_instant(day, digest, self.tz).timestamp()
        start = local_instant(day - timedelta(days=1), digest, self.tz).timestamp()
        conn = self.conn
        installed = conn.execute("SELECT value FROM alert_meta WHERE key = 'installed'").fetchone()
        if now - slot > DIGEST_LATE or (installed is not None and slot < float(installed[0])):
            return 0
        children = [p for p in getattr(self.config, "profiles", {}) if p != "default"]
        children += [r[0] for r in conn.execute("SELECT DISTINCT child FROM alert_tally WHERE day = ?",
                                                (day.isoformat(),)) if r[0] not in children]
        made = 0
        with conn:
            for child in children:
                key = f"digest:{child}:{day.isoformat()}"
                if conn.execute("SELECT 1 FROM notifications WHERE key = ?", (key,)).fetchone():
                    continue
                title, body, told = self._digest(conn, child, day.isoformat(), start, slot)
                made += self._queue(conn, key, "digest", title, body, now)
                conn.executemany("UPDATE alerts SET notified = ? WHERE id = ? AND notified IS NULL",
                                 [(now, i) for i in told])
            key = f"digest:devices:{day.isoformat()}"
            if not conn.execute("SELECT 1 FROM notifications WHERE key = ?", (key,)).fetchone():
                rows = conn.execute("SELECT * FROM alerts WHERE kind = 'device' AND first >= ? AND first < ?"
                                    " AND status != 'dismissed' ORDER BY first", (start, slot)).fetchall()
                w = _T[self.lang]
                parts = [w["digest_many"].format(n=r["count"]) if r["reason"] == MANY_DEVICES else
                         f"{r['address']} ({r['mac']})" if r["mac"] else r["address"] for r in rows]
                body = (w["digest_devices"].format(parts=", ".join(parts)) + "\n" + w["do_device"]) if rows else ""
                made += self._queue(conn, key, "digest", w["digest_devices_title"], body, now)
                conn.executemany("UPDATE alerts SET notified = ? WHERE id = ? AND notified IS NULL",
                                 [(now, r["id"]) for r in rows])
        return made

    def _digest(self, conn, child: str, day: str, start: float, end: float) -> tuple[str, str, list[int]]:
        w = _T[self.lang]
        tally = conn.execute("SELECT what, count FROM alert_tally WHERE day = ? AND child = ? ORDER BY count DESC",
                             (day, child)).fetchall()
        alerts = conn.execute("SELECT * FROM alerts WHERE kind = 'attempt' AND child = ? AND first >= ?"
                              " AND first < ? AND status != 'dismissed' ORDER BY first", (child, start, end)
                              ).fetchall()
        lines = []
        if tally:
            total = sum(r["count"] for r in tally)
            parts = [f"{self._what(r['what'])} {r['count']}" for r in tally[:6]]
            lines.append(w["digest_blocks"].format(n=total, parts=", ".join(parts)))
        if alerts:
            parts = [w["digest_alert"].format(domain=_domain(r["domain"]), list=self.titles(r["list"], self.lang),
                                              n=r["count"], at=self._at(r["first"])) for r in alerts[:5]]
            lines.append(w["digest_alerts"].format(parts="; ".join(parts)))
        if lines:
            lines.append(w["digest_do"])
        title = w["digest_title"].format(child=child_name(child))
        return title, "\n".join(lines), [r["id"] for r in alerts]

    def _what(self, what: str) -> str:
        w = _T[self.lang]
        if what.startswith("schedule:"):
            return w["schedule"].format(name=what[9:])
        if what in ("paused", "deny"):
            return w[what]
        return self.titles(what, self.lang)

    # -- sending ------------------------------------------------------------------------------------------------

    def pending(self) -> list[sqlite3.Row]:
        return self.conn.execute("SELECT * FROM notifications WHERE sent IS NULL AND expired IS NULL"
                                 " ORDER BY id").fetchall()

    def send_due(self) -> int:
        """Send every pending message whose time has come; returns how many were completed."""
        if not self.channels:
            return 0
        now = self.clock()
        conn = self.conn
        completed = 0
        for row in conn.execute("SELECT * FROM notifications WHERE sent IS NULL AND expired IS NULL"
                                " AND next_try <= ? ORDER BY id", (now,)).fetchall():
            if now - row["created"] > KEEP:
                with conn:
                    conn.execute("UPDATE notifications SET expired = ? WHERE id = ?", (now, row["id"]))
                self.expired += 1
                log.warning("notification %s dropped after two days undelivered: %s", row["key"], row["error"])
                continue
            done = set(row["done"].split())
            errors = []
            for fp, url in self.channels.items():
                if fp in done:
                    continue
                why = self.sender(url, row["title"], row["body"])
                if why is None:
                    done.add(fp)
                    self.sent += 1
                    with conn:     # noted at once: a crash now must not send it to this channel again
                        conn.execute("UPDATE notifications SET done = ? WHERE id = ?",
                                     (" ".join(sorted(done)), row["id"]))
                else:
                    self.failed += 1
                    errors.append(f"{display_url(url)}: {why}")
            with conn:
                if not errors:
                    conn.execute("UPDATE notifications SET sent = ?, error = NULL WHERE id = ?", (now, row["id"]))
                    completed += 1
                else:
                    attempts = row["attempts"] + 1
                    wait = min(RETRY_FIRST * 2 ** (attempts - 1), RETRY_MAX)
                    conn.execute("UPDATE notifications SET attempts = ?, next_try = ?, error = ? WHERE id = ?",
                                 (attempts, now + wait, "; ".join(errors), row["id"]))
                    log.warning("notification not delivered (try %d, next in %d s): %s", attempts, wait,
                                "; ".join(errors))
        return completed

    def prune(self, keep_days: float = 30) -> None:
        """Nightly: delivered and dropped messages older than ``keep_days`` go."""
        try:
            with self._using, self.conn:
                self.conn.execute("DELETE FROM notifications WHERE (sent IS NOT NULL OR expired IS NOT NULL)"
                                  " AND created < ?", (self.clock() - keep_days * 86400,))
        except sqlite3.Error:
            log.exception("pruning old notifications failed; trying again tomorrow")

    def close(self) -> None:
        with self._using:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def follow(notifier: Notifier, engine) -> Notifier:
    """Keep ``notifier`` on the engine's current config (channels, language, digest and quiet hours)."""
    notifier.reload(engine.snapshot.config)
    engine.on_swap(lambda snap: notifier.reload(snap.config))
    return notifier


def schedule(scheduler, notifier: Notifier, sink=None) -> None:
    """The daemon's periodic jobs (run in the scheduler's worker threads, off the DNS path): the notifier's tick
    each minute, and pruning old alerts, tallies and messages nightly."""
    scheduler.add_job(notifier.tick, "interval", seconds=TICK, id="notify", name="send alerts and digests",
                      coalesce=True, max_instances=1, replace_existing=True)

    def prune():
        notifier.prune()
        if sink is not None:
            sink.prune()
    scheduler.add_job(prune, "cron", hour=3, minute=40, id="prune-alerts", name="prune old alerts and messages",
                      coalesce=True, max_instances=1, replace_existing=True)
