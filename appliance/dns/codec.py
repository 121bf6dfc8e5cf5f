"""Bytes ⇄ DNS messages. The only module that imports dnslib: everything else sees Query, Answer and bytes.

The hot path never comes here: it patches prebuilt replies (see ``wire_ttl_offsets`` and ``patch``). A cache miss
mostly does not either: the usual shapes of a query, an upstream answer and a reply are read and written from their
bytes by ``wire`` (no dnslib objects), and dnslib handles the rest.
"""
from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field

from dnslib import A, AAAA, CNAME, DNSHeader, DNSLabel, DNSRecord, EDNS0, RD, RR
from dnslib.buffer import BufferError as DnsBufferError
from dnslib.dns import DNSError
from dnslib.label import DNSLabelError

from appliance.dns import wire as wirefmt
from appliance.dns.qtypes import type_code, type_name     # noqa: F401 (names of query types live there)
from appliance.dns.wire import RawAnswer

NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED, NOTAUTH, BADVERS = 0, 1, 2, 3, 4, 5, 9, 16
TYPE_A, TYPE_CNAME, TYPE_SOA, TYPE_AAAA, TYPE_OPT = 1, 5, 6, 28, 41
TYPE_RRSIG, TYPE_NSEC, TYPE_NSEC3, TYPE_TSIG, TYPE_ANY = 46, 47, 50, 250, 255
_DNSSEC_TYPES = frozenset((TYPE_RRSIG, TYPE_NSEC, TYPE_NSEC3))
TSIG_BADKEY = 17
EDNS_DO = 0x8000                 # the DO bit in an OPT record's TTL field (RFC 3225)
OPT_CLIENT_SUBNET = 8
OPT_DNSMASQ_MAC = 65001          # what dnsmasq's add-mac sends (6 raw bytes, or text with add-mac=text)
OUR_UDP_PAYLOAD = 1232           # the DNS flag day 2020 size: fits any path's MTU without fragments
PLAIN_UDP_LIMIT = 512

ParseErrors = (DNSError, DNSLabelError, DnsBufferError, struct.error, IndexError, ValueError, UnicodeError, TypeError,
               KeyError)


class MalformedPacket(Exception):
    """The bytes are not a DNS query we can answer; ``reply`` is a FORMERR to send back, or None to drop."""

    def __init__(self, why: str, reply: bytes | None):
        super().__init__(why)
        self.reply = reply


@dataclass(frozen=True, slots=True)
class Query:
    id: int
    qname: str                  # lower case, no trailing dot
    qtype: int
    qclass: int
    edns: bool
    payload: int                # the largest UDP reply the client takes
    client_subnet: str | None   # EDNS client-subnet address (believed only from trusted forwarders)
    client_mac: str | None      # dnsmasq's add-mac option
    wire: bytes = field(repr=False)
    _record: DNSRecord | None = field(repr=False, compare=False)   # dnslib's reading, made when first needed
    do: bool = False            # the client takes DNSSEC records (RFC 3225): echoed, and RRSIGs kept for it
    qend: int = field(default=0, repr=False, compare=False)      # where the question ends in ``wire`` (0: unknown)

    @property
    def type_name(self) -> str:
        return type_name(self.qtype)

    @property
    def record(self) -> DNSRecord:
        """dnslib's objects for this query: parsed only by the paths that still build replies with dnslib."""
        rec = self._record
        if rec is None:
            rec = DNSRecord.parse(self.wire)
            object.__setattr__(self, "_record", rec)
        return rec


