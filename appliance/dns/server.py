"""The path of one query: admit → identify → decide → answer → log.

``fast`` answers synchronously what it can (a repeat from the hot cache, a refusal); everything else goes
through ``full``, the whole chain. Both read one ``State``, swapped whole on reload, so a query never sees half
of an old config and half of a new one.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from appliance.config import DEFAULT_PROFILE, Config, Profile
from appliance.dns import codec
from appliance.dns.cache import AnswerCache, HotCache, HotEntry, serve
from appliance.dns.codec import REFUSED, SERVFAIL, Answer, MalformedPacket, Query
from appliance.dns.upstream import UpstreamError, Upstreams
from appliance.model import Action, Client, Decision, Reason
from appliance.policy.clients import Directory, NeighbourTable, identify
from appliance.policy.decide import Rules, decide, next_change
from appliance.state.overrides import Overrides
from appliance.state.querylog import Entry, QueryLog

log = logging.getLogger("hearth.dns")

CLIENT_TTL = 30.0          # seconds an address's identification is reused (DHCP moves addresses slowly)
MAX_HOT_LIFETIME = 3600.0  # a blocked answer is rebuilt at least hourly even if nothing changes
WARN_EVERY = 10.0          # seconds between two "upstreams failed" lines in the system log
# A parent's explicit yes is not second-guessed by the CNAME check; an ordinary allow is.
_CNAME_CHECKED = (Reason.NONE,)
_CNAME_BLOCKS = (Reason.DENY_LIST, Reason.APP, Reason.CATEGORY, Reason.BYPASS, Reason.SCHEDULE)


@dataclass(frozen=True)
class State:
    """Everything a reload or an override change replaces at once."""

    config: Config
    directory: Directory
    rules: Rules
    overrides: Overrides
    tz: ZoneInfo


def ttl_cap(config: Config, profile: Profile) -> int:
    """Answers to a child carry a short TTL, so a bedtime or a pause reaches the device within a minute.
    No answer outlives our own cache's limit: the hot cache and the client then age in step with it."""
    if profile.name != DEFAULT_PROFILE or profile.schedules:
        return min(config.dns.max_ttl, config.dns.max_cache_ttl)
    return config.dns.max_cache_ttl


