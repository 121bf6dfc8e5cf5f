"""What the proxy decides on its own, as pure functions: which connections it leaves encrypted, which pages of an
allowed site a child's rules block, and what it adds to safe-search requests. Everything about names (blocks,
schedules, overrides, safe search on or off) is the policy engine's; these only refine an engine decision with what
a proxy sees and DNS cannot (a path, a query string, a header).

The order, in one place (``page_verdict``): the engine's decision for the host first. A block stays a block. A
decision that beats a child's deny list in ``decide()`` (the canary, the essentials, a live timed allow, a profile
with filtering off) also beats the page rules: a parent who allowed reddit.com for 30 minutes allowed all of it.
Otherwise a ``block_urls`` prefix blocks the page (DENY_LIST, list "deny", the prefix as the rule), as the
child's own deny list would block the whole host.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Iterable, Mapping

import yaml

from ..lists.names import query_ascii, to_ascii
from ..model import Action, Decision, Reason

__all__ = ["ProxyRules", "load_rules", "suffix_in", "read_names", "page_verdict", "url_rule", "safe_search_edits",
           "Handshakes", "PASSTHROUGH_FILE", "LEARNED_FILE"]

PASSTHROUGH_FILE = "passthrough.txt"       # under blocklists/proxy/
SAFESEARCH_FILE = "safesearch.yaml"        # under blocklists/proxy/
LEARNED_FILE = "learned-passthrough.txt"   # under <data_dir>/proxy/: hosts that refused the proxy's certificate

# Decisions that beat a child's own deny list in decide(): they beat the page rules too.
_BEATS_DENY = frozenset({Reason.CANARY, Reason.ESSENTIAL, Reason.OVERRIDE, Reason.UNFILTERED})
_EMPTY: Mapping = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class ProxyRules:
    passthrough: frozenset[str] = frozenset()           # suffixes never decrypted
    params: Mapping[str, Mapping[str, str]] = field(default_factory=lambda: _EMPTY)     # engine -> query params
    headers: Mapping[str, Mapping[str, str]] = field(default_factory=lambda: _EMPTY)    # safe host -> headers


def read_names(text: str) -> list[str]:
    """The names of a one-a-line list ("#" starts a comment); names that are not host names are skipped."""
    out = []
    for line in text.splitlines():
        name = to_ascii(line.split("#", 1)[0])
        if name:
            out.append(name)
    return out


def load_rules(proxy_dir: str | Path, extra: Iterable[str] = (), learned: Iterable[str] = ()) -> ProxyRules:
    """The shipped passthrough list and safe-search edits from ``blocklists/proxy``, with the parent's own
    passthrough hosts and the learned ones. A missing or broken file raises OSError or ValueError with its name."""
    d = Path(proxy_dir)
    names = read_names((d / PASSTHROUGH_FILE).read_text(encoding="utf-8"))
    try:
        data = yaml.safe_load((d / SAFESEARCH_FILE).read_text(encoding="utf-8")) or {}
        engines = data["engines"]
        params = {e: {str(k): str(v) for k, v in (spec.get("params") or {}).items()} for e, spec in engines.items()}
        headers = {}
        for spec in engines.values():
            for host, hs in (spec.get("headers") or {}).items():
                headers[str(host)] = {str(k): str(v) for k, v in hs.items()}
    except (yaml.YAMLError, KeyError, AttributeError, TypeError) as e:
        raise ValueError(f"{d / SAFESEARCH_FILE}: not a safe-search file Hearth can read ({e})") from None
    every = set(names) | {n for n in (to_ascii(x) for x in (*extra, *learned)) if n}
    return ProxyRules(frozenset(every), MappingProxyType(params), MappingProxyType(headers))


def suffix_in(host: str, suffixes: frozenset[str]) -> str | None:
    """The longest suffix of ``host`` (on a label boundary) that is in ``suffixes``."""
    name = query_ascii(host) or host.lower()
    if name in suffixes:
        return name
    i = name.find(".")
    while i >= 0:
        if name[i + 1:] in suffixes:
            return name[i + 1:]
        i = name.find(".", i + 1)
    return None


def url_rule(host: str, path: str, prefixes: Iterable[str]) -> str | None:
    """The ``block_urls`` prefix that covers ``host`` + ``path``: its host by suffix, its path on a segment
    boundary ("reddit.com/r/foo" covers /r/foo and /r/foo/comments, not /r/foobar). Query strings are ignored.
    The longest matching prefix wins."""
    name = query_ascii(host) or host.lower()
    p = path.split("?", 1)[0].split("#", 1)[0] or "/"
    best = None
    for rule in prefixes:
        rhost, slash, rpath = rule.partition("/")
        if not (name == rhost or name.endswith("." + rhost)):
            continue
        if slash and rpath:
            want = "/" + rpath.rstrip("/")
            if not (p == want or p.startswith(want + "/") or (rpath.endswith("/") and p.startswith(want))):
                continue
        if best is None or len(rule) > len(best):
            best = rule
    return best


def page_verdict(decision: Decision, host: str, path: str, block_urls: Iterable[str]) -> Decision:
    """The engine's decision for ``host``, refined by the child's page rules (the order is the module's)."""
    if decision.action is Action.BLOCK or decision.reason in _BEATS_DENY:
        return decision
    rule = url_rule(host, path, block_urls)
    if rule is None:
        return decision
    return Decision(Action.BLOCK, Reason.DENY_LIST, decision.profile, list="deny", rule=rule)


def safe_search_edits(decision: Decision, rules: ProxyRules) -> tuple[dict[str, str], dict[str, str]]:
    """(query parameters to set, headers to set) for a request the engine rewrote for safe search: the engine's
    name is the Decision's list, the YouTube level its safe host. Nothing for any other decision."""
    if decision.reason is not Reason.SAFE_SEARCH:
        return {}, {}
    params = dict(rules.params.get(decision.list or "", {}))
    headers = dict(rules.headers.get(decision.target or "", {}))
    return params, headers


class Handshakes:
    """Learning the apps that refuse the proxy's certificate, without learning a whole device that simply does
    not trust the CA yet.

    A client that completed an inspected handshake trusts the CA: a host it then fails on twice is pinned, and is
    learned. A client that never completed one and fails on ``spread`` different hosts within ``window`` seconds
    is a device without the CA: nothing is learned from it, and the parent is told once (``"no-ca"``)."""

    def __init__(self, *, needed: int = 2, spread: int = 4, window: float = 600.0, clock=time.monotonic):
        self.needed, self.spread, self.window, self.clock = needed, spread, window, clock
        self._trusted: dict[str, float] = {}                  # client -> last inspected handshake
        self._fails: dict[tuple[str, str], int] = {}          # (client, host) -> failures
        self._recent: dict[str, dict[str, float]] = {}        # client -> host -> last failure
        self._told: dict[str, float] = {}                     # client -> when "no-ca" was said
        self.learned: set[str] = set()

    def succeeded(self, client: str) -> None:
        self._trusted[client] = self.clock()
        self._recent.pop(client, None)

    def failed(self, client: str, host: str) -> str:
        """"learn" (pass ``host`` through from now on), "no-ca" (this device lacks the CA), or "wait"."""
        now = self.clock()
        if host in self.learned:
            return "wait"
        recent = self._recent.setdefault(client, {})
        recent[host] = now
        for h in [h for h, t in recent.items() if now - t > self.window]:
            del recent[h]
        if client not in self._trusted and len(recent) >= self.spread:
            if now - self._told.get(client, -self.window - 1) > self.window:
                self._told[client] = now
                return "no-ca"
            return "wait"
        n = self._fails[(client, host)] = self._fails.get((client, host), 0) + 1
        if n >= self.needed and (client in self._trusted or len(recent) < self.spread):
            self.learned.add(host)
            return "learn"
        return "wait"
