"""``scan(text)``: the worrying things a message says, each with its category, rule and a one-sentence excerpt.

A rule hits when one of its ``match`` phrases is in the message, one of its ``near`` phrases (if it has any) is
within ``window`` words, and none of its ``unless`` phrases is within ``window`` words. The first occurrence that
survives is the one reported; a rule hits at most once per message.

Language: with ``lang=None`` every language's rules are asked. Guessing the language of a five-word message is
unreliable, children mix ("t'es nul, kys"), and a French phrase almost never occurs in an English message, so
asking both costs a little time and no precision. ``lang="fr"`` asks the French rules only.

The rules are read once per directory and kept (``scanner_for``); a scan reads nothing from disk.
"""
from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .normalize import normalize
from .rules import RuleSet, load_dir

__all__ = ["Hit", "Scanner", "scan", "scanner_for", "RULES_DIR", "MAX_EXCERPT"]

RULES_DIR = Path(__file__).resolve().parent.parent.parent / "blocklists" / "textscan"
MAX_EXCERPT = 200       # characters: a sentence, never a page
_SENTENCE_END = re.compile(r"[.!?…]+(?=\s|$)|\n+")


@dataclass(frozen=True, slots=True)
class Hit:
    category: str
    rule: str           # "en.secret-from-parents"
    description: str    # what the rule catches, in words for parents
    excerpt: str        # the sentence around the hit, at most MAX_EXCERPT characters

    def as_dict(self) -> dict:
        return {"category": self.category, "rule": self.rule, "excerpt": self.excerpt}


def excerpt(text: str, start: int, end: int, limit: int = MAX_EXCERPT) -> str:
    """The sentence holding text[start:end], cut down around it when the sentence is long."""
    s = 0
    for m in _SENTENCE_END.finditer(text, 0, start):
        s = m.end()
    m = _SENTENCE_END.search(text, end)
    e = m.end() if m and not m.group().startswith("\n") else (m.start() if m else len(text))
    s, e = _strip(text, s, e)
    if e - s <= limit:
        return text[s:e]
    room = max(limit - (end - start), 0) // 2          # keep the hit, share what is left either side
    a, b = max(s, start - room), min(e, end + room)
    if b - a > limit:                                   # the hit alone is longer than the limit
        b = a + limit
    if a > s:                                           # do not cut a word in half
        sp = text.find(" ", a, start)
        a = sp + 1 if sp != -1 else a
    if b < e:
        sp = text.rfind(" ", end, b)
        b = sp if sp != -1 else b
    return ("…" if a > s else "") + text[a:b].strip() + ("…" if b < e else "")


def _strip(text: str, s: int, e: int) -> tuple[int, int]:
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    return s, e


class Scanner:
    """Compiled rule sets; ``scan`` is a pure function of the text."""

    def __init__(self, rulesets: tuple[RuleSet, ...]):
        self.rulesets = {rs.language: rs for rs in rulesets}

    def scan(self, text: str, lang: str | None = None) -> tuple[Hit, ...]:
        if not text or not text.strip():
            return ()
        norm = normalize(text)
        if not norm.words:
            return ()
        joined = " " + " ".join(norm.words) + " "
        # where each word starts in `joined`, to turn a match's characters into word positions
        starts, pos = [], 1
        for w in norm.words:
            starts.append(pos)
            pos += len(w) + 1
        if lang is None:
            sets = self.rulesets.values()
        elif lang in self.rulesets:
            sets = (self.rulesets[lang],)
        else:
            raise ValueError(f'no rules for language "{lang}" (there are: {", ".join(sorted(self.rulesets))})')
        at: dict[str, list[int]] = {}               # word -> where it starts in `joined`
        for w, st in zip(norm.words, starts):
            at.setdefault(w, []).append(st)
        present = frozenset(at)
        found: list[tuple[int, Hit]] = []
        for rs in sets:
            for rule in rs.rules:
                if rule.firsts is None:
                    candidates = rule.match.finditer(joined)
                else:                               # try the rule only where one of its first words is
                    common = rule.firsts.intersection(present)   # walks the smaller of the two sets
                    if not common:
                        continue
                    where = sorted(p for w in common for p in at[w])
                    candidates = (rule.anchored.match(joined, p) for p in where)
                for m in candidates:
                    if m is None or m.end() == m.start():
                        continue                    # no match there, or only optional words matched
                    first = bisect.bisect_right(starts, m.start()) - 1
                    last = bisect.bisect_right(starts, m.end() - 2) - 1
                    lo = starts[max(first - rule.window, 0)] - 1
                    hi_word = min(last + rule.window, len(starts) - 1)
                    hi = starts[hi_word] + len(norm.words[hi_word]) + 1
                    around = joined[lo:hi]
                    if rule.near is not None and not rule.near.search(around):
                        continue
                    if rule.unless is not None and rule.unless.search(around):
                        continue
                    start, end = norm.spans[first][0], norm.spans[last][1]
                    found.append((start, Hit(rule.category, rule.id, rule.description,
                                             excerpt(text, start, end))))
                    break
        found.sort(key=lambda x: x[0])
        return tuple(h for _, h in found)


@lru_cache(maxsize=4)
def scanner_for(directory: str | Path = RULES_DIR) -> Scanner:
    """The scanner for a rules directory, compiled once (RulesError if the files are bad)."""
    return Scanner(load_dir(directory))


def scan(text: str, lang: str | None = None) -> tuple[Hit, ...]:
    """The hits of the shipped rules in ``text`` (English and French unless ``lang`` says one)."""
    return scanner_for(RULES_DIR).scan(text, lang)