class Answer:
    """An upstream's reply, kept in the cache so each client gets its own ID, question and TTLs.

    Usually held as the upstream's bytes (``raw``, read by ``wire.parse_answer``): its records are parsed with
    dnslib only if a slow path or a test asks for ``answer``, ``authority`` or ``additional``. Immutable, like a
    frozen dataclass; a plain class so that the records can wait until they are wanted."""

    __slots__ = ("rcode", "_answer", "_authority", "_additional", "ttl", "cnames", "truncated", "ad", "raw")

    def __init__(self, rcode: int, answer: tuple = (), authority: tuple = (), additional: tuple = (), ttl: int = 0,
                 cnames: tuple[str, ...] = (), truncated: bool = False, ad: bool = False,
                 raw: RawAnswer | None = None):
        put = object.__setattr__
        put(self, "rcode", rcode)
        put(self, "_answer", None if raw is not None else tuple(answer))
        put(self, "_authority", None if raw is not None else tuple(authority))
        put(self, "_additional", None if raw is not None else tuple(additional))
        put(self, "ttl", ttl)            # how long the whole answer may be cached (min TTL, or the SOA's for negatives)
        put(self, "cnames", cnames)      # CNAME targets in the answer, lower case, to check against the lists
        put(self, "truncated", truncated)
        put(self, "ad", ad)
        put(self, "raw", raw)

    def __setattr__(self, name, value):
        raise AttributeError("an upstream answer does not change once read")

    def __repr__(self) -> str:
        return f"Answer(rcode={self.rcode}, records={self.answer_count}, ttl={self.ttl}, cnames={self.cnames})"

    def _parse(self) -> None:
        rec = DNSRecord.parse(self.raw.wire)
        object.__setattr__(self, "_answer", tuple(rec.rr))
        object.__setattr__(self, "_authority", tuple(rec.auth))
        object.__setattr__(self, "_additional", tuple(rr for rr in rec.ar if rr.rtype != TYPE_OPT))

    @property
    def answer(self) -> tuple:
        if self._answer is None:
            self._parse()
        return self._answer

    @property
    def authority(self) -> tuple:
        if self._authority is None:
            self._parse()
        return self._authority

    @property
    def additional(self) -> tuple:
        if self._additional is None:
            self._parse()
        return self._additional

    @property
    def answer_count(self) -> int:
        """Records in the answer section (0: NODATA or NXDOMAIN), without parsing them."""
        return self.raw.counts[0] if self.raw is not None else len(self._answer)


_new = object.__new__
_set_rcode, _set_answer, _set_authority = Answer.rcode.__set__, Answer._answer.__set__, Answer._authority.__set__
_set_additional, _set_ttl, _set_cnames = Answer._additional.__set__, Answer.ttl.__set__, Answer.cnames.__set__
_set_truncated, _set_ad, _set_raw = Answer.truncated.__set__, Answer.ad.__set__, Answer.raw.__set__


def _raw_answer(rcode: int, ttl: int, cnames: tuple[str, ...], truncated: bool, ad: bool, raw: RawAnswer) -> Answer:
    """``Answer(rcode, ttl=..., raw=...)`` for every miss, its slots set directly: half the time of __init__'s
    keyword handling and object.__setattr__ calls."""
    a = _new(Answer)
    _set_rcode(a, rcode)
    _set_answer(a, None)
    _set_authority(a, None)
    _set_additional(a, None)
    _set_ttl(a, ttl)
    _set_cnames(a, cnames)
    _set_truncated(a, truncated)
    _set_ad(a, ad)
    _set_raw(a, raw)
    return a


def _name(label) -> str:
    return name_text(label.label)


_PLAIN = frozenset(range(0x21, 0x7F)) - {0x2E, 0x5C}     # printable ASCII but the dot and the backslash
_PLAIN_BYTES = bytes(sorted(_PLAIN))


def name_text(labels: tuple[bytes, ...]) -> str:
    """A name off the wire as one string, lower case, no trailing dot, in master-file escapes (RFC 1035 §5.1):
    a dot or backslash inside a label is ``\\.`` / ``\\\\``, any other byte outside printable ASCII ``\\DDD``.
    One name has one string and one string one name: the policy decides on exactly what ``name_labels`` asks
    upstream (dnslib's own text loses a dot inside a label and turns raw UTF-8 into punycode)."""
    joined = b".".join(labels).lower()
    if len(joined.translate(None, _PLAIN_BYTES)) == max(len(labels) - 1, 0):
        return joined.decode("ascii")      # the usual name: only the dots between labels are not plain bytes
    out = []
    for label in labels:
        label = label.lower()     # ASCII letters only: DNS is case-blind for those and nothing else
        if not label.translate(None, _PLAIN_BYTES):      # nothing left once the plain bytes are gone
            out.append(label.decode("ascii"))
        else:
            out.append("".join(chr(b) if b in _PLAIN else f"\\{chr(b)}" if b in (0x2E, 0x5C) else f"\\{b:03d}"
                               for b in label))
    return ".".join(out)


