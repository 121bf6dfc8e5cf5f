"""Pure logic beside the socket tests: the codec's parsing and replies, the answer cache's TTL rules, the hot path's
patching."""
from __future__ import annotations

import struct

import dns.edns
import dns.message
import dns.rcode
import dns.rrset
import pytest

from appliance.config import DnsConfig
from appliance.dns import codec
from appliance.dns.cache import AnswerCache, HotCache, HotEntry, serve
from appliance.model import Action, Decision, Reason

ALLOW = Decision(Action.ALLOW, Reason.NONE, "default")


def upstream_reply(qname: str, rdtype: str, qid: int, *, answers=(), rcode=dns.rcode.NOERROR, soa_ttl=None) -> bytes:
    q = dns.message.make_query(qname, rdtype)
    q.id = qid
    r = dns.message.make_response(q)
    r.set_rcode(rcode)
    for text in answers:
        r.answer.append(dns.rrset.from_text(*text.split(" ", 4)))
    if soa_ttl is not None:
        r.authority.append(dns.rrset.from_text("example.", soa_ttl, "IN", "SOA",
                                               "ns.example. host.example. 1 3600 600 86400 120"))
    return r.to_wire()


# --- codec ---------------------------------------------------------------------------------------------------------

def test_decode_query_reads_edns_and_options():
    q = dns.message.make_query("WWW.Example.COM.", "AAAA", use_edns=0, payload=4096,
                               options=[dns.edns.ECSOption("192.168.1.7", 32),
                                        dns.edns.GenericOption(65001, bytes.fromhex("aabbccddeeff"))])
    got = codec.decode_query(q.to_wire())
    assert (got.qname, got.qtype, got.edns, got.payload) == ("www.example.com", 28, True, 1232)   # capped
    assert (got.client_subnet, got.client_mac) == ("192.168.1.7", "aa:bb:cc:dd:ee:ff")


def test_decode_query_without_edns_takes_512():
    got = codec.decode_query(dns.message.make_query("a.example", "A", use_edns=False).to_wire())
    assert not got.edns and got.payload == 512


@pytest.mark.parametrize("data,reply", [
    (b"\x00\x01", None),                                           # no header: drop
    (b"\x00\x01\x81\x80" + b"\x00" * 8, None),                     # a response: never answered
    (b"\x00\x01\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x05ab", "FORMERR"),
])
def test_malformed_queries(data, reply):
    with pytest.raises(codec.MalformedPacket) as e:
        codec.decode_query(data)
    if reply is None:
        assert e.value.reply is None
    else:
        assert e.value.reply[:2] == data[:2] and e.value.reply[3] & 0x0F == codec.FORMERR


def test_decode_answer_checks_id_and_question():
    wire = upstream_reply("a.example.", "A", 77, answers=["a.example. 300 IN A 192.0.2.1"])
    ans = codec.decode_answer(wire, 77, "a.example", 1)
    assert ans.rcode == 0 and ans.ttl == 300
    with pytest.raises(ValueError):
        codec.decode_answer(wire, 78, "a.example", 1)
    with pytest.raises(ValueError):
        codec.decode_answer(wire, 77, "b.example", 1)
    with pytest.raises(ValueError):
        codec.decode_answer(wire, 77, "a.example", 28)


def test_negative_ttl_is_the_soa_minimum_rfc2308():
    wire = upstream_reply("nx.example.", "A", 5, rcode=dns.rcode.NXDOMAIN, soa_ttl=3600)
    assert codec.decode_answer(wire, 5, "nx.example", 1).ttl == 120          # min(SOA TTL, SOA minimum)
    wire = upstream_reply("nodata.example.", "AAAA", 6, soa_ttl=60)
    ans = codec.decode_answer(wire, 6, "nodata.example", 28)
    assert ans.rcode == 0 and not ans.answer and ans.ttl == 60


def test_cname_targets_are_collected():
    wire = upstream_reply("x.example.", "A", 9, answers=["x.example. 300 IN CNAME Tracker.Bad.example.",
                                                         "tracker.bad.example. 60 IN A 192.0.2.3"])
    ans = codec.decode_answer(wire, 9, "x.example", 1)
    assert ans.cnames == ("tracker.bad.example",) and ans.ttl == 60


def test_answer_reply_ages_and_clamps_ttls():
    wire = upstream_reply("a.example.", "A", 1, answers=["a.example. 300 IN A 192.0.2.1"])
    ans = codec.decode_answer(wire, 1, "a.example", 1)
    q = codec.decode_query(dns.message.make_query("A.example", "A").to_wire())
    r = dns.message.from_wire(codec.answer_reply(q, ans, max_ttl=60, elapsed=10))
    assert r.answer[0].ttl == 60 and r.question[0].name.to_text() == "A.example."     # the client's own case
    r = dns.message.from_wire(codec.answer_reply(q, ans, max_ttl=None, elapsed=10))
    assert r.answer[0].ttl == 290


