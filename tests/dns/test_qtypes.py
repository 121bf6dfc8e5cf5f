"""Our table of query type names against dnslib's QTYPE, which the codec used before (and dnslib still parses with)."""
from __future__ import annotations

import pytest
from dnslib import QTYPE
from dnslib.dns import DNSError

from appliance.dns import codec
from appliance.dns.qtypes import CODES, NAMES, type_code, type_name


def dnslib_code(name: str) -> int | None:
    try:
        return getattr(QTYPE, name.upper())
    except DNSError:
        return None


def test_the_table_is_dnslibs_name_for_name():
    assert NAMES == QTYPE.forward
    assert CODES == QTYPE.reverse


@pytest.mark.parametrize("code", [*QTYPE.forward, 0, 3, 54, 65280, 65535])
def test_names_of_codes_as_dnslib(code):
    assert type_name(code) == QTYPE.get(code, f"TYPE{code}")


@pytest.mark.parametrize("name", [*QTYPE.reverse, "a", "aaaa", "Https", "TYPE28", "type65", "TYPE0", "TYPE65280",
                                  "TYPE65535", "", "AAA", "HTTP", "A ", "TYPE", "TYPEA", "TYPE1x"])
def test_codes_of_names_as_dnslib(name):
    assert type_code(name) == dnslib_code(name)


@pytest.mark.parametrize("name", ["TYPE65536", "TYPE99999", "TYPE-1", "TYPE+5", "TYPE 5", "TYPE1_0", "TYPE٣"])
def test_numbers_dns_cannot_carry_are_refused(name):
    """Where we part from dnslib, on purpose: a type is 16 bits, written in ASCII digits (dnslib takes int())."""
    assert type_code(name) is None


def test_the_codec_names_types_with_the_same_table():
    assert codec.type_name is type_name and codec.type_code is type_code
