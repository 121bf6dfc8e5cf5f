"""The decision: one pure function from (profile, name, time, overrides, rules) to a Decision that says why.

The chain, first match wins (each link names itself in the Decision):

  a) canary        use-application-dns.net and names under it: NXDOMAIN for everyone, so Firefox keeps its DoH off
     (a profile with ``filtering: off``, the parents' own devices, stops here: allowed, UNFILTERED)
  b) essentials    the never-block list: device health (connectivity checks, time, updates, certificates)
  b') quarantine   with ``unknown_devices: {profile: quarantine}``, a device nobody has assigned (the default
                   profile) gets nothing more: blocked, QUARANTINE, until a parent assigns it
  c) overrides     a pause blocks; a timed allow of an app, category or domain allows
  d) deny list     the child's own, suffix-matched
  e) everything    a ``block: everything`` window in force blocks all but its own ``allow`` list (which may name
                   ``school``: the school group)
  f) allow list    the child's own; beats apps and categories, not an ``everything`` window
  f') school       the school group (school.txt and the config's ``school:``): beats apps and categories
  f'') budgets     a time budget spent today blocks its apps and categories until midnight: BUDGET, with the
                   budget's name in ``schedule`` and the app or category in ``list``. After the allow list and the
                   school group (what a parent lets through at all hours is not rationed), before the profile's
                   apps and categories (which it only names when nothing is spent). A budget does not apply on a
                   day outside its ``days``, and a spent set read on another day blocks nothing.
  g) apps and categories, the profile's and those of the windows in force; "bypass" answers NXDOMAIN
  h) safe search   engine hosts rewritten to their safe host
  i) nothing matched: allowed

Safe search is not a block, so it is not only link h): every ALLOW verdict (b, c, e's allow list, f, i) goes
through the rewrite, so allow-listing youtube.com for a child with ``youtube: strict`` unblocks Restricted Mode
YouTube, not the unrestricted one. The Decision then says SAFE_SEARCH.

Reasons for window-made verdicts, so ``hearth explain`` can name the window:
- blocked by a ``block: everything`` window: SCHEDULE, schedule=<window>, list None;
- allowed by that window's own allow list: ALLOW_LIST, schedule=<window>, rule=<the allowed suffix>;
- an app or category blocked only because a window is in force: SCHEDULE, schedule=<window>, list="app:tiktok"
  or the category. APP and CATEGORY mean the profile blocks it at all hours; so SCHEDULE <=> a window made it.
- "bypass" stays BYPASS (the NXDOMAIN answer hangs on it), with schedule=<window> when a window blocked it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from types import MappingProxyType
from typing import Mapping

from ..config import Profile
from ..lists.index import DomainIndex, Hit
from ..lists.names import query_ascii, to_ascii
from ..model import Action, Decision, Reason
from .overrides import Overrides, ProfileOverrides
from .safesearch import YOUTUBE_LEVELS, SafeSearch
from .schedules import Schedule, schedule_for

__all__ = ["Rules", "decide", "next_change", "compile_profile", "CompiledProfile", "CANARY", "NEVER_BLOCK",
           "BYPASS", "SpentBudgets", "NO_BUDGETS"]

CANARY = "use-application-dns.net"
_CANARY_SUB = "." + CANARY
NEVER_BLOCK = "never-block"
SCHOOL = "school"
BYPASS = "bypass"
_ALLOW, _BLOCK, _REWRITE = Action.ALLOW, Action.BLOCK, Action.REWRITE


@dataclass(frozen=True)
class Rules:
    """Everything decide needs besides the profile and the overrides: swapped whole on reload."""

    index: DomainIndex
    safesearch: SafeSearch


@dataclass(frozen=True)
class SpentBudgets:
    """The budgets spent on ``day`` (the local date they were read for), by profile. Swapped whole like the
    overrides; a query on another day sees nothing spent, so midnight lifts a budget without waiting for a swap."""

    day: date | None = None
    by_profile: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))

    def of(self, profile: str, today: date) -> tuple[str, ...]:
        if today != self.day:
            return ()
        return self.by_profile.get(profile, ())


NO_BUDGETS = SpentBudgets()


# --- per-profile precomputation ---------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _CompiledWindow:
    name: str
    everything: bool
    allow: frozenset[str]
    blocked: frozenset[str]     # list names as the index spells them: categories and "app:<name>"
    school: bool                # its allow list names the school group


@dataclass(frozen=True, slots=True)
class CompiledProfile:
    name: str
    blocked: frozenset[str]
    allow: frozenset[str]
    deny: frozenset[str]
    schedule: Schedule
    windows: dict[str, _CompiledWindow]     # by window name (unique within a profile)
    youtube: str
    safe_search: bool
    rewrites: bool                          # any safe-search setting on: skip the lookup otherwise
    filtering: bool                         # off: the parents' devices, allowed after the canary
    quarantine: bool = False                # unknown devices get the essentials only
    budgets: Mapping[str, frozenset[str]] = field(default_factory=dict)   # budget -> list names it blocks
    plain: Decision | None = field(default=None, compare=False, repr=False)   # the plain allow, built once:
                                            # most misses end there, and a build costs 3 µs

    def __post_init__(self) -> None:
        object.__setattr__(self, "plain", Decision(_ALLOW, Reason.NONE, self.name))


def _app(name: str) -> str:
    return name if name.startswith("app:") else "app:" + name


def _domains(names) -> frozenset[str]:
    return frozenset(n for n in (to_ascii(x) for x in names) if n)


def _blocked(categories, apps) -> frozenset[str]:
    return frozenset(categories) | frozenset(_app(a) for a in apps)


def compile_profile(profile: Profile, *, quarantine: bool = False) -> CompiledProfile:
    """What decide() needs of a profile, precomputed. The engine compiles each profile once per snapshot.
    ``quarantine``: this is the default profile and the config quarantines unknown devices."""
    blocked = _blocked(profile.block, profile.block_apps) | ({BYPASS} if profile.bypass else frozenset())
    windows = {w.name: _CompiledWindow(w.name, w.everything, _domains(w.allow), _blocked(w.block, w.block_apps),
                                       w.allow_school)
               for w in profile.schedules}
    return CompiledProfile(profile.name, blocked, _domains(profile.allow), _domains(profile.deny),
                           schedule_for(profile), windows, profile.youtube, profile.safe_search,
                           profile.safe_search or profile.youtube in YOUTUBE_LEVELS, profile.filtering,
                           quarantine, {b.name: _blocked(b.block, b.apps) for b in profile.budgets})


def _compiled(profile: Profile | CompiledProfile) -> CompiledProfile:
    # A one-off question (a test, a CNAME check outside the engine) may hand a plain Profile.
    return profile if isinstance(profile, CompiledProfile) else compile_profile(profile)


def _suffix_in(name: str, suffixes: frozenset[str]) -> str | None:
    """The longest suffix of ``name`` (on a label boundary) that is in ``suffixes``."""
    if name in suffixes:
        return name
    i = name.find(".")
    while i >= 0:
        suffix = name[i + 1:]
        if suffix in suffixes:
            return suffix
        i = name.find(".", i + 1)
    return None


_NO_OVERRIDES = ProfileOverrides()


# --- the chain ----------------------------------------------------------------------------------------------------

def decide(profile: Profile | CompiledProfile, qname: str, qtype: int, now: datetime, overrides: Overrides | None,
           rules: Rules, budgets: SpentBudgets | None = None) -> Decision:
    """The verdict for ``qname`` asked by a device of ``profile`` at ``now`` (aware, in the configured zone)."""
    c = _compiled(profile)
    pname = c.name
    name = query_ascii(qname) or qname.lower().rstrip(".")

    # a) canary
    if name == CANARY or name.endswith(_CANARY_SUB):
        return Decision(_BLOCK, Reason.CANARY, pname, rule=CANARY, nxdomain=True)

    if not c.filtering:     # the parents' own devices: nothing blocked, the decision still logged
        return Decision(_ALLOW, Reason.UNFILTERED, pname)

    # b) essentials
    hits = rules.index.lookup(name)
    school: str | None = None
    relay = False           # a bypass endpoint (Private Relay, DoH): any block of it answers NXDOMAIN
    for h in hits:
        if h.list == NEVER_BLOCK:
            return _allow(c, rules, name, Reason.ESSENTIAL, NEVER_BLOCK, h.rule)
        if h.list == SCHOOL:
            school = h.rule
        elif h.list == BYPASS:
            relay = True

    # b') quarantine
    if c.quarantine:
        return Decision(_BLOCK, Reason.QUARANTINE, pname, nxdomain=relay)

    # c) live overrides
    po = overrides.by_profile.get(pname, _NO_OVERRIDES) if overrides is not None else _NO_OVERRIDES
    if po.pauses or po.allows:
        ts = now.timestamp()
        if po.paused(ts) is not None:
            return Decision(_BLOCK, Reason.PAUSED, pname, nxdomain=relay)
        for a in po.allows:
            if a.start <= ts < a.end:
                rule = _allow_matches(a.target, a.domain, name, hits)
                if rule is not None:
                    return _allow(c, rules, name, Reason.OVERRIDE, a.target, rule)

    # d) deny list
    if c.deny:
        rule = _suffix_in(name, c.deny)
        if rule is not None:
            return Decision(_BLOCK, Reason.DENY_LIST, pname, list="deny", rule=rule, nxdomain=relay)

    # e) block: everything windows
    active = c.schedule.active(now, po.shifts) if c.windows else ()
    windows = [c.windows[w.name] for w in active]
    allowed_by: tuple[_CompiledWindow, str] | None = None
    for cw in windows:
        if cw.everything:
            rule = _suffix_in(name, cw.allow) if cw.allow else None
            if rule is None and cw.school and school is not None:
                rule = SCHOOL
            if rule is None:
                # NXDOMAIN for a bypass endpoint, so an iPhone's Private Relay falls back to plain DNS
                return Decision(_BLOCK, Reason.SCHEDULE, pname, schedule=cw.name, nxdomain=relay)
            if allowed_by is None:
                allowed_by = (cw, rule)
    if allowed_by is not None:      # allowed by every everything-window in force: the first one is named
        cw, rule = allowed_by
        if rule == SCHOOL:
            return _allow(c, rules, name, Reason.SCHOOL, SCHOOL, school, cw.name)
        return _allow(c, rules, name, Reason.ALLOW_LIST, None, rule, cw.name)

    # f) allow list
    if c.allow:
        rule = _suffix_in(name, c.allow)
        if rule is not None:
            return _allow(c, rules, name, Reason.ALLOW_LIST, "allow", rule)

    # f') the school group
    if school is not None:
        return _allow(c, rules, name, Reason.SCHOOL, SCHOOL, school)

    # f'') spent budgets
    if hits and c.budgets and budgets is not None:
        spent = budgets.of(pname, now.date())
        if spent:
            blocked = _budget_hit(c, spent, hits)
            if blocked is not None:
                h, budget = blocked
                return Decision(_BLOCK, Reason.BUDGET, pname, list=h.list, rule=h.rule, schedule=budget,
                                nxdomain=relay)

    # g) apps and categories
    if hits:
        blocked = _blocked_hit(c, windows, hits)
        if blocked is not None:
            h, window = blocked
            if h.list == BYPASS:
                return Decision(_BLOCK, Reason.BYPASS, pname, list=h.list, rule=h.rule, schedule=window,
                                nxdomain=True)
            if window is not None:
                return Decision(_BLOCK, Reason.SCHEDULE, pname, list=h.list, rule=h.rule, schedule=window)
            reason = Reason.APP if h.list.startswith("app:") else Reason.CATEGORY
            return Decision(_BLOCK, reason, pname, list=h.list, rule=h.rule)

    # h) safe search, i) nothing
    return _allow(c, rules, name, Reason.NONE, None, None)


def _allow(c: CompiledProfile, rules: Rules, name: str, reason: Reason, lst: str | None, rule: str | None,
           schedule: str | None = None) -> Decision:
    if c.rewrites:
        hit = rules.safesearch.target(name, c.youtube, c.safe_search)
        if hit is not None:
            return Decision(_REWRITE, Reason.SAFE_SEARCH, c.name, list=hit[0], rule=name, target=hit[1])
    if reason is Reason.NONE and lst is None and rule is None and schedule is None:
        return c.plain
    return Decision(_ALLOW, reason, c.name, list=lst, rule=rule, schedule=schedule)


def _allow_matches(target: str, domain: bool, name: str, hits: tuple[Hit, ...]) -> str | None:
    """The rule by which a timed allow covers ``name``: a domain by suffix, a name as "app:<name>" or a category,
    and for an app the hosts it needs to work (its catalog ``needs:``)."""
    if domain:
        return target if name == target or name.endswith("." + target) else None
    app = _app(target)
    needs = "needs:" + app[4:]
    for h in hits:
        if h.list == app or h.list == target or h.list == needs:
            return h.rule
    return None


def _blocked_hit(c: CompiledProfile, windows: list[_CompiledWindow],
                 hits: tuple[Hit, ...]) -> tuple[Hit, str | None] | None:
    """The hit that blocks, and the window that blocks it (None: the profile itself).

    Preference: bypass (its NXDOMAIN answer matters), then the profile over a window (blocked at all hours is the
    truer explanation), then the most specific rule, then an app over its category."""
    best = None
    best_key = None
    for h in hits:
        window = None
        if h.list not in c.blocked:
            for cw in windows:
                if h.list in cw.blocked:
                    window = cw.name
                    break
            else:
                continue
        key = (h.list != BYPASS, window is not None, -len(h.rule), not h.list.startswith("app:"))
        if best_key is None or key < best_key:
            best, best_key = (h, window), key
    return best


def _budget_hit(c: CompiledProfile, spent: tuple[str, ...], hits: tuple[Hit, ...]) -> tuple[Hit, str] | None:
    """The hit a spent budget blocks, and that budget (the first spent one, in file order); the most specific
    rule wins, then an app over its category."""
    best = None
    best_key = None
    for h in hits:
        for name in spent:
            if h.list in c.budgets.get(name, ()):
                key = (-len(h.rule), not h.list.startswith("app:"))
                if best_key is None or key < best_key:
                    best, best_key = (h, name), key
                break
    return best


def next_midnight(now: datetime) -> datetime:
    """The next local midnight after ``now`` (aware): where a spent budget lifts."""
    return datetime.combine(now.date() + timedelta(days=1), time(0), tzinfo=now.tzinfo)


def next_change(profile: Profile | CompiledProfile, now: datetime, overrides: Overrides | None,
                budgets: SpentBudgets | None = None) -> datetime | None:
    """When a decision for this profile may next differ: the next window boundary (shifts included), override
    start/expiry, or midnight when a budget is spent. A cached decision must not outlive it; None if nothing is
    scheduled to change. (A budget becoming spent swaps the snapshot, which clears caches.)"""
    c = _compiled(profile)
    po = overrides.of(c.name) if overrides is not None else _NO_OVERRIDES
    times = [c.schedule.next_boundary(now, po.shifts),
             overrides.next_expiry(c.name, now) if overrides is not None else None,
             next_midnight(now) if budgets is not None and budgets.of(c.name, now.date()) else None]
    times = [t for t in times if t is not None]
    # not min() on datetimes: same-zone datetimes compare by wall clock
    return min(times, key=lambda t: t.timestamp()) if times else None