def test_fit_udp_truncates_to_header_and_question():
    q = codec.decode_query(dns.message.make_query("big.example", "TXT", use_edns=False).to_wire())
    wire = upstream_reply("big.example.", "TXT", 3, answers=[f'big.example. 60 IN TXT "{"x" * 200}{i}"'
                                                             for i in range(5)])
    full = codec.answer_reply(q, codec.decode_answer(wire, 3, "big.example", 16), max_ttl=None)
    assert len(full) > 512
    short = codec.fit_udp(full, q.payload)
    m = dns.message.from_wire(short)
    assert m.flags & dns.flags.TC and not m.answer and len(m.question) == 1


def test_wire_ttl_offsets_find_every_ttl_but_opt():
    q = codec.decode_query(dns.message.make_query("x.example", "A", use_edns=0).to_wire())
    wire = upstream_reply("x.example.", "A", 9, answers=["x.example. 300 IN CNAME y.example.",
                                                         "y.example. 60 IN A 192.0.2.3"], soa_ttl=30)
    reply = codec.answer_reply(q, codec.decode_answer(wire, 9, "x.example", 1), max_ttl=None)
    offsets = codec.wire_ttl_offsets(reply)
    assert sorted(struct.unpack_from("!I", reply, o)[0] for o in offsets) == [30, 60, 300]
    assert codec.wire_min_ttl(reply, offsets) == 30


# --- caches --------------------------------------------------------------------------------------------------------

def answer(ttl: int, rcode=0, records=True) -> codec.Answer:
    return codec.Answer(rcode, answer=("rr",) if records else (), ttl=ttl)


def test_answer_cache_honours_ttl_and_clamps():
    c = AnswerCache(DnsConfig(min_cache_ttl=5, max_cache_ttl=100, negative_ttl=30))
    c.put(("a", 1, 1), answer(1), now=0)                  # raised to the 5 s floor
    assert c.get(("a", 1, 1), 4.9) is not None and c.get(("a", 1, 1), 5.0) is None
    c.put(("b", 1, 1), answer(10_000), now=0)             # lowered to the 100 s ceiling
    assert c.get(("b", 1, 1), 99) is not None and c.get(("b", 1, 1), 100) is None
    c.put(("n", 1, 1), answer(3600, rcode=codec.NXDOMAIN, records=False), now=0)   # negative: at most 30 s
    assert c.get(("n", 1, 1), 29) is not None and c.get(("n", 1, 1), 30) is None


def test_answer_cache_never_keeps_failures():
    c = AnswerCache(DnsConfig())
    c.put(("s", 1, 1), answer(300, rcode=codec.SERVFAIL), now=0)
    c.put(("t", 1, 1), codec.Answer(0, answer=("rr",), ttl=300, truncated=True), now=0)
    assert len(c) == 0


def test_answer_cache_is_a_bounded_lru():
    c = AnswerCache(DnsConfig(cache_size=2))
    c.put(("a",), answer(300), 0)
    c.put(("b",), answer(300), 0)
    c.get(("a",), 1)                                       # a is now the most recent
    c.put(("c",), answer(300), 2)
    assert c.get(("b",), 3) is None and c.get(("a",), 3) is not None and c.get(("c",), 3) is not None


def test_stale_entries_within_the_window_only():
    c = AnswerCache(DnsConfig(stale_max_age=60))
    c.put(("a",), answer(10), now=0)
    assert c.get(("a",), 20) is None
    assert c.get_stale(("a",), 69) is not None and c.get_stale(("a",), 71) is None
    off = AnswerCache(DnsConfig(serve_stale=False))
    off.put(("a",), answer(10), now=0)
    assert off.get_stale(("a",), 11) is None


def test_serve_patches_id_and_ages_ttls():
    q = dns.message.make_query("x.example", "A")
    q.id = 0x1234
    r = dns.message.make_response(q)
    r.answer.append(dns.rrset.from_text("x.example.", 60, "IN", "A", "192.0.2.1"))
    wire = r.to_wire()
    e = HotEntry(wire, codec.wire_ttl_offsets(wire), built=100.0, expires=160.0, qname="x.example", qtype=1,
                 rcode=0, decision=ALLOW)
    out = dns.message.from_wire(bytes(serve(e, b"\xab\xcd" + b"\0" * 10, now=125.4)))
    assert out.id == 0xABCD and out.answer[0].ttl == 35
    assert dns.message.from_wire(bytes(serve(e, b"\x00\x01", now=100.5))).answer[0].ttl == 60
    # The aged copy is reused within a second and redone in the next.
    ttl = lambda now: dns.message.from_wire(bytes(serve(e, b"\x00\x02", now=now))).answer[0].ttl
    assert [ttl(125.2), ttl(125.9), ttl(126.0), ttl(200.0)] == [35, 35, 34, 0]


