"""Bytes in, bytes out, over UDP and TCP. Every exception stays with its packet: SERVFAIL, never a dead server.

One device must never take DNS away from the house, so everything a client can make us hold is bounded: queries
in flight (in all and per client), UDP queries from addresses not yet identified (they wait behind the house's
devices), TCP connections (in all and per client, the heaviest client making room for a newcomer), queries read
ahead on one connection, replies waiting for a client that does not read, and the time a whole TCP message may
take to arrive. A packet writes one line to the log at most, and a flood of them one line every ten seconds with
a count.
"""
from __future__ import annotations

import asyncio
import collections
import logging
import os
import socket
import struct
import time
from collections.abc import Callable

from appliance.config import Endpoint
from appliance.dns import codec
from appliance.dns.server import PENDING, Resolver

log = logging.getLogger("hearth.dns")

MAX_PENDING = 2000        # full-chain queries in flight; past that new ones are dropped and the client retries
MAX_PENDING_PER_CLIENT = 500   # one device's share of those: a flood of names nobody has cached waits alone
TCP_IDLE = 10.0           # seconds an idle TCP connection is kept (RFC 7766 suggests seconds, not minutes)
TCP_BUSY_IDLE = 2.0       # ... once half the connection table is taken (RFC 7766 §6.2.3: shed idle ones first)
TCP_MESSAGE_DEADLINE = 3.0   # seconds from a message's first byte to its last: a client dribbling bytes is cut off
READ_BATCH = 256          # datagrams read per wake-up of the UDP socket
NEWCOMERS_QUEUED = 1024   # UDP queries from addresses not yet identified, waiting their turn (the newest kept)
NEWCOMER_BYTES = 2 << 20  # ... and at most this many bytes of them
NEWCOMERS_PER_TURN = 4    # ... of which this many start per turn of the event loop
TCP_MAX_CONNECTIONS = 200
TCP_PER_CLIENT = 16       # connections one address may hold; its oldest is closed for a new one
TCP_INFLIGHT = 32         # queries of one connection being answered or waiting to be sent: past this it is not read
REPORT_EVERY = 10.0       # seconds between two lines about failed packets in the system log


def _ip(addr) -> str:
    return addr[0].split("%", 1)[0]     # fe80::1%eth0: the scope is not part of the client's identity


def _servfail(data: bytes) -> bytes | None:
    try:
        return codec.error_from_wire(data, codec.SERVFAIL)
    except Exception:
        return None


class OneLine:
    """Reports a packet that could not be answered: one line, no traceback, and at most one every ``every``
    seconds; the next line says how many were left out. A flood of bad packets must not fill a Pi's SD card."""

    def __init__(self, every: float = REPORT_EVERY, clock: Callable[[], float] = time.monotonic,
                 write: Callable[[str], None] | None = None):
        self.every, self.clock = every, clock
        self.write = write or log.warning
        self.last: float | None = None
        self.suppressed = 0

    def __call__(self, ip: str, e: BaseException) -> None:
        now = self.clock()
        if self.last is not None and now - self.last < self.every:
            self.suppressed += 1
            return
        more = f" ({self.suppressed} more since the last report)" if self.suppressed else ""
        self.write(f"a query from {ip} could not be answered: {_where(e)}{more}")
        self.last, self.suppressed = now, 0


def _where(e: BaseException) -> str:
    """Where it failed and what it said, on one line, for whoever reads the system log and then the code."""
    tb = e.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    said = " ".join(str(e).split())[:200] or "no detail"
    if tb is None:
        return f"an internal error ({said})"
    return f"an internal error in {os.path.basename(tb.tb_frame.f_code.co_filename)} line {tb.tb_lineno} ({said})"


