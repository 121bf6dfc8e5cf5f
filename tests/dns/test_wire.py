"""The byte-level fast paths (appliance/dns/wire.py, through codec.py) against dnslib's reading and writing and
against dnspython's: random queries and upstream answers built by dnspython (which compresses names its own way),
answers built by dnslib (the stub upstream's), fuzzed bytes, and answers that really went over a socket.

The rule: where a fast path answers, it answers exactly what the dnslib path does (the same bytes for errors and
blocks; the same message, read by dnspython, for allowed replies, whose records keep the upstream's compression);
where it does not, it says so (None) and dnslib decides."""
from __future__ import annotations

import asyncio
import dataclasses
import struct

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
from dnslib import DNSHeader, DNSLabel, DNSQuestion, DNSRecord
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from appliance.config import DnsConfig, Upstream
from appliance.dns import codec, wire
from appliance.dns.upstream import SOCKET_USES, UpstreamError, Upstreams
from tests.support.stub_upstream import StubUpstream

LABEL = st.one_of(st.text("abcXYZ019-_", min_size=1, max_size=12).map(str.encode),
                  st.binary(min_size=1, max_size=20))
LABELS = st.lists(LABEL, min_size=0, max_size=4)
QTYPES = st.sampled_from([1, 2, 5, 6, 12, 15, 16, 28, 33, 46, 64, 65, 99, 255, 4660])


def make_name(labels) -> dns.name.Name:
    return dns.name.Name(list(labels) + [b""])


@st.composite
def queries(draw):
    name = make_name(draw(LABELS))
    edns = draw(st.sampled_from([None, 0]))
    options = []
    if edns is not None:
        for kind in draw(st.lists(st.sampled_from(["ecs4", "ecs6", "mac", "mac-text", "cookie", "pad", "odd"]),
                                  max_size=3)):
            options.append({"ecs4": lambda: dns.edns.ECSOption("192.168.1.7", draw(st.integers(0, 32))),
                            "ecs6": lambda: dns.edns.ECSOption("fd00::7", 56),
                            "mac": lambda: dns.edns.GenericOption(65001, draw(st.binary(min_size=6, max_size=6))),
                            "mac-text": lambda: dns.edns.GenericOption(65001, b"AA-BB-CC-DD-EE-FF"),
                            "cookie": lambda: dns.edns.GenericOption(10, draw(st.binary(min_size=8, max_size=8))),
                            "pad": lambda: dns.edns.GenericOption(12, bytes(draw(st.integers(0, 40)))),
                            "odd": lambda: dns.edns.GenericOption(draw(st.integers(1, 65000)),
                                                                  draw(st.binary(max_size=9)))}[kind]())
    q = dns.message.make_query(name, draw(QTYPES), use_edns=edns, payload=draw(st.integers(0, 65535)),
                               want_dnssec=draw(st.booleans()) if edns is not None else False, options=options)
    q.id = draw(st.integers(0, 0xFFFF))
    q.flags = (q.flags & ~0x0130) | draw(st.sampled_from([0, 0x0100, 0x0110, 0x0120, 0x0130, 0x0010]))
    return q.to_wire()


def fields(q: codec.Query) -> tuple:
    return (q.id, q.qname, q.qtype, q.qclass, q.edns, q.payload, q.client_subnet, q.client_mac, q.do, q.wire)


def slow(q: codec.Query) -> codec.Query:
    """The same query with its dnslib record and no question offset: every reply then goes through dnslib."""
    return dataclasses.replace(q, _record=DNSRecord.parse(q.wire), qend=0)


# --- queries ---------------------------------------------------------------------------------------------------------

@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(queries())
def test_a_query_read_from_its_bytes_is_the_query_dnslib_reads(data):
    assume(len(data) <= 512)
    try:
        want = codec._decode_query_slow(data)
    except codec.MalformedPacket:
        assert wire.parse_query(data) is None           # every refusal is dnslib's to word
        return
    got = codec.decode_query(data)
    assert fields(got) == fields(want)
    if wire.parse_query(data) is not None:
        assert got.qend == wire.question_end(data)


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=12, max_size=80), st.integers(0, 0xFFFF), st.integers(0, 2))
def test_fuzzed_bytes_are_read_alike_or_left_to_dnslib(tail, flags, arcount):
    data = struct.pack("!HHHHHH", 7, flags, 1, 0, 0, arcount) + tail
    if wire.parse_query(data) is None:
        return
    want = codec._decode_query_slow(data)             # raises if the fast path accepted what dnslib refuses
    assert fields(codec.decode_query(data)) == fields(want)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(queries(), st.sampled_from([codec.SERVFAIL, codec.REFUSED, codec.NXDOMAIN]), st.booleans(),
       st.integers(0, 3600))
