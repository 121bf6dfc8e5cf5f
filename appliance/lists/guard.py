"""What a parent's list may block by suffix: nothing on shared infrastructure.

A list a parent adds can hold ``cloudfront.net`` or ``googleapis.com``; as a suffix rule that blocks every site
on Amazon's CDN or every Google font. The curated lists are held to ``shared-infrastructure.txt`` by the test
suite; a parent's list is held to it here, at compile time: a suffix rule on (or under) a shared suffix is kept
for that one host only, like a hosts-file line, and counted so the list's status can say so.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import marisa_trie

from .parse import parse_file

SHARED_FILE = "shared-infrastructure.txt"


def shared_suffixes(blocklists_dir: str | Path) -> frozenset[str]:
    path = Path(blocklists_dir) / SHARED_FILE
    try:
        return frozenset(parse_file(path).domains)
    except OSError:
        return frozenset()


def on_shared(name: str, shared: frozenset[str]) -> bool:
    """``name`` is a shared suffix or a name under one."""
    if name in shared:
        return True
    i = name.find(".")
    while i >= 0:
        if name[i + 1:] in shared:
            return True
        i = name.find(".", i + 1)
    return False


def shared_matcher(shared: frozenset[str]) -> Callable[[str], bool]:
    """``on_shared`` for a million names: one C call a name (a trie of the suffixes written backwards) instead of
    a set lookup per label."""
    if not shared:
        return lambda name: False
    trie = marisa_trie.Trie(s[::-1] for s in shared)
    prefixes = trie.prefixes

    def match(name: str) -> bool:
        rev = name[::-1]
        n = len(rev)
        # "ten.tnorfduolc" is a prefix of "ten.tnorfduolc.x" (under it) and of "ten.tnorfduolcx" (not under it)
        return any(len(p) == n or rev[len(p)] == "." for p in prefixes(rev))
    return match


def narrowed(domains, exact: frozenset[str], shared: frozenset[str]) -> list[str]:
    """The suffix rules of a parent's list that the guard narrows to their host."""
    return [d for d in domains if d not in exact and on_shared(d, shared)]
