"""Forwarding to upstream resolvers: UDP (TCP on truncation) and DNS over TLS, failover by health score.

Replies are checked against our ID and question before they are believed. A failure raises UpstreamError: the
resolver answers SERVFAIL or a stale entry, never NXDOMAIN (a timeout is not proof a name does not exist).

UDP goes through a small pool of connected sockets per upstream (``UdpPool``), each replaced after a few dozen
queries: a new endpoint per query cost a cache miss about 200 µs. Every query still gets a random ID and a socket
picked at random, a reply must come from the upstream's address (the socket is connected) and match both the ID
and the question, and the pool's source ports keep changing (RFC 5452 §9).

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
from collections.abc import Callable
from dataclasses import dataclass

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


class _Socket:
    """One connected UDP socket and the queries waiting on it, by ID."""

    __slots__ = ("sock", "fd", "waiting", "uses", "retired")

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.fd = sock.fileno()
        self.waiting: dict[int, tuple[asyncio.Future, str, int, bytes]] = {}   # ID -> (future, question, sent)
        self.uses = 0
        self.retired = False


class UdpPool:
    """Connected UDP sockets to one upstream, read by the event loop directly (no transport, no protocol object).

    A reply is taken only from the socket its query went out on (the kernel drops datagrams from any other
    address on a connected socket), for a query waiting under its ID, and only if it answers that query's question
    (``codec.decode_answer``); anything else is ignored and the query keeps waiting, as with a socket of its own."""

    def __init__(self, host: str, port: int):
        self.address = (host, port)
        self.family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.live: list[_Socket] = []
        self.retired: set[_Socket] = set()     # replaced, still waiting for their last replies
        self._loop: asyncio.AbstractEventLoop | None = None

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

    async def ask(self, qname: str, qtype: int, timeout: float) -> tuple[Answer, int, bytes]:
        """Ask with a random ID free on a socket picked at random, and wait up to ``timeout`` seconds for the reply
        to this question; (the answer, the ID, the query sent)."""
        r = int.from_bytes(os.urandom(3), "big")      # the ID and the socket: one call to the kernel's CSPRNG
        s = self._pick(r >> 16)
        qid = r & 0xFFFF
        while qid in s.waiting:
            qid = secrets.randbits(16)
        wire = codec.new_query(qname, qtype, qid)
        fut = self._loop.create_future()
        s.waiting[qid] = (fut, qname, qtype, wire)
        s.uses += 1
        timer = self._loop.call_later(timeout, _expire, fut)
        try:
            s.sock.send(wire)
            return await fut, qid, wire
        finally:
            timer.cancel()
            s.waiting.pop(qid, None)
            if s.retired and not s.waiting:
                self.retired.discard(s)
                self._close(s)

    def _readable(self, s: _Socket) -> None:
        for _ in range(READ_BATCH):
            try:
                data = s.sock.recv(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:            # ICMP unreachable: the upstream is not listening
                for fut, *_question in list(s.waiting.values()):
                    if not fut.done():
                        fut.set_exception(UpstreamError(f"UDP error: {e.strerror or e}"))
                return
            if len(data) < 12:
                continue
            qid = (data[0] << 8) | data[1]
            w = s.waiting.get(qid)
            if w is None or w[0].done():
                continue                    # late, or a guess at an ID nobody is waiting for
            try:
                answer = codec.decode_answer(data, qid, w[1], w[2], sent=w[3])
            except ValueError:
                continue                    # not ours (the question differs): keep waiting for the real reply
            w[0].set_result(answer)

    def _close(self, s: _Socket) -> None:
        if s.fd >= 0:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(s.fd)
            s.sock.close()
            s.fd = -1

    def close(self) -> None:
        for s in [*self.live, *self.retired]:
            for fut, *_question in s.waiting.values():
                if not fut.done():
                    fut.cancel()
            self._close(s)
        self.live, self.retired = [], set()


def _expire(fut: asyncio.Future) -> None:
    if not fut.done():
        fut.set_exception(asyncio.TimeoutError())


class Upstreams:
    def __init__(self, dns: DnsConfig):
        self.servers = dns.upstreams
        self.timeout = dns.upstream_timeout
        self.health = {u: Health() for u in self.servers}
        self.names = {u: str(u) for u in self.servers}    # for the log, once (not formatted per miss)
        self._inflight: dict[tuple, asyncio.Future] = {}
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

    async def resolve(self, qname: str, qtype: int, qclass: int = 1, *, deadline: float | None = None,
                      on_late: Callable[[Answer, Upstream], None] | None = None) -> tuple[Answer, Upstream]:
        """Ask the upstreams; identical questions in flight share one exchange.

        ``deadline`` (monotonic seconds): past it, raise UpstreamSlow and let the exchange finish on its own;
        ``on_late(answer, upstream)`` is then called if it succeeds, so the caller can cache what it could not
        wait for."""
        key = (qname, qtype, qclass)
        task = self._inflight.get(key)
        if task is None:
            if len(self._inflight) >= MAX_INFLIGHT:
                raise UpstreamError(f"{MAX_INFLIGHT} questions already waiting for the upstreams")
            if deadline is None:
                return await self._own(key, qname, qtype)
            task = asyncio.get_running_loop().create_task(self._failover(qname, qtype))
            self._inflight[key] = task
            task.add_done_callback(lambda t, key=key: self._finished(key, t))
        if deadline is None:
            return await asyncio.shield(task)     # a caller that gives up does not cancel the others' exchange
        try:
            return await asyncio.wait_for(asyncio.shield(task), max(0.0, deadline - time.monotonic()))
        except asyncio.TimeoutError:
            if on_late is not None:
                task.add_done_callback(lambda t: _late(t, on_late))
            raise UpstreamSlow("no answer yet; still asking") from None

    async def _own(self, key: tuple, qname: str, qtype: int) -> tuple[Answer, Upstream]:
        """The first caller without a deadline runs the exchange itself (a task and a shield fewer per miss);
        callers asking the same question meanwhile wait on its future. If this caller is cancelled (shutdown; a TCP
        client gone for longer than any exchange takes), they get an error rather than wait for nothing."""
        fut = asyncio.get_running_loop().create_future()
        self._inflight[key] = fut
        try:
            result = await self._failover(qname, qtype)
        except BaseException as e:
            if not fut.done():
                fut.set_exception(e if isinstance(e, UpstreamError) else UpstreamError("the exchange was abandoned"))
                fut.exception()         # retrieved: nobody else waiting is not an asyncio warning
            raise
        else:
            if not fut.done():
                fut.set_result(result)
            return result
        finally:
            if self._inflight.get(key) is fut:
                del self._inflight[key]

    def _finished(self, key: tuple, task: asyncio.Task) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]
        if not task.cancelled():
            task.exception()      # retrieved: a failure nobody waited for is not an asyncio warning

    async def _failover(self, qname: str, qtype: int) -> tuple[Answer, Upstream]:
        order = sorted(self.servers, key=lambda u: self.health[u].score)
        # Two tries at most, on different servers: a phone gives up after about 5 s, so must we.
        errors = []
        for up in order[:2]:
            start = time.monotonic()
            try:
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

    async def _exchange(self, up: Upstream, qname: str, qtype: int, deadline: float) -> Answer:
        """One upstream's answer by ``deadline`` (monotonic), or TimeoutError."""
        if up.tls:
            qid = secrets.randbits(16)
            wire = codec.new_query(qname, qtype, qid)
            data = await asyncio.wait_for(self._stream(up, wire), max(0.0, deadline - time.monotonic()))
            return codec.decode_answer(data, qid, qname, qtype, sent=wire)
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
        for task in list(self._inflight.values()):
            task.cancel()          # exchanges outlive their callers (shielded): not the daemon
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


def _late(task: asyncio.Task, on_late: Callable[[Answer, Upstream], None]) -> None:
    if task.cancelled() or task.exception() is not None:
        return
    try:
        on_late(*task.result())
    except Exception as e:      # a callback's failure must not become an event-loop traceback per query
        log.warning("could not keep a late upstream answer: %s", e)


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