def test_errors_and_blocks_from_bytes_are_dnslibs_byte_for_byte(data, rcode, nxdomain, ttl):
    try:
        q = codec.decode_query(data)
    except codec.MalformedPacket:
        return
    assume(q.qend)
    assert codec.error_reply(q, rcode) == codec.error_reply(slow(q), rcode)
    assert codec.blocked_reply(q, nxdomain=nxdomain, ttl=ttl) == codec.blocked_reply(slow(q), nxdomain=nxdomain,
                                                                                     ttl=ttl)


@pytest.mark.parametrize("text", ["www.example.com", "omegle\\.com", "caf\\195\\169.com", "", "a" * 63 + ".b"])
def test_the_upstream_query_is_dnslibs(text):
    labels = codec.name_labels(text)
    old = DNSRecord(DNSHeader(id=9, rd=1), questions=[DNSQuestion(DNSLabel(labels), 28)])
    old.add_ar(codec._OPT_DO)
    assert codec.new_query(text, 28, 9) == bytes(old.pack())


@pytest.mark.parametrize("labels", [(b"a" * 64,), (b"a" * 63,) * 4])
def test_an_upstream_query_for_a_name_dns_cannot_carry_is_refused(labels):
    with pytest.raises(ValueError):
        wire.new_query(labels, 1, 1)


# --- upstream answers --------------------------------------------------------------------------------------------

RDATA = {
    "A": st.sampled_from(["192.0.2.1", "198.51.100.7", "0.0.0.0"]),
    "AAAA": st.sampled_from(["2001:db8::1", "::"]),
    "TXT": st.sampled_from(['"hello"', '"a" "b"']),
    "MX": st.sampled_from(["10 mail.example.com.", "0 ."]),
    "CNAME": st.sampled_from(["target.example.net.", "www.Example.COM.", "cdn.example.com."]),
    "RRSIG": st.just("A 13 2 300 20260101000000 20251201000000 12345 example.com. AQID"),
    "NS": st.sampled_from(["ns1.example.com.", "ns.other.org."]),
}
TTLS = st.one_of(st.integers(0, 86400), st.sampled_from([0x7FFFFFFF, 0x80000000, 0xFFFFFFFF]))


@st.composite
def upstream_answers(draw):
    """(the query we sent, the reply, qname text, qtype), the reply written by dnspython."""
    labels = draw(st.lists(st.text("abcdef0123", min_size=1, max_size=8).map(str.encode), min_size=1, max_size=3))
    qname = codec.name_text(tuple(labels))
    qtype = draw(st.sampled_from([1, 28, 16, 15, 5]))
    qid = draw(st.integers(0, 0xFFFF))
    sent = codec.new_query(qname, qtype, qid)
    r = dns.message.make_response(dns.message.from_wire(sent))
    r.set_rcode(draw(st.sampled_from([dns.rcode.NOERROR, dns.rcode.NXDOMAIN, dns.rcode.SERVFAIL])))
    r.flags |= draw(st.sampled_from([0, dns.flags.AD, dns.flags.TC, dns.flags.RA]))
    owner = r.question[0].name
    for section, count in ((r.answer, draw(st.integers(0, 3))), (r.authority, draw(st.integers(0, 2))),
                           (r.additional, draw(st.integers(0, 2)))):
        for _ in range(count):
            rtype = draw(st.sampled_from(list(RDATA)))
            name = draw(st.sampled_from([owner, dns.name.from_text("example.com."),
                                         dns.name.from_text("Target.Example.Net.")]))
            section.append(dns.rrset.from_text(name, 300, "IN", rtype, draw(RDATA[rtype])))
    if draw(st.booleans()):
        r.authority.append(dns.rrset.from_text("example.", 300, "IN", "SOA",
                                               "ns.example. host.example. 1 3600 600 86400 %d" % draw(TTLS)))
    if not draw(st.booleans()):
        r.use_edns(False)
    data = bytearray(r.to_wire())
    # TTLs written by hand (dnspython refuses the top bit): every record's, at random.
    a = wire.parse_answer(bytes(data), qid, sent[12:-11])
    if a is not None:
        for off in a.raw.ttl_offsets:
            struct.pack_into("!I", data, off, draw(TTLS))
    return sent, bytes(data), qname, qtype, qid


