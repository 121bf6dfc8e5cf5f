"""Forwarding to upstream resolvers: UDP (TCP on truncation) and DNS over TLS, failover by health score.

Replies are checked against our ID and question before they are believed. A failure raises UpstreamError: the
resolver answers SERVFAIL or a stale entry, never NXDOMAIN (a timeout is not proof a name does not exist).

UDP goes through a small pool of connected sockets per upstream (``UdpPool``), each replaced after a few dozen
queries: a new endpoint per query cost a cache miss about 200 µs. Every query still gets a random ID and a socket
picked at random, a reply must come from the upstream's address (the socket is connected) and match both the ID
and the question, and the pool's source ports keep changing (RFC 5452 §9).

A cache miss costs no task, no future and no coroutine here: ``Upstreams.ask_soon`` sends on the healthiest
upstream's pool, and the pool's socket reader calls the askers back when the reply lands; the pool keeps its
queries' deadlines in one queue with one timer. Only when that first try does not settle it (a
timeout, a socket error, a truncated reply, an rcode that says ask another, DNS over TLS) does a task take over
(``_failover``). ``resolve`` is the same for a coroutine.

A caller holding a stale answer need not wait for every upstream to time out: with a ``deadline`` it gets
``UpstreamSlow`` at that time while the exchange goes on, and ``on_late`` hands the eventual answer over to
refresh the cache (RFC 8767's client response timer, ``CLIENT_RESPONSE_TIMER``).
"""
from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import ssl
import struct
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from appliance.config import DnsConfig, Upstream
from appliance.dns import codec
from appliance.dns.codec import Answer


log = logging.getLogger("hearth.dns")


class UpstreamError(Exception):
    pass


class UpstreamSlow(UpstreamError):
    """The caller's deadline passed; the exchange goes on in the background."""


FAILURE_HALF_LIFE = 60.0   # seconds: a server that failed is tried first again once its record fades
CLIENT_RESPONSE_TIMER = 1.8   # RFC 8767 §5: a client with a stale answer waiting gets it after this long
MAX_INFLIGHT = 1000        # distinct questions asked upstream at once: a flood of random names to a dead upstream
#                            costs sockets and tasks; past this, new questions fail at once (stale or SERVFAIL)
# Rcodes that say "this server cannot answer", not "the name is so": ask the next server.
_PASS_OVER = {codec.FORMERR: "FORMERR", codec.SERVFAIL: "SERVFAIL", codec.NOTIMP: "NOTIMP",
              codec.REFUSED: "REFUSED"}


@dataclass(slots=True)
class Health:
    """Exponentially weighted failure rate and latency: the healthiest upstream is asked first. Failures also
    fade with time, so a primary that was down for a minute gets its turn back without waiting for the other
    to fail."""

    failures: float = 0.0
    latency: float = 0.05
    last_failure: float = 0.0
    errors: int = 0             # failed exchanges since start, for the metrics

    def ok(self, seconds: float) -> None:
        self.failures *= 0.8
        self.latency = 0.8 * self.latency + 0.2 * seconds

    def failed(self) -> None:
        self.errors += 1
        self.failures = 0.8 * self._faded(time.monotonic()) + 0.2
        self.last_failure = time.monotonic()

    def _faded(self, now: float) -> float:
        return self.failures * 0.5 ** ((now - self.last_failure) / FAILURE_HALF_LIFE)

    @property
    def score(self) -> float:
        return self._faded(time.monotonic()) * 10 + self.latency

    @property
    def state(self) -> str:
        """In words: "ok", "failing" (some recent failures) or "down" (most recent exchanges failed)."""
        f = self._faded(time.monotonic())
        return "down" if f > 0.5 else "failing" if f > 0.1 else "ok"