def name_labels(text: str) -> tuple[bytes, ...]:
    """The labels of a name written by ``name_text`` (or a plain name from the config): its exact inverse."""
    if text in ("", "."):
        return ()
    if "\\" not in text:
        return tuple(text.rstrip(".").encode("utf-8").split(b"."))
    labels, cur, i = [], bytearray(), 0
    while i < len(text):
        c = text[i]
        if c == "\\" and len(text[i + 1:i + 4]) == 3 and text[i + 1:i + 4].isdigit():
            cur.append(int(text[i + 1:i + 4]) & 0xFF)
            i += 4
            continue
        if c == "\\" and i + 1 < len(text):
            cur += text[i + 1].encode("utf-8")
            i += 2
            continue
        if c == ".":
            labels.append(bytes(cur))
            cur = bytearray()
        else:
            cur += c.encode("utf-8")
        i += 1
    labels.append(bytes(cur))
    if len(labels) > 1 and not labels[-1]:
        labels.pop()           # the trailing dot of a fully qualified name
    return tuple(labels)


def _packable(labels: tuple[bytes, ...]) -> bool:
    """What dnslib reads but cannot write back: a label over 63 bytes (an extended label type 0x40-0xBF is read
    as a long label) or a name over 255 bytes on the wire (RFC 1035 §2.3.4)."""
    return all(0 < len(label) <= 63 for label in labels) and sum(len(label) + 1 for label in labels) < 255


def header_id(data: bytes) -> int:
    return (data[0] << 8) | data[1]


_OPT_COOKIE, _OPT_PADDING = b"\x00\x0a", b"\x00\x0c"     # RFC 7873, RFC 7830: they never change an answer


def hot_key(data: bytes) -> bytes | None:
    """What a query's answer depends on, read straight from its bytes, for the hot cache: the question as written
    (its letter case too: the reply echoes it), the RD, AD and CD bits, and for EDNS the payload (as Hearth caps
    it), version, DO and every option but COOKIE and PADDING. A client that sends a fresh cookie or pads its
    queries then hits the same entry as everyone else, and padding cannot blow up the cache's memory.
    None for anything but the usual shape (one question, no compression, at most an OPT): the full chain."""
    n = len(data)
    if n < 17 or data[2] & 0x78 or data[4:10] != b"\x00\x01\x00\x00\x00\x00":
        return None
    i = 12
    while True:                                     # the question name, label by label
        if i >= n:
            return None
        length = data[i]
        if length == 0:
            break
        if length > 63:                             # a compression pointer or a bad label: the full chain
            return None
        i += length + 1
    i += 5                                          # the root label, type and class
    if i > n:
        return None
    flags = bytes((data[2] & 0x01, data[3] & 0x30))
    arcount = data[10:12]
    if arcount == b"\x00\x00":
        return data[12:i] + flags if i == n else None
    if arcount != b"\x00\x01" or i + 11 > n or data[i:i + 3] != b"\x00\x00\x29":
        return None
    payload = max(PLAIN_UDP_LIMIT, min(int.from_bytes(data[i + 3:i + 5], "big"), OUR_UDP_PAYLOAD))
    end = i + 11 + int.from_bytes(data[i + 9:i + 11], "big")
    if end != n:
        return None
    parts = [data[12:i], flags, b"E", payload.to_bytes(2, "big"), data[i + 5:i + 9]]
    j = i + 11
    while j < end:
        if j + 4 > end:
            return None
        k = j + 4 + int.from_bytes(data[j + 2:j + 4], "big")
        if k > end:
            return None
        code = data[j:j + 2]
        if code != _OPT_COOKIE and code != _OPT_PADDING:
            parts.append(data[j:k])
        j = k
    return b"".join(parts)


