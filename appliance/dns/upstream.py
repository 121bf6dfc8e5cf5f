"""Forwarding to upstream resolvers: UDP (TCP on truncation) and DNS over TLS, failover by health score.

Replies are checked against our ID and question before they are believed. A failure raises UpstreamError: the
resolver answers SERVFAIL or a stale entry, never NXDOMAIN (a timeout is not proof a name does not exist).
"""
from __future__ import annotations

import asyncio
import secrets
import ssl
import struct
import time
from dataclasses import dataclass

from appliance.config import DnsConfig, Upstream
from appliance.dns import codec
from appliance.dns.codec import Answer


class UpstreamError(Exception):
    pass


FAILURE_HALF_LIFE = 60.0   # seconds: a server that failed is tried first again once its record fades


@dataclass(slots=True)
class Health:
    """Exponentially weighted failure rate and latency: the healthiest upstream is asked first. Failures also
    fade with time, so a primary that was down for a minute gets its turn back without waiting for the other
    to fail."""

    failures: float = 0.0
    latency: float = 0.05
    last_failure: float = 0.0

    def ok(self, seconds: float) -> None:
        self.failures *= 0.8
        self.latency = 0.8 * self.latency + 0.2 * seconds

    def failed(self) -> None:
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


class _UdpExchange(asyncio.DatagramProtocol):
    def __init__(self, check):
        self.check = check
        self.done: asyncio.Future = asyncio.get_running_loop().create_future()

    def datagram_received(self, data, addr):
        if self.done.done():
            return
        try:
            self.done.set_result(self.check(data))
        except ValueError:
            pass   # not ours (wrong ID or question): keep waiting for the real reply

    def error_received(self, exc):
        if not self.done.done():
            self.done.set_exception(UpstreamError(f"UDP error: {exc}"))


class Upstreams:
    def __init__(self, dns: DnsConfig):
        self.servers = dns.upstreams
        self.timeout = dns.upstream_timeout
        self.health = {u: Health() for u in self.servers}
        self._inflight: dict[tuple, asyncio.Future] = {}
        self._tls_idle: dict[Upstream, list] = {u: [] for u in self.servers if u.tls}
        self._ssl: ssl.SSLContext | None = None
        if any(u.tls for u in self.servers):
            self._ssl = ssl.create_default_context(cafile=dns.tls_ca_file) if dns.tls_ca_file else \
                ssl.create_default_context()
            if dns.tls_ca_file:
                self._ssl.load_default_certs()

    async def resolve(self, qname: str, qtype: int, qclass: int = 1) -> tuple[Answer, Upstream]:
        """Ask the upstreams; identical questions in flight share one exchange."""
        key = (qname, qtype, qclass)
        fut = self._inflight.get(key)
        if fut is not None:
            return await asyncio.shield(fut)
        fut = asyncio.get_running_loop().create_future()
        self._inflight[key] = fut
        try:
            result = await self._failover(qname, qtype)
            fut.set_result(result)
            return result
        except BaseException as e:
            fut.set_exception(e if isinstance(e, Exception) else UpstreamError("cancelled"))
            fut.exception()   # mark retrieved: waiters may be none
            raise
        finally:
            del self._inflight[key]

    async def _failover(self, qname: str, qtype: int) -> tuple[Answer, Upstream]:
        order = sorted(self.servers, key=lambda u: self.health[u].score)
        # Two tries at most, on different servers: a phone gives up after about 5 s, so must we.
        errors = []
        for up in order[:2]:
            start = time.monotonic()
            try:
                answer = await asyncio.wait_for(self._exchange(up, qname, qtype), self.timeout)
            except (asyncio.TimeoutError, OSError, ValueError, UpstreamError, ssl.SSLError,
                    asyncio.IncompleteReadError) as e:
                self.health[up].failed()
                errors.append(f"{up}: {type(e).__name__} {e}".strip())
                continue
            if answer.rcode in (codec.SERVFAIL, codec.REFUSED):
                # That server cannot answer (broken DNSSEC, a lame upstream, an ACL): ask the next one.
                self.health[up].failed()
                errors.append(f"{up}: answered {'SERVFAIL' if answer.rcode == codec.SERVFAIL else 'REFUSED'}")
                continue
            self.health[up].ok(time.monotonic() - start)
            return answer, up
        raise UpstreamError("; ".join(errors))

    async def _exchange(self, up: Upstream, qname: str, qtype: int) -> Answer:
        qid = secrets.randbits(16)
        wire = codec.new_query(qname, qtype, qid)

        def check(data: bytes) -> Answer:
            return codec.decode_answer(data, qid, qname, qtype)

        if up.tls:
            return check(await self._tls(up, wire))
        answer = await self._udp(up, wire, check)
        if answer.truncated:
            return check(await self._tcp(up, wire))
        return answer

    async def _udp(self, up: Upstream, wire: bytes, check) -> Answer:
        loop = asyncio.get_running_loop()
        # A fresh socket per exchange: a random source port beside the random ID against spoofed replies.
        transport, proto = await loop.create_datagram_endpoint(lambda: _UdpExchange(check),
                                                               remote_addr=(up.host, up.port))
        try:
            transport.sendto(wire)
            return await proto.done
        finally:
            transport.close()

    async def _tcp(self, up: Upstream, wire: bytes) -> bytes:
        reader, writer = await asyncio.open_connection(up.host, up.port)
        try:
            return await _framed_exchange(reader, writer, wire)
        finally:
            writer.close()

    async def _tls(self, up: Upstream, wire: bytes) -> bytes:
        """DNS over TLS (RFC 7858) on a reused connection: a handshake per query would double the latency."""
        idle = self._tls_idle[up]
        while idle:
            reader, writer = idle.pop()
            if writer.is_closing() or reader.at_eof():
                writer.close()
                continue
            try:
                data = await _framed_exchange(reader, writer, wire)
            except (OSError, asyncio.IncompleteReadError, ssl.SSLError):
                writer.close()    # the server closed an idle connection: open a new one below
                continue
            except BaseException:
                writer.close()    # a timeout mid-exchange leaves the stream out of step: never reuse it
                raise
            idle.append((reader, writer))
            return data
        reader, writer = await asyncio.open_connection(
            up.host, up.port, ssl=self._ssl, server_hostname=up.server_name or up.host)
        try:
            data = await _framed_exchange(reader, writer, wire)
        except BaseException:
            writer.close()
            raise
        if len(idle) < 4:
            idle.append((reader, writer))
        else:
            writer.close()
        return data

    def close(self) -> None:
        for conns in self._tls_idle.values():
            for _r, w in conns:
                w.close()
            conns.clear()


async def _framed_exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, wire: bytes) -> bytes:
    writer.write(struct.pack("!H", len(wire)) + wire)
    await writer.drain()
    size = struct.unpack("!H", await reader.readexactly(2))[0]
    return await reader.readexactly(size)