class UdpListener:
    """Reads its socket itself, up to READ_BATCH datagrams each time it is readable. asyncio's datagram transport
    reads one per turn of the loop: a loop busy with a flood of names going upstream read the socket too slowly,
    and the kernel dropped the house's queries with the attacker's.

    An address Hearth has not identified yet costs the whole chain (identification, a new device, a row of its own
    in the log): a device spoofing thousands of addresses made the loop so slow that the kernel dropped the house's
    queries with the flood's. So newcomers wait in a queue of their own, a few started per turn of the loop, while
    the socket goes on being read and familiar devices answered at once. Past the queue's bound the oldest newcomer
    is dropped (its client asks again); a UDP source address proves nothing, so the house comes first."""

    def __init__(self, resolver: Resolver, sock: socket.socket, report: OneLine | None = None):
        self.resolver = resolver
        self.sock = sock
        self.report = report or OneLine()
        self.pending: set = set()      # full-chain queries waiting for the upstreams (their callbacks)
        self.per_client: dict[str, int] = {}
        self.dropped = 0
        self.unsent = 0
        self.newcomers: collections.deque[tuple[bytes, object, str]] = collections.deque()
        self._newcomer_bytes = 0
        self._admitting = False
        self.newcomers_dropped = 0
        self._told, self._told_count = -REPORT_EVERY, 0     # the last line about dropped newcomers, and its count
        self._untold: float | None = None                  # when the first drop since that line happened
        self._loop: asyncio.AbstractEventLoop | None = None
        sock.setblocking(False)

    def start(self) -> UdpListener:
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self.sock.fileno(), self._readable)
        return self

    def close(self) -> None:
        if self._loop is not None and self.sock.fileno() >= 0:
            self._loop.remove_reader(self.sock.fileno())
        self.sock.close()

    def _readable(self) -> None:
        for _ in range(READ_BATCH):
            try:
                data, addr = self.sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                log.debug("UDP error: %s", e)   # ICMP unreachable from a client that left: nothing to do
                return
            try:
                self.datagram_received(data, addr)
            except Exception as e:              # never out of the reader: asyncio would log a traceback
                self.report(_ip(addr), e)

    def _send(self, reply: bytes, addr) -> None:
        try:
            self.sock.sendto(reply, addr)
        except (BlockingIOError, InterruptedError):
            self.unsent += 1       # the send buffer is full: UDP, the client asks again
        except OSError as e:
            log.debug("UDP send failed: %s", e)

    def datagram_received(self, data: bytes, addr) -> None:
        ip = _ip(addr)
        try:
            reply = self.resolver.fast(data, ip, False)
        except Exception as e:
            self.report(ip, e)
            reply = _servfail(data)
        if reply is not None:
            self._send(reply, addr)
            return
        if not self.resolver.familiar(ip):
            self._queue_newcomer(data, addr, ip)
            return
        self._start(data, addr, ip)

    def _queue_newcomer(self, data: bytes, addr, ip: str) -> None:
        q = self.newcomers
        q.append((data, addr, ip))
        self._newcomer_bytes += len(data)
        while len(q) > NEWCOMERS_QUEUED or self._newcomer_bytes > NEWCOMER_BYTES:
            self._newcomer_bytes -= len(q.popleft()[0])
            self._dropped_newcomer()
        if not self._admitting:
            self._admitting = True
            asyncio.get_running_loop().call_soon(self._admit)

    def _dropped_newcomer(self) -> None:
        self.resolver.stats["newcomers_dropped"] += 1
        self.newcomers_dropped += 1
        if self._untold is None:
            self._untold = time.monotonic()

    def _tell_dropped(self, done: bool) -> None:
        """One line for a flood: once it is over (or has gone on for a second), then at most every REPORT_EVERY."""
        now = time.monotonic()
        if now - self._told >= REPORT_EVERY and (done or now - self._untold >= 1.0):
            dropped = self.newcomers_dropped
            log.warning("%d queries from addresses not seen before were dropped: more were asking at once than "
                        "Hearth can identify. A device on the network may be inventing addresses; the devices it "
                        "knows are answered first", dropped - self._told_count)
            self._told, self._told_count, self._untold = now, dropped, None

    def _admit(self) -> None:
        """Start a few newcomers, and come back next turn while some wait: reading the socket goes first."""
        q = self.newcomers
        for _ in range(min(NEWCOMERS_PER_TURN, len(q))):
            data, addr, ip = q.popleft()
            self._newcomer_bytes -= len(data)
            try:
                self._start(data, addr, ip)
            except Exception as e:
                self.report(ip, e)
        more = bool(q) and self.sock.fileno() >= 0
        if self._untold is not None:
            self._tell_dropped(done=not more)
        if more:
            asyncio.get_running_loop().call_soon(self._admit)
        else:
            self._admitting = False

    def _start(self, data: bytes, addr, ip: str) -> None:
        mine = self.per_client.get(ip, 0)
        if len(self.pending) >= MAX_PENDING or mine >= MAX_PENDING_PER_CLIENT:
            self.dropped += 1
            return
        self.per_client[ip] = mine + 1
        self._full(data, addr, ip)

    def _full(self, data: bytes, addr, ip: str) -> None:
        """The full chain, without a task: answered now if it can be (a block, a cached answer), else when the
        upstreams' answer lands (``Resolver.full_soon``). ``pending`` holds the queries still waiting."""
        pending = self.pending

        def done(reply: bytes | None, error: Exception | None) -> None:
            pending.discard(done)
            self._finished(data, addr, ip, reply, error)

        try:
            reply = self.resolver.full_soon(data, ip, False, done)
        except Exception as e:
            self._finished(data, addr, ip, None, e)
            return
        if reply is PENDING:
            pending.add(done)
        else:
            self._finished(data, addr, ip, reply, None)

    def _finished(self, data: bytes, addr, ip: str, reply: bytes | None, error: Exception | None) -> None:
        left = self.per_client.pop(ip, 1) - 1
        if left:
            self.per_client[ip] = left
        if error is not None:
            self.report(ip, error)
            reply = _servfail(data)
        if reply is not None and self.sock.fileno() >= 0:
            self._send(reply, addr)