POOL_SOCKETS = 8          # connected UDP sockets per upstream, one picked at random per query
SOCKET_USES = 64          # queries a socket carries before a new one (a new random source port) takes its place
READ_BATCH = 64           # datagrams read per wake-up of a socket
TIMER_TICK = 0.05         # seconds a timed-out query may be told late: one timer per pool, not one per query


class _Socket:
    """One connected UDP socket and the queries waiting on it, by ID."""

    __slots__ = ("sock", "fd", "waiting", "uses", "retired")

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.fd = sock.fileno()
        # ID -> (called with (answer, None) or (None, error), question name, type, query sent, its own timer or
        # None when the pool's deadlines keep its time)
        self.waiting: dict[int, tuple[Callable, str, int, bytes, asyncio.TimerHandle | None]] = {}
        self.uses = 0
        self.retired = False


Landed = Callable[["Answer | None", "BaseException | None"], None]
Then = Callable[["tuple[Answer, Upstream] | None", "BaseException | None"], None]


class UdpPool:
    """Connected UDP sockets to one upstream, read by the event loop directly (no transport, no protocol object).

    A reply is taken only from the socket its query went out on (the kernel drops datagrams from any other
    address on a connected socket), for a query waiting under its ID, and only if it answers that query's question
    (``codec.decode_answer``); anything else is ignored and the query keeps waiting, as with a socket of its own.

    ``send`` takes a plain callback, called straight from the socket's reader (or its timer): a cache miss then
    costs no future and no task here; ``ask`` is the same exchange for a coroutine."""

    def __init__(self, host: str, port: int):
        self.address = (host, port)
        self.family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.live: list[_Socket] = []
        self.retired: set[_Socket] = set()     # replaced, still waiting for their last replies
        self._loop: asyncio.AbstractEventLoop | None = None
        # (loop time, socket, ID, callback) of every query sent with a deadline no earlier than the one before, in
        # the order sent: one timer for the oldest (``_tick``) instead of a timer per query. An answered query
        # stays here until its time comes (it is then skipped): at most a timeout's worth of queries.
        self._deadlines: deque[tuple[float, _Socket, int, Callable]] = deque()
        self._timer: asyncio.TimerHandle | None = None

    def _open(self) -> _Socket:
        sock = socket.socket(self.family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            sock.connect(self.address)      # the kernel picks a random ephemeral port
        except OSError:
            sock.close()
            raise
        s = _Socket(sock)
        self._loop.add_reader(s.fd, self._readable, s)
        return s

    def _pick(self, r: int) -> _Socket:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:          # a new loop (tests run several): the old sockets belong to the old one
            self.close()
            self._loop = loop
        live = self.live
        if len(live) < POOL_SOCKETS:
            s = self._open()
            live.append(s)
            return s
        i = r % len(live)
        s = live[i]
        if s.uses >= SOCKET_USES:           # retire it: closed once its last query is answered or gives up
            s.retired = True
            if s.waiting:
                self.retired.add(s)
            else:
                self._close(s)
            s = live[i] = self._open()
        return s

    def send(self, qname: str, qtype: int, timeout: float, landed: Landed) -> tuple[_Socket, int, bytes]:
        """Ask with a random ID free on a socket picked at random; ``landed(answer, None)`` is called with the reply
        to this question, or ``landed(None, error)`` after ``timeout`` seconds (TimeoutError), on a socket error
        (UpstreamError) or when the pool closes (CancelledError). (the socket, the ID, the query sent); ValueError
        for a name DNS cannot carry and OSError from the send come out of this call, and nothing is left waiting."""
        r = int.from_bytes(os.urandom(3), "big")      # the ID and the socket: one call to the kernel's CSPRNG
        s = self._pick(r >> 16)
        qid = r & 0xFFFF
        waiting = s.waiting
        while qid in waiting:
            qid = secrets.randbits(16)
        wire = codec.new_query(qname, qtype, qid)
        s.sock.send(wire)                   # no reply can be read before this returns to the loop
        loop = self._loop
        when = loop.time() + timeout
        deadlines = self._deadlines
        if deadlines and when < deadlines[-1][0]:     # sooner than the last one (a retry's shorter wait)
            timer = loop.call_at(when, self._expire, s, qid)
        else:
            timer = None
            deadlines.append((when, s, qid, landed))
            if self._timer is None:
                self._timer = loop.call_at(when, self._tick)
        waiting[qid] = (landed, qname, qtype, wire, timer)
        s.uses += 1
        return s, qid, wire

    async def ask(self, qname: str, qtype: int, timeout: float) -> tuple[Answer, int, bytes]:
        """``send`` for a coroutine: (the answer, the ID, the query sent), or the error."""
        fut = asyncio.get_running_loop().create_future()

        def landed(answer: Answer | None, error: BaseException | None) -> None:
            if not fut.done():
                _resolve_future(fut, answer, error)

        s, qid, wire = self.send(qname, qtype, timeout, landed)
        try:
            return await fut, qid, wire
        finally:
            if qid in s.waiting and s.waiting[qid][0] is landed:      # this coroutine was cancelled
                timer = s.waiting.pop(qid)[4]
                if timer is not None:
                    timer.cancel()
                self._settle(s)

    def _expire(self, s: _Socket, qid: int) -> None:
        w = s.waiting.pop(qid, None)
        if w is not None:
            self._settle(s)
            _call(w[0], None, asyncio.TimeoutError())

    def _tick(self) -> None:
        """Time out every query whose deadline has passed; then wait for the next, TIMER_TICK at the soonest."""
        self._timer = None
        loop, deadlines = self._loop, self._deadlines
        now = loop.time()
        while deadlines and deadlines[0][0] <= now:
            _when, s, qid, landed = deadlines.popleft()
            w = s.waiting.get(qid)
            if w is not None and w[0] is landed:       # still waiting (not a later query given the same ID)
                del s.waiting[qid]
                self._settle(s)
                _call(landed, None, asyncio.TimeoutError())
        if deadlines:
            self._timer = loop.call_at(max(deadlines[0][0], now + TIMER_TICK), self._tick)

    def _settle(self, s: _Socket) -> None:
        if s.retired and not s.waiting:
            self.retired.discard(s)
            self._close(s)

    def _readable(self, s: _Socket) -> None:
        waiting = s.waiting
        for _ in range(READ_BATCH):
            try:
                data = s.sock.recv(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:            # ICMP unreachable: the upstream is not listening
                error = UpstreamError(f"UDP error: {e.strerror or e}")
                for qid in list(waiting):
                    w = waiting.pop(qid)
                    if w[4] is not None:
                        w[4].cancel()
                    _call(w[0], None, error)
                self._settle(s)
                return
            if len(data) < 12:
                continue
            qid = (data[0] << 8) | data[1]
            w = waiting.get(qid)
            if w is None:
                continue                    # late, or a guess at an ID nobody is waiting for
            try:
                answer = codec.decode_answer(data, qid, w[1], w[2], sent=w[3])
            except ValueError:
                continue                    # not ours (the question differs): keep waiting for the real reply
            del waiting[qid]
            if w[4] is not None:
                w[4].cancel()
            if not waiting:
                # Nobody else waits on this socket: no read that would only fail (anything left is late or
                # not ours, and the loop calls again while the socket has data). A retired socket closes.
                self._settle(s)
                _call(w[0], answer, None)
                return
            _call(w[0], answer, None)

    def _close(self, s: _Socket) -> None:
        if s.fd >= 0:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(s.fd)
            s.sock.close()
            s.fd = -1

    def close(self) -> None:
        if self._timer is not None and self._loop is not None and not self._loop.is_closed():
            self._timer.cancel()
        self._timer = None
        self._deadlines.clear()
        for s in [*self.live, *self.retired]:
            waiting, s.waiting = s.waiting, {}
            for w in waiting.values():
                if w[4] is not None and not self._loop.is_closed():
                    w[4].cancel()
                _call(w[0], None, asyncio.CancelledError())
            self._close(s)
        self.live, self.retired = [], set()


def _resolve_future(fut: asyncio.Future, result, error: BaseException | None) -> None:
    """A callback's (result, error) onto a coroutine's future: cancelled stays cancelled."""
    if error is None:
        fut.set_result(result)
    elif isinstance(error, asyncio.CancelledError):
        fut.cancel()
    else:
        fut.set_exception(error)


def _call(landed: Landed, answer: Answer | None, error: BaseException | None) -> None:
    """A waiting query's callback, from a socket's reader: its failure must not stop the reader."""
    try:
        landed(answer, error)
    except Exception as e:
        log.warning("could not hand over an upstream answer: %s", e)


class Upstreams:
    def __init__(self, dns: DnsConfig):
        self.servers = dns.upstreams
        self.timeout = dns.upstream_timeout
        self.health = {u: Health() for u in self.servers}
        self.names = {u: str(u) for u in self.servers}    # for the log, once (not formatted per miss)
        self._inflight: dict[tuple, list[Then]] = {}     # question -> who waits for its answer
        self._tasks: set[asyncio.Task] = set()      # failovers under way (a task is kept only while referenced)
        self._udp_pools = {u: UdpPool(u.host, u.port) for u in self.servers if not u.tls}
        # Idle connections per upstream, kept for the next query: DNS over TLS, and plain TCP for truncated answers
        # (RFC 7766 §6.2.1: reuse a connection rather than open one per query).
        self._idle: dict[Upstream, list] = {u: [] for u in self.servers}
        self._ssl: ssl.SSLContext | None = None
        if any(u.tls for u in self.servers):
            self._ssl = ssl.create_default_context(cafile=dns.tls_ca_file) if dns.tls_ca_file else \
                ssl.create_default_context()
            if dns.tls_ca_file:
                self._ssl.load_default_certs()

    def ask_soon(self, qname: str, qtype: int, qclass: int, then: Then) -> None:
        """Ask the upstreams; ``then((answer, upstream), None)`` or ``then(None, error)`` once they have answered
        or failed (UpstreamError; CancelledError at shutdown). Identical questions in flight share one exchange:
        their callbacks wait in one list.

        The usual case costs no task and no future: the healthiest upstream's UDP pool calls back from its socket
        reader, and the callbacks are called there. Anything else (a timeout, a socket error, a truncated reply, an
        rcode that says ask someone else, DNS over TLS first) goes on in a task running ``_failover``. ``then`` is
        never called from inside this call; UpstreamError comes out of it when MAX_INFLIGHT questions are already
        waiting."""
        key = (qname, qtype, qclass)
        waiters = self._inflight.get(key)
        if waiters is not None:
            waiters.append(then)
            return
        if len(self._inflight) >= MAX_INFLIGHT:
            raise UpstreamError(f"{MAX_INFLIGHT} questions already waiting for the upstreams")
        waiters = self._inflight[key] = [then]
        servers = self.servers
        up = servers[0] if len(servers) == 1 else min(servers, key=lambda u: self.health[u].score)
        pool = self._udp_pools.get(up)
        if pool is None:                    # DNS over TLS: a stream exchange, in the task
            self._carry_on(key, waiters, None)
            return
        start = time.monotonic()
        try:
            pool.send(qname, qtype, self.timeout, partial(self._landed, key, waiters, up, start))
        except (OSError, ValueError) as e:
            self._carry_on(key, waiters, (up, None, e))

    def _landed(self, key: tuple, waiters: list, up: Upstream, start: float, answer: Answer | None,
                error: BaseException | None) -> None:
        """The first upstream's UDP reply (or its failure), straight from its pool."""
        if not waiters:
            return                          # settled already (closed meanwhile)
        if error is None and not answer.truncated and answer.rcode not in _PASS_OVER:
            self.health[up].ok(time.monotonic() - start)
            self._settle(key, waiters, (answer, up), None)
        elif isinstance(error, asyncio.CancelledError):
            self._settle(key, waiters, None, error)
        else:
            self._carry_on(key, waiters, (up, answer, error))

    def _carry_on(self, key: tuple, waiters: list, first: tuple | None) -> None:
        task = asyncio.get_running_loop().create_task(self._failover(key[0], key[1], first))
        self._tasks.add(task)
        task.add_done_callback(partial(self._carried, key, waiters))

    def _carried(self, key: tuple, waiters: list, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            self._settle(key, waiters, None, asyncio.CancelledError())
        elif task.exception() is not None:
            self._settle(key, waiters, None, task.exception())
        else:
            self._settle(key, waiters, task.result(), None)

    def _settle(self, key: tuple, waiters: list, result: tuple | None, error: BaseException | None) -> None:
        """Hand the outcome to everyone waiting for this question, once."""
        if self._inflight.get(key) is waiters:
            del self._inflight[key]
        calls = waiters[:]
        waiters.clear()                     # settled: a later report for this exchange finds nobody
        for then in calls:
            try:
                then(result, error)
            except Exception as e:          # one caller's failure must not keep the answer from the others
                log.warning("could not hand over an upstream answer: %s", e)

    async def resolve(self, qname: str, qtype: int, qclass: int = 1, *, deadline: float | None = None,
                      on_late: Callable[[Answer, Upstream], None] | None = None) -> tuple[Answer, Upstream]:
        """``ask_soon`` for a coroutine. A caller that gives up (cancelled) does not end the exchange for the others.

        ``deadline`` (monotonic seconds): past it, raise UpstreamSlow and let the exchange finish on its own;
        ``on_late(answer, upstream)`` is then called if it succeeds, so the caller can cache what it could not
        wait for."""
        fut = asyncio.get_running_loop().create_future()
        late: list = []

        def then(result: tuple | None, error: BaseException | None) -> None:
            if not fut.done():
                _resolve_future(fut, result, error)
            elif late and error is None:    # the caller gave up at its deadline: the answer still counts
                try:
                    late[0](*result)
                except Exception as e:      # a callback's failure must not become an event-loop traceback
                    log.warning("could not keep a late upstream answer: %s", e)

        self.ask_soon(qname, qtype, qclass, then)
        if deadline is None:
            return await fut
        try:
            return await asyncio.wait_for(fut, max(0.0, deadline - time.monotonic()))
        except asyncio.TimeoutError:
            if on_late is not None:
                late.append(on_late)
            raise UpstreamSlow("no answer yet; still asking") from None

    async def _failover(self, qname: str, qtype: int, first: tuple | None = None) -> tuple[Answer, Upstream]:
        """Two tries at most, on different servers: a phone gives up after about 5 s, so must we. ``first``:
        (upstream, answer, error) of a first try already made over UDP, counted as one of the two."""
        order = sorted(self.servers, key=lambda u: self.health[u].score)
        if first is not None:
            order.remove(first[0])
            order.insert(0, first[0])
        errors = []
        for n, up in enumerate(order[:2]):
            start = time.monotonic()
            try:
                if n == 0 and first is not None:
                    _up, answer, error = first
                    if error is not None:
                        raise error
                    if answer.truncated:       # ask again over TCP (RFC 7766)
                        answer = await self._tcp(up, qname, qtype, start + self.timeout)
                else:
                    answer = await self._exchange(up, qname, qtype, start + self.timeout)
            except (asyncio.TimeoutError, OSError, ValueError, UpstreamError, ssl.SSLError,
                    asyncio.IncompleteReadError) as e:
                self.health[up].failed()
                errors.append(f"{up}: {_plain(e)}")
                continue
            if answer.rcode in _PASS_OVER:
                # That server cannot answer (broken DNSSEC, a lame upstream, an ACL, our EDNS): ask the next one.
                self.health[up].failed()
                errors.append(f"{up}: answered {_PASS_OVER[answer.rcode]}")
                continue
            self.health[up].ok(time.monotonic() - start)
            return answer, up
        raise UpstreamError("; ".join(errors))

    async def _tcp(self, up: Upstream, qname: str, qtype: int, deadline: float) -> Answer:
        """One exchange over TCP or DNS over TLS, with its own random ID, by ``deadline``."""
        qid = secrets.randbits(16)
        wire = codec.new_query(qname, qtype, qid)
        data = await asyncio.wait_for(self._stream(up, wire), max(0.0, deadline - time.monotonic()))
        return codec.decode_answer(data, qid, qname, qtype, sent=wire)

    async def _exchange(self, up: Upstream, qname: str, qtype: int, deadline: float) -> Answer:
        """One upstream's answer by ``deadline`` (monotonic), or TimeoutError."""
        if up.tls:
            return await self._tcp(up, qname, qtype, deadline)
        answer, qid, wire = await self._udp_pools[up].ask(qname, qtype, max(0.0, deadline - time.monotonic()))
        if answer.truncated:
            data = await asyncio.wait_for(self._stream(up, wire), max(0.0, deadline - time.monotonic()))
            return codec.decode_answer(data, qid, qname, qtype, sent=wire)
        return answer

    async def _stream(self, up: Upstream, wire: bytes) -> bytes:
        """One exchange over TCP, or DNS over TLS (RFC 7858), on a reused connection: a handshake per query would
        double the latency (TLS) or cost a round trip (TCP)."""
        idle = self._idle[up]
        while idle:
            reader, writer = idle.pop()
            if writer.is_closing() or reader.at_eof():
                _close(writer)
                continue
            try:
                data = await _framed_exchange(reader, writer, wire)
            except (OSError, asyncio.IncompleteReadError, ssl.SSLError):
                _close(writer)    # the server closed an idle connection: open a new one below
                continue
            except BaseException:
                _close(writer)    # a timeout mid-exchange leaves the stream out of step: never reuse it
                raise
            idle.append((reader, writer))
            return data
        if up.tls:
            reader, writer = await asyncio.open_connection(
                up.host, up.port, ssl=self._ssl, server_hostname=up.server_name or up.host)
        else:
            reader, writer = await asyncio.open_connection(up.host, up.port)
        try:
            data = await _framed_exchange(reader, writer, wire)
        except BaseException:
            _close(writer)
            raise
        if len(idle) < 4:
            idle.append((reader, writer))
        else:
            _close(writer)
        return data

    def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()          # exchanges outlive their callers: not the daemon
        for key, waiters in list(self._inflight.items()):
            self._settle(key, waiters, None, asyncio.CancelledError())
        for pool in self._udp_pools.values():
            pool.close()
        for conns in self._idle.values():
            for _r, w in conns:
                w.close()
            conns.clear()


async def _framed_exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, wire: bytes) -> bytes:
    writer.write(struct.pack("!H", len(wire)) + wire)
    await writer.drain()
    size = struct.unpack("!H", await reader.readexactly(2))[0]
    return await reader.readexactly(size)


def _close(closable) -> None:
    """Close a transport or stream; at shutdown the loop may be gone before an exchange's last ``finally``."""
    try:
        closable.close()
    except RuntimeError:
        pass


def _plain(e: BaseException) -> str:
    """What went wrong, in words for the system log (no Python type names)."""
    if isinstance(e, asyncio.TimeoutError):
        return "no answer in time"
    if isinstance(e, asyncio.IncompleteReadError):
        return "the connection closed mid-answer"
    if isinstance(e, ssl.SSLError):
        return f"TLS failed ({e.reason or e})"
    if isinstance(e, ValueError):
        return f"unusable answer ({e})"
    return str(e) or "failed"