def answer_fields(a: codec.Answer) -> tuple:
    return (a.rcode, a.ttl, a.cnames, a.truncated, a.ad, a.answer_count,
            [(rr.rname.label, rr.rtype, rr.ttl) for rr in a.answer],
            [(rr.rname.label, rr.rtype, rr.ttl) for rr in a.authority],
            [(rr.rname.label, rr.rtype, rr.ttl) for rr in a.additional])


def same_message(fast: bytes, slow_: bytes) -> None:
    """Two replies that dnspython reads as the same message (names compare without letter case)."""
    a, b = dns.message.from_wire(fast), dns.message.from_wire(slow_)
    assert (a.id, a.flags, a.rcode(), a.edns, a.payload, a.ednsflags) == (b.id, b.flags, b.rcode(), b.edns,
                                                                           b.payload, b.ednsflags)
    assert a.question == b.question and a.question[0].name.labels == b.question[0].name.labels
    for x, y in ((a.answer, b.answer), (a.authority, b.authority), (a.additional, b.additional)):
        # dnspython's RRset equality: names without letter case (the fast reply's owners follow the client's case
        # through its compression pointers), types and record data exactly; and the TTLs.
        assert len(x) == len(y)
        for rrset in x:
            assert any(rrset == other and rrset.ttl == other.ttl for other in y), rrset


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(upstream_answers(), queries(), st.one_of(st.none(), st.integers(0, 600)), st.integers(0, 400),
       st.sampled_from([0, 30]))
def test_an_answer_kept_as_bytes_is_dnslibs_answer_and_makes_the_same_reply(ans, client, max_ttl, elapsed, floor):
    sent, data, qname, qtype, qid = ans
    fast = codec.decode_answer(data, qid, qname, qtype, sent=sent)
    want = codec.decode_answer(data, qid, qname, qtype)
    assert answer_fields(fast) == answer_fields(want)
    # The client asks the same name (in its own letter case) with its own ID, flags and EDNS.
    m = dns.message.from_wire(client)
    m.question[0].name = dns.name.Name([x.upper() if i % 2 else x for i, x in enumerate(codec.name_labels(qname))]
                                       + [b""])
    m.question[0].rdtype = qtype
    try:
        q = codec.decode_query(m.to_wire())
    except codec.MalformedPacket:
        return
    kw = {"max_ttl": max_ttl, "elapsed": elapsed, "ttl_floor": floor}
    same_message(codec.answer_reply(q, fast, **kw), codec.answer_reply(slow(q), want, **kw))


@pytest.mark.parametrize("zone,qname,qtype", [
    ({"example.com": [("A", "93.184.216.34")]}, "example.com", 1),
    ({"www.a.com": [("CNAME", "cdn.b.net.")], "cdn.b.net": [("A", "192.0.2.9"), ("A", "192.0.2.10")]},
     "www.a.com", 1),
    ({}, "nothing.example", 1),                                           # NXDOMAIN with the parent's SOA
    ({"example.com": [("A", "93.184.216.34")]}, "example.com", 28),       # NODATA with a SOA
    ({"t.example": [("TXT", "x" * 100)] * 3}, "t.example", 16),
])
def test_real_exchanges_with_a_dnslib_upstream_read_alike(zone, qname, qtype):
    """Over a socket, from the stub upstream (dnslib writes and compresses these): the pool's answer, kept as
    bytes, is the answer dnslib reads from the same reply."""
    with StubUpstream(zone) as stub:
        ups = Upstreams(DnsConfig(upstreams=(Upstream("127.0.0.1", stub.port),), upstream_timeout=2.0))

        async def go():
            try:
                return await ups.resolve(qname, qtype)
            finally:
                ups.close()
        answer, _up = asyncio.run(go())
    assert answer.raw is not None
    reparsed = codec.decode_answer(answer.raw.wire, struct.unpack("!H", answer.raw.wire[:2])[0], qname, qtype)
    assert answer_fields(answer) == answer_fields(reparsed)
    q = codec.decode_query(dns.message.make_query(qname.upper(), qtype, use_edns=0).to_wire())
    same_message(codec.answer_reply(q, answer, max_ttl=60), codec.answer_reply(slow(q), reparsed, max_ttl=60))