def _hot(wire: bytes = b"x" * 100):
    return HotEntry(wire, (), 0.0, 60.0, "a.example", 1, 0, Decision(Action.ALLOW, Reason.NONE, "p"))


def test_hot_cache_evicts_oldest_when_full():
    h = HotCache(2)
    entries = {k: _hot() for k in "abc"}
    for k, e in entries.items():
        h.put(("p", False, k.encode()), e)
    assert h.get(("p", False, b"a")) is None
    assert h.get(("p", False, b"b")) is entries["b"] and h.get(("p", False, b"c")) is entries["c"]


def test_hot_cache_is_bounded_in_bytes():
    h = HotCache(1000, max_bytes=10_000)
    for i in range(100):
        h.put(("p", False, b"k%d" % i), _hot(b"x" * 1000))
    assert h.bytes <= 10_000 and 1 <= len(h) <= 5
    assert h.get(("p", False, b"k99")) is not None           # the newest stays
    h.clear()
    assert h.bytes == 0 and len(h) == 0


def _q(name="www.Example.com", **kw):
    return dns.message.make_query(name, "A", **kw).to_wire(max_size=65535)


def test_hot_key_ignores_ids_cookies_and_padding_and_nothing_else():
    plain = codec.hot_key(_q(use_edns=0))
    cookie1 = codec.hot_key(_q(use_edns=0, options=[dns.edns.GenericOption(10, b"\x01" * 8)]))
    cookie2 = codec.hot_key(_q(use_edns=0, options=[dns.edns.GenericOption(10, b"\x02" * 24)]))
    padded = codec.hot_key(_q(use_edns=0, options=[dns.edns.GenericOption(12, b"\0" * 4000)]))
    assert plain == cookie1 == cookie2 == padded and len(padded) < 64
    assert codec.hot_key(_q(use_edns=0)) == plain                         # another query ID
    others = [codec.hot_key(_q("www.example.com", use_edns=0)),          # the case is echoed in the reply
              codec.hot_key(_q(use_edns=False)),                         # no EDNS
              codec.hot_key(_q(use_edns=0, want_dnssec=True)),           # DO
              codec.hot_key(_q(use_edns=0, payload=512)),                # truncation depends on it
              codec.hot_key(_q(use_edns=0, options=[dns.edns.ECSOption("192.168.1.0", 24)]))]
    assert plain not in others and len(set(others)) == len(others)
    assert codec.hot_key(_q(use_edns=0, payload=4096)) == codec.hot_key(_q(use_edns=0, payload=1232))   # capped


@pytest.mark.parametrize("data", [b"", b"\x00" * 12, _q()[:20], _q() + b"junk",
                                  b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c\x00\x01\x00\x01"])
def test_hot_key_refuses_unusual_shapes(data):
    assert codec.hot_key(data) is None


def test_upstream_health_prefers_the_live_server_and_forgives_with_time(monkeypatch):
    from appliance.dns import upstream
    clock = [1000.0]
    monkeypatch.setattr(upstream.time, "monotonic", lambda: clock[0])
    dead, live = upstream.Health(), upstream.Health()
    dead.failed()
    live.ok(0.01)
    assert dead.score > live.score
    clock[0] += 10 * upstream.FAILURE_HALF_LIFE       # ten half-lives later the failure has faded
    assert dead.score < 0.1 and dead.score == pytest.approx(0.05 + 10 * 0.2 / 1024)


# --- fuzzing the parsers: any bytes give a Query or a MalformedPacket, never another exception ----------------

from hypothesis import given, settings, strategies as st  # noqa: E402

_GOOD = dns.message.make_query("www.example.com", "A", use_edns=0,
                               options=[dns.edns.ECSOption("192.168.1.0", 24)]).to_wire()


@settings(max_examples=400, deadline=None, derandomize=True)   # the same cases every run
@given(st.one_of(
    st.binary(max_size=600),
    st.lists(st.tuples(st.integers(0, len(_GOOD) - 1), st.integers(0, 255)), max_size=8).map(
        lambda edits: bytes(_edit(_GOOD, edits))),
))
def test_decode_query_only_ever_raises_malformed(data):
    try:
        q = codec.decode_query(data)
    except codec.MalformedPacket as e:
        assert e.reply is None or (e.reply[:2] == data[:2] and e.reply[2] & 0x80)
        return
    assert isinstance(q.qname, str) and 0 <= q.qtype < 65536 and 512 <= q.payload <= 1232
    assert codec.error_reply(q, codec.SERVFAIL)[:2] == data[:2]


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.binary(max_size=300))
def test_error_from_wire_never_raises(data):
    reply = codec.error_from_wire(data, codec.REFUSED)
    assert reply is None or (reply[:2] == data[:2] and reply[3] & 0x0F == codec.REFUSED)


def _edit(data: bytes, edits) -> bytearray:
    b = bytearray(data)
    for i, v in edits:
        b[i] = v
    return b
