"""The codec against what a hostile or merely unusual client sends (issue 16, "Speak DNS correctly"): names
dnslib reads but cannot write, EDNS versions, OPT and TSIG misuse, DO, TTLs with the top bit set, ANY, and
names that must reach the upstream byte for byte."""
from __future__ import annotations

import struct

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rrset
import dns.tsigkeyring
import pytest
from hypothesis import given, settings, strategies as st

from appliance.dns import codec


def raw_query(labels, qtype=1, *, qid=0x1234, flags=0x0100, ar=b"", arcount=0) -> bytes:
    """A query written by hand: dnspython refuses to write the malformed ones."""
    name = b"".join(bytes([len(x)]) + x for x in labels) + b"\0"
    return struct.pack("!HHHHHH", qid, flags, 1, 0, 0, arcount) + name + struct.pack("!HH", qtype, 1) + ar


def opt_rr(owner=b"\0", payload=1232, version=0, do=False) -> bytes:
    return owner + struct.pack("!HHBBHH", 41, payload, 0, version, 0x8000 if do else 0, 0)


def rcode_of(reply: bytes) -> int:
    """The full rcode: the header's four bits and the OPT's upper eight (RFC 6891 §6.1.3)."""
    m = dns.message.from_wire(reply)
    return m.rcode()


# --- names: one string per name, one name per string ---------------------------------------------------------------

@pytest.mark.parametrize("labels,text", [
    ((b"www", b"example", b"com"), "www.example.com"),
    ((b"WWW", b"Example", b"COM"), "www.example.com"),
    ((b"omegle.com",), "omegle\\.com"),                          # a dot inside a label: one label, not two
    ((b"omegle", b"com"), "omegle.com"),
    (("café".encode(), b"com"), "caf\\195\\169.com"),           # raw UTF-8 stays raw, never punycode
    ((b"a\\b", b"com"), "a\\\\b.com"),
    ((b"a b", b"com"), "a\\032b.com"),
    ((b"_dmarc", b"x-y", b"com"), "_dmarc.x-y.com"),
    ((b"\xc9T\xc9", b"fr"), "\\201t\\201.fr"),                  # only ASCII letters fold, other bytes stay
    ((), ""),
])
def test_name_text_and_back(labels, text):
    assert codec.name_text(labels) == text
    assert codec.name_labels(text) == tuple(x.lower() for x in labels)


@pytest.mark.parametrize("text,labels", [
    ("example.com.", (b"example", b"com")),        # a config's fully qualified name
    ("omegle\\046com", (b"omegle.com",)),          # the decimal escape of a dot, as dig writes it
    ("a\\.", (b"a.",)),                            # an escaped final dot is part of the label
    (".", ()),
])
def test_name_labels_reads_master_file_escapes(text, labels):
    assert codec.name_labels(text) == labels


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=63), max_size=5))
def test_name_text_is_reversible_for_any_labels(labels):
    assert codec.name_labels(codec.name_text(tuple(labels))) == tuple(x.lower() for x in labels)


def test_new_query_asks_the_exact_labels_with_do():
    for text in ("omegle\\.com", "caf\\195\\169.com", "www.example.com"):
        m = dns.message.from_wire(codec.new_query(text, 1, 7))
        assert m.question[0].name.labels[:-1] == codec.name_labels(text)
        assert m.ednsflags & dns.flags.DO and m.payload == 1232


# --- queries that get an error, and which one ---------------------------------------------------------------------

LONG_NAME = [b"a" * 63] * 4                                   # 4 * 64 + 1 = 257 bytes on the wire


@pytest.mark.parametrize("packet,rcode,why", [
    (raw_query([b"x" * 64, b"com"]), codec.FORMERR, "label over 63 bytes"),
    (raw_query([b"\x40" * 1, b"com"])[:12] + b"\x41" + b"y" * 65 + b"\x03com\x00\x00\x01\x00\x01",
     codec.FORMERR, "label length byte 0x41 (an extended label type)"),
    (raw_query(LONG_NAME), codec.FORMERR, "name over 255 bytes"),
    (raw_query([b"a", b"com"], ar=opt_rr() * 2, arcount=2), codec.FORMERR, "two OPT records"),
    (raw_query([b"a", b"com"], ar=opt_rr(owner=b"\x01a\x00"), arcount=1), codec.FORMERR, "OPT not at the root"),
    (raw_query([b"a", b"com"], ar=opt_rr(version=1), arcount=1), codec.BADVERS, "EDNS version 1"),
    (raw_query([b"a", b"com"], ar=opt_rr(version=255, do=True), arcount=1), codec.BADVERS, "EDNS version 255"),
    (raw_query([b"a", b"com"], flags=0x7900), codec.NOTIMP, "opcode 15"),
    (raw_query([b"a", b"com"], flags=0x0900, ar=opt_rr(), arcount=1), codec.NOTIMP, "opcode 1 with EDNS"),
])
def test_error_rcodes(packet, rcode, why):
    with pytest.raises(codec.MalformedPacket) as e:
        codec.decode_query(packet)
    reply = e.value.reply
    assert reply is not None, why
    assert reply[:2] == packet[:2] and reply[2] & 0x80, why
    # RA is defined for QUERY only: set on every error to a query, never on NOTIMP to another opcode (genreport).
    assert bool(reply[3] & 0x80) is (packet[2] & 0x78 == 0), f"{why}: RA"
    assert rcode_of(reply) == rcode, why


