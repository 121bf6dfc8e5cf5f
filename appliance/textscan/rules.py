"""Rule files (blocklists/textscan/*.yaml) loaded, checked and compiled once.

A file holds one language::

    language: en
    terms:                      # named word lists, used in patterns as {name}
      parents: "(mom|mum|dad|parents)"
    contexts:                   # named benign contexts, used in a rule's unless as {name}
      gaming: "(game|fortnite|round|gg)"
    rules:
      - id: secret-from-parents
        category: grooming
        description: Asks the child to hide the conversation from their parents
        match: ["(do not|never) tell {parents}"]
        near: [...]              # optional: one of these must also be within `window` words
        unless: ["{gaming}"]     # optional: any of these within `window` words cancels the hit
        window: 12               # optional, words either side (default 20)

Patterns are words, written the way people write them; each word goes through the same normalisation as the
messages (normalize.py), so "don't" in a rule meets "dont", "do not" and "d0nt" in a message. Syntax:
``a b`` a then b · ``(a|b c)`` either · ``(...)?`` or ``word?`` optional · ``word*`` any word starting so ·
``...`` up to three words of anything · ``{name}`` a term · ``^`` / ``$`` the start / end of the message
(``"^ die $"``: the whole message is "die").

Every problem is reported at once, each naming its file and rule: ``en.yaml: rules[4] (secret-from-parents):
unknown category "groming" (did you mean "grooming"?)``.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from .normalize import words

_norm_words = lru_cache(maxsize=None)(words)      # the same few thousand words recur across rules

__all__ = ["CATEGORIES", "Rule", "RuleSet", "RulesError", "load_file", "load_dir", "compile_pattern"]

# The fifth category is threats: violence announced against the child or by the child (weapons at school),
# and blackmail, sextortion included. Sexual solicitation of a minor is grooming already.
CATEGORIES = ("grooming", "self-harm", "drugs", "bullying", "threats")
DEFAULT_WINDOW = 20
_RULE_KEYS = ("id", "category", "description", "match", "near", "unless", "window")
_FILE_KEYS = ("language", "terms", "contexts", "rules")
_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)     # libyaml when present: the files are long


class RulesError(Exception):
    """Rule files that cannot be used; ``errors`` holds one line per problem, each naming file and rule."""

    def __init__(self, errors: list[str]):
        self.errors = list(errors)
        super().__init__("; ".join(self.errors))


class PatternError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Rule:
    id: str                     # "en.secret-from-parents": language, then the id in its file
    category: str
    description: str            # for parents
    match: re.Pattern | None    # searched anywhere: only for a rule that can start with any word
    anchored: re.Pattern        # the same, tried at a given word
    firsts: frozenset[str] | None   # the words a match can start with; None: any word
    near: re.Pattern | None
    unless: re.Pattern | None
    window: int


@dataclass(frozen=True, slots=True)
class RuleSet:
    language: str
    rules: tuple[Rule, ...]


# --- patterns ----------------------------------------------------------------------------------------------------
# A message becomes " w1 w2 w3 " (canonical words, a space before and after each), so every word of a pattern
# compiles to "word " and a pattern starts after a space: it can only match whole words.

_PTOKEN = re.compile(r"\.\.\.|[()|?^$]|\{[^}]*\}|[^\s()|?{}^$]+")


class _Piece:
    """A compiled bit of pattern: its regex, the words it can start with (None: any word), and whether it can
    match nothing. The first words let the scanner try a rule only where one of them occurs."""

    __slots__ = ("rx", "firsts", "nullable")

    def __init__(self, rx: str, firsts: frozenset[str] | None, nullable: bool):
        self.rx, self.firsts, self.nullable = rx, firsts, nullable


def _union(a: frozenset[str] | None, b: frozenset[str] | None) -> frozenset[str] | None:
    return None if a is None or b is None else a | b


def _sequence(pieces: list[_Piece]) -> _Piece:
    firsts: frozenset[str] | None = frozenset()
    for p in pieces:
        firsts = _union(firsts, p.firsts)
        if not p.nullable:
            return _Piece("".join(x.rx for x in pieces), firsts, False)
    return _Piece("".join(x.rx for x in pieces), firsts, True)


def compile_pattern(text: str, terms: dict[str, str]) -> str:
    """A pattern to a regular expression over the normalised message; raises PatternError in plain words."""
    return _compile(text, terms, 0, {}).rx


def _compile(text: str, terms: dict[str, str], depth: int, done: dict[str, _Piece]) -> _Piece:
    """``done`` keeps the terms already compiled for one file, so a term used by forty rules compiles once."""
    if not isinstance(text, str) or not text.strip():
        raise PatternError("a pattern must be some words in quotes")
    toks = _PTOKEN.findall(text)
    pos = 0

    def seq() -> _Piece:
        nonlocal pos
        out: list[_Piece] = []
        while pos < len(toks) and toks[pos] not in (")", "|"):
            t = toks[pos]
            pos += 1
            if t == "(":
                alts = [seq()]
                while pos < len(toks) and toks[pos] == "|":
                    pos += 1
                    alts.append(seq())
                if pos >= len(toks) or toks[pos] != ")":
                    raise PatternError(f'"{text}": a "(" is never closed')
                pos += 1
                firsts: frozenset[str] | None = frozenset()
                for a in alts:
                    firsts = _union(firsts, a.firsts)
                piece = _Piece("(?:" + "|".join(a.rx for a in alts) + ")", firsts, any(a.nullable for a in alts))
            elif t == "?":
                if not out:
                    raise PatternError(f'"{text}": "?" must follow a word or a group')
                out[-1] = _Piece("(?:" + out[-1].rx + ")?", out[-1].firsts, True)
                continue
            elif t == "^":                                    # the message starts here
                piece = _Piece("(?<=^ )", frozenset(), True)
            elif t == "$":                                    # the message ends here
                piece = _Piece("(?=$)", frozenset(), True)
            elif t == "...":
                piece = _Piece(r"(?:\S+ ){0,3}", None, True)
            elif t.startswith("{"):
                name = t[1:-1].strip()
                if name not in terms:
                    hint = difflib.get_close_matches(name, list(terms), n=1)
                    raise PatternError(f'"{text}": unknown term {{{name}}}'
                                       + (f' (did you mean {{{hint[0]}}}?)' if hint else ""))
                if depth > 5:
                    raise PatternError(f'"{text}": terms refer to each other in a loop')
                if name not in done:
                    inner = _compile(terms[name], terms, depth + 1, done)
                    done[name] = _Piece("(?:" + inner.rx + ")", inner.firsts, inner.nullable)
                piece = done[name]
            else:
                prefix = t.endswith("*") and len(t) > 1
                ws = _norm_words(t[:-1] if prefix else t)
                if not ws:
                    continue                                  # a word the normaliser drops ("ne")
                rx = "".join(re.escape(w) + " " for w in ws)
                if prefix:
                    rx = rx[:-1] + r"\S* "
                piece = _Piece(rx, None if prefix and len(ws) == 1 else frozenset([ws[0]]), False)
            out.append(piece)
        return _sequence(out)

    body = seq()
    if pos < len(toks):
        raise PatternError(f'"{text}": a ")" closes nothing' if toks[pos] == ")"
                           else f'"{text}": "|" only goes inside parentheses')
    if not body.rx:
        raise PatternError(f'"{text}": the pattern has no words')
    return body


def _alternation(patterns: list[_Piece]) -> re.Pattern:
    return re.compile("(?<= )(?:" + "|".join(f"(?:{p.rx})" for p in patterns) + ")")


# --- files -------------------------------------------------------------------------------------------------------

def _did_you_mean(word, choices) -> str:
    hint = difflib.get_close_matches(str(word), list(choices), n=1)
    return f' (did you mean "{hint[0]}"?)' if hint else ""


def _pattern_list(value, where: str, terms: dict, errors: list[str], done: dict) -> list[_Piece]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        errors.append(f"{where}: must be a list of patterns in quotes")
        return []
    out = []
    for i, p in enumerate(value):
        try:
            out.append(_compile(p, terms, 0, done))
        except PatternError as e:
            errors.append(f"{where}[{i}]: {e}")
    return out


def _parse(data, name: str, errors: list[str]) -> RuleSet | None:
    if not isinstance(data, dict):
        errors.append(f"{name}: the file must hold language, terms, contexts and rules")
        return None
    for key in data:
        if key not in _FILE_KEYS:
            errors.append(f'{name}: unknown key "{key}"{_did_you_mean(key, _FILE_KEYS)}')
    lang = data.get("language")
    if not isinstance(lang, str) or not re.fullmatch(r"[a-z]{2}", lang):
        errors.append(f'{name}: language must be a two-letter code such as "en" or "fr"')
        lang = "xx"
    terms: dict[str, str] = {}
    for section in ("terms", "contexts"):
        raw = data.get(section) or {}
        if not isinstance(raw, dict):
            errors.append(f"{name}: {section} must map names to patterns")
            continue
        for k, v in raw.items():
            if not isinstance(k, str) or not _NAME.match(k):
                errors.append(f'{name}: {section}.{k}: a name is lower-case letters, digits and "_"')
            elif k in terms:
                errors.append(f'{name}: {section}.{k}: the name is already used')
            elif not isinstance(v, str) or not v.strip():
                errors.append(f"{name}: {section}.{k}: must be a pattern in quotes")
            else:
                terms[k] = v
    done: dict[str, _Piece] = {}
    for k in terms:                                     # each one compiles on its own, reported once
        try:
            if k not in done:
                inner = _compile(terms[k], terms, 0, done)
                done[k] = _Piece("(?:" + inner.rx + ")", inner.firsts, inner.nullable)
        except PatternError as e:
            errors.append(f"{name}: {k}: {e}")
    rules_raw = data.get("rules")
    if not isinstance(rules_raw, list) or not rules_raw:
        errors.append(f"{name}: rules must be a list with at least one rule")
        return None
    rules: list[Rule] = []
    seen: set[str] = set()
    for i, r in enumerate(rules_raw):
        if not isinstance(r, dict):
            errors.append(f"{name}: rules[{i}]: a rule has id, category, description and match")
            continue
        rid = r.get("id")
        where = f"{name}: rules[{i}]" + (f" ({rid})" if isinstance(rid, str) else "")
        before = len(errors)
        for key in r:
            if key not in _RULE_KEYS:
                errors.append(f'{where}: unknown key "{key}"{_did_you_mean(key, _RULE_KEYS)}')
        if not isinstance(rid, str) or not _ID.match(rid):
            errors.append(f'{where}: id must be lower-case words joined by "-", such as "secret-from-parents"')
        elif rid in seen:
            errors.append(f"{where}: the id is used by another rule of this file")
        else:
            seen.add(rid)
        cat = r.get("category")
        if cat not in CATEGORIES:
            errors.append(f'{where}: unknown category "{cat}"{_did_you_mean(cat, CATEGORIES)}; '
                          f'one of {", ".join(CATEGORIES)}')
        desc = r.get("description")
        if not isinstance(desc, str) or not desc.strip():
            errors.append(f"{where}: description must say in words what the rule catches, for parents")
        window = r.get("window", DEFAULT_WINDOW)
        if isinstance(window, bool) or not isinstance(window, int) or not 1 <= window <= 200:
            errors.append(f"{where}: window must be a number of words from 1 to 200")
            window = DEFAULT_WINDOW
        if "match" not in r:
            errors.append(f"{where}: match is missing (the phrases the rule looks for)")
            match = []
        else:
            match = _pattern_list(r["match"], f"{where}: match", terms, errors, done)
        near = _pattern_list(r["near"], f"{where}: near", terms, errors, done) if "near" in r else []
        unless = _pattern_list(r["unless"], f"{where}: unless", terms, errors, done) if "unless" in r else []
        if len(errors) == before:
            firsts: frozenset[str] | None = frozenset()
            for m in match:
                firsts = None if m.nullable else _union(firsts, m.firsts)
            rules.append(Rule(f"{lang}.{rid}", cat, desc.strip(),
                              _alternation(match) if firsts is None else None,     # only then searched
                              re.compile("(?:" + "|".join(f"(?:{m.rx})" for m in match) + ")"), firsts,
                              _alternation(near) if near else None,
                              _alternation(unless) if unless else None, window))
    return RuleSet(lang, tuple(rules))


def load_file(path: str | Path) -> RuleSet:
    """One rule file; RulesError lists every problem in it."""
    path = Path(path)
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)
    except OSError as e:
        raise RulesError([f"{path.name}: cannot be read: {e.strerror or e}"]) from None
    except UnicodeDecodeError:
        raise RulesError([f"{path.name}: is not UTF-8 text"]) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        raise RulesError([f"{path.name}: is not valid YAML{at}: {getattr(e, 'problem', None) or e}"]) from None
    errors: list[str] = []
    rs = _parse(data, path.name, errors)
    if errors or rs is None:
        raise RulesError(errors)
    return rs


def load_dir(directory: str | Path) -> tuple[RuleSet, ...]:
    """Every *.yaml of a directory, one language each; all files' errors reported together."""
    directory = Path(directory)
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise RulesError([f"{directory}: no rule files (*.yaml) there"])
    sets, errors, langs = [], [], {}
    for f in files:
        try:
            rs = load_file(f)
        except RulesError as e:
            errors.extend(e.errors)
            continue
        if rs.language in langs:
            errors.append(f"{f.name}: language {rs.language} is already given by {langs[rs.language]}")
            continue
        langs[rs.language] = f.name
        sets.append(rs)
    if errors:
        raise RulesError(errors)
    return tuple(sets)