@pytest.mark.parametrize("mangle", [
    lambda d: d[:2] + bytes([d[2] & 0x7F]) + d[3:],         # QR clear: a query, not a reply
    lambda d: d[:-3],                                         # cut short
    lambda d: d + b"\x00",                                    # a byte left over
    lambda d: d[:4] + b"\x00\x02" + d[6:],                    # two questions counted
    lambda d: d[:12] + b"\xc0\x0c" + d[12 + len(b"\x07example\x03com\x00"):],   # a compressed question
])
def test_odd_upstream_answers_are_left_to_dnslib(mangle):
    sent = codec.new_query("example.com", 1, 5)
    r = dns.message.make_response(dns.message.from_wire(sent))
    r.answer.append(dns.rrset.from_text("example.com.", 300, "IN", "A", "192.0.2.1"))
    assert wire.parse_answer(r.to_wire(), 5, sent[12:-11]) is not None
    assert wire.parse_answer(mangle(r.to_wire()), 5, sent[12:-11]) is None


def test_an_opt_in_the_middle_of_the_additional_section_is_left_to_dnslib():
    sent = codec.new_query("example.com", 1, 5)
    r = dns.message.make_response(dns.message.from_wire(sent))
    r.additional.append(dns.rrset.from_text("ns.example.com.", 300, "IN", "A", "192.0.2.1"))
    data = r.to_wire()              # dnspython writes the OPT last
    i = data.index(b"\x00\x00\x29")
    glue_at = data.index(b"\x02ns")
    reordered = data[:glue_at] + data[i:i + 11] + data[glue_at:i]
    assert len(reordered) == len(data)
    assert wire.parse_answer(reordered, 5, sent[12:-11]) is None
    assert codec.decode_answer(reordered, 5, "example.com", 1, sent=sent).raw is None     # dnslib read it


# --- the socket pool ---------------------------------------------------------------------------------------------

def test_the_pool_keeps_its_sockets_then_replaces_them():
    """Sockets are reused (no endpoint per query) and replaced after SOCKET_USES queries, so the source ports the
    upstream sees keep changing (RFC 5452 §9)."""
    with StubUpstream({f"n{i}.example": [("A", "192.0.2.1")] for i in range(400)}) as stub:
        ups = Upstreams(DnsConfig(upstreams=(Upstream("127.0.0.1", stub.port),), upstream_timeout=2.0))
        pool = ups._udp_pools[ups.servers[0]]

        async def go():
            seen = set()
            try:
                for i in range(400):
                    await ups.resolve(f"n{i}.example", 1)
                    seen.update(s.sock.getsockname()[1] for s in pool.live)
                return seen, len(pool.live)
            finally:
                ups.close()
        seen, live = asyncio.run(go())
    assert live <= 8
    assert len(seen) > 400 // SOCKET_USES          # replaced as they wear out
    assert len(seen) < 400 // 4                    # but not one per query


def test_replies_out_of_order_reach_their_own_queries():
    """Many questions in flight on a few sockets: each gets its own answer, however the upstream orders them."""
    import socket
    import threading
    srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    srv.bind(("127.0.0.1", 0))
    n = 40

    def serve():
        got = []
        while len(got) < n:
            data, addr = srv.recvfrom(4096)
            got.append((data, addr))
        for data, addr in reversed(got):            # the last asked is answered first
            q = dns.message.from_wire(data)
            r = dns.message.make_response(q)
            octet = int(q.question[0].name.labels[0][1:])
            r.answer.append(dns.rrset.from_text(q.question[0].name, 60, "IN", "A", f"192.0.2.{octet}"))
            srv.sendto(r.to_wire(), addr)
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    ups = Upstreams(DnsConfig(upstreams=(Upstream("127.0.0.1", srv.getsockname()[1]),), upstream_timeout=3.0))

    async def go():
        try:
            return await asyncio.gather(*(ups.resolve(f"q{i}.example", 1) for i in range(n)))
        finally:
            ups.close()
    results = asyncio.run(go())
    t.join(2)
    srv.close()
    for i, (answer, _up) in enumerate(results):
        assert answer.answer[0].rdata.toZone() == f"192.0.2.{i}"