def test_badvers_reply_speaks_version_0_and_echoes_do():
    with pytest.raises(codec.MalformedPacket) as e:
        codec.decode_query(raw_query([b"a", b"com"], ar=opt_rr(version=1, do=True), arcount=1))
    m = dns.message.from_wire(e.value.reply)
    assert m.rcode() == dns.rcode.BADVERS and m.edns == 0 and m.ednsflags & dns.flags.DO
    assert str(m.question[0].name) == "a.com."


def test_notimp_echoes_opcode_and_edns():
    with pytest.raises(codec.MalformedPacket) as e:
        codec.decode_query(raw_query([b"a", b"com"], flags=0x7900, ar=opt_rr(), arcount=1))
    m = dns.message.from_wire(e.value.reply)
    assert m.opcode() == 15 and m.edns == 0 and not m.flags & dns.flags.RA


def test_tsig_signed_query_gets_notauth_badkey():
    q = dns.message.make_query("example.com", "A")
    q.use_tsig(dns.tsigkeyring.from_text({"hearth-test.": "c2VjcmV0c2VjcmV0c2VjcmV0"}), keyname="hearth-test.")
    with pytest.raises(codec.MalformedPacket) as e:
        codec.decode_query(q.to_wire())
    reply = e.value.reply
    assert reply[3] & 0x0F == codec.NOTAUTH and reply[:2] == q.to_wire()[:2]
    # The TSIG record at the end: the request's key name and algorithm, no MAC, error BADKEY (17).
    assert struct.unpack("!HHHH", reply[-8:]) == (0, q.id, 17, 0)
    assert b"\x0bhearth-test\x00" in reply and b"hmac-sha256" in reply


# --- DO, AD and DNSSEC records -----------------------------------------------------------------------------------

def signed_answer(qid=9):
    q = dns.message.make_query("example.com", "A", want_dnssec=True)
    q.id = qid
    r = dns.message.make_response(q)
    r.flags |= dns.flags.AD
    r.answer.append(dns.rrset.from_text("example.com.", 300, "IN", "A", "93.184.216.34"))
    r.answer.append(dns.rrset.from_text("example.com.", 300, "IN", "RRSIG",
                                        "A 13 2 300 20260101000000 20251201000000 12345 example.com. AQID"))
    return codec.decode_answer(r.to_wire(), qid, "example.com", 1)


@pytest.mark.parametrize("do,ad_flag,want_rrsig,want_ad", [
    (True, False, True, True),       # a validating client: its RRSIGs, the upstream's AD, DO echoed
    (False, False, False, False),    # a plain client: neither (RFC 4035 §3.2.1, RFC 6840 §5.8)
    (False, True, False, True),      # a client that asks for AD only gets AD
])
def test_do_bit_echo_and_dnssec_records(do, ad_flag, want_rrsig, want_ad):
    q = dns.message.make_query("example.com", "A", use_edns=0, want_dnssec=do)
    if ad_flag:
        q.flags |= dns.flags.AD
    query = codec.decode_query(q.to_wire())
    assert query.do is do
    m = dns.message.from_wire(codec.answer_reply(query, signed_answer(), max_ttl=None))
    assert any(rrset.rdtype == 46 for rrset in m.answer) is want_rrsig
    assert bool(m.flags & dns.flags.AD) is want_ad
    assert bool(m.ednsflags & dns.flags.DO) is do


def test_error_reply_echoes_do():
    q = codec.decode_query(dns.message.make_query("example.com", "A", want_dnssec=True).to_wire())
    m = dns.message.from_wire(codec.error_reply(q, codec.SERVFAIL))
    assert m.ednsflags & dns.flags.DO


# --- upstream answers -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("ttl,seen", [(300, 300), (0x7FFFFFFF, 0x7FFFFFFF), (0x80000000, 0), (0xFFFFFFFF, 0)])
def test_ttl_with_top_bit_set_is_zero(ttl, seen):
    q = dns.message.make_query("example.com", "A")
    q.id = 5
    r = dns.message.make_response(q)
    r.answer.append(dns.rrset.from_text("example.com.", 300, "IN", "A", "93.184.216.34"))
    wire = bytearray(r.to_wire())
    struct.pack_into("!I", wire, len(wire) - 10, ttl)          # the A record's TTL, just before rdlen and rdata
    a = codec.decode_answer(bytes(wire), 5, "example.com", 1)
    assert a.answer[0].ttl == seen and a.ttl == seen