class TcpListener:
    """RFC 7766: several queries per connection, answered as each is ready (pipelined, maybe out of order).

    A connection is read only while fewer than TCP_INFLIGHT of its queries are unanswered or unsent: a client
    that writes and never reads stops being read, and holds a bounded amount of our memory."""

    def __init__(self, resolver: Resolver, report: OneLine | None = None):
        self.resolver = resolver
        self.report = report or OneLine()
        self.open: dict[str, list[asyncio.StreamWriter]] = {}    # address -> its connections, oldest first
        self.connections = 0
        self.refused = 0

    def _admit(self, ip: str, writer: asyncio.StreamWriter) -> bool:
        held = len(self.open.get(ip, ()))
        if held >= TCP_PER_CLIENT:
            self._evict(ip)                    # its own oldest: a device's leftovers never lock the device out
        elif self.connections >= TCP_MAX_CONNECTIONS:
            # The table is full: the address holding the most makes room, unless that is this one already.
            heaviest = max(self.open, key=lambda a: len(self.open[a]))
            if len(self.open[heaviest]) <= held + 1:
                return False
            self._evict(heaviest)
        self.open.setdefault(ip, []).append(writer)
        self.connections += 1
        return True

    def _evict(self, ip: str) -> None:
        """Close an address's oldest connection, and forget it now: its handler notices when it next reads."""
        victim = self.open[ip][0]
        self._forget(ip, victim)
        victim.transport.abort()

    def _forget(self, ip: str, writer: asyncio.StreamWriter) -> None:
        mine = self.open.get(ip)
        if mine is not None and writer in mine:
            mine.remove(writer)
            self.connections -= 1
            if not mine:
                del self.open[ip]

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        if not peer:
            writer.transport.abort()
            return
        ip = _ip(peer)
        if not self._admit(ip, writer):
            self.refused += 1
            writer.transport.abort()
            return
        slots = asyncio.Semaphore(TCP_INFLIGHT)
        tasks: set[asyncio.Task] = set()
        try:
            while True:
                await slots.acquire()      # wait while TCP_INFLIGHT of ours are unanswered or unsent
                try:
                    data = await self._message(reader)
                except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError):
                    data = None
                if data is None:
                    slots.release()
                    break
                task = asyncio.get_running_loop().create_task(self._answer(data, ip, writer, slots))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            if tasks:
                await asyncio.wait(tasks, timeout=TCP_IDLE)
        finally:
            for task in tasks:
                task.cancel()
            self._forget(ip, writer)
            writer.transport.abort() if writer.transport.get_write_buffer_size() else writer.close()

    async def _message(self, reader: asyncio.StreamReader) -> bytes | None:
        """The next length-prefixed message, or None at the end. Idle time before its first byte is bounded by
        TCP_IDLE (shorter when the table is half full); the whole message by TCP_MESSAGE_DEADLINE."""
        idle = TCP_IDLE if self.connections < TCP_MAX_CONNECTIONS // 2 else TCP_BUSY_IDLE
        async with asyncio.timeout(idle):
            first = await reader.read(1)
        if not first:
            return None
        async with asyncio.timeout(TCP_MESSAGE_DEADLINE):
            second = await reader.readexactly(1)
            return await reader.readexactly(first[0] << 8 | second[0])

    async def _answer(self, data: bytes, ip: str, writer: asyncio.StreamWriter, slots: asyncio.Semaphore) -> None:
        try:
            try:
                reply = self.resolver.fast(data, ip, True)
                if reply is None:
                    reply = await self.resolver.full(data, ip, True)
            except Exception as e:
                self.report(ip, e)
                reply = _servfail(data)
            if reply is None or writer.transport.is_closing():
                return
            writer.write(struct.pack("!H", len(reply)) + reply)   # one whole frame per write: never interleaved
            # Past the buffer's high-water mark this waits for the client to read; a client that never does is
            # cut off rather than left holding the slot.
            async with asyncio.timeout(TCP_IDLE):
                await writer.drain()
        except (ConnectionError, asyncio.TimeoutError, RuntimeError):
            writer.transport.abort()           # gone, or not reading: nothing more to send it
        finally:
            slots.release()


async def start(resolver: Resolver, endpoints: tuple[Endpoint, ...]) -> list:
    """Bind UDP and TCP on every endpoint; returns the servers/transports to close on shutdown."""
    report = OneLine()        # one budget of log lines for every listener: a flood is one flood
    tcp = TcpListener(resolver, report)
    opened = []
    for ep in endpoints:
        family = socket.AF_INET6 if ":" in ep.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)   # [::] beside 0.0.0.0 must not clash
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)   # ride out bursts while a flush runs
        sock.bind((ep.host, ep.port))
        opened.append(UdpListener(resolver, sock, report).start())
        server = await asyncio.start_server(tcp.handle, ep.host, ep.port, family=family, reuse_address=True)
        opened.append(server)
        log.info("listening on %s (UDP and TCP)", ep)
    return opened
