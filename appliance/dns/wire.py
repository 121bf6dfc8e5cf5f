"""DNS messages read and written straight from their bytes, for the shapes a cache miss nearly always has.

A miss used to cost four trips through dnslib's pure-Python objects (parse the query, pack the upstream query,
parse the upstream answer, pack the reply): most of its time. Here the common case is a walk over offsets:
a query with one uncompressed question and at most an OPT; an upstream answer whose OPT, if any, is its last record.
Each reader returns None for anything else, and the caller (codec.py) hands that packet to dnslib, which stays the
codec for everything unusual. tests/dns/test_wire.py holds these paths to dnslib's and dnspython's readings of
random and real packets.

No dnslib here, and no policy: offsets, lengths and TTLs.
"""
from __future__ import annotations

import struct
from typing import NamedTuple

TYPE_A, TYPE_CNAME, TYPE_SOA, TYPE_AAAA, TYPE_OPT = 1, 5, 6, 28, 41
DNSSEC_TYPES = frozenset((46, 47, 50))            # RRSIG, NSEC, NSEC3: stripped for a client without DO
QR, RA, AD, RD_CD = 0x8000, 0x0080, 0x0020, 0x0110
NOERROR, NXDOMAIN = 0, 3
OUR_UDP_PAYLOAD = 1232
PLAIN_UDP_LIMIT = 512
_HEADER = struct.Struct("!HHHHHH")
_RR = struct.Struct("!HHIH")
_TTL = struct.Struct("!I")


# The readings below are named tuples built with tuple.__new__ (no Python-level __new__): a frozen dataclass's
# __init__ cost 2-4 µs apiece here, and a miss builds three of them.
_tuple = tuple.__new__


class PlainQuery(NamedTuple):
    """A query of the usual shape, read from its bytes."""

    id: int
    labels: tuple[bytes, ...]
    qtype: int
    qclass: int
    qend: int                       # where the question ends (the OPT, if any, starts)
    edns: bool
    payload: int                    # the client's UDP size as sent (0 without EDNS)
    do: bool
    options: tuple[tuple[int, bytes], ...]


def parse_query(data: bytes) -> PlainQuery | None:
    """One question, uncompressed, a name dnslib could write back, QUERY opcode, and nothing after it but one OPT
    owned by the root with EDNS version 0 whose options fill it exactly. None for anything else (dnslib decides:
    FORMERR, NOTIMP, BADVERS, NOTAUTH...)."""
    n = len(data)
    if n < 17 or data[2] & 0xF8 or data[4:10] != b"\x00\x01\x00\x00\x00\x00":   # QR, opcode; counts
        return None
    arcount = (data[10] << 8) | data[11]
    if arcount > 1:
        return None
    i, labels = 12, []
    while True:
        if i >= n:
            return None
        length = data[i]
        if length == 0:
            break
        if length > 63:                             # a pointer or an extended label type
            return None
        label = data[i + 1:i + 1 + length]
        if not label.isascii():
            try:
                label.decode()
            except UnicodeDecodeError:
                return None                         # dnslib refuses what is not UTF-8: FORMERR, as before
        labels.append(label)
        i += length + 1
    if i - 12 >= 255 or i + 5 > n:                  # RFC 1035 §2.3.4: 255 bytes with the root label
        return None
    qtype, qclass = struct.unpack_from("!HH", data, i + 1)
    qend = i + 5
    if not arcount:
        if qend != n:
            return None
        return _tuple(PlainQuery, ((data[0] << 8) | data[1], tuple(labels), qtype, qclass, qend, False, 0, False, ()))
    if qend + 11 > n or data[qend:qend + 3] != b"\x00\x00\x29":
        return None
    payload, ttl, rdlen = struct.unpack_from("!HIH", data, qend + 3)
    if ttl & 0x00FF0000 or qend + 11 + rdlen != n:      # EDNS version above 0 (BADVERS), or bytes left over
        return None
    options, j = [], qend + 11
    while j < n:
        if j + 4 > n:
            return None
        code, size = struct.unpack_from("!HH", data, j)
        if j + 4 + size > n:
            return None
        options.append((code, data[j + 4:j + 4 + size]))
        j += 4 + size
    return _tuple(PlainQuery, ((data[0] << 8) | data[1], tuple(labels), qtype, qclass, qend, True, payload,
                               bool(ttl & 0x8000), tuple(options)))


def question_end(data: bytes) -> int | None:
    """Where the first question of a message ends, for an uncompressed question name; None otherwise."""
    i, n = 12, len(data)
    while i < n:
        length = data[i]
        if length == 0:
            return i + 5 if i + 5 <= n else None
        if length > 63:
            return None
        i += length + 1
    return None


