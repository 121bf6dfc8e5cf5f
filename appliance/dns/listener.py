"""Bytes in, bytes out, over UDP and TCP. Every exception stays with its packet: SERVFAIL, never a dead server."""
from __future__ import annotations

import asyncio
import logging
import socket
import struct

from appliance.config import Endpoint
from appliance.dns import codec
from appliance.dns.server import Resolver

log = logging.getLogger("hearth.dns")

MAX_PENDING = 2000        # full-chain queries in flight; past that new ones are dropped and the client retries
TCP_IDLE = 10.0           # seconds an idle TCP connection is kept (RFC 7766 suggests seconds, not minutes)
TCP_MAX_CONNECTIONS = 200


def _ip(addr) -> str:
    return addr[0].split("%", 1)[0]     # fe80::1%eth0: the scope is not part of the client's identity


def _servfail(data: bytes) -> bytes | None:
    try:
        return codec.error_from_wire(data, codec.SERVFAIL)
    except Exception:
        return None


class UdpListener(asyncio.DatagramProtocol):
    def __init__(self, resolver: Resolver):
        self.resolver = resolver
        self.transport: asyncio.DatagramTransport | None = None
        self.pending: set[asyncio.Task] = set()
        self.dropped = 0

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        try:
            reply = self.resolver.fast(data, _ip(addr), False)
        except Exception:
            log.exception("hot path failed on a packet from %s", addr[0])
            reply = _servfail(data)
        if reply is not None:
            self.transport.sendto(reply, addr)
            return
        if len(self.pending) >= MAX_PENDING:
            self.dropped += 1
            return
        task = asyncio.get_running_loop().create_task(self._full(data, addr))
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)

    async def _full(self, data: bytes, addr) -> None:
        try:
            reply = await self.resolver.full(data, _ip(addr), False)
        except Exception:
            log.exception("query from %s failed", addr[0])
            reply = _servfail(data)
        if reply is not None and self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(reply, addr)

    def error_received(self, exc):
        log.debug("UDP error: %s", exc)     # ICMP unreachable from a client that left: nothing to do


class TcpListener:
    """RFC 7766: several queries per connection, answered as each is ready (pipelined, maybe out of order)."""

    def __init__(self, resolver: Resolver):
        self.resolver = resolver
        self.connections = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.connections >= TCP_MAX_CONNECTIONS:
            writer.close()
            return
        self.connections += 1
        ip = _ip(writer.get_extra_info("peername"))
        tasks: set[asyncio.Task] = set()
        lock = asyncio.Lock()
        try:
            while True:
                try:
                    head = await asyncio.wait_for(reader.readexactly(2), TCP_IDLE)
                    data = await asyncio.wait_for(reader.readexactly(struct.unpack("!H", head)[0]), TCP_IDLE)
                except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError):
                    break
                task = asyncio.get_running_loop().create_task(self._answer(data, ip, writer, lock))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            if tasks:
                await asyncio.wait(tasks, timeout=TCP_IDLE)
        finally:
            self.connections -= 1
            writer.close()

    async def _answer(self, data: bytes, ip: str, writer: asyncio.StreamWriter, lock: asyncio.Lock) -> None:
        try:
            reply = self.resolver.fast(data, ip, True)
            if reply is None:
                reply = await self.resolver.full(data, ip, True)
        except Exception:
            log.exception("TCP query from %s failed", ip)
            reply = _servfail(data)
        if reply is None or writer.is_closing():
            return
        async with lock:      # one whole frame at a time on the stream
            writer.write(struct.pack("!H", len(reply)) + reply)
            try:
                await writer.drain()
            except ConnectionError:
                pass


async def start(resolver: Resolver, endpoints: tuple[Endpoint, ...]) -> list:
    """Bind UDP and TCP on every endpoint; returns the servers/transports to close on shutdown."""
    loop = asyncio.get_running_loop()
    tcp = TcpListener(resolver)
    opened = []
    for ep in endpoints:
        family = socket.AF_INET6 if ":" in ep.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)   # [::] beside 0.0.0.0 must not clash
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)   # ride out bursts while a flush runs
        sock.bind((ep.host, ep.port))
        transport, _ = await loop.create_datagram_endpoint(lambda: UdpListener(resolver), sock=sock)
        opened.append(transport)
        server = await asyncio.start_server(tcp.handle, ep.host, ep.port, family=family, reuse_address=True)
        opened.append(server)
        log.info("listening on %s (UDP and TCP)", ep)
    return opened
