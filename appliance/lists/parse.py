"""Parse a block list in any format parents paste in: hosts files, plain domains, adblock ``||domain^`` rules.

Every line is accounted for: a domain, an exception, a comment, or *unsupported* (counted, a few kept with their
line numbers for the status page). A line we cannot use is never fatal and never silently dropped: a parent must
be able to see that the list they added blocks less than they think.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from .names import is_stored_form, to_ascii

MAX_SAMPLES = 5

_INLINE_COMMENT = re.compile(r"\s+#.*\Z")          # "a.com   # seen 2026-11"; not "a.com##.ad" (cosmetic)
_COSMETIC = re.compile(r"#[@?$%]?#|#@\$#|\$\$")      # element hiding, scriptlets, HTML filters
# Names hosts files map that are the machine itself, not something to block.
_HOSTS_SELF = frozenset({
    "localhost", "localhost.localdomain", "local", "broadcasthost", "localdomain", "0.0.0.0",
    "ip6-localhost", "ip6-loopback", "ip6-localnet", "ip6-mcastprefix", "ip6-allnodes", "ip6-allrouters",
    "ip6-allhosts",
})
_NULL_IPS = frozenset({"0.0.0.0", "127.0.0.1", "::", "::1", "::0", "0:0:0:0:0:0:0:0", "0:0:0:0:0:0:0:1"})
# Adblock options that leave "||domain^" meaning "block this domain and everything under it". Any other option
# narrows the rule (third-party, script, client=, dnstype=) or changes it (badfilter, dnsrewrite): unsupported.
_BLOCK_OPTIONS = frozenset({"important", "all", "document", "doc"})


@dataclass(frozen=True, slots=True)
class ParsedList:
    domains: tuple[str, ...]        # stored form (see names.to_ascii), de-duplicated, in order of first appearance
    exceptions: tuple[str, ...]     # from "@@||domain^"
    unsupported: int                # lines that were not comments and gave nothing usable
    samples: tuple[str, ...]        # a few of those: "line 12: ##.ad (cosmetic rule)"
    lines: int                      # lines read
    # The domains that came only from hosts-file lines ("0.0.0.0 ads.example.com"): such a line names one host,
    # as in Pi-hole and AdGuard Home, so it blocks that name and not the names under it. Plain-domain and
    # "||domain^" lines block the name and everything under it.
    exact: frozenset[str] = frozenset()


class _Unsupported(Exception):
    """One line we cannot use; the message says why. ``partial``: what the line did give (a hosts line with one
    bad name among good ones still blocks the good ones)."""

    def __init__(self, why: str, partial: list[tuple[str, bool]] | None = None):
        super().__init__(why)
        self.partial = partial or []


def parse_file(path: str | Path) -> ParsedList:
    # Read line by line: a million-line list never sits in memory twice. A list is text of unknown origin:
    # undecodable bytes become U+FFFD, which then fail as invalid names.
    with open_list(path) as f:
        return parse_lines(f)


def open_list(path: str | Path):
    """A list file opened the way every reader here reads it (text, BOM dropped, bad bytes replaced)."""
    return open(path, encoding="utf-8-sig", errors="replace")


def parse_list(text: str) -> ParsedList:
    return parse_lines(text.removeprefix("\ufeff").splitlines())


def parse_lines(lines: Iterable[str]) -> ParsedList:
    domains: dict[str, None] = {}
    exceptions: dict[str, None] = {}
    suffix: set[str] = set()            # names some non-hosts line gave: they match their subdomains
    counts = LineCounts()
    for name, kind in iter_names(lines, counts):
        if kind == EXCEPTION:
            exceptions[name] = None
            continue
        domains[name] = None
        if kind == RULE:
            suffix.add(name)
    return ParsedList(tuple(domains), tuple(exceptions), counts.unsupported, tuple(counts.samples), counts.lines,
                      frozenset(d for d in domains if d not in suffix))


# What a line gives: a suffix rule, an exception, one exact host. index.py packs these same numbers into its codes.
RULE, EXCEPTION, HOST = 0, 1, 2


@dataclass(slots=True)
class LineCounts:
    """What iter_names saw besides names; complete once its iterator is exhausted."""
    lines: int = 0
    unsupported: int = 0
    samples: list[str] = field(default_factory=list)


def iter_names(lines: Iterable[str], counts: LineCounts | None = None) -> Iterator[tuple[str, int]]:
    """Every ``(name, kind)`` a list gives, line by line, repeats included. Nothing is held, so the compile can
    read a million-line list twice (index.py's two passes) in the memory of one line."""
    counts = counts if counts is not None else LineCounts()
    lineno = 0
    # The common case (one lower-case name a line) is decided by one regex; the rest takes the slow path.
    fast = is_stored_form
    try:
        for lineno, raw in enumerate(lines, 1):
            line = raw.strip()
            if not line:
                continue
            if fast(line):
                yield line, RULE
                continue
            try:
                found = _parse_line(line)
            except _Unsupported as why:
                found = why.partial
                counts.unsupported += 1
                if len(counts.samples) < MAX_SAMPLES:
                    shown = line if len(line) <= 80 else line[:77] + "..."
                    counts.samples.append(f"line {lineno}: {shown} ({why})")
            yield from found
    finally:
        counts.lines = lineno


def _parse_line(line: str) -> list[tuple[str, int]]:
    """The (name, kind) pairs of one non-blank line; [] for comments and self names; raises _Unsupported."""
    first = line[0]
    if first == "!" or (first == "[" and line.endswith("]")):    # adblock comment / "[Adblock Plus 2.0]" header
        return []
    if first == "#":
        # "##.ad-banner" hides elements on every site; "## Title" and "#####" are comments
        m = _COSMETIC.match(line)
        if m and len(line) > m.end() and line[m.end()] not in " #\t":
            raise _Unsupported("cosmetic rule")
        return []
    line = _INLINE_COMMENT.sub("", line)
    if _COSMETIC.search(line):
        raise _Unsupported("cosmetic rule")
    if line.startswith("@@"):
        return [(_adblock(line[2:], exception=True), EXCEPTION)]
    if line.startswith("||"):
        return [(_adblock(line, exception=False), RULE)]
    if first == "/" and line.endswith("/") and len(line) > 2:
        raise _Unsupported("regular expression")
    if first == "|":
        raise _Unsupported("address rule")
    tokens = line.split()
    if len(tokens) > 1 or tokens[0] in _NULL_IPS:
        return _hosts(tokens)
    return [(_domain(tokens[0]), RULE)]


def _hosts(tokens: list[str]) -> list[tuple[str, int]]:
    if not _is_ip(tokens[0]):
        raise _Unsupported("several words on a line")
    if len(tokens) == 1:
        raise _Unsupported("IP address")
    out: list[tuple[str, int]] = []
    error = None
    for token in tokens[1:]:
        if token.lower() in _HOSTS_SELF:
            continue
        try:
            out.append((_domain(token), HOST))
        except _Unsupported as e:
            error = error or f"{token}: {e}"
    if error:
        raise _Unsupported(error, out)
    return out


def _adblock(rule: str, *, exception: bool) -> str:
    if not rule.startswith("||"):
        raise _Unsupported("exception is not a ||domain^ rule" if exception else "address rule")
    body, _, options = rule[2:].partition("$")
    if options:
        bad = [o for o in options.split(",") if o.strip().lower() not in _BLOCK_OPTIONS]
        if bad:
            raise _Unsupported(f"option ${bad[0]}")
    if body.endswith("^|"):
        body = body[:-2]
    elif body.endswith("^"):
        body = body[:-1]
    # "||example.com" without "^" is a prefix in a browser filter (it would also match example.com.evil); a DNS
    # filter can only block the name, which is the part of that meaning we can keep.
    if any(c in body for c in "^/|:?=&"):
        raise _Unsupported("address rule with a path" if "/" in body else "address rule")
    return _domain(body)


def _domain(token: str) -> str:
    if "://" in token:
        _, _, rest = token.partition("://")
        host, slash, path = rest.partition("/")
        if path or "?" in host or "#" in host:
            raise _Unsupported("URL with a path")
        token = host
    elif "/" in token:
        raise _Unsupported("URL with a path")
    if token.startswith("*."):
        token = token[2:]                               # "*.example.com": the suffix rule already covers it
    if "*" in token:
        raise _Unsupported("wildcard")
    if _is_ip(token.strip("[]")):
        raise _Unsupported("IP address")
    name = to_ascii(token)
    if name is None:
        raise _Unsupported("invalid name")
    return name


def _is_ip(token: str) -> bool:
    if token in _NULL_IPS:
        return True
    if not (":" in token or token[:1].isdigit()):
        return False
    try:
        ipaddress.ip_address(token.split("%", 1)[0])    # "fe80::1%lo0" in some hosts files
    except ValueError:
        return False
    return True
