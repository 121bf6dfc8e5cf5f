"""The list parser over every supported format, with the malformed lines real lists contain."""
from __future__ import annotations

import pytest

from appliance.lists.parse import MAX_SAMPLES, parse_file, parse_list

# (line, domains, exceptions, unsupported)
CASES = [
    # plain domains
    ("omegle.com", ["omegle.com"], [], 0),
    ("  Omegle.COM.  ", ["omegle.com"], [], 0),
    ("omegle.com   # source: wikipedia", ["omegle.com"], [], 0),
    ("omegle.com\t#seen 2026-11", ["omegle.com"], [], 0),
    ("sub.domain.example.co.uk", ["sub.domain.example.co.uk"], [], 0),
    ("_dmarc.example.com", ["_dmarc.example.com"], [], 0),
    ("com", ["com"], [], 0),
    ("bücher.de", ["xn--bcher-kva.de"], [], 0),
    ("BÜCHER.de.", ["xn--bcher-kva.de"], [], 0),
    ("xn--bcher-kva.de", ["xn--bcher-kva.de"], [], 0),
    ("*.example.com", ["example.com"], [], 0),
    ("http://example.com", ["example.com"], [], 0),
    ("https://example.com/", ["example.com"], [], 0),
    # hosts files
    ("0.0.0.0 a.com", ["a.com"], [], 0),
    ("0.0.0.0 a.com b.com   # two", ["a.com", "b.com"], [], 0),
    ("127.0.0.1\tx.org", ["x.org"], [], 0),
    ("::1 y.net", ["y.net"], [], 0),
    (":: y.net", ["y.net"], [], 0),
    ("192.168.1.1 redirect.example", ["redirect.example"], [], 0),
    ("127.0.0.1 localhost", [], [], 0),
    ("127.0.0.1 localhost.localdomain", [], [], 0),
    ("255.255.255.255 broadcasthost", [], [], 0),
    ("::1 ip6-localhost ip6-loopback", [], [], 0),
    ("fe80::1%lo0 localhost", [], [], 0),
    ("0.0.0.0 0.0.0.0", [], [], 0),
    ("0.0.0.0 good.com bad..com", ["good.com"], [], 1),        # the good name on a bad line still blocks
    # adblock
    ("||ads.example.com^", ["ads.example.com"], [], 0),
    ("||ads.example.com^|", ["ads.example.com"], [], 0),
    ("||ads.example.com", ["ads.example.com"], [], 0),
    ("||ADS.Example.com^", ["ads.example.com"], [], 0),
    ("||ads.example.com^$important", ["ads.example.com"], [], 0),
    ("||ads.example.com^$important,all", ["ads.example.com"], [], 0),
    ("||*.example.com^", ["example.com"], [], 0),
    ("@@||ok.example.com^", [], ["ok.example.com"], 0),
    ("@@||ok.example.com^$important", [], ["ok.example.com"], 0),
    ("||ads.example.com^$third-party", [], [], 1),
    ("||ads.example.com^$client=192.168.0.1", [], [], 1),
    ("||ads.example.com^$badfilter", [], [], 1),
    ("||ads.example.com^$dnsrewrite=1.2.3.4", [], [], 1),
    ("||example.com/ads/banner.js", [], [], 1),
    ("||example.com^*/ads", [], [], 1),
    ("@@/ads/", [], [], 1),
    ("|https://example.com/ad", [], [], 1),
    ("/^ad[0-9]+\\.example\\.com$/", [], [], 1),
    ("example.com##.banner", [], [], 1),
    ("example.com#@#.banner", [], [], 1),
    ("##.ad-box", [], [], 1),
    ("#@#.ad-box", [], [], 1),
    ("example.com#$#abort-on-property-read x", [], [], 1),
    # comments, headers, blank lines
    ("", [], [], 0),
    ("   ", [], [], 0),
    ("# a comment", [], [], 0),
    ("#0.0.0.0 commented-out.com", [], [], 0),
    ("## Section heading", [], [], 0),
    ("##########", [], [], 0),
    ("! Title: EasyList", [], [], 0),
    ("[Adblock Plus 2.0]", [], [], 0),
    # unsupported: never silently dropped
    ("ads*.example.com", [], [], 1),
    ("https://example.com/path/page.html", [], [], 1),
    ("example.com/path", [], [], 1),
    ("1.2.3.4", [], [], 1),
    ("0.0.0.0", [], [], 1),
    ("2001:db8::1", [], [], 1),
    ("example..com", [], [], 1),
    ("exa mple.com more", [], [], 1),
    ("example.com:8080", [], [], 1),
    ("a" * 64 + ".com", [], [], 1),
    (("a" * 60 + ".") * 5 + "com", [], [], 1),                # over 253 characters
    ("ex!ample.com", [], [], 1),
    ("example.123", [], [], 1),
    ("\u00ff\u0000bad.com", [], [], 1),
]


@pytest.mark.parametrize("line,domains,exceptions,unsupported", CASES)
def test_line(line, domains, exceptions, unsupported):
    parsed = parse_list(line + "\n")
    assert list(parsed.domains) == domains
    assert list(parsed.exceptions) == exceptions
    assert parsed.unsupported == unsupported
    assert len(parsed.samples) == unsupported
    assert parsed.lines == 1


def test_samples_carry_line_numbers_and_reasons_and_are_capped():
    text = "good.com\n" + "".join(f"||bad{i}.com^$third-party\n" for i in range(MAX_SAMPLES + 3)) + "##.ad\n"
    parsed = parse_list(text)
    assert parsed.domains == ("good.com",)
    assert parsed.unsupported == MAX_SAMPLES + 4
    assert len(parsed.samples) == MAX_SAMPLES
    assert parsed.samples[0] == "line 2: ||bad0.com^$third-party (option $third-party)"
    assert parsed.lines == MAX_SAMPLES + 5


def test_a_hosts_file():
    text = """\ufeff# Title: StevenBlack/hosts
127.0.0.1 localhost
127.0.0.1 localhost.localdomain
255.255.255.255 broadcasthost
::1 localhost
fe80::1%lo0 localhost
0.0.0.0 0.0.0.0

# [ads]
0.0.0.0 ads.example.com
0.0.0.0 tracker.example.net # inline
0.0.0.0 ADS.example.com
"""
    parsed = parse_list(text)
    assert parsed.domains == ("ads.example.com", "tracker.example.net")
    assert parsed.unsupported == 0
    assert parsed.lines == 12


def test_an_adblock_list():
    text = """[Adblock Plus 2.0]
! Title: test
! Expires: 1 day
||ads.example.com^
||tracker.example.net^$important
@@||cdn.ads.example.com^
example.org##.banner
||example.org/ads.js$script
"""
    parsed = parse_list(text)
    assert parsed.domains == ("ads.example.com", "tracker.example.net")
    assert parsed.exceptions == ("cdn.ads.example.com",)
    assert parsed.unsupported == 2


def test_crlf_and_no_final_newline_and_duplicates():
    parsed = parse_list("a.com\r\nb.com\r\na.com\r\nA.com.")
    assert parsed.domains == ("a.com", "b.com")
    assert parsed.lines == 4


def test_parse_file_replaces_undecodable_bytes(tmp_path):
    path = tmp_path / "list.txt"
    path.write_bytes(b"good.com\n\xff\xfe.bad.com\n")
    parsed = parse_file(path)
    assert parsed.domains == ("good.com",)
    assert parsed.unsupported == 1


def test_parsed_list_is_frozen():
    parsed = parse_list("a.com\n")
    with pytest.raises(AttributeError):
        parsed.unsupported = 3