def decode_query(data: bytes) -> Query:
    """Parse a client's query. Raises MalformedPacket (with the error reply to send, or None: drop it)."""
    p = wirefmt.parse_query(data)
    if p is not None:             # the usual shape, read from the bytes
        payload, subnet, mac = PLAIN_UDP_LIMIT, None, None
        if p.edns:
            payload = max(PLAIN_UDP_LIMIT, min(p.payload, OUR_UDP_PAYLOAD))
            for code, value in p.options:
                if code == OPT_CLIENT_SUBNET:
                    subnet = _client_subnet(value)
                elif code == OPT_DNSMASQ_MAC:
                    mac = _mac(value)
        return Query(p.id, name_text(p.labels), p.qtype, p.qclass, p.edns, payload, subnet, mac, data, None, p.do,
                     p.qend)
    return _decode_query_slow(data)


def _decode_query_slow(data: bytes) -> Query:
    """dnslib's reading, for every shape ``wire.parse_query`` leaves alone, and the errors they get."""
    if len(data) < 12:
        raise MalformedPacket("shorter than a DNS header", None)
    if data[2] & 0x80:
        raise MalformedPacket("a response, not a query", None)   # never answer answers: loops and reflection
    try:
        rec = DNSRecord.parse(data)
    except ParseErrors as e:
        raise MalformedPacket(f"cannot parse: {e}", _formerr_from_header(data)) from None
    opts = [rr for rr in rec.ar if rr.rtype == TYPE_OPT]
    opt = opts[0] if len(opts) == 1 and not opts[0].rname.label else None
    if not all(_packable(q.qname.label) for q in rec.questions):
        # Checked first: no reply that echoes this question could be written.
        raise MalformedPacket("question name too long", _formerr_from_header(data))
    if rec.header.opcode != 0:
        raise MalformedPacket("not a standard query", _error_from_record(rec, NOTIMP, opt))
    if len(rec.questions) != 1:
        raise MalformedPacket("not exactly one question", _error_from_record(rec, FORMERR, opt))
    if len(opts) > 1 or (opts and opt is None):
        raise MalformedPacket("two OPT records, or one not owned by the root", _error_from_record(rec, FORMERR))
    if any(rr.rtype == TYPE_TSIG for rr in rec.ar):
        # We hold no keys: RFC 8945 §5.2.1, an unsigned NOTAUTH carrying a TSIG with error BADKEY.
        raise MalformedPacket("signed with a key we do not hold", _error_from_record(rec, NOTAUTH, opt, tsig=True))
    edns, payload, subnet, mac, do = False, PLAIN_UDP_LIMIT, None, None, False
    if opt is not None:
        if (opt.ttl >> 16) & 0xFF:     # EDNS version: we speak 0 only (RFC 6891 §6.1.3)
            raise MalformedPacket("EDNS version above 0", _error_from_record(rec, BADVERS, opt))
        # Honour a smaller size; never go past 1232 (DNS flag day 2020): fragments get lost or spoofed.
        edns, payload, do = True, max(PLAIN_UDP_LIMIT, min(opt.rclass, OUR_UDP_PAYLOAD)), bool(opt.ttl & EDNS_DO)
        for o in opt.rdata or ():
            if o.code == OPT_CLIENT_SUBNET:
                subnet = _client_subnet(o.data)
            elif o.code == OPT_DNSMASQ_MAC:
                mac = _mac(o.data)
    q = rec.q
    return Query(rec.header.id, _name(q.qname), q.qtype, q.qclass, edns, payload, subnet, mac, data, rec, do,
                 wirefmt.question_end(data) or 0)


def _client_subnet(data: bytes) -> str | None:
    if len(data) < 4:
        return None
    family, prefix = struct.unpack("!HB", data[:3])
    addr = data[4:]
    try:
        if family == 1:
            return str(ipaddress.IPv4Address(addr.ljust(4, b"\0")[:4]))
        if family == 2:
            return str(ipaddress.IPv6Address(addr.ljust(16, b"\0")[:16]))
    except ValueError:
        return None
    return None