def read_name(data: bytes, i: int) -> tuple[tuple[bytes, ...], int]:
    """The labels of a (possibly compressed) name at ``i``, and where the name ends in the message. Raises
    ValueError on a cut-short name, a pointer that does not point back, or an extended label type."""
    labels, end, n, hops = [], None, len(data), 0
    while True:
        if i >= n:
            raise ValueError("name runs past the message")
        length = data[i]
        if length == 0:
            return tuple(labels), (i + 1 if end is None else end)
        if length & 0xC0 == 0xC0:
            if i + 1 >= n:
                raise ValueError("pointer cut short")
            target = ((length & 0x3F) << 8) | data[i + 1]
            if end is None:
                end = i + 2
            if target >= i or hops > 127:          # only backwards: no loops
                raise ValueError("bad compression pointer")
            hops += 1
            i = target
            continue
        if length > 63:
            raise ValueError("unknown label type")
        if i + 1 + length > n:
            raise ValueError("label runs past the message")
        labels.append(data[i + 1:i + 1 + length])
        i += length + 1


def skip_name(data: bytes, i: int) -> int:
    n = len(data)
    while True:
        if i >= n:
            raise ValueError("name runs past the message")
        length = data[i]
        if length == 0:
            return i + 1
        if length & 0xC0 == 0xC0:
            if i + 1 >= n:
                raise ValueError("pointer cut short")
            return i + 2
        if length > 63:
            raise ValueError("unknown label type")
        i += length + 1


def encode_name(labels: tuple[bytes, ...]) -> bytes:
    """A name on the wire, uncompressed. ValueError for what DNS cannot carry (RFC 1035 §2.3.4)."""
    out = bytearray()
    for label in labels:
        if not 0 < len(label) <= 63:
            raise ValueError("a name's label is empty or longer than 63 bytes")
        out.append(len(label))
        out += label
    out.append(0)
    if len(out) > 255:
        raise ValueError("a name longer than 255 bytes")
    return bytes(out)


def opt_record(do: bool, ext_rcode: int = 0) -> bytes:
    """Our OPT: root owner, 1232-byte UDP size, EDNS version 0, the DO bit echoed, no options."""
    return b"\x00\x00\x29" + struct.pack("!HIH", OUR_UDP_PAYLOAD, (ext_rcode << 24) | (0x8000 if do else 0), 0)


_OPT_DO, _OPT_PLAIN = opt_record(True), opt_record(False)


def new_query(labels: tuple[bytes, ...], qtype: int, qid: int) -> bytes:
    """An upstream query: our ID, RD, the question, and an OPT with our size and DO."""
    return _HEADER.pack(qid, 0x0100, 1, 0, 0, 1) + encode_name(labels) + struct.pack("!HH", qtype, 1) + _OPT_DO


class RawAnswer(NamedTuple):
    """An upstream reply kept as bytes: the records after its question, ready to be copied behind a client's."""

    wire: bytes                        # the reply, TTLs with the top bit set already made zero
    qend: int                          # where its question ends and its records start
    body_end: int                      # where its OPT starts (or its end): the records a client gets
    counts: tuple[int, int, int]       # answer, authority, additional records (additional without the OPT)
    ttl_offsets: tuple[int, ...]       # of every record before body_end
    dnssec: bool                       # it carries RRSIG / NSEC / NSEC3 records


class ParsedAnswer(NamedTuple):
    rcode: int
    ttl: int
    cnames: tuple[tuple[bytes, ...], ...]
    truncated: bool
    ad: bool
    answers: int
    raw: RawAnswer


