"""The path of one query: admit → identify → decide → answer → log.

``fast`` answers synchronously what it can (a repeat from the hot cache, a refusal); everything else goes
through the whole chain: ``full`` as a coroutine (TCP, tests), ``full_soon`` with a callback (UDP: no task per
miss). Both are ``_begin`` (read, identify, decide), a lookup, and ``_answer`` (build, remember, log). All read
the policy engine's current snapshot (appliance/policy/engine.py), swapped whole on reload or override change,
so a query never sees half of an old config and half of a new one. A query finished under an older snapshot than
the hot cache's is answered but not remembered (the generation fence), so an answer decided before a pause
cannot be served after it.
"""
from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from datetime import datetime
from functools import partial

from appliance.clock import SYSTEM, Clock
from appliance.config import Config, Profile
from appliance.dns import codec
from appliance.dns.cache import AnswerCache, HotCache, HotEntry, serve
from appliance.dns.codec import REFUSED, SERVFAIL, Answer, MalformedPacket, Query
from appliance.dns.upstream import CLIENT_RESPONSE_TIMER, UpstreamError, Upstreams
from appliance.model import Action, Client, Decision, Reason
from appliance.policy.clients import NeighbourTable, identify
from appliance.policy.engine import Engine, Snapshot
from appliance.state.querylog import Entry
from appliance.stream import Stream

log = logging.getLogger("hearth.dns")

CLIENT_TTL = 30.0          # seconds an address's identification is reused (DHCP moves addresses slowly)
MAX_SOURCES = 50_000       # addresses tracked for identification and rate limits: a flood of spoofed sources
                           # must not grow memory without end (a home has tens of devices)
MAX_HOT_LIFETIME = 3600.0  # a blocked answer is rebuilt at least hourly even if nothing changes
WARN_EVERY = 10.0          # seconds between two "upstreams failed" lines in the system log
# A parent's explicit yes is not second-guessed by the CNAME check; an ordinary allow is.
_CNAME_CHECKED = (Reason.NONE,)
_CNAME_BLOCKS = (Reason.DENY_LIST, Reason.APP, Reason.CATEGORY, Reason.BYPASS, Reason.SCHEDULE)


class _Known:
    """An address identified by the full chain: reused by the hot path until ``expires`` (monotonic)."""

    __slots__ = ("client", "forwarder", "expires", "again")

    def __init__(self, client: Client | None, forwarder: bool, expires: float, again: bool = False):
        self.client = client          # None: outside the home networks (refused)
        self.forwarder = forwarder    # a trusted router: the device is read from each packet
        self.expires = expires
        self.again = again            # it asked again after being identified: a device, not a spoofed one-off


class _Budget:
    """One address's queries in the current rate-limit window."""

    __slots__ = ("start", "count", "logged")

    def __init__(self, start: float):
        self.start = start
        self.count = 0
        self.logged = False           # the refusal was logged once for this window


def ttl_cap(config: Config, profile: Profile) -> int:
    """Answers to a child carry a short TTL, so a bedtime or a pause reaches the device within a minute.
    No answer outlives our own cache's limit: the hot cache and the client then age in step with it."""
    if profile.child or profile.schedules:
        return min(config.dns.max_ttl, config.dns.max_cache_ttl)
    return config.dns.max_cache_ttl


class _Miss:
    """A query decided by the chain, on its way to an answer (``Resolver._begin`` to ``Resolver._answer``)."""

    __slots__ = ("q", "ip", "tcp", "forwarder", "client", "d", "now", "st", "t0", "hot_key", "name")

    def __init__(self, q: Query, ip: str, tcp: bool, forwarder: bool, client: Client, d: Decision, now: datetime,
                 st: Snapshot, t0: float, hot_key: bytes | None):
        self.q, self.ip, self.tcp, self.forwarder, self.client, self.d = q, ip, tcp, forwarder, client, d
        self.now, self.st, self.t0, self.hot_key = now, st, t0, hot_key
        self.name = d.target if d.action is Action.REWRITE else q.qname     # what is asked upstream