def test_answer_question_compared_byte_for_byte():
    q = dns.message.from_wire(codec.new_query("omegle\\.com", 1, 11))
    r = dns.message.make_response(q)
    assert codec.decode_answer(r.to_wire(), 11, "omegle\\.com", 1).rcode == codec.NOERROR
    with pytest.raises(ValueError):
        codec.decode_answer(r.to_wire(), 11, "omegle.com", 1)      # two labels are another name


# --- ANY over UDP (RFC 8482) ----------------------------------------------------------------------------------------

def test_any_over_udp_gets_one_rrset_not_tc():
    q = codec.decode_query(dns.message.make_query("big.example.com", "ANY", use_edns=False).to_wire())
    r = dns.message.make_response(dns.message.from_wire(q.wire))
    r.answer.append(dns.rrset.from_text_list("big.example.com.", 300, "IN", "TXT",
                                             [f'"{i}{"x" * 200}"' for i in range(3)]))
    r.answer.append(dns.rrset.from_text("big.example.com.", 300, "IN", "A", "192.0.2.1"))
    full = r.to_wire()
    assert len(full) > 512
    m = dns.message.from_wire(codec.fit_udp(full, 512))
    assert not m.flags & dns.flags.TC and len(m.answer) == 1 and m.answer[0].rdtype == 1   # the A: it fits


def test_other_types_still_truncate():
    q = codec.decode_query(dns.message.make_query("big.example.com", "TXT", use_edns=False).to_wire())
    r = dns.message.make_response(dns.message.from_wire(q.wire))
    r.answer.append(dns.rrset.from_text_list("big.example.com.", 300, "IN", "TXT",
                                             [f'"{i}{"x" * 200}"' for i in range(3)]))
    m = dns.message.from_wire(codec.fit_udp(r.to_wire(), 512))
    assert m.flags & dns.flags.TC and not m.answer


# --- every decoded query can be answered without raising --------------------------------------------------------

@settings(max_examples=400, deadline=None)
@given(st.lists(st.binary(min_size=0, max_size=80), min_size=1, max_size=6), st.integers(0, 0xFFFF))
def test_any_name_dnslib_reads_is_answered_or_refused_cleanly(labels, flags):
    packet = raw_query([x for x in labels if x] or [b"a"], flags=flags & 0x7FFF)
    try:
        q = codec.decode_query(packet)
    except codec.MalformedPacket as e:
        assert e.reply is None or e.reply[:2] == packet[:2]
        return
    for reply in (codec.error_reply(q, codec.SERVFAIL), codec.blocked_reply(q, nxdomain=False, ttl=10),
                  codec.error_from_wire(packet, codec.REFUSED)):
        assert reply[:2] == packet[:2]
    assert codec.name_labels(q.qname) == tuple(x.lower() for x in q.record.q.qname.label)


# --- the flood path: errors built from the bytes are the errors built from the records ----------------------------

@pytest.mark.parametrize("make", [
    lambda: dns.message.make_query("example.com", "A", use_edns=False),
    lambda: dns.message.make_query("WWW.Example.COM", "AAAA", use_edns=0, payload=4096),
    lambda: dns.message.make_query("example.com", "TXT", want_dnssec=True),
    lambda: dns.message.make_query("a.b.c.d.example.org", "MX", use_edns=0,
                                   options=[dns.edns.ECSOption("192.168.1.0", 24)]),
    lambda: dns.message.make_query(".", "NS", use_edns=0),
    lambda: dns.message.make_query(dns.name.Name((b"omegle.com", b"")), "A"),
])
@pytest.mark.parametrize("rcode", [codec.REFUSED, codec.SERVFAIL])
def test_quick_error_is_byte_for_byte_the_slow_one(make, rcode):
    m = make()
    m.flags |= dns.flags.CD
    wire = m.to_wire()
    quick = codec._quick_error(wire, rcode)
    assert quick is not None
    rec = codec.DNSRecord.parse(wire)
    opts = [rr for rr in rec.ar if rr.rtype == codec.TYPE_OPT]
    assert quick == codec._error_from_record(rec, rcode, opts[0] if opts else None)


@pytest.mark.parametrize("wire", [
    raw_query([b"a", b"com"], ar=opt_rr(version=1), arcount=1),     # BADVERS is not ours to hide
    raw_query([b"a", b"com"], ar=opt_rr() * 2, arcount=2),
    raw_query([b"x" * 64]),
    raw_query([b"a"])[:-2],
    raw_query([b"a"]) + b"junk",
])
def test_quick_error_leaves_the_odd_ones_to_the_slow_path(wire):
    assert codec._quick_error(wire, codec.REFUSED) is None
    reply = codec.error_from_wire(wire, codec.REFUSED)
    assert reply[:2] == wire[:2] and reply[3] & 0x0F == codec.REFUSED