def parse_answer(data: bytes, qid: int, question: bytes) -> ParsedAnswer | None:
    """Read an upstream reply to the question ``question`` (its bytes as we sent them: name, type, class).

    None for what this path leaves to dnslib: a wrong ID or question (dnslib then says which), a question that is
    not byte for byte ours up to letter case, a record cut short, an OPT that is not the last record, an OPT or
    an odd A / AAAA / CNAME / SOA record data. Raises nothing."""
    n = len(data)
    if n < 12 or not data[2] & 0x80:
        return None
    rid, flags, qd, an, ns, ar = _HEADER.unpack_from(data)
    qend = 12 + len(question)
    if rid != qid or qd != 1 or qend > n:
        return None
    # Letter case aside (bytes.lower changes ASCII letters only; no length byte is a letter), and class aside.
    if data[12:qend - 2].lower() != question[:-2].lower():
        return None
    qtype = (question[-4] << 8) | question[-3]
    buf: bytearray | None = None
    offsets, cnames = [], []
    i, total = qend, an + ns + ar
    ttl_answer = ttl_all = None
    any_of_type = dnssec = False
    soa: tuple[int, int] | None = None
    opt_at = None
    try:
        for k in range(total):
            start = i
            i = skip_name(data, i)
            if i + 10 > n:
                return None
            rtype, _cls, ttl, rdlen = _RR.unpack_from(data, i)
            rdata = i + 10
            end = rdata + rdlen
            if end > n:
                return None
            if rtype == TYPE_OPT:
                if k < an + ns or k != total - 1 or data[start] != 0:
                    return None
                opt_at = start
                i = end
                break
            if ttl & 0x80000000:                   # RFC 2181 §8: a TTL with the top bit set is zero
                if buf is None:
                    buf = bytearray(data)
                _TTL.pack_into(buf, i + 4, 0)
                ttl = 0
            offsets.append(i + 4)
            if rtype in DNSSEC_TYPES:
                dnssec = True
            if rtype == TYPE_A and rdlen != 4 or rtype == TYPE_AAAA and rdlen != 16:
                return None
            if k < an:
                ttl_answer = ttl if ttl_answer is None or ttl < ttl_answer else ttl_answer
                if rtype == qtype:
                    any_of_type = True
                if rtype == TYPE_CNAME:
                    labels, after = read_name(data, rdata)
                    if after != end:
                        return None
                    cnames.append(labels)
            elif k < an + ns and rtype == TYPE_SOA:
                j = skip_name(data, skip_name(data, rdata))
                if j + 20 != end:
                    return None
                if soa is None:
                    soa = (ttl, _TTL.unpack_from(data, end - 4)[0])
            if k < an + ns:
                ttl_all = ttl if ttl_all is None or ttl < ttl_all else ttl_all
            i = end
    except ValueError:
        return None
    if i != n:                                     # bytes left over, or fewer records than counted
        return None
    rcode = flags & 0x0F
    if rcode == NXDOMAIN or (rcode == NOERROR and not any_of_type):
        # Negative answer (RFC 2308): min(SOA TTL, SOA minimum); a CNAME chain's own TTLs bound it too.
        ttl = min(soa) if soa is not None else 0
        if ttl_answer is not None:
            ttl = min(ttl, ttl_answer)
    else:
        ttl = ttl_all or 0
    wire = bytes(buf) if buf is not None else data
    raw = _tuple(RawAnswer, (wire, qend, n if opt_at is None else opt_at, (an, ns, ar - (opt_at is not None)),
                             tuple(offsets), dnssec))
    return _tuple(ParsedAnswer, (rcode, ttl, tuple(cnames), bool(flags & 0x0200), bool(flags & AD), an, raw))


def reply(query_wire: bytes, qend: int, qid: int, edns: bool, do: bool, raw: RawAnswer, rcode: int, ad: bool, *,
          max_ttl: int | None, elapsed: int, ttl_floor: int) -> tuple[bytes, int] | None:
    """A client's reply from an upstream's bytes: the client's ID, flags and question (its letter case), the
    upstream's records with their TTLs aged and clamped, and our OPT if the client sent one; and the smallest TTL
    it carries (0 without records). None when the question lengths differ (the records' compression pointers would
    then be off). The question being as long as the upstream's, every record sits where it sat in the upstream's
    bytes: ``raw.ttl_offsets`` are the reply's own, and the hot cache needs no walk over it to find them."""
    if qend != raw.qend:
        return None
    flags = (query_wire[2] << 8) | query_wire[3]
    ad = ad and (do or bool(flags & AD))
    an, ns, ar = raw.counts
    out = bytearray(_HEADER.pack(qid, QR | RA | (flags & RD_CD) | (AD if ad else 0) | rcode, 1, an, ns, ar + edns))
    out += memoryview(query_wire)[12:qend]
    out += memoryview(raw.wire)[qend:raw.body_end]
    low = None
    unpack, pack = _TTL.unpack_from, _TTL.pack_into
    for off in raw.ttl_offsets:
        ttl = unpack(out, off)[0]
        new = ttl - elapsed
        if new < ttl_floor:
            new = ttl_floor
        if max_ttl is not None and new > max_ttl:
            new = max_ttl
        if new != ttl:
            pack(out, off, new)
        if low is None or new < low:
            low = new
    if edns:
        out += _OPT_DO if do else _OPT_PLAIN
    return bytes(out), low or 0


def simple_reply(query_wire: bytes, qend: int, qid: int, edns: bool, do: bool, rcode: int,
                 record: bytes = b"") -> bytes:
    """An error, a NODATA or a block: the client's question, at most one answer record (``record``, whose name
    points at the question), our OPT if the client sent one."""
    flags = (query_wire[2] << 8) | query_wire[3]
    head = _HEADER.pack(qid, QR | RA | (flags & RD_CD) | rcode, 1, 1 if record else 0, 0, 1 if edns else 0)
    return head + query_wire[12:qend] + record + ((_OPT_DO if do else _OPT_PLAIN) if edns else b"")


def null_record(qtype: int, ttl: int, qend: int) -> bytes:
    """0.0.0.0 or :: for the question's name, for a block: a pointer to it, or the root itself (one byte, shorter
    than a pointer; dnslib writes it so too)."""
    owner = b"\x00" if qend == 17 else b"\xc0\x0c"
    if qtype == TYPE_A:
        return owner + _RR.pack(TYPE_A, 1, ttl, 4) + bytes(4)
    return owner + _RR.pack(TYPE_AAAA, 1, ttl, 16) + bytes(16)
