"""A small authoritative-style DNS server on loopback, standing in for the internet's resolvers in tests and
benchmarks: UDP and TCP (optionally TLS), a zone given as a dict, and knobs to misbehave (slow, silent,
truncating, wrong ID)."""
from __future__ import annotations

import socket
import ssl
import struct
import threading
import time

from dnslib import A, AAAA, CNAME, QTYPE, RCODE, RR, RRSIG, SOA, TXT, DNSLabel, DNSRecord


def _bind_both(host: str) -> tuple[socket.socket, socket.socket]:
    """A UDP and a TCP socket on one port. The port the kernel gives UDP may be taken for TCP on a busy machine:
    try again with another rather than fail with EADDRINUSE."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(50):
        udp = socket.socket(family, socket.SOCK_DGRAM)
        udp.bind((host, 0))
        tcp = socket.socket(family, socket.SOCK_STREAM)
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            tcp.bind((host, udp.getsockname()[1]))
        except OSError:
            udp.close()
            tcp.close()
            continue
        return udp, tcp
    raise RuntimeError(f"no port free for both UDP and TCP on {host}")


class StubUpstream:
    """zone: {name: [("A", "1.2.3.4"), ("CNAME", "x.example."), ("AAAA", "::1"), ("A", "1.2.3.5", ttl)]};
    unknown names: NXDOMAIN. ANY gets every record of the name; with ``signed``, a query with DO gets an RRSIG
    beside each answer RRset."""

    def __init__(self, zone: dict | None = None, host: str = "127.0.0.1", tls_context: ssl.SSLContext | None = None,
                 ttl: int = 300):
        self.zone = {k.rstrip(".").lower(): v for k, v in (zone or {}).items()}
        self.host = host
        self.ttl = ttl
        self.tls = tls_context
        self.delay = 0.0            # seconds before answering
        self.silent = False         # never answer (a dead upstream)
        self.truncate = set()       # names answered with TC over UDP
        self.wrong_id_first = False  # send a reply with a wrong ID before the right one
        self.force_rcode: int | None = None   # answer every query with this rcode (e.g. RCODE.SERVFAIL)
        self.signed = False         # add RRSIGs for queries with DO
        self.queries: list[tuple[str, str, str]] = []   # (transport, name, type)
        self.asked: list[tuple[tuple[bytes, ...], bool]] = []   # (the question's labels as sent, DO bit)
        self.udp, self.tcp = _bind_both(host)
        self.port = self.udp.getsockname()[1]
        self.tcp.listen(64)
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._serve_udp, daemon=True),
                         threading.Thread(target=self._serve_tcp, daemon=True)]

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def start(self) -> StubUpstream:
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for s in (self.udp, self.tcp):
            try:
                s.close()
            except OSError:
                pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def count(self, name: str) -> int:
        return sum(1 for _t, n, _q in self.queries if n == name)

    # --- answering ---
    def answer(self, data: bytes, transport: str) -> bytes | None:
        try:
            q = DNSRecord.parse(data)
        except Exception:
            return None
        try:
            return self._answer(q, transport)
        except Exception:        # a name the stub cannot write back must not stop it answering the next
            reply = q.reply()
            reply.header.rcode = RCODE.SERVFAIL
            try:
                return reply.pack()
            except Exception:
                return None

    def _answer(self, q: DNSRecord, transport: str) -> bytes | None:
        name = str(q.q.qname).rstrip(".").lower()
        qtype = QTYPE.get(q.q.qtype)
        do = any(rr.rtype == QTYPE.OPT and rr.ttl & 0x8000 for rr in q.ar)
        self.queries.append((transport, name, qtype))
        self.asked.append((q.q.qname.label, do))
        if self.silent:
            return None
        if self.delay:
            time.sleep(self.delay)
        reply = q.reply()
        reply.header.aa = 0
        reply.header.ra = 1
        if self.force_rcode is not None:
            reply.header.rcode = self.force_rcode
            return reply.pack()
        if transport == "udp" and name in self.truncate:
            reply.header.tc = 1
            return reply.pack()
        records = self._resolve(name, qtype, reply)
        if do and self.signed:
            for rr in list(reply.rr):
                reply.add_answer(RR(rr.rname, QTYPE.RRSIG, ttl=rr.ttl, rdata=RRSIG(
                    rr.rtype, 13, 2, rr.ttl, 1767225600, 1764547200, 12345, "stub.", b"\x01" * 64)))
        if records is None:
            reply.header.rcode = RCODE.NXDOMAIN
            reply.add_auth(RR(DNSLabel(q.q.qname.label[1:]), QTYPE.SOA, ttl=60,   # the parent, byte for byte
                              rdata=SOA("ns.stub.", "hostmaster.stub.", (1, 3600, 600, 86400, 60))))
        return reply.pack()

    def _resolve(self, name: str, qtype: str, reply: DNSRecord, depth: int = 0):
        if name not in self.zone or depth > 8:
            return None
        found = False
        for rtype, value, *ttl in self.zone[name]:
            ttl = ttl[0] if ttl else self.ttl
            if rtype == "CNAME":
                reply.add_answer(RR(name, QTYPE.CNAME, ttl=ttl, rdata=CNAME(value)))
                self._resolve(value.rstrip(".").lower(), qtype, reply, depth + 1)
                return True
            if rtype == qtype or qtype == "ANY":
                rdata = {"A": A, "AAAA": AAAA, "TXT": TXT, "SOA": _soa}[rtype](value)
                reply.add_answer(RR(name, getattr(QTYPE, rtype), ttl=ttl, rdata=rdata))
                found = True
        if not found:
            reply.add_auth(RR(name, QTYPE.SOA, ttl=60,
                              rdata=SOA("ns.stub.", "hostmaster.stub.", (1, 3600, 600, 86400, 60))))
        return True

    def _serve_udp(self) -> None:
        while not self._stop.is_set():
            try:
                data, addr = self.udp.recvfrom(65535)
            except OSError:
                return
            threading.Thread(target=self._udp_reply, args=(data, addr), daemon=True).start() if self.delay \
                else self._udp_reply(data, addr)

    def _udp_reply(self, data: bytes, addr) -> None:
        reply = self.answer(data, "udp")
        if reply is None:
            return
        try:
            if self.wrong_id_first:
                self.udp.sendto(bytes([reply[0] ^ 0xFF]) + reply[1:], addr)
            self.udp.sendto(reply, addr)
        except OSError:
            pass

    def _serve_tcp(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.tcp.accept()
            except OSError:
                return
            threading.Thread(target=self._tcp_conn, args=(conn,), daemon=True).start()

    def _tcp_conn(self, conn: socket.socket) -> None:
        try:
            if self.tls is not None:
                conn = self.tls.wrap_socket(conn, server_side=True)
            with conn:
                while True:
                    head = _recv_exact(conn, 2)
                    if not head:
                        return
                    data = _recv_exact(conn, struct.unpack("!H", head)[0])
                    reply = self.answer(data, "tls" if self.tls else "tcp")
                    if reply is None:
                        return
                    conn.sendall(struct.pack("!H", len(reply)) + reply)
        except (OSError, ssl.SSLError):
            return


def _soa(value: str) -> SOA:
    """ "ns.stub. hostmaster.stub. 1 3600 600 86400 60" """
    mname, rname, *times = value.split()
    return SOA(mname, rname, tuple(int(t) for t in times))


def _recv_exact(conn, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            return b""
        buf += chunk
    return buf