class Resolver:
    def __init__(self, state: State, upstreams: Upstreams, querylog: QueryLog,
                 neighbours: NeighbourTable | None = None):
        self.state = state
        self.upstreams = upstreams
        self.log = querylog
        self.neighbours = neighbours or NeighbourTable()
        dns = state.config.dns
        self.cache = AnswerCache(dns)
        self.hot = HotCache(dns.cache_size)
        self._clients: dict[str, tuple[Client | None, bool, float]] = {}   # ip -> (client, forwarder, expires)
        self._rate: dict[str, list] = {}                                   # ip -> [window start, count, logged]
        self._last_warning, self._suppressed = -WARN_EVERY, 0
        self.stats = {"full_chain": 0, "hot": 0, "refused": 0, "rate_limited": 0, "servfail": 0, "stale": 0}

    def swap(self, state: State) -> None:
        """A new config, rule set or override snapshot: drop every derived answer."""
        if state.config.dns != self.state.config.dns:
            self.cache = AnswerCache(state.config.dns)
            self.hot = HotCache(state.config.dns.cache_size)
        self.state = state
        self.hot.clear()
        self._clients.clear()

    # --- the hot path -----------------------------------------------------------------------------------------

    def fast(self, data: bytes, ip: str, tcp: bool) -> bytes | None:
        """A reply without leaving this call, or None for the full chain."""
        now = time.monotonic()
        rl = self.state.config.dns.rate_limit
        r = self._rate.get(ip)
        if r is None or now - r[0] >= rl.seconds:
            if len(self._rate) > 50_000:
                self._rate.clear()     # a flood of source addresses must not grow memory without end
            r = self._rate[ip] = [now, 0, False]
        r[1] += 1
        c = self._clients.get(ip)
        if c is None or c[2] <= now:
            return None
        client, forwarder, _ = c
        if client is None:
            self.stats["refused"] += 1
            return codec.error_from_wire(data, REFUSED)
        if forwarder:
            # A router's queries carry the device in their options (client subnet, MAC), and so in the bytes:
            # the same bytes from the same router are the same device. Its entry remembers who that was.
            e = self.hot.get((ip, tcp, data[2:]))
            if e is None or e.expires <= now or len(data) < 12:
                return None
            self.stats["hot"] += 1
            self.log.repeat(int(time.time()), e.client, e)
            return serve(e, data, now)
        if rl.queries and r[1] > rl.queries:
            if r[2]:           # already logged for this window: refuse without parsing the flood
                self.stats["rate_limited"] += 1
                return codec.error_from_wire(data, REFUSED)
            return None        # the full chain refuses and logs it once
        e = self.hot.get((client.profile, tcp, data[2:]))
        if e is None or e.expires <= now or len(data) < 12:
            return None
        self.stats["hot"] += 1
        self.log.repeat(int(time.time()), client, e)
        return serve(e, data, now)

    # --- the full chain --------------------------------------------------------------------------------------

    async def full(self, data: bytes, ip: str, tcp: bool) -> bytes | None:
        t0 = time.monotonic()
        self.stats["full_chain"] += 1
        try:
            q = codec.decode_query(data)
        except MalformedPacket as e:
            return e.reply
        st = self.state
        client, forwarder = self._identify(ip, q, st, t0)
        if client is None:
            self.stats["refused"] += 1
            return codec.error_reply(q, REFUSED)
        r = self._rate.get(ip)
        limit = st.config.dns.rate_limit.queries
        if limit and r is not None and r[1] > limit and not forwarder:
            return self._rate_limited(q, client, r)
        if q.qclass != 1:
            return codec.error_reply(q, REFUSED)    # Chaos / Hesiod: nothing of ours to say

        profile = st.config.profiles[client.profile]
        now = datetime.now(st.tz)
        d = decide(profile, q.qname, q.qtype, now, st.overrides, st.rules)
        cap = ttl_cap(st.config, profile)
        upstream: str | None = None
        cacheable = True
        max_life = MAX_HOT_LIFETIME
        try:
            if d.action is Action.BLOCK:
                wire = self._blocked(q, d)
            elif d.action is Action.REWRITE:
                answer, elapsed, upstream = await self._lookup(d.target, q.qtype, t0)
                wire = codec.answer_reply(q, answer, cname_to=d.target, **self._ttls(cap, elapsed, upstream))
            else:
                answer, elapsed, upstream = await self._lookup(q.qname, q.qtype, t0)
                blocked = self._check_cnames(d, answer, profile, now, st) if d.reason in _CNAME_CHECKED else None
                if blocked is not None:
                    d, upstream = blocked, None
                    wire = self._blocked(q, d)
                    max_life = max(answer.ttl - elapsed, 0)    # the cloak may point elsewhere tomorrow
                else:
                    wire = codec.answer_reply(q, answer, **self._ttls(cap, elapsed, upstream))
            cacheable = upstream != "stale"
        except UpstreamError as e:
            self._warn_upstream(q, e)
            self.stats["servfail"] += 1
            wire, cacheable, upstream = codec.error_reply(q, SERVFAIL), False, "failed"
        if not tcp:
            wire = codec.fit_udp(wire, q.payload)
        rcode = wire[3] & 0x0F
        if cacheable:
            self._remember(q, ip if forwarder else None, client, d, wire, tcp, now, st, max_life)
        self.log.put(Entry(time.time(), client, q.qname, q.qtype, d, rcode, False, upstream,
                           round((time.monotonic() - t0) * 1000, 3), 1))
        return wire

    def _warn_upstream(self, q: Query, e: UpstreamError) -> None:
        """One line per WARN_EVERY seconds at most: an outage must not fill a Pi's SD card with the same line."""
        now = time.monotonic()
        if now - self._last_warning < WARN_EVERY:
            self._suppressed += 1
            return
        more = f" ({self._suppressed} more failures since the last report)" if self._suppressed else ""
        log.warning("upstreams failed for %s %s: %s%s", q.qname, q.type_name, e, more)
        self._last_warning, self._suppressed = now, 0

    def _identify(self, ip: str, q: Query, st: State, now: float) -> tuple[Client | None, bool]:
        """(the client, whether ip is a trusted forwarder); None for a source outside the home networks.
        The address checks are remembered for CLIENT_TTL; a forwarder's device is read from each packet."""
        c = self._clients.get(ip)
        if c is None or c[2] <= now:
            if not st.directory.allowed(ip):
                self._clients[ip] = (None, False, now + CLIENT_TTL)
                return None, False
            forwarder, expires = st.directory.is_forwarder(ip), now + CLIENT_TTL
        elif not c[1]:
            return c[0], False
        else:
            forwarder, expires = True, c[2]
        client = identify(st.directory, self.neighbours, ip, q.client_subnet, q.client_mac, forwarder=forwarder)
        self._clients[ip] = (client, forwarder, expires)
        self.log.seen(client, time.time())
        return client, forwarder

    def _rate_limited(self, q: Query, client: Client, r: list) -> bytes:
        self.stats["rate_limited"] += 1
        if not r[2]:
            r[2] = True
            d = Decision(Action.BLOCK, Reason.RATE_LIMIT, client.profile,
                         rule=f"{self.state.config.dns.rate_limit.queries} queries per "
                              f"{self.state.config.dns.rate_limit.seconds} s")
            log.warning("rate limit: %s (%s) passed %s; refusing until the window ends", client.address,
                        client.device or "unknown device", d.rule)
            self.log.put(Entry(time.time(), client, q.qname, q.qtype, d, REFUSED, False, None, None, 1))
        return codec.error_reply(q, REFUSED)

    def _blocked(self, q: Query, d: Decision) -> bytes:
        dns = self.state.config.dns
        return codec.blocked_reply(q, nxdomain=d.nxdomain or dns.block_answer == "nxdomain", ttl=dns.blocked_ttl)

    def _check_cnames(self, d: Decision, answer: Answer, profile: Profile, now: datetime,
                      st: State) -> Decision | None:
        """CNAME cloaking: an allowed name whose answer points into a blocked one is blocked too."""
        for target in answer.cnames:
            t = decide(profile, target, 1, now, st.overrides, st.rules)
            if t.action is Action.BLOCK and t.reason in _CNAME_BLOCKS:
                return Decision(Action.BLOCK, Reason.CNAME, profile.name, list=t.list, rule=t.rule,
                                schedule=t.schedule, target=target, nxdomain=t.nxdomain)
        return None

    async def _lookup(self, qname: str, qtype: int, now: float) -> tuple[Answer, int, str | None]:
        """(answer, seconds it has aged, who answered): the cache, else the upstreams, else a stale entry."""
        key = (qname, qtype, 1)
        c = self.cache.get(key, now)
        if c is not None:
            return c.answer, int(now - c.stored), "cache"
        try:
            answer, up = await self.upstreams.resolve(qname, qtype)
        except UpstreamError:
            stale = self.cache.get_stale(key, time.monotonic())
            if stale is None:
                raise
            self.stats["stale"] += 1
            return stale.answer, 0, "stale"
        self.cache.put(key, answer, time.monotonic())
        return answer, 0, str(up)

    def _ttls(self, cap: int, elapsed: int, upstream: str | None) -> dict:
        if upstream == "stale":     # RFC 8767: a stale answer carries a short TTL so the client asks again soon
            ttl = self.state.config.dns.stale_ttl
            return {"max_ttl": ttl, "ttl_floor": ttl}
        return {"max_ttl": cap, "elapsed": elapsed}

    def _remember(self, q: Query, router: str | None, client: Client, d: Decision, wire: bytes, tcp: bool,
                  now: datetime, st: State, max_life: float) -> None:
        """Keep the finished reply until its TTL runs out or the policy can next change, whichever is first."""
        mono = time.monotonic()
        profile = st.config.profiles[client.profile]
        change = next_change(profile, now, st.overrides)
        life = max_life if change is None else min(max_life, (change - now).total_seconds())
        if d.action is Action.BLOCK:
            offsets: tuple[int, ...] = ()     # a block's TTL is a constant: serve it as built
        else:
            offsets = codec.wire_ttl_offsets(wire)
            life = min(life, codec.wire_min_ttl(wire, offsets)) if offsets else min(life, 5.0)
        if router is not None:     # keyed by router, not profile; re-identified as often as a source
            key = (router, tcp, q.wire[2:])
            life = min(life, CLIENT_TTL)
        else:
            key = (client.profile, tcp, q.wire[2:])
        if life < 1:
            return
        self.hot.put(key, HotEntry(wire, offsets, mono, mono + life, q.qname, q.qtype, wire[3] & 0x0F, d,
                                   client=client))