def _mac(data: bytes) -> str | None:
    if len(data) == 6:
        return ":".join(f"{b:02x}" for b in data)
    try:
        text = data.decode("ascii").strip().lower().replace("-", ":")
    except UnicodeError:
        return None
    parts = text.split(":")
    if len(parts) == 6 and all(len(p) == 2 and all(c in "0123456789abcdef" for c in p) for p in parts):
        return text
    return None


def _formerr_from_header(data: bytes) -> bytes:
    """FORMERR echoing only the ID, opcode and RD of a query we could not parse (no question: we have none)."""
    return _header_only(data, FORMERR)


def _header_only(data: bytes, rcode: int) -> bytes:
    """QR, the query's ID, opcode and RD, and RA for a standard query only: RA, like AA, AD and CD, is defined
    for QUERY and nothing else (genreport flags an RA on the NOTIMP to opcode 15)."""
    ra = 0x80 if not data[2] & 0x78 else 0
    return struct.pack("!HHHHHH", header_id(data), 0x8000 | (data[2] & 0x79) << 8 | ra | rcode, 0, 0, 0, 0)


def _error_from_record(rec: DNSRecord, rcode: int, opt: RR | None = None, *, tsig: bool = False) -> bytes:
    """An error with the query's question; an OPT if the query had one (RFC 6891 §7) carrying the upper bits of
    an extended rcode (BADVERS), and its DO bit echoed. RA for a standard query only (see ``_header_only``)."""
    reply = DNSRecord(DNSHeader(id=rec.header.id, qr=1, opcode=rec.header.opcode, rd=rec.header.rd,
                                ra=int(rec.header.opcode == 0), rcode=rcode & 0x0F), questions=rec.questions[:1])
    if opt is not None:
        reply.add_ar(EDNS0(udp_len=OUR_UDP_PAYLOAD, ext_rcode=rcode >> 4, flags="do" if opt.ttl & EDNS_DO else ""))
    if tsig:
        reply.add_ar(_tsig_badkey(rec))
    return _pack(reply)


def _tsig_badkey(rec: DNSRecord) -> RR:
    """The unsigned TSIG of a BADKEY error: the request's key name, algorithm, time and fudge, no MAC."""
    t = next(rr for rr in rec.ar if rr.rtype == TYPE_TSIG)
    raw = bytes(t.rdata.data) if isinstance(t.rdata, RD) else b""
    i = 0
    while i < len(raw) and raw[i]:          # the algorithm name, never compressed (RFC 8945 §4.2)
        i += raw[i] + 1
    head = raw[:i + 9] if len(raw) >= i + 9 else bytes(9)     # name, 48-bit time, fudge; or root and zeros
    return RR(t.rname, TYPE_TSIG, 255, 0, RD(head + struct.pack("!HHHH", 0, rec.header.id, TSIG_BADKEY, 0)))


# --- replies to clients --------------------------------------------------------------------------------------

def _pack(rec: DNSRecord) -> bytes:
    return bytes(rec.pack())     # dnslib hands out its bytearray buffer: immutable bytes are safe to cache and share


_QR, _RA, _AD, _RD_CD = 0x8000, 0x0080, 0x0020, 0x0110
_OPT = EDNS0(udp_len=OUR_UDP_PAYLOAD)     # packing does not change it: one for every reply
_OPT_DO = EDNS0(udp_len=OUR_UDP_PAYLOAD, flags="do")
_NULL_A, _NULL_AAAA = A("0.0.0.0"), AAAA("::")


def _reply(query: Query, rcode: int = NOERROR, rr: list | None = None, auth: list | None = None,
           ar: list | None = None, ad: bool = False) -> bytes:
    """Every section at once, the flags as one bitmap (QR, RA, the query's RD and CD, AD, the rcode): dnslib's
    per-flag setters and per-record count updates cost more than the packing itself.

    AD only to a client that asked for DNSSEC (DO) or for AD itself (RFC 6840 §5.8)."""
    flags = (query.wire[2] << 8) | query.wire[3]
    ad = ad and (query.do or bool(flags & _AD))
    bitmap = _QR | _RA | (flags & _RD_CD) | (_AD if ad else 0) | rcode
    ar = ar or []
    if query.edns:
        ar.append(_OPT_DO if query.do else _OPT)
    return _pack(DNSRecord(DNSHeader(id=query.id, bitmap=bitmap), questions=[query.record.q], rr=rr, auth=auth,
                           ar=ar))