PENDING = object()     # full_soon: the reply comes later, through its callback
_entry = tuple.__new__   # a log Entry without the named tuple's Python-level __new__, as querylog builds them


class Resolver:
    def __init__(self, engine: Engine, upstreams: Upstreams, stream: Stream,
                 neighbours: NeighbourTable | None = None, clock: Clock = SYSTEM):
        self.engine = engine
        self.upstreams = upstreams
        self.log = stream
        self.neighbours = neighbours or NeighbourTable()
        self.clock = clock
        st = engine.snapshot
        self._dns = st.config.dns
        self._generation = st.generation       # the snapshot the hot cache and client table were built under
        self.cache = AnswerCache(self._dns)
        self.hot = HotCache(self._dns.cache_size)
        self._clients: dict[str, _Known] = {}
        self._rate: dict[str, _Budget] = {}
        self._changes: dict[str, tuple] = {}   # profile -> (generation, from, until, next change): see _next_change
        self._last_warning, self._suppressed = -WARN_EVERY, 0
        self._tasks: set[asyncio.Task] = set()     # full_soon's rare coroutines, kept while they run
        self.stats = {"full_chain": 0, "hot": 0, "blocked": 0, "refused": 0, "rate_limited": 0, "servfail": 0,
                      "stale": 0, "late_writes": 0, "newcomers_dropped": 0}
        engine.on_swap(self.swapped)

    @property
    def state(self) -> Snapshot:
        return self.engine.snapshot

    def swapped(self, snap: Snapshot) -> None:
        """A new config, rule set or override snapshot: drop every derived answer, and fence out queries that
        are still being answered under the old one."""
        if snap.config.dns != self._dns:
            self._dns = snap.config.dns
            self.cache = AnswerCache(self._dns)
            self.hot = HotCache(self._dns.cache_size)
        self._generation = snap.generation
        self.hot.clear()
        for known in self._clients.values():     # identified again at their next query, yet still familiar:
            known.expires = 0.0                  # a reload during a flood must not send the house to the back

    # --- the hot path -----------------------------------------------------------------------------------------

    def fast(self, data: bytes, ip: str, tcp: bool) -> bytes | None:
        """A reply without leaving this call, or None for the full chain."""
        now = self.clock.monotonic()
        c = self._clients.get(ip)
        if c is None:
            return None        # a newcomer: the full chain identifies it and opens its rate budget
        c.again = True
        rl = self._dns.rate_limit
        r = self._rate.get(ip)
        if r is None or now - r.start >= rl.seconds:
            r = self._open_budget(ip, now)
        else:
            r.count += 1
        if c.expires <= now:
            return None
        client = c.client
        if client is None:
            self.stats["refused"] += 1
            return codec.error_from_wire(data, REFUSED)
        if c.forwarder:
            # A router's queries carry the device in their options (client subnet, MAC), and so in the bytes:
            # the same bytes from the same router are the same device. Its entry remembers who that was.
            e = self.hot.lookup(ip, tcp, data)
            if e is None or e.expires <= now or len(data) < 12:
                return None
            self.stats["hot"] += 1
            if e.blocked:
                self.stats["blocked"] += 1
            self.log.repeat(int(self.clock.time()), e.client, e)
            return serve(e, data, now)
        if rl.queries and r.count > rl.queries:
            if r.logged:       # already logged for this window: refuse without parsing the flood
                self.stats["rate_limited"] += 1
                return codec.error_from_wire(data, REFUSED)
            return None        # the full chain refuses and logs it once
        e = self.hot.lookup(client.profile, tcp, data)
        if e is None or e.expires <= now or len(data) < 12:
            return None
        self.stats["hot"] += 1
        if e.blocked:
            self.stats["blocked"] += 1
        self.log.repeat(int(self.clock.time()), client, e)
        return serve(e, data, now)

    def familiar(self, ip: str) -> bool:
        """Whether ip has been identified before (even if that has to be done again): the listener serves such
        addresses before newcomers, which a spoofing device can invent by the thousand."""
        return ip in self._clients

    def _open_budget(self, ip: str, now: float) -> _Budget:
        """A new rate-limit window for ip, this query its first."""
        if ip not in self._rate and len(self._rate) >= MAX_SOURCES:
            rl = self._dns.rate_limit
            self._evict_budgets(now, rl.seconds, rl.queries)
        r = self._rate[ip] = _Budget(now)
        r.count = 1
        return r

    def _evict_budgets(self, now: float, seconds: float, limit: int) -> None:
        """Make room in the rate-limit table without forgetting who is being limited: first the windows that
        have ended, then sources that asked once (what a spoofed flood looks like), oldest first; never a
        client past its limit inside its window, and never the whole table."""
        rate = self._rate
        for ip in [ip for ip, b in rate.items() if now - b.start >= seconds]:
            del rate[ip]
        if len(rate) >= MAX_SOURCES:
            victims = [ip for ip, b in rate.items() if b.count <= 1]
            for ip in victims[: len(rate) - MAX_SOURCES // 2]:
                del rate[ip]
        if len(rate) >= MAX_SOURCES:        # every source busy: the oldest under their limit go
            victims = [ip for ip, b in rate.items() if not limit or b.count <= limit]
            for ip in victims[: len(rate) - MAX_SOURCES // 2]:
                del rate[ip]

    # --- the full chain --------------------------------------------------------------------------------------

    async def full(self, data: bytes, ip: str, tcp: bool) -> bytes | None:
        m = self._begin(data, ip, tcp)
        if m.__class__ is not _Miss:
            return m
        return await self._rest(m)

    def full_soon(self, data: bytes, ip: str, tcp: bool, done: Callable[[bytes | None, Exception | None], None]):
        """``full`` without a coroutine: the reply (or None: nothing to send) now, or PENDING and later
        ``done(reply, None)``, or ``done(None, error)`` for an error to report (the listener then answers SERVFAIL).
        A block or a cached answer is answered in this call; the usual miss (nothing cached, nothing stale) is a
        callback the upstreams call with their answer: no task, no future, no coroutine per query."""
        m = self._begin(data, ip, tcp)
        if m.__class__ is not _Miss:
            return m
        key = (m.name, m.q.qtype, 1)
        c = self.cache.get(key, m.t0)
        if c is not None:
            return self._answer(m, (c.answer, int(m.t0 - c.stored), "cache"), None)
        if self.cache.get_stale(key, m.t0) is not None:
            # RFC 8767's client-response timer is the coroutine's: a rare case (expired, within the stale window)
            task = asyncio.get_running_loop().create_task(self._rest(m, done))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return PENDING
        try:
            self.upstreams.ask_soon(m.name, m.q.qtype, 1, partial(self._landed, m, key, done))
        except UpstreamError as e:
            return self._answer(m, None, e)
        return PENDING

    def _landed(self, m: _Miss, key: tuple, done: Callable, result: tuple | None,
                error: BaseException | None) -> None:
        """``full_soon``'s miss, once the upstreams have answered or failed: called from the upstream socket's
        reader, so the reply goes out in the same turn of the loop as the answer came in."""
        try:
            if error is None:
                reply = self._answer(m, self._fresh(key, *result), None)
            elif isinstance(error, UpstreamError):
                try:
                    looked = self._stale(key, error)
                except UpstreamError:
                    reply = self._answer(m, None, error)
                else:
                    reply = self._answer(m, looked, None)
            elif isinstance(error, asyncio.CancelledError):
                reply = None                # shutting down
            else:
                raise error
        except Exception as e:
            done(None, e)
            return
        done(reply, None)

    def _begin(self, data: bytes, ip: str, tcp: bool) -> bytes | None | _Miss:
        """The chain up to the decision: a reply (or None) when that is the end of it, else the _Miss to look up."""
        t0 = self.clock.monotonic()
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
        if r is None:                  # its first query: fast() counts only addresses already identified
            r = self._open_budget(ip, t0)
        limit = st.config.dns.rate_limit.queries
        if limit and r is not None and r.count > limit and not forwarder:
            return self._rate_limited(q, client, r)
        if q.qclass != 1:
            return codec.error_reply(q, REFUSED)    # Chaos / Hesiod: nothing of ours to say

        now = self.clock.now(st.tz)
        d = st.decide(client.profile, q.qname, q.qtype, now)
        m = _Miss(q, ip, tcp, forwarder, client, d, now, st, t0, self.hot.key_of(data))
        if d.action is Action.BLOCK:
            return self._answer(m, None, None)
        return m

    async def _rest(self, m: _Miss, done: Callable | None = None) -> bytes | None:
        """The chain after the decision, for a coroutine: look the name up, answer. With ``done``, the reply (or
        the error) is handed to it, as ``full_soon`` promises."""
        try:
            try:
                looked = await self._lookup(m.name, m.q.qtype, m.t0)
            except UpstreamError as e:
                reply = self._answer(m, None, e)
            else:
                reply = self._answer(m, looked, None)
        except asyncio.CancelledError:
            if done is None:
                raise
            done(None, None)
            return None
        except Exception as e:
            if done is None:
                raise
            done(None, e)
            return None
        if done is not None:
            done(reply, None)
        return reply

    def _answer(self, m: _Miss, looked: tuple | None, error: UpstreamError | None) -> bytes:
        """The reply to a decided query, from what was looked up (or the upstreams' failure); remembered in the hot
        cache and logged."""
        q, d, st, now = m.q, m.d, m.st, m.now
        profile = m.client.profile
        upstream: str | None = None
        cacheable = True
        max_life = MAX_HOT_LIFETIME
        ttls: list | None = []         # [TTL offsets, smallest TTL] of an upstream's answer; empty for a block
        if error is not None:
            self._warn_upstream(q, error)
            self.stats["servfail"] += 1
            wire, cacheable, upstream = codec.error_reply(q, SERVFAIL), False, "failed"
        elif d.action is Action.BLOCK:
            wire = self._blocked(q, d)
        else:
            answer, elapsed, upstream = looked
            cap = ttl_cap(st.config, st.config.profiles[profile])
            if d.action is Action.REWRITE:
                wire, *ttls = codec.answer_reply_ttls(q, answer, cname_to=d.target,
                                                      **self._ttls(cap, elapsed, upstream))
            else:
                blocked = self._check_cnames(d, answer, profile, now, st) if d.reason in _CNAME_CHECKED else None
                if blocked is not None:
                    d, upstream = blocked, None
                    wire = self._blocked(q, d)
                    max_life = max(answer.ttl - elapsed, 0)    # the cloak may point elsewhere tomorrow
                else:
                    wire, *ttls = codec.answer_reply_ttls(q, answer, **self._ttls(cap, elapsed, upstream))
            cacheable = upstream != "stale"
        if d.action is Action.BLOCK:
            self.stats["blocked"] += 1
        if not m.tcp and len(wire) > q.payload:
            wire, ttls = codec.fit_udp(wire, q.payload), None     # cut down: its TTLs are elsewhere now
        rcode = wire[3] & 0x0F
        if cacheable:
            self._remember(q, m.ip if m.forwarder else None, m.client, d, wire, m.tcp, now, st, max_life, ttls,
                           m.hot_key)
        self.log.put(_entry(Entry, (self.clock.time(), m.client, q.qname, q.qtype, d, rcode, False, upstream,
                                    round((self.clock.monotonic() - m.t0) * 1000, 3), 1, "dns")))
        return wire

    def _warn_upstream(self, q: Query, e: UpstreamError) -> None:
        """One line per WARN_EVERY seconds at most: an outage must not fill a Pi's SD card with the same line."""
        now = self.clock.monotonic()
        if now - self._last_warning < WARN_EVERY:
            self._suppressed += 1
            return
        more = f" ({self._suppressed} more failures since the last report)" if self._suppressed else ""
        log.warning("upstreams failed for %s %s: %s%s", q.qname, q.type_name, e, more)
        self._last_warning, self._suppressed = now, 0

    def _identify(self, ip: str, q: Query, st: Snapshot, now: float) -> tuple[Client | None, bool]:
        """(the client, whether ip is a trusted forwarder); None for a source outside the home networks.
        The address checks are remembered for CLIENT_TTL; a forwarder's device is read from each packet."""
        c = self._clients.get(ip)
        again = c is not None and c.again
        if c is None or c.expires <= now:
            if not st.directory.allowed(ip):
                self._remember_client(ip, _Known(None, False, now + CLIENT_TTL, again), st)
                return None, False
            forwarder, expires = st.directory.is_forwarder(ip), now + CLIENT_TTL
        elif not c.forwarder:
            return c.client, False
        else:
            forwarder, expires = True, c.expires
        client = identify(st.directory, self.neighbours, ip, q.client_subnet, q.client_mac, forwarder=forwarder)
        self._remember_client(ip, _Known(client, forwarder, expires, again), st)
        self.log.seen(client, self.clock.time())
        return client, forwarder

    def _remember_client(self, ip: str, known: _Known, st: Snapshot) -> None:
        if st.generation != self._generation:     # identified under an older snapshot: not for the new one
            return
        clients = self._clients
        if ip not in clients and len(clients) >= MAX_SOURCES:
            # Room is made from the addresses that asked once and never again (what a spoofed flood leaves),
            # oldest first; the house's devices go last, or a flood would make them newcomers again.
            now = known.expires - CLIENT_TTL
            for spare in (lambda k: not k.again, lambda k: k.expires <= now, lambda k: True):
                victims = [a for a, k in clients.items() if spare(k)]
                for old in victims[: len(clients) - MAX_SOURCES // 2]:
                    del clients[old]
                if len(clients) < MAX_SOURCES:
                    break
        clients[ip] = known

    def _rate_limited(self, q: Query, client: Client, r: _Budget) -> bytes:
        self.stats["rate_limited"] += 1
        if not r.logged:
            r.logged = True
            rl = self._dns.rate_limit
            d = Decision(Action.BLOCK, Reason.RATE_LIMIT, client.profile,
                         rule=f"{rl.queries} queries per {rl.seconds} s")
            log.warning("rate limit: %s (%s) passed %s; refusing until the window ends", client.address,
                        client.device or "unknown device", d.rule)
            self.log.put(Entry(self.clock.time(), client, q.qname, q.qtype, d, REFUSED, False, None, None, 1))
        return codec.error_reply(q, REFUSED)

    def _blocked(self, q: Query, d: Decision) -> bytes:
        dns = self._dns
        return codec.blocked_reply(q, nxdomain=d.nxdomain or dns.block_answer == "nxdomain", ttl=dns.blocked_ttl)

    def _check_cnames(self, d: Decision, answer: Answer, profile: str, now: datetime,
                      st: Snapshot) -> Decision | None:
        """CNAME cloaking: an allowed name whose answer points into a blocked one is blocked too."""
        for target in answer.cnames:
            t = st.decide(profile, target, 1, now)
            if t.action is Action.BLOCK and t.reason in _CNAME_BLOCKS:
                return Decision(Action.BLOCK, Reason.CNAME, profile, list=t.list, rule=t.rule,
                                schedule=t.schedule, target=target, nxdomain=t.nxdomain)
        return None

    async def _lookup(self, qname: str, qtype: int, now: float) -> tuple[Answer, int, str | None]:
        """(answer, seconds it has aged, who answered): the cache, else the upstreams, else a stale entry."""
        key = (qname, qtype, 1)
        c = self.cache.get(key, now)
        if c is not None:
            return c.answer, int(now - c.stored), "cache"
        cache, clock = self.cache, self.clock
        # RFC 8767: with a stale copy to fall back on, the client waits at most the client-response timer
        # (real time: the upstream's own clock); the exchange goes on and refreshes the cache when it lands.
        deadline = time.monotonic() + CLIENT_RESPONSE_TIMER if cache.get_stale(key, now) is not None else None
        try:
            answer, up = await self.upstreams.resolve(
                qname, qtype, deadline=deadline, on_late=lambda a, _up: cache.put(key, a, clock.monotonic()))
        except UpstreamError as e:
            return self._stale(key, e)
        return self._fresh(key, answer, up)

    def _fresh(self, key: tuple, answer: Answer, up) -> tuple[Answer, int, str]:
        self.cache.put(key, answer, self.clock.monotonic())
        return answer, 0, self.upstreams.names.get(up) or str(up)

    def _stale(self, key: tuple, e: UpstreamError) -> tuple[Answer, int, str]:
        """RFC 8767: the upstreams failed; an expired answer still in the stale window, else the failure."""
        stale = self.cache.get_stale(key, self.clock.monotonic())
        if stale is None:
            raise e
        self.stats["stale"] += 1
        return stale.answer, 0, "stale"

    def _ttls(self, cap: int, elapsed: int, upstream: str | None) -> dict:
        if upstream == "stale":     # RFC 8767: a stale answer carries a short TTL so the client asks again soon
            ttl = self._dns.stale_ttl
            return {"max_ttl": ttl, "ttl_floor": ttl}
        return {"max_ttl": cap, "elapsed": elapsed}

    def _next_change(self, st: Snapshot, profile: str, now: datetime) -> datetime | None:
        """``st.next_change``, asked once per profile until the time it names: nothing changes before the first
        change, so every miss in between gets the same answer (it was a twentieth of a miss's time)."""
        ts = now.timestamp()
        c = self._changes.get(profile)
        if c is not None and c[0] == st.generation and c[1] <= ts < c[2]:
            return c[3]
        change = st.next_change(profile, now)
        self._changes[profile] = (st.generation, ts, math.inf if change is None else change.timestamp(), change)
        return change

    def _remember(self, q: Query, router: str | None, client: Client, d: Decision, wire: bytes, tcp: bool,
                  now: datetime, st: Snapshot, max_life: float, ttls: list | None = None,
                  hot_key: bytes | None = None) -> None:
        """Keep the finished reply until its TTL runs out or the policy can next change, whichever is first.
        Not when it was decided under an older snapshot than the cache's: a pause swapped in meanwhile.
        ``ttls``: the reply's (TTL offsets, smallest TTL) if known, so it is not walked again."""
        if st.generation != self._generation:
            self.stats["late_writes"] += 1
            return
        mono = self.clock.monotonic()
        change = self._next_change(st, client.profile, now)
        life = max_life if change is None else min(max_life, (change - now).total_seconds())
        if d.action is Action.BLOCK:
            offsets: tuple[int, ...] = ()     # a block's TTL is a constant: serve it as built
        else:
            if ttls:
                offsets, low = ttls
            else:
                offsets = codec.wire_ttl_offsets(wire)
                low = codec.wire_min_ttl(wire, offsets)
            life = min(life, low) if offsets else min(life, 5.0)
        if router is not None:     # keyed by router, not profile; re-identified as often as a source
            who = router
            life = min(life, CLIENT_TTL)
        else:
            who = client.profile
        if life < 1:
            return
        self.hot.remember(who, tcp, q.wire, HotEntry(wire, offsets, mono, mono + life, q.qname, q.qtype,
                                                     wire[3] & 0x0F, d, client=client), hot_key)
