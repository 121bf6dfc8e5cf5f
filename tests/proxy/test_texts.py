"""The words the detector is given, out of HTTP bodies: a table of bodies and what comes out."""
from __future__ import annotations

import pytest

from appliance.proxy.texts import MAX_STRINGS, body_texts, is_text_type

MULTI = (b"--XX\r\nContent-Disposition: form-data; name=\"msg\"\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
         b"see you after school\r\n--XX\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\n"
         b"Content-Type: text/plain\r\n\r\nfile words\r\n--XX--\r\n")


@pytest.mark.parametrize("ctype, body, want", [
    ("application/x-www-form-urlencoded", b"msg=hello+there&to=42&x=1", ["hello there", "42"]),
    ("application/json", b'{"to": "u_1a2b", "message": "dis rien a tes parents", "n": 3}',
     ["dis rien a tes parents"]),
    ("application/json; charset=utf-8", b'[{"text": "first one"}, {"text": "second one"}]',
     ["first one", "second one"]),
    ("application/json", b'{"token": "eyJhbGciOi.J9", "url": "https://x.y/z"}', []),   # ids and links are not words
    ("application/vnd.api+json", b'{"body": "hi there"}', ["hi there"]),
    ("text/plain", b"just between us", ["just between us"]),
    ("text/plain;charset=UTF-8", b'{"m": "json sent as text"}', ["json sent as text"]),
    ("text/html", b"<html><head><title>T</title><style>p{}</style></head><body><p>Hello <b>you</b></p>"
                  b"<script>var secret='between us'</script><div>second line</div></body></html>",
     ["Hello you\nsecond line"]),                                   # a page is one text, a line a block
    ("multipart/form-data; boundary=XX", MULTI, ["see you after school"]),     # never the uploaded file
    ("image/png", b"\x89PNG....", []),
    ("application/octet-stream", b"between us", []),
    ("application/json", b"{not json", []),
    ("text/html", b"", []),
    (None, b"words", []),
    ("text/html; charset=iso-8859-1", "<p>ça va</p>".encode("latin-1"), ["ça va"]),
])
def test_body_texts(ctype, body, want):
    charset = "iso-8859-1" if ctype and "8859" in ctype else "utf-8"
    assert body_texts(ctype, body, charset) == want


def test_a_huge_feed_is_sampled():
    body = ("[" + ",".join('"a message number %d"' % i for i in range(10 * MAX_STRINGS)) + "]").encode()
    assert len(body_texts("application/json", body)) == MAX_STRINGS


@pytest.mark.parametrize("ctype, want", [
    ("text/html; charset=utf-8", True), ("application/json", True), ("application/x-www-form-urlencoded", True),
    ("multipart/form-data; boundary=x", True), ("application/ld+json", True), ("text/css", False),
    ("text/javascript", False), ("image/jpeg", False), ("video/mp4", False), ("application/zip", False),
    ("", False), (None, False),
])
def test_is_text_type(ctype, want):
    assert is_text_type(ctype) is want