def error_reply(query: Query, rcode: int) -> bytes:
    if query.qend:
        return wirefmt.simple_reply(query.wire, query.qend, query.id, query.edns, query.do, rcode)
    return _reply(query, rcode)


def error_from_wire(data: bytes, rcode: int) -> bytes | None:
    """SERVFAIL / REFUSED for bytes we may not have parsed: with the question if it parses, else header only.
    A plain query (one question, at most an OPT) is answered from its bytes: this is what every packet of a
    rate-limited flood costs, so it must cost little."""
    if len(data) < 12 or data[2] & 0x80:
        return None
    quick = _quick_error(data, rcode)
    if quick is not None:
        return quick
    try:
        rec = DNSRecord.parse(data)
        if all(_packable(q.qname.label) for q in rec.questions):
            opts = [rr for rr in rec.ar if rr.rtype == TYPE_OPT]
            return _error_from_record(rec, rcode, opts[0] if len(opts) == 1 and not opts[0].rname.label else None)
    except ParseErrors:
        pass
    return _header_only(data, rcode)


_OPT_HEAD = b"\x00" + struct.pack("!HH", TYPE_OPT, OUR_UDP_PAYLOAD)


def _quick_error(data: bytes, rcode: int) -> bytes | None:
    """``_error_from_record``'s bytes for a plain query, without parsing it into objects; None for anything else
    (the slow path then decides)."""
    qd, an, ns, ar = struct.unpack_from("!HHHH", data, 4)
    if qd != 1 or an or ns or ar > 1:
        return None
    i, n = 12, len(data)
    while i < n and 0 < data[i] < 64:
        i += data[i] + 1
    if i >= n or data[i] or i - 12 >= 255 or i + 5 > n:
        return None                  # a pointer, an extended label, a name too long, or cut short
    end = i + 5                      # the root byte, type and class
    opt = b""
    if ar:
        if data[end:end + 3] != b"\x00\x00\x29" or end + 11 > n:
            return None
        ttl, rdlen = struct.unpack_from("!IH", data, end + 5)
        if ttl & 0x00FF0000 or end + 11 + rdlen != n:
            return None              # another EDNS version (BADVERS) or trailing records: the slow path
        opt = _OPT_HEAD + struct.pack("!IH", ttl & EDNS_DO, 0)
    elif end != n:
        return None
    return _header_only(data, rcode)[:4] + struct.pack("!HHHH", 1, 0, 0, 1 if opt else 0) + data[12:end] + opt


def blocked_reply(query: Query, *, nxdomain: bool, ttl: int) -> bytes:
    """A block: 0.0.0.0 / :: for A / AAAA (apps fail fast instead of retrying), else NODATA; or NXDOMAIN.

    Carries a SOA-less negative answer: the short TTL lives on the null records, and clients treat a NODATA or
    NXDOMAIN without SOA as uncacheable, so a block lifts as soon as the parent's rule does.
    """
    if query.qend:                # from the bytes: the same reply, byte for byte (tests/dns/test_wire.py)
        w = query.wire, query.qend, query.id, query.edns, query.do
        if nxdomain:
            return wirefmt.simple_reply(*w, NXDOMAIN)
        if query.qtype in (TYPE_A, TYPE_AAAA):
            return wirefmt.simple_reply(*w, NOERROR, wirefmt.null_record(query.qtype, ttl, query.qend))
        return wirefmt.simple_reply(*w, NOERROR)
    if nxdomain:
        return _reply(query, NXDOMAIN)
    qn = query.record.q.qname
    if query.qtype == TYPE_A:
        return _reply(query, rr=[RR(qn, TYPE_A, ttl=ttl, rdata=_NULL_A)])
    if query.qtype == TYPE_AAAA:
        return _reply(query, rr=[RR(qn, TYPE_AAAA, ttl=ttl, rdata=_NULL_AAAA)])
    return _reply(query)


