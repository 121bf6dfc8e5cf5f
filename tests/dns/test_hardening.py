"""Issue 16 against a real daemon on loopback: one client must never deny DNS to the house, no packet writes more
than a line to the log, and the protocol corners other resolvers get right. Real sockets, a real stub upstream."""
from __future__ import annotations

import asyncio
import logging
import select
import socket
import struct
import threading
import time

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.tsigkeyring
import pytest
from dnslib import RCODE

from appliance.config import DnsConfig, Upstream
from appliance.dns import listener
from appliance.dns.upstream import UpstreamSlow, Upstreams
from tests.support.stub_upstream import StubUpstream

from .conftest import ZONE
from .test_resolver import addrs, ask

NEIGHBOUR = "127.0.0.2"          # a second device of the house, beside the attacker on 127.0.0.1


def frame(wire: bytes) -> bytes:
    return struct.pack("!H", len(wire)) + wire


def tcp_ask(port: int, name: str, source: str = NEIGHBOUR, timeout: float = 3.0) -> dns.message.Message:
    return dns.query.tcp(dns.message.make_query(name, "A"), "127.0.0.1", port=port, timeout=timeout, source=source)


def raw_udp(port: int, packet: bytes, timeout: float = 1.0) -> bytes | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(packet, ("127.0.0.1", port))
        try:
            return s.recv(65535)
        except socket.timeout:
            return None


def tasks_on(h) -> int:
    async def count():
        return len(asyncio.all_tasks())
    return h.call(count)


# --- TCP pipelining ---------------------------------------------------------------------------------------------

def test_a_connection_that_never_reads_is_bounded(hearth, caplog):
    """300,000 pipelined queries and no reads took 400 MB and a minute of DNS: now the server stops reading.
    (The rate limit is off: a trusted forwarder is not rate-limited, and the bound must not rest on it.)"""
    h = hearth({"dns": {"rate_limit": {"queries": 0}}})
    # 2,000 names repeated: NXDOMAIN with a SOA (a reply three times the query), mostly from the hot cache.
    burst = b"".join(frame(dns.message.make_query(f"n{i}.example.org", "A").to_wire()) for i in range(2000))
    s = socket.create_connection(("127.0.0.1", h.port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)      # a client that reads nothing and buffers little
    s.setblocking(False)
    sent, t0, peak, probed = 0, time.monotonic(), 0, 0.0
    while time.monotonic() - t0 < 6:           # the kernel's buffers take about 7 MB before the server's fill
        try:
            sent += s.send(burst)
        except BlockingIOError:
            time.sleep(0.01)
        if time.monotonic() - probed > 0.25:
            peak, probed = max(peak, tasks_on(h)), time.monotonic()
    # The server read what it could answer and stopped: a few tasks, not one per query sent.
    assert sent // len(burst) * 2000 > 20000
    assert peak < 200, peak
    # The house is still answered, over UDP and TCP, while the connection sits there.
    assert addrs(ask(h, "www.example.com", source=NEIGHBOUR)) == ["93.184.216.34"]
    assert addrs(tcp_ask(h.port, "www.example.com")) == ["93.184.216.34"]
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))   # reset, not a polite close
        s.close()
        time.sleep(1.0)
        assert addrs(tcp_ask(h.port, "example.com")) == ["93.184.216.34"]
    assert not [r for r in caplog.records if "never retrieved" in r.getMessage() or r.exc_info], \
        [r.getMessage() for r in caplog.records]
    assert len(caplog.records) <= 1


def test_pipelined_replies_still_all_come_back(hearth):
    """The bound must not lose queries from a client that does read: 500 in one write, 500 answers."""
    h = hearth()
    msgs = []
    for i in range(500):
        q = dns.message.make_query("example.com" if i % 2 else "www.omegle.com", "A")
        q.id = i
        msgs.append(frame(q.to_wire()))
    with socket.create_connection(("127.0.0.1", h.port), timeout=10) as s:
        s.sendall(b"".join(msgs))
        got, buf = set(), b""
        while len(got) < 500:
            chunk = s.recv(65535)
            assert chunk, f"closed after {len(got)} replies"
            buf += chunk
            while len(buf) >= 2 and len(buf) >= 2 + struct.unpack("!H", buf[:2])[0]:
                n = struct.unpack("!H", buf[:2])[0]
                got.add(dns.message.from_wire(buf[2:2 + n]).id)
                buf = buf[2 + n:]
    assert got == set(range(500))


# --- slowloris ----------------------------------------------------------------------------------------------------

