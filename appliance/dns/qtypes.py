"""Names of DNS query types ("AAAA" ⇄ 28): the one place they are decided.

Our own table rather than dnslib's ``QTYPE``, so that `hearth explain --type AAAA`, the log and the admin name a type
without loading dnslib (about 15 ms of a CLI command's start with the codec). The table is dnslib's, name for name
(tests/dns/test_qtypes.py holds it to dnslib's), with the generic ``TYPEnnn`` form of RFC 3597 for the others.
"""
from __future__ import annotations

__all__ = ["NAMES", "CODES", "type_name", "type_code"]

NAMES: dict[int, str] = {
    1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 10: "NULL", 12: "PTR", 13: "HINFO", 15: "MX", 16: "TXT", 17: "RP",
    18: "AFSDB", 24: "SIG", 25: "KEY", 28: "AAAA", 29: "LOC", 33: "SRV", 35: "NAPTR", 36: "KX", 37: "CERT", 38: "A6",
    39: "DNAME", 41: "OPT", 42: "APL", 43: "DS", 44: "SSHFP", 45: "IPSECKEY", 46: "RRSIG", 47: "NSEC", 48: "DNSKEY",
    49: "DHCID", 50: "NSEC3", 51: "NSEC3PARAM", 52: "TLSA", 53: "HIP", 55: "HIP", 59: "CDS", 60: "CDNSKEY",
    61: "OPENPGPKEY", 62: "CSYNC", 63: "ZONEMD", 64: "SVCB", 65: "HTTPS", 99: "SPF", 108: "EUI48", 109: "EUI64",
    249: "TKEY", 250: "TSIG", 251: "IXFR", 252: "AXFR", 255: "ANY", 256: "URI", 257: "CAA", 32768: "TA", 32769: "DLV",
}
# Name -> code; HIP has two codes (53 is the assigned one, 55 a mistake kept from an old draft): as dnslib, the last.
CODES: dict[str, int] = {name: code for code, name in NAMES.items()}


def type_name(qtype: int) -> str:
    """28 -> "AAAA"; a type without a name is written TYPE65280 (RFC 3597)."""
    return NAMES.get(qtype) or f"TYPE{qtype}"


def type_code(name: str) -> int | None:
    """"AAAA" (any case) or "TYPE28" -> 28; None for a name DNS does not know or a number past 16 bits."""
    text = name.upper()
    code = CODES.get(text)
    if code is not None:
        return code
    digits = text[4:] if text.startswith("TYPE") else ""
    if digits.isascii() and digits.isdigit() and int(digits) <= 0xFFFF:
        return int(digits)
    return None