def answer_reply(query: Query, answer: Answer, *, max_ttl: int | None, elapsed: int = 0,
                 cname_to: str | None = None, ttl_floor: int = 0) -> bytes:
    """A client's reply from a (cached) upstream Answer: its ID and question, TTLs aged by ``elapsed`` seconds
    and clamped to ``max_ttl``. With ``cname_to`` (safe search), the answer opens with qname CNAME cname_to."""
    return answer_reply_ttls(query, answer, max_ttl=max_ttl, elapsed=elapsed, cname_to=cname_to,
                             ttl_floor=ttl_floor)[0]


def answer_reply_ttls(query: Query, answer: Answer, *, max_ttl: int | None, elapsed: int = 0,
                      cname_to: str | None = None, ttl_floor: int = 0) -> tuple[bytes, tuple[int, ...], int]:
    """``answer_reply``'s reply, with where its TTLs are and the smallest of them, for the hot cache: read off
    the upstream's bytes when the reply was patched from them, else found by walking the reply."""

    # Upstreams are always asked with DO: a client that did not ask gets no DNSSEC records (RFC 4035 §3.2.1).
    strip = not query.do and query.qtype not in _DNSSEC_TYPES
    raw = answer.raw
    if raw is not None and cname_to is None and query.qend and not (strip and raw.dnssec):
        # The upstream's records behind the client's header and question, TTLs patched in place.
        out = wirefmt.reply(query.wire, query.qend, query.id, query.edns, query.do, raw, answer.rcode, answer.ad,
                            max_ttl=max_ttl, elapsed=elapsed, ttl_floor=ttl_floor)
        if out is not None:
            return out[0], raw.ttl_offsets, out[1]
    an, ns, ar = answer.answer, answer.authority, answer.additional

    def aged(records) -> list:
        out = []
        for rr in records:
            if strip and rr.rtype in _DNSSEC_TYPES:
                continue
            ttl = max(ttl_floor, rr.ttl - elapsed)
            if max_ttl is not None and ttl > max_ttl:
                ttl = max_ttl
            # The cached record itself when its TTL stands: building a copy is most of a reply's cost.
            out.append(rr if ttl == rr.ttl else RR(rr.rname, rr.rtype, rr.rclass, ttl, rr.rdata))
        return out

    rr = aged(an)
    if cname_to is not None:
        ttl = min(answer.ttl, max_ttl) if max_ttl is not None else answer.ttl
        rr.insert(0, RR(query.record.q.qname, TYPE_CNAME, ttl=max(ttl_floor, ttl),
                        rdata=CNAME(DNSLabel(name_labels(cname_to)))))
    wire = _reply(query, answer.rcode, rr, aged(ns), aged(ar), ad=answer.ad)
    offsets = wire_ttl_offsets(wire)
    return wire, offsets, wire_min_ttl(wire, offsets)


def fit_udp(wire: bytes, payload: int) -> bytes:
    """Make a reply fit the client's UDP size. ANY gets the smallest RRset of its answer (RFC 8482 §4.2: a client
    asking ANY over UDP wants some of it, not a retry over TCP); anything else the header and question with TC
    set (RFC 1035 §4.2.1)."""
    if len(wire) <= payload:
        return wire
    try:
        rec = DNSRecord.parse(wire)
    except ParseErrors:
        return wire[:12]
    opt = [rr for rr in rec.ar if rr.rtype == TYPE_OPT]
    if rec.questions and rec.q.qtype == TYPE_ANY and rec.rr:
        rrsets: dict[tuple, list] = {}
        for rr in rec.rr:
            rrsets.setdefault((rr.rname, rr.rtype), []).append(rr)
        minimal = min((_pack(DNSRecord(DNSHeader(id=rec.header.id, bitmap=rec.header.bitmap & ~0x0200),
                                       questions=rec.questions, rr=rrset, ar=opt)) for rrset in rrsets.values()),
                      key=len)
        if len(minimal) <= payload:
            return minimal
    short = DNSRecord(DNSHeader(id=rec.header.id, qr=1, rd=rec.header.rd, ra=1, tc=1, rcode=rec.header.rcode),
                      questions=rec.questions, ar=opt)
    return _pack(short)