def test_a_thousand_half_open_connections_from_one_device(hearth):
    """1,000 sockets each sending one byte of a length prefix left 0 of 15 TCP queries answered."""
    h = hearth()
    held = []
    try:
        for _ in range(1000):
            c = socket.socket()
            c.settimeout(2)
            try:
                c.connect(("127.0.0.1", h.port))
                c.send(b"\x00")
            except OSError:
                c.close()
                continue
            held.append(c)
        answered = sum(1 for _ in range(15) if tcp_ask(h.port, "example.com").rcode() == dns.rcode.NOERROR)
        assert answered == 15
        assert h.daemon.resolver is not None and listener.TCP_PER_CLIENT < 1000
    finally:
        for c in held:
            c.close()


def test_half_open_connections_from_many_addresses(hearth):
    """An attacker with many addresses fills the table: a device with none open still gets in."""
    h = hearth()
    held = []
    try:
        for i in range(listener.TCP_MAX_CONNECTIONS + 100):
            c = socket.socket()
            c.settimeout(2)
            try:
                c.bind((f"127.0.1.{1 + i % 60}", 0))
                c.connect(("127.0.0.1", h.port))
                c.send(b"\x00")
            except OSError:
                c.close()
                continue
            held.append(c)
        time.sleep(0.2)
        answered = sum(1 for _ in range(15) if tcp_ask(h.port, "example.com").rcode() == dns.rcode.NOERROR)
        assert answered == 15
    finally:
        for c in held:
            c.close()


def test_a_message_dribbled_byte_by_byte_is_cut_off(hearth):
    """The deadline is for the whole message, not for each byte: a byte every half second is not a client."""
    h = hearth()
    wire = frame(dns.message.make_query("example.com", "A").to_wire())
    with socket.create_connection(("127.0.0.1", h.port), timeout=1) as c:
        t0 = time.monotonic()
        closed_at = None
        for b in wire:
            try:
                c.send(bytes([b]))
                if c.recv(1) == b"":
                    closed_at = time.monotonic() - t0
                    break
            except socket.timeout:
                continue
            except OSError:
                closed_at = time.monotonic() - t0
                break
        assert closed_at is not None and closed_at < listener.TCP_MESSAGE_DEADLINE + 2


# --- one line per packet at most ------------------------------------------------------------------------------------

LONG_LABEL = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x41" + b"y" * 65 + b"\x03com\x00\x00\x01\x00\x01"
LONG_NAME = b"\x12\x35\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + (b"\x3f" + b"a" * 63) * 4 + b"\x00\x00\x01\x00\x01"


@pytest.mark.parametrize("packet", [LONG_LABEL, LONG_NAME], ids=["label byte 0x41", "name over 255 bytes"])
def test_names_dnslib_cannot_repack_get_formerr_and_no_traceback(hearth, caplog, packet):
    h = hearth()
    with caplog.at_level(logging.INFO):
        for transport in ("udp", "tcp"):
            for _ in range(20):
                if transport == "udp":
                    reply = raw_udp(h.port, packet)
                else:
                    with socket.create_connection(("127.0.0.1", h.port), timeout=2) as c:
                        c.sendall(frame(packet))
                        head = c.recv(2)
                        reply = c.recv(struct.unpack("!H", head)[0]) if len(head) == 2 else None
                assert reply is not None and reply[:2] == packet[:2] and reply[3] & 0x0F == dns.rcode.FORMERR
    lines = sum(r.getMessage().count("\n") + 1 + (5 if r.exc_info else 0) for r in caplog.records
                if r.name.startswith(("hearth", "asyncio")))
    assert lines <= 2, [r.getMessage() for r in caplog.records]
    assert addrs(ask(h, "example.com")) == ["93.184.216.34"]


@pytest.mark.parametrize("times,written", [
    ([0.0], [0]),                              # the first failure is written
    ([0.0, 1.0, 2.0], [0]),                    # the next within the window are counted, not written
    ([0.0, 1.0, 11.0], [0, 2]),                # the next after the window says how many were left out
    ([0.0, 10.0, 20.0, 30.0], [0, 1, 2, 3]),
])
def test_failure_reports_are_one_line_and_rate_limited(times, written):
    now = [0.0]
    lines: list[str] = []
    report = listener.OneLine(every=10.0, clock=lambda: now[0], write=lines.append)
    for i, t in enumerate(times):
        now[0] = t
        try:
            raise KeyError("multi\nline")
        except KeyError as e:
            report(f"10.0.0.{i}", e)
    assert [int(x.split("from 10.0.0.")[1].split(" ")[0]) for x in lines] == written
    assert all("\n" not in x and "KeyError" not in x and "codec" not in x.split(":")[0] for x in lines)
    if len(written) == 2 and written[1] == 2:
        assert "1 more" in lines[1]


