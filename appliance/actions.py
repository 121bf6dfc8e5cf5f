"""What a parent does to the live policy — pause, resume, allow for a while, bedtime later, end a window, cancel,
explain, "what is in force now" — as one service for the CLI, the admin and the proxy's "ask for access".

Each action validates against the config it is given (the one the daemon runs), stores its override, and returns a
message that is true: it says what the change does and what still applies. Bad input raises ``UserError``, whose
text is for parents; nothing here prints or exits. Writes go to the overrides table; the daemon picks them up
within a second (``OverrideStore.changed()``).
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from .clock import SYSTEM, Clock
from .config import DEFAULT_PROFILE, Config, ConfigError, Profile, catalog_names
from .dns.qtypes import type_code, type_name     # names of query types (A, AAAA, HTTPS), without dnslib
from .model import Client, Decision, Reason
from .policy import overrides as policy_overrides
from .policy.overrides import NO_OVERRIDES, Overrides, in_force, occurrence_of
from .policy.schedules import Schedule
from .policy.when import parse_duration, parse_instant, parse_until
from .state import db
from .state.overrides import Override, OverrideStore
from .wording import describe

if TYPE_CHECKING:       # explain alone decides a query: the engine, the lists and decide load when it runs
    from .policy.decide import Rules

__all__ = ["UserError", "ActionResult", "Explanation", "Actions", "ASK", "TODAY"]

ASK = "ASK"         # the reason of a child's *Ask for access* alert (raised by the proxy's block page)
TODAY = "today"     # an approval's length that means "until midnight", wherever the clock is now


class UserError(Exception):
    """An action a parent asked for that cannot be done; the text says why and what to do instead."""


@dataclass(frozen=True)
class ActionResult:
    message: str                    # what happened, in words, true at the time it is said
    override: Override | None = None


@dataclass(frozen=True)
class Explanation:
    domain: str
    qtype: str
    at: datetime
    client: Client
    decision: Decision
    words: str


# What the actions say, in the parent's language ({p}: the child, {t}/{s}/{e}: times, {w}: a window, ...).
_SAY = {
    "paused": ("{p}'s internet is paused until {t}", "L'internet de {p} est en pause jusqu'à {t}"),
    "replaces": (" (this replaces the pause that ran until {t})", " (cela remplace la pause qui durait jusqu'à {t})"),
    "resumed": ("{p}: internet resumed", "{p} : internet rétabli"),
    "not_paused": ("{p} was not paused", "{p} n'était pas en pause"),
    "still": ("; still in force: ", " ; toujours en vigueur : "),
    "everyday": (" (the everyday rules apply)", " (les règles habituelles s'appliquent)"),
    "win_all": ("{w} blocks everything until {t}", "{w} bloque tout jusqu'à {t}"),
    "win_some": ("{w} blocks {what} until {t}", "{w} bloque {what} jusqu'à {t}"),
    "allowed": ("{name} is allowed for {p} until {t}, then blocked again by itself",
                "{name} est autorisé pour {p} jusqu'à {t}, puis de nouveau bloqué tout seul"),
    "through": (" (it gets through {w}, which blocks the rest)", " (il passe malgré {w}, qui bloque le reste)"),
    "lifted": ("{w} is lifted now and comes back at {t} (until {e})",
               "{w} est levé maintenant et revient à {t} (jusqu'à {e})"),
    "later": ("{w} of {day} now starts at {t} instead of {s}", "{w} du {day} commence maintenant à {t} au lieu de {s}"),
    "gone": ("{w} of {day} will not come back: {t} is after its end",
             "{w} du {day} ne reviendra pas : {t} est après sa fin"),
    "ended": ("{w} is over for today (it had run until {t})", "{w} est fini pour aujourd'hui (il devait durer "
              "jusqu'à {t})"),
    "skipped": ("{w} was not in force, so its next time is skipped: {s}–{e}",
                "{w} n'était pas en cours : sa prochaine fois est sautée : {s}–{e}"),
    "now_paused": ("paused until {t}", "en pause jusqu'à {t}"),
    "now_allowed": ("{target} allowed until {t}", "{target} autorisé jusqu'à {t}"),
    "now_moved": ("{w} moved {n} minutes later", "{w} décalé de {n} minutes"),
    "now_nothing": ("nothing special: the everyday rules apply", "rien de spécial : les règles habituelles "
                    "s'appliquent"),
    "tomorrow": ("tomorrow {t}", "demain {t}"),
    "no_ask": ("there is no ask number {n} (hearth alerts lists them)",
               "il n'y a pas de demande numéro {n} (hearth alerts les liste)"),
    "not_ask": ("alert {n} is not a child's ask for access", "l'alerte {n} n'est pas une demande d'accès d'un enfant"),
}


class Actions:
    """Parent actions against one config. Cheap to make; opens the database only while an action runs.
    ``lang`` ("en" or "fr") is the language of the messages (the admin passes the page's)."""

    def __init__(self, config: Config, *, clock: Clock = SYSTEM, rules: Rules | None = None, lang: str = "en"):
        self.config = config
        self.clock = clock
        self._rules = rules
        self._fr = lang == "fr"

    def _say(self, key: str, **kw) -> str:
        return _SAY[key][self._fr].format(**kw)

    # --- helpers ------------------------------------------------------------------------------------------------

    def _now(self) -> datetime:
        return self.clock.now(self.config.tz)

    def _store(self) -> OverrideStore:
        try:
            return OverrideStore(db.db_path(self.config.data_dir))
        except (sqlite3.Error, OSError) as e:
            raise UserError(f"nothing was changed: Hearth cannot write its data in {self.config.data_dir} "
                            f"({_plain_error(e)}). Check the disk has space, and run this as the hearth user "
                            "(sudo -u hearth hearth …).") from None

    def _write(self, fn):
        store = self._store()
        try:
            return fn(store)
        except sqlite3.Error as e:
            raise UserError(f"nothing was changed: the database refused the write ({_plain_error(e)})") from None
        except ValueError as e:
            raise UserError(str(e)) from None
        finally:
            store.close()

    def profile(self, name: str) -> Profile:
        p = self.config.profiles.get(name)
        if p is None or name == DEFAULT_PROFILE:
            kids = ", ".join(c.name for c in self.config.children()) or "none yet"
            raise UserError(f"unknown profile {name!r}: there is no child of that name (children: {kids})")
        return p

    def overrides_now(self) -> Overrides:
        """The live overrides, read-only (works for a user who may not write the data directory)."""
        path = db.db_path(self.config.data_dir)
        if not path.exists():
            return NO_OVERRIDES
        try:
            with OverrideStore(path, readonly=True) as store:
                return policy_overrides.snapshot(store, self._now())
        except sqlite3.Error:
            return NO_OVERRIDES     # no table yet, or unreadable: nothing live that we can see

    def _fmt(self, when: datetime | float) -> str:
        ts = when.timestamp() if isinstance(when, datetime) else when
        local = datetime.fromtimestamp(ts, self.config.tz)
        today = self._now().date()
        if local.date() == today:
            return local.strftime("%H:%M")
        if local.date() == today + timedelta(days=1):
            return self._say("tomorrow", t=local.strftime("%H:%M"))
        return local.strftime("%d/%m %H:%M" if self._fr else "%a %d %b %H:%M")

    def _day(self, d) -> str:
        return d.strftime("%d/%m" if self._fr else "%a %d %b")

    def _in_force(self, profile: Profile, overrides: Overrides | None = None) -> list[tuple]:
        """(window, its end as epoch seconds) for each window in force for ``profile`` now."""
        now = self._now()
        ov = overrides if overrides is not None else self.overrides_now()
        out = []
        for w in Schedule(profile.schedules).active(now, ov.shifts(profile.name)):
            occ = occurrence_of(profile, w.name, now)[1]
            shift = ov.shifts(profile.name).get((w.name, occ.day.toordinal()))
            out.append((w, shift.apply(occ.start.timestamp(), occ.end.timestamp())[1] if shift
                        else occ.end.timestamp()))
        return out

    def _still(self, profile: Profile, overrides: Overrides | None = None) -> list[str]:
        """The windows in force for ``profile`` now, in words."""
        return [self._say("win_all", w=w.name, t=self._fmt(end)) if w.everything else
                self._say("win_some", w=w.name, what=", ".join(w.block + w.block_apps), t=self._fmt(end))
                for w, end in self._in_force(profile, overrides)]

    @staticmethod
    def _occurrence(p: Profile, window: str, now: datetime):
        """(the window, its occurrence in force or next, whether it is in force now); UserError if none."""
        try:
            w, occ = occurrence_of(p, window, now)
        except ValueError as e:
            raise UserError(str(e)) from None
        return w, occ, in_force(occ, now)

    # --- actions ------------------------------------------------------------------------------------------------

    def pause(self, profile: str, duration: str | timedelta | None = None,
              until: str | datetime | None = None) -> ActionResult:
        p = self.profile(profile)
        now = self._now()
        try:
            end = (until if isinstance(until, datetime) else parse_until(until, self.config.tz, now)) if until \
                else None
            length = parse_duration(duration or "1h") if end is None else None
        except ValueError as e:
            raise UserError(str(e)) from None
        before = self.overrides_now().of(p.name).paused(now.timestamp())
        o = self._write(lambda s: s.add_pause(p.name, now, duration=length, until=end))
        msg = self._say("paused", p=p.name, t=self._fmt(o.expires))
        if before is not None and abs(before - o.expires.timestamp()) > 1:
            msg += self._say("replaces", t=self._fmt(before))
        return ActionResult(msg, o)

    def resume(self, profile: str) -> ActionResult:
        p = self.profile(profile)
        n = self._write(lambda s: s.resume(p.name, self._now()))
        still = self._still(p)
        msg = self._say("resumed" if n else "not_paused", p=p.name)
        if still:
            msg += self._say("still") + "; ".join(still)
        elif n:
            msg += self._say("everyday")
        return ActionResult(msg)

    def allow(self, profile: str, target: str, duration: str | timedelta) -> ActionResult:
        p = self.profile(profile)
        try:
            name = policy_overrides.normalize_target(_host_of(target))
            length = parse_duration(duration)
        except ValueError as e:
            raise UserError(str(e)) from None
        if "." not in name:
            cat = catalog_names(self.config.blocklists_dir)       # the names only, kept between commands
            if isinstance(cat, ConfigError):
                raise UserError(f"nothing was changed: {'; '.join(cat.errors)} (see: hearth check-config)")
            categories = set(cat.categories) | {s.category for s in self.config.lists.sources}
            bare = name.removeprefix("app:")
            if not (bare in cat.apps or (not name.startswith("app:") and bare in categories)):
                apps = ", ".join(sorted(cat.apps)[:8])
                raise UserError(f"{target!r} is not an app, a category or a domain (apps: {apps}, …; categories: "
                                f"{', '.join(sorted(categories))})")
        o = self._write(lambda s: s.add_allow(p.name, name, length, self._now()))
        msg = self._say("allowed", name=name, p=p.name, t=self._fmt(o.expires))
        everything = [w for w, _end in self._in_force(p) if w.everything]
        if everything:
            msg += self._say("through", w=everything[0].name)
        return ActionResult(msg, o)

    def approve(self, alert_id: int, duration: str | timedelta | None = None) -> ActionResult:
        """Grant a child's *Ask for access*: the ask alert ``alert_id`` (reason ASK, raised by the proxy, naming the
        domain that blocked the page) becomes a timed allow of that domain for ``duration`` ("30m", "2h",
        ``TODAY`` for until midnight; default proxy.ask_minutes), and the alert is marked seen. The CLI's
        ``hearth approve`` and the admin's buttons both come here."""
        from .state.alerts import AlertNotFound, Alerts
        try:
            store = Alerts(db.db_path(self.config.data_dir), self.config.tz)
            try:
                a = store.get(alert_id)
            finally:
                store.close()
        except AlertNotFound:
            raise UserError(self._say("no_ask", n=alert_id)) from None
        except (sqlite3.Error, OSError) as e:
            raise UserError(f"nothing was changed: Hearth cannot read its alerts in {self.config.data_dir} "
                            f"({_plain_error(e)})") from None
        if a.reason != ASK or not a.child or not a.domain:
            raise UserError(self._say("not_ask", n=alert_id))
        if duration is None:
            duration = timedelta(minutes=self.config.proxy.ask_minutes if self.config.proxy else 30)
        elif isinstance(duration, str) and duration.strip().lower() == TODAY:
            duration = self._until_midnight()
        result = self.allow(a.child, a.domain, duration)
        store = Alerts(db.db_path(self.config.data_dir), self.config.tz)
        try:
            store.mark_seen(alert_id)       # the allow is written: a failure here must not undo or hide it
        except (sqlite3.Error, LookupError):
            pass
        finally:
            store.close()
        return result

    def _until_midnight(self) -> timedelta:
        """From now to the next local midnight, in real seconds (a DST change today makes the day 23 or 25 hours:
        the subtraction is done in UTC, since aware datetimes in one zone subtract by their wall clocks)."""
        now = self._now()
        midnight = datetime.combine(now.date() + timedelta(days=1), time(0), tzinfo=self.config.tz)
        return midnight.astimezone(timezone.utc) - now.astimezone(timezone.utc)

    def later(self, profile: str, window: str, delay: str | timedelta) -> ActionResult:
        p = self.profile(profile)
        try:
            length = parse_duration(delay)
        except ValueError as e:
            raise UserError(str(e)) from None
        now = self._now()
        w, occ, started = self._occurrence(p, window, now)
        o = self._write(lambda s: policy_overrides.later(s, p, window, length, now))
        start = occ.start.timestamp() + o.delay.total_seconds()
        if started:
            # The rule (policy/overrides.py): once a window has started, "later" lifts it now and brings it
            # back `delay` from now, until its usual end.
            msg = self._say("lifted", w=w.name, t=self._fmt(start), e=self._fmt(occ.end))
        else:
            msg = self._say("later", w=w.name, day=self._day(occ.day), t=self._fmt(start), s=self._fmt(occ.start))
        if start >= occ.end.timestamp():
            msg = self._say("gone", w=w.name, day=self._day(occ.day), t=self._fmt(start))
        return ActionResult(msg, o)

    def end(self, profile: str, window: str) -> ActionResult:
        p = self.profile(profile)
        now = self._now()
        w, occ, started = self._occurrence(p, window, now)
        o = self._write(lambda s: policy_overrides.end(s, p, window, now))
        if started:
            msg = self._say("ended", w=w.name, t=self._fmt(occ.end))
        else:
            msg = self._say("skipped", w=w.name, s=self._fmt(occ.start), e=self._fmt(occ.end))
        return ActionResult(msg, o)

    def grant(self, profile: str, budget: str, minutes: int | str | timedelta) -> ActionResult:
        """More minutes of a time budget for today only ("+30m"): lifts a spent budget at once (the daemon sees
        the grant within a second)."""
        from .state.budgets import BudgetStore, applies
        p = self.profile(profile)
        b = next((x for x in p.budgets if x.name == budget), None)
        if b is None:
            names = ", ".join(x.name for x in p.budgets) or "none yet"
            raise UserError(f"{p.name} has no time budget called {budget!r} (budgets: {names})")
        extra = _minutes(minutes)
        now = self._now()
        today = now.date()
        if not applies(b, today):
            raise UserError(f"nothing was changed: {p.name}'s {b.name} budget does not count on "
                            f"{now.strftime('%A')}s, so nothing of it is blocked today")
        try:
            with BudgetStore(db.db_path(self.config.data_dir)) as store:
                store.grant(p.name, b.name, today, extra, now.timestamp())
                u = next(x for x in store.usage(self.config, today) if x.profile == p.name and x.budget == b.name)
        except (sqlite3.Error, OSError) as e:
            raise UserError(f"nothing was changed: Hearth cannot write its data in {self.config.data_dir} "
                            f"({_plain_error(e)})") from None
        return ActionResult(f"{p.name}: {extra} more minutes of {b.name} today; {u.used} of {u.allowed} minutes "
                            f"used, {u.left} left (until midnight)")

    def _spent(self, when: datetime):
        """The budgets spent on ``when``'s day, as the daemon's snapshot holds them (read-only; none if unread)."""
        from .policy.decide import NO_BUDGETS, SpentBudgets
        from .state.budgets import BudgetStore
        path = db.db_path(self.config.data_dir)
        if not path.exists() or not any(p.budgets for p in self.config.profiles.values()):
            return NO_BUDGETS
        try:
            with BudgetStore(path, readonly=True) as store:
                return SpentBudgets(when.date(), store.spent(self.config, when.date()))
        except sqlite3.Error:
            return NO_BUDGETS

    def budgets(self, profile: str | None = None) -> list:
        """Each child's budgets today: used, allowed, left (``Usage`` values), read-only."""
        from .state.budgets import BudgetStore, Usage, applies
        kids = [self.profile(profile)] if profile else self.config.children()
        today = self._now().date()
        path = db.db_path(self.config.data_dir)
        out = []
        store = None
        try:
            if path.exists():
                store = BudgetStore(path, readonly=True)
            for p in kids:
                for b in p.budgets:
                    try:
                        used = store.used(p.name, b.name, today) if store else 0
                        granted = store.granted(p.name, b.name, today) if store else 0
                    except sqlite3.Error:       # no table yet (the daemon has not run this version)
                        used = granted = 0
                    out.append(Usage(p.name, b.name, today, applies(b, today), used, b.minutes, granted))
        finally:
            if store is not None:
                store.close()
        return out

    def cancel(self, override_id: int) -> ActionResult:
        o = self._write(lambda s: s.cancel(int(override_id), self._now()))
        if o is None:
            raise UserError(f"there is no live change with id {override_id} (see: hearth overrides)")
        return ActionResult(f"cancelled: {o.describe(self.config.tz)}", o)

    def overrides(self) -> list[Override]:
        path = db.db_path(self.config.data_dir)
        if not path.exists():
            return []
        with OverrideStore(path, readonly=True) as store:
            try:
                return store.list_active(self._now())
            except sqlite3.Error:
                return []

    def now(self, profile: str) -> list[str]:
        """Everything in force for a child right now, in words, most important first."""
        p = self.profile(profile)
        now = self._now()
        ov = self.overrides_now()
        po = ov.of(p.name)
        out = []
        paused = po.paused(now.timestamp())
        if paused is not None:
            out.append(self._say("now_paused", t=self._fmt(paused)))
        out += self._still(p, ov)
        for a in po.live_allows(now.timestamp()):
            out.append(self._say("now_allowed", target=a.target, t=self._fmt(a.end)))
        for (wname, ordinal), shift in po.shifts.items():
            if shift.delay and shift.ended_at is None:
                out.append(self._say("now_moved", w=wname, n=int(shift.delay // 60)))
        if not out:
            out.append(self._say("now_nothing"))
        return out

    # --- explain ------------------------------------------------------------------------------------------------

    def explain(self, domain: str, *, device: str | None = None, ip: str | None = None, mac: str | None = None,
                profile: str | None = None, at: str | datetime | None = None, qtype: str = "A") -> Explanation:
        cfg = self.config
        code = type_code(qtype)
        if code is None:
            raise UserError(f"unknown query type {qtype!r} (e.g. A, AAAA, HTTPS, MX)")
        host = _host_of(domain)
        if not host:
            raise UserError(f"{domain!r} is not a domain name or a web address")
        try:
            when = (at if isinstance(at, datetime) else parse_instant(at, cfg.tz, self._now())) if at else self._now()
        except ValueError as e:
            raise UserError(str(e)) from None
        from .policy.clients import Directory
        directory = Directory.from_config(cfg)
        if profile is not None:
            if profile != DEFAULT_PROFILE:
                self.profile(profile)
            client = Client(ip or "", mac, device, profile)
        elif device is not None:
            dev = next((d for d in cfg.devices if d.name == device), None)
            if dev is None:
                raise UserError(f"unknown device {device!r} (known: {', '.join(d.name for d in cfg.devices) or 'none'})")
            client = directory.identify(dev.ip or (str(dev.cidr.network_address) if dev.cidr else "0.0.0.0"), dev.mac)
        else:
            client = directory.identify(ip or "0.0.0.0", mac.lower() if mac else None)
        from .policy.decide import compile_profile, decide     # here: the other actions never decide a query
        from .policy.engine import build_rules
        rules = self._rules or build_rules(cfg)
        profile = cfg.profiles[client.profile]
        overrides = self.overrides_now()
        quarantine = cfg.unknown_devices.profile == "quarantine" and client.profile == DEFAULT_PROFILE
        d = decide(compile_profile(profile, quarantine=quarantine), host, code, when, overrides, rules,
                   self._spent(when))
        text = describe(d, until=until(d, profile, overrides, when), titles=_titles(cfg))
        if d.reason is Reason.ESSENTIAL and (overrides.of(profile.name).paused(when.timestamp()) is not None
                                             or compile_profile(profile).schedule.active(when)):
            # say why a pause or a bedtime does not apply here (issue 11: essentials beat them silently)
            text += "; essentials keep devices working, so a pause or a bedtime does not block them"
        source = next((h.source for h in rules.index.lookup(host) if h.list == d.list and h.rule == d.rule), None)
        if source not in (None, "curated", "config"):      # a parent's own list: name it, to trace a false positive
            text += f", from the list {source}"
        return Explanation(host, type_name(code), when, client, d, text)


def until(d: Decision, profile: Profile, overrides: Overrides, at: datetime) -> datetime | None:
    """When what decided ``d`` stops applying: a pause's end, a window occurrence's end, a timed allow's end."""
    po = overrides.of(profile.name)
    ts = at.timestamp()
    end: float | None = None
    if d.reason is Reason.PAUSED:
        end = po.paused(ts)
    elif d.reason is Reason.OVERRIDE:
        end = next((a.end for a in po.live_allows(ts) if a.target == d.list), None)
    elif d.reason is Reason.BUDGET:
        return None         # its schedule is the budget's name; the words say "until midnight" themselves
    elif d.schedule:
        try:
            occ = occurrence_of(profile, d.schedule, at)[1]
        except ValueError:
            return None
        shift = po.shifts.get((d.schedule, occ.day.toordinal()))
        end = shift.apply(occ.start.timestamp(), occ.end.timestamp())[1] if shift else occ.end.timestamp()
    return datetime.fromtimestamp(end, at.tzinfo) if end is not None else None


def _titles(config: Config) -> dict[str, str]:
    """Apps and categories as the catalog names them ("app:tiktok" -> "TikTok")."""
    cat = catalog_names(config.blocklists_dir)
    return {} if isinstance(cat, ConfigError) else dict(cat.titles)   # its errors are check-config's business


def _host_of(text: str) -> str:
    """A domain from what a parent pastes: a name, or a web address (https://www.tiktok.com/@someone)."""
    t = text.strip()
    if "/" in t or "://" in t:
        host = urlsplit(t if "://" in t else "http://" + t).hostname or ""
        return host.rstrip(".").lower()
    return t.rstrip(".").lower()


def _minutes(value: int | str | timedelta) -> int:
    """"+30m", "30m", "1h", 30 -> whole minutes (1 to 1440)."""
    if isinstance(value, int) and not isinstance(value, bool):
        n = value
    else:
        text = value if isinstance(value, timedelta) else str(value).strip().lstrip("+")
        if isinstance(text, str) and text.isdigit():
            text += "m"
        try:
            n = int(parse_duration(text).total_seconds() // 60)
        except ValueError as e:
            raise UserError(f"{e} (e.g. +30m)") from None
    if not 1 <= n <= 24 * 60:
        raise UserError(f"give between 1 minute and 24 hours, e.g. +30m (got {value})")
    return n


def _plain_error(e: Exception) -> str:
    text = str(e)
    if "disk is full" in text or "No space" in text:
        return "the disk is full"
    if "readonly" in text or "Permission denied" in text or "unable to open" in text:
        return "no permission to write there"
    if "locked" in text:
        return "the database is busy; try again in a moment"
    return text
