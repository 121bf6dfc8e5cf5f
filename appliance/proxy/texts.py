"""The words a person wrote, out of an HTTP body: what the risky-text detector is given.

Form posts give their field values, JSON its strings (a chat app's message is one of them), multipart its text
fields (never a file), HTML its visible text (no scripts, styles or markup) as one text, a line per block, plain
text itself. Each string is one message for the detector: a message is judged on its own, so two fields never
make one phrase; a page is one document (and one call costs a third of forty: the detector is fast on long texts,
not on many calls). Anything else (images, video, archives, fonts) has no words to read and gives nothing.
"""
from __future__ import annotations

import json
from email.parser import BytesParser
from email.policy import HTTP
from html.parser import HTMLParser
from urllib.parse import parse_qsl

__all__ = ["body_texts", "is_text_type", "MAX_STRINGS"]

MAX_STRINGS = 300       # strings read from one body: a huge JSON feed is sampled (0.2 ms a string), never walked
MAX_PAGE = 200_000      # characters of a page's visible text given to the detector
_MIN_CHARS = 2          # a one-letter value is a flag, not a message
_SKIP_TAGS = frozenset({"script", "style", "noscript", "template", "svg", "head"})
_BLOCK_TAGS = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article",
                         "blockquote", "td", "th", "title", "span"})
_TEXT_TYPES = ("text/", "application/json", "application/x-www-form-urlencoded", "multipart/form-data",
               "application/graphql", "+json")


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def is_text_type(content_type: str | None) -> bool:
    """Could a body of this type hold words someone wrote?"""
    t = media_type(content_type)
    return any(t.startswith(p) or t.endswith(p) for p in _TEXT_TYPES) and t != "text/css" \
        and t != "text/javascript"


def body_texts(content_type: str | None, raw: bytes, charset: str = "utf-8") -> list[str]:
    """The messages in a body of ``content_type``; [] when it has none (or is not a type with words)."""
    if not raw:
        return []
    t = media_type(content_type)
    if t == "multipart/form-data":
        return _multipart(content_type or "", raw)
    text = raw.decode(charset or "utf-8", "replace")
    if t == "application/x-www-form-urlencoded":
        return _keep(v for _k, v in parse_qsl(text, keep_blank_values=False))
    if t == "application/json" or t.endswith("+json") or t == "application/graphql":
        return _json_texts(text)
    if t == "text/html":
        return _html_texts(text)
    if t.startswith("text/") and t not in ("text/css", "text/javascript"):
        # a chat's "send" may post JSON as text/plain: read it as JSON when it is
        s = text.lstrip()
        if s[:1] in ("{", "[") and (found := _json_texts(text, strict=True)) is not None:
            return found
        return _keep([text])
    return []


def _keep(values) -> list[str]:
    out = []
    for v in values:
        if isinstance(v, str) and len(v.strip()) >= _MIN_CHARS:
            out.append(v)
            if len(out) >= MAX_STRINGS:
                break
    return out


def _json_texts(text: str, strict: bool = False):
    try:
        data = json.loads(text)
    except ValueError:
        return None if strict else []
    out: list[str] = []
    stack = [data]
    while stack and len(out) < MAX_STRINGS:
        v = stack.pop()
        if isinstance(v, str):
            # ids, tokens and URLs are not messages: a message has a space or is a word or two of letters
            if len(v.strip()) >= _MIN_CHARS and (" " in v.strip() or v.isalpha()):
                out.append(v)
        elif isinstance(v, dict):
            stack.extend(reversed(list(v.values())))
        elif isinstance(v, list):
            stack.extend(reversed(v))
    return out


def _multipart(content_type: str, raw: bytes) -> list[str]:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1", "replace")
    try:
        msg = BytesParser(policy=HTTP).parsebytes(head + raw)
    except Exception:      # a malformed body is not the detector's business
        return []
    out = []
    for part in msg.iter_parts() if msg.is_multipart() else ():
        if part.get_filename() is not None:
            continue        # a file upload: no words of the child's to read
        ct = part.get_content_type()
        if ct.startswith("text/") or ct == "application/json":
            payload = part.get_payload(decode=True) or b""
            out += body_texts(ct, payload, part.get_content_charset() or "utf-8")
    return out[:MAX_STRINGS]


class _Visible(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in _SKIP_TAGS:
            self.skip += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in _SKIP_TAGS and self.skip:
            self.skip -= 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def _html_texts(text: str) -> list[str]:
    p = _Visible()
    try:
        p.feed(text)
        p.close()
    except Exception:
        return []
    lines = (" ".join(line.split()) for line in "".join(p.parts).split("\n"))
    text = "\n".join(line for line in lines if line)[:MAX_PAGE]
    return _keep([text])