# --- protocol corners, end to end --------------------------------------------------------------------------------

def test_edns_version_1_gets_badvers(hearth):
    h = hearth()
    r = dns.query.udp(dns.message.make_query("example.com", "A", use_edns=1), "127.0.0.1", port=h.port, timeout=2)
    assert r.rcode() == dns.rcode.BADVERS and r.edns == 0 and not r.answer


def test_do_is_echoed_and_rrsigs_reach_a_validating_client(hearth, upstream):
    upstream.signed = True
    h = hearth()
    plain = ask(h, "example.com")
    signed = dns.query.udp(dns.message.make_query("example.com", "A", want_dnssec=True), "127.0.0.1",
                           port=h.port, timeout=2)
    assert signed.ednsflags & dns.flags.DO and not plain.ednsflags & dns.flags.DO
    assert [rr.rdtype for rr in signed.answer] == [1, 46] and [rr.rdtype for rr in plain.answer] == [1]
    assert all(do for _labels, do in upstream.asked)             # always asked with DO: one cache serves both


def test_tsig_signed_query_gets_notauth(hearth):
    h = hearth()
    q = dns.message.make_query("example.com", "A")
    q.use_tsig(dns.tsigkeyring.from_text({"k.": "c2VjcmV0c2VjcmV0c2VjcmV0"}), keyname="k.")
    reply = raw_udp(h.port, q.to_wire())
    assert reply is not None and reply[3] & 0x0F == dns.rcode.NOTAUTH


def test_two_opt_records_are_formerr(hearth):
    h = hearth()
    wire = bytearray(dns.message.make_query("example.com", "A", use_edns=0).to_wire())
    opt = bytes(wire[-11:])
    wire[11] = 2                                   # ARCOUNT 2
    reply = raw_udp(h.port, bytes(wire) + opt)
    assert reply is not None and reply[3] & 0x0F == dns.rcode.FORMERR


def test_any_over_udp_gets_a_minimal_answer_not_tc(hearth, upstream):
    upstream.zone["many.example.com"] = [("TXT", f"{i}" + "t" * 200) for i in range(6)] + [("A", "192.0.2.9")]
    h = hearth()
    r = ask(h, "many.example.com", "ANY", use_edns=False)
    assert not r.flags & dns.flags.TC and [rr.rdtype for rr in r.answer] == [1]
    r = ask(h, "many.example.com", "ANY", tcp=True)
    assert sorted(rr.rdtype for rr in r.answer) == [1, 16]     # over TCP, all of it


def test_a_ttl_with_the_top_bit_set_is_zero(hearth, upstream):
    upstream.zone["forever.example.com"] = [("A", "192.0.2.7", 0x80000001)]
    h = hearth()
    r = ask(h, "forever.example.com")
    assert addrs(r) == ["192.0.2.7"] and r.answer[0].ttl == 0


@pytest.mark.parametrize("labels,asked,blocked", [
    ((b"notomegle.com",), (b"notomegle.com",), False),         # one label with a dot in it: not notomegle.com
    ((b"omegle.com",), (b"omegle.com",), False),               # nor omegle.com: a name no one can register
    (("café".encode(), b"example", b"com"), ("café".encode(), b"example", b"com"), False),
    (("café".encode(), b"omegle", b"com"), None, True),        # but under a blocked name, blocked
    ((b"a.b", b"omegle", b"com"), None, True),
    ((b"WwW", b"Example", b"CoM"), (b"www", b"example", b"com"), False),
])
def test_odd_names_are_decided_and_forwarded_as_the_same_name(hearth, upstream, labels, asked, blocked):
    h = hearth()
    name = dns.name.Name(labels + (b"",))
    q = dns.message.make_query(name, "A")
    r = dns.query.udp(q, "127.0.0.1", port=h.port, timeout=3)
    assert r.rcode() != dns.rcode.SERVFAIL
    assert r.question[0].name == name
    if blocked:
        assert addrs(r) == ["0.0.0.0"] and not upstream.asked
    else:
        assert upstream.asked and upstream.asked[-1][0] == asked


@pytest.mark.parametrize("rcode", [RCODE.FORMERR, RCODE.NOTIMP, RCODE.SERVFAIL, RCODE.REFUSED])
def test_an_upstream_that_cannot_answer_is_passed_over(hearth, upstream, rcode):
    with StubUpstream(ZONE) as broken:
        broken.force_rcode = rcode
        h = hearth({"dns": {"upstreams": [broken.address, upstream.address]}})
        assert addrs(ask(h, "example.com", timeout=5)) == ["93.184.216.34"]
        assert broken.count("example.com") == 1