def _one_shot_upstream(replies):
    """A UDP upstream that answers one query with ``replies(query)``: a list of datagrams, sent in order."""
    import socket
    import threading
    srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    srv.bind(("127.0.0.1", 0))

    def serve():
        data, addr = srv.recvfrom(4096)
        for datagram in replies(dns.message.from_wire(data)):
            srv.sendto(datagram, addr)
    threading.Thread(target=serve, daemon=True).start()
    return srv


def _reply_to(q: dns.message.Message, name: str, address: str, qid: int | None = None) -> bytes:
    r = dns.message.make_response(q)
    if qid is not None:
        r.id = qid
    r.question[0].name = dns.name.from_text(name)
    r.answer.append(dns.rrset.from_text(name, 60, "IN", "A", address))
    return r.to_wire()


@pytest.mark.parametrize("spoofs", [
    lambda q: [_reply_to(q, "example.com.", "6.6.6.6", qid=q.id ^ 1)],           # a guessed ID
    lambda q: [_reply_to(q, "other.example.", "6.6.6.6")],                       # our ID, another question
    lambda q: [b"\x00"],                                                         # not DNS at all
    lambda q: [_reply_to(q, "other.example.", "6.6.6.6"), _reply_to(q, "example.com.", "6.6.6.7", q.id ^ 2)],
])
def test_a_spoofed_reply_is_ignored_and_the_real_one_taken(spoofs):
    srv = _one_shot_upstream(lambda q: spoofs(q) + [_reply_to(q, "example.com.", "192.0.2.1")])
    ups = Upstreams(DnsConfig(upstreams=(Upstream("127.0.0.1", srv.getsockname()[1]),), upstream_timeout=2.0))

    async def go():
        try:
            return await ups.resolve("example.com", 1)
        finally:
            ups.close()
    answer, _up = asyncio.run(go())
    srv.close()
    assert [rr.rdata.toZone() for rr in answer.answer] == ["192.0.2.1"]


def test_an_upstream_not_listening_fails_at_once_not_at_the_timeout():
    import socket
    import time
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()                                       # nothing listens there: the kernel answers port unreachable
    ups = Upstreams(DnsConfig(upstreams=(Upstream("127.0.0.1", port),), upstream_timeout=3.0))

    async def go():
        try:
            await ups.resolve("example.com", 1)
        finally:
            ups.close()
    t = time.monotonic()
    with pytest.raises(UpstreamError):
        asyncio.run(go())
    assert time.monotonic() - t < 2.5


def test_truncated_answers_reuse_one_tcp_connection():
    """UDP says TC for every name; the TCP retries of three questions in a row go over one connection."""
    import socket
    import threading
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    port = udp.getsockname()[1]
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind(("127.0.0.1", port))
    tcp.listen(8)
    accepted = []

    def serve_udp():
        while True:
            try:
                data, addr = udp.recvfrom(4096)
            except OSError:
                return
            r = dns.message.make_response(dns.message.from_wire(data))
            r.flags |= dns.flags.TC
            udp.sendto(r.to_wire(), addr)

    def serve_tcp():
        while True:
            try:
                conn, _ = tcp.accept()
            except OSError:
                return
            accepted.append(conn)
            threading.Thread(target=serve_conn, args=(conn,), daemon=True).start()

    def serve_conn(conn):
        with conn:
            while True:
                head = conn.recv(2)
                if len(head) < 2:
                    return
                data = b""
                while len(data) < struct.unpack("!H", head)[0]:
                    data += conn.recv(4096)
                q = dns.message.from_wire(data)
                r = dns.message.make_response(q)
                r.answer.append(dns.rrset.from_text(q.question[0].name, 60, "IN", "A", "192.0.2.1"))
                wire_ = r.to_wire()
                conn.sendall(struct.pack("!H", len(wire_)) + wire_)
    for target in (serve_udp, serve_tcp):
        threading.Thread(target=target, daemon=True).start()
    ups = Upstreams(DnsConfig(upstreams=(Upstream("127.0.0.1", port),), upstream_timeout=2.0))

    async def go():
        try:
            return [await ups.resolve(f"t{i}.example", 1) for i in range(3)]
        finally:
            ups.close()
    results = asyncio.run(go())
    udp.close()
    tcp.close()
    assert [a.answer[0].rdata.toZone() for a, _up in results] == ["192.0.2.1"] * 3
    assert len(accepted) == 1