# --- talking to upstreams ------------------------------------------------------------------------------------

def new_query(qname: str, qtype: int, qid: int) -> bytes:
    """What we send upstream: the question (the client's, or a safe-search target) byte for byte, our ID, RD,
    our EDNS size and DO: one cached answer then serves clients that validate (with its RRSIGs) and clients that
    do not (without them, see ``answer_reply``). ValueError for a name DNS cannot carry."""
    return wirefmt.new_query(name_labels(qname), qtype, qid)


def decode_answer(data: bytes, qid: int, qname: str, qtype: int, *, sent: bytes | None = None) -> Answer:
    """Parse an upstream reply; raises ValueError if it is not the reply to our question (spoofing, confusion).
    With ``sent`` (the query we sent, as ``new_query`` built it), the usual shape is read from the bytes and kept
    as bytes."""
    if sent is not None:
        p = wirefmt.parse_answer(data, qid, sent[12:-11])      # its question: between the header and our OPT
        if p is not None:
            return _raw_answer(p.rcode, p.ttl, tuple(map(name_text, p.cnames)) if p.cnames else (), p.truncated,
                               p.ad, p.raw)
    try:
        rec = DNSRecord.parse(data)
    except ParseErrors as e:
        raise ValueError(f"unparsable reply: {e}") from None
    h = rec.header
    if h.id != qid or not h.qr:
        raise ValueError("reply ID does not match")
    if len(rec.questions) != 1 or _name(rec.q.qname) != qname or rec.q.qtype != qtype:
        raise ValueError("reply question does not match")
    for rr in rec.rr + rec.auth + rec.ar:
        if rr.ttl & 0x80000000 and rr.rtype != TYPE_OPT:
            rr.ttl = 0          # RFC 2181 §8: a TTL with the top bit set is zero, not 68 years
    answer = tuple(rec.rr)
    authority = tuple(rec.auth)
    additional = tuple(rr for rr in rec.ar if rr.rtype != TYPE_OPT)
    if h.rcode in (NXDOMAIN,) or (h.rcode == NOERROR and not any(rr.rtype == qtype for rr in answer)):
        # Negative answer (RFC 2308): cache for min(SOA TTL, SOA minimum).
        soa = [rr for rr in authority if rr.rtype == TYPE_SOA]
        ttl = min(soa[0].ttl, soa[0].rdata.times[-1]) if soa else 0
        if answer:   # a CNAME chain ending in NODATA: the chain's own TTL bounds it too
            ttl = min([ttl] + [rr.ttl for rr in answer])
    else:
        ttl = min((rr.ttl for rr in answer + authority), default=0)
    cnames = tuple(_name(rr.rdata.label) for rr in answer if rr.rtype == TYPE_CNAME)
    return Answer(h.rcode, answer, authority, additional, ttl, cnames, bool(h.tc), bool(h.ad))


# --- the hot path's helpers: raw bytes, no parsing objects ---------------------------------------------------

def _skip_name(data: bytes, i: int) -> int:
    while True:
        n = data[i]
        if n == 0:
            return i + 1
        if n & 0xC0 == 0xC0:
            return i + 2
        i += n + 1


def wire_ttl_offsets(wire: bytes) -> tuple[int, ...]:
    """Offsets of every TTL field in a reply we built (OPT excluded), so a cached reply can be re-aged."""
    qd, an, ns, ar = struct.unpack_from("!HHHH", wire, 4)
    i = 12
    for _ in range(qd):
        i = _skip_name(wire, i) + 4
    out = []
    for _ in range(an + ns + ar):
        i = _skip_name(wire, i)
        rtype, _cls, _ttl, rdlen = struct.unpack_from("!HHIH", wire, i)
        if rtype != TYPE_OPT:
            out.append(i + 4)
        i += 10 + rdlen
    return tuple(out)


def wire_min_ttl(wire: bytes, offsets: tuple[int, ...]) -> int:
    return min((struct.unpack_from("!I", wire, o)[0] for o in offsets), default=0)