# --- serve stale sooner (RFC 8767 client response timer) ---------------------------------------------------------

def test_upstreams_give_up_at_the_deadline_and_hand_over_the_late_answer():
    """Real sockets: an upstream that answers after 1 s; the caller waits 0.3 s, the answer still arrives."""
    with StubUpstream(ZONE) as slow:
        slow.delay = 1.0
        ups = Upstreams(DnsConfig(upstreams=(Upstream("127.0.0.1", slow.port),), upstream_timeout=3.0))
        late = []

        async def go():
            t0 = time.monotonic()
            with pytest.raises(UpstreamSlow):
                await ups.resolve("example.com", 1, deadline=t0 + 0.3, on_late=lambda a, u: late.append(a))
            waited = time.monotonic() - t0
            for _ in range(40):
                if late:
                    break
                await asyncio.sleep(0.1)
            # A second caller without a deadline shares nothing stale: the exchange has finished and cached.
            return waited

        waited = asyncio.run(go())
        assert waited < 0.9                       # it did not wait for the slow upstream
        assert late and late[0].answer[0].rdata.toZone() == "93.184.216.34"
        assert slow.count("example.com") == 1      # one exchange, not one per caller


def test_stale_answer_comes_at_the_client_response_timer(hearth, upstream):
    with StubUpstream(ZONE) as second:
        h = hearth({"dns": {"upstreams": [upstream.address, second.address], "max_cache_ttl": 1,
                            "stale_ttl": 30, "upstream_timeout": 2.0}})
        assert addrs(ask(h, "example.com")) == ["93.184.216.34"]
        upstream.silent = second.silent = True
        time.sleep(2.2)
        t0 = time.monotonic()
        r = ask(h, "example.com", timeout=6)
        assert addrs(r) == ["93.184.216.34"]
        assert time.monotonic() - t0 < 3.0         # not the 4 s of two silent upstreams


@pytest.mark.parametrize("queued, answered_from", [(8, 92), (listener.NEWCOMERS_QUEUED, 0)])
def test_newcomers_wait_their_turn_and_a_familiar_device_does_not(hearth, monkeypatch, caplog, queued,
                                                                  answered_from):
    """Issue 16: 20,000 spoofed addresses asking once each cost the whole chain each (identification, a new device,
    a log row), and the kernel dropped the house's queries with the flood's. Addresses not yet identified now
    queue (the newest kept); a device Hearth knows is answered as its packet is read."""
    monkeypatch.setattr(listener, "NEWCOMERS_QUEUED", queued)
    h = hearth()
    assert ask(h, "example.com", source="127.0.0.2").rcode() == dns.rcode.NOERROR      # familiar from now on
    house = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    house.bind(("127.0.0.2", 0))
    spoofed = []
    for i in range(100):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((f"127.1.0.{i + 1}", 0))
        spoofed.append(s)
    held, gate = threading.Event(), threading.Event()

    def hold():
        held.set()
        gate.wait(5)
    h.loop.call_soon_threadsafe(hold)          # the loop is busy while the whole burst lands in the socket
    assert held.wait(5)
    try:
        for i, s in enumerate(spoofed):
            s.sendto(dns.message.make_query(f"n{i}.example.com", "A", id=i).to_wire(), ("127.0.0.1", h.port))
        house.sendto(dns.message.make_query("example.com", "A", id=4242).to_wire(), ("127.0.0.1", h.port))
    finally:
        gate.set()
    house.settimeout(2)
    assert dns.message.from_wire(house.recv(4096)).id == 4242
    answered, end = [], time.monotonic() + 3
    while time.monotonic() < end:          # every reply that comes, and a little longer for a stray one
        ready, _, _ = select.select(spoofed, [], [], 0.3 if len(answered) >= 8 else end - time.monotonic())
        if not ready:
            break
        for s in ready:
            answered.append(dns.message.from_wire(s.recv(4096)).id)
    for s in spoofed + [house]:
        s.close()
    answered.sort()
    assert answered == list(range(answered_from, 100))    # the newest; the others' clients ask again
    assert h.daemon.resolver.stats["newcomers_dropped"] == answered_from
    assert [r.getMessage() for r in caplog.records if "not seen before" in r.getMessage()] == \
        ([f"{answered_from} queries from addresses not seen before were dropped: more were asking at once than Hearth "
          "can identify. A device on the network may be inventing addresses; the devices it knows are answered first"]
         if answered_from else [])
