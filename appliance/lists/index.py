"""The compiled domain index: every blocked suffix, the list it belongs to and where the rule came from.

Layout, chosen for a 1 GB Pi with a million names:
- a ``marisa_trie.Trie`` of the names written backwards ("moc.elgemo"), so that one ``prefixes()`` call finds
  every stored suffix of a query, and names under the same TLD share their prefix in the trie;
- an ``array`` mapping each trie key id to a *combo* id, 2 bytes a name;
- a small table of combos: the distinct (lists, sources, exceptions) sets. Almost every name is in one list from
  one source, so there are few combos whatever the number of names.

The index is immutable (``stale`` is set once, by store.py, before anyone else sees it): the daemon builds a new
one off the event loop and swaps it in with one assignment.
"""
from __future__ import annotations

import json
import os
import struct
from array import array
from collections import Counter
from dataclasses import dataclass
from itertools import repeat
from operator import itemgetter
from pathlib import Path
from typing import Callable, Iterable

import marisa_trie

from ..files import atomic_write
from .names import query_ascii, stored_form
from .parse import EXCEPTION, RULE

_MAGIC = b"HEARTH-INDEX\x00v2\n"         # v2: exact-host rules
_HEADER = struct.Struct("<QQQ")     # lengths of: trie bytes, value array bytes, JSON table
_NONE: tuple = ()
_LIST_SHIFT = 22                    # a packed code: list id << 22 | source id << 2 | is-exact << 1 | is-exception
_SOURCE_MASK = (1 << 20) - 1
_EXACT = EXACT = 2                  # parse.HOST: a hosts-file line blocks its one host
_MAX_LISTS = (1 << 32 >> _LIST_SHIFT) - 1     # a code fits the 4-byte array of the second pass
_UNSET = 0xFFFFFFFF                 # no code yet: the top list id, which _MAX_LISTS keeps unused


@dataclass(frozen=True, slots=True)
class Hit:
    list: str     # what a profile blocks: a category name ("dating"), "app:<name>", or "never-block"
    rule: str     # the rule that matched as a domain suffix (e.g. "omegle.com" for www.omegle.com)
    source: str   # where the rule came from: "curated", "config", or the parent's list name


@dataclass(frozen=True, slots=True)
class _Combo:
    excepts: frozenset[str]                 # lists whose rules at this name and its parents do not apply below it
    rules: tuple[tuple[str, str, bool], ...]    # (list, source, exact) of each rule at this name; an exact rule
                                                # (a hosts-file line) matches this name only, not names under it


class DomainIndex:
    """Suffix lookup over (domain, list, source) rules with per-list adblock exceptions."""

    __slots__ = ("_trie", "_values", "_combos", "_table", "_size", "_buffer", "stale")

    def __init__(self, trie: marisa_trie.Trie, values: array, table: dict):
        # Why this index is older than the config's lists (a compile that failed, see store.py); None when current.
        self.stale: str | None = None
        self._buffer = None         # the bytes a loaded trie lives in (frombytes maps it instead of copying)
        self._trie = trie
        self._values = values
        self._table = table      # the JSON-able form, kept for save(): lists, sources, combos as codes, size
        self._size: int = table["size"]
        lists, sources = table["lists"], table["sources"]
        self._combos = tuple(
            _Combo(frozenset(lists[lid] for lid, _, exc, _ in codes if exc),
                   tuple((lists[lid], sources[sid], bool(exact)) for lid, sid, exc, exact in codes if not exc))
            for codes in table["combos"])

    # --- building ---------------------------------------------------------------------------------------------

    @classmethod
    def build(cls, entries: Iterable[tuple[str, str, str]],
              exceptions: Iterable[tuple[str, str, str]] = (),
              exact: Iterable[tuple[str, str, str]] = ()) -> "DomainIndex":
        """Compile rules, exceptions and exact-host rules, each ``(domain, list, source)``. A rule matches its
        name and every name under it; an exact rule its name only.

        Holds every input in a list: for small inputs and tests. Big lists go through ``compile``.
        """
        rules = []
        for items, kind in ((entries, RULE), (exact, EXACT), (exceptions, EXCEPTION)):
            for domain, lst, src in items:
                name = stored_form(domain)
                if name:
                    rules.append((name, lst, src, kind))
        return cls.compile(lambda: rules)

    @classmethod
    def compile(cls, rules: Callable[[], Iterable[tuple[str, str, str, int]]]) -> "DomainIndex":
        """Compile ``(domain, list, source, kind)`` rules (kind: parse.RULE, EXACT or EXCEPTION) in two passes
        over ``rules()``, which must give the same rules each time it is called. Domains must be in stored form
        (names.stored_form), as the parser gives them.

        The first pass feeds the names straight into the trie; the second looks up each name's key id and files
        its code in an array. No Python string or dict per name is ever held, so a million names take about a
        trie's build memory (~85 MB) instead of ~200 MB.

        A name in the same list twice keeps the first source given (a rule over an exact rule), so callers feed
        curated data first.
        """
        trie = marisa_trie.Trie(map(_backwards, map(_domain, rules())))      # C loops: no Python per name

        # Pass 2: each key id's first code, and the few names with more than one (in several lists or sources).
        list_ids: dict[str, int] = {}
        source_ids: dict[str, int] = {}
        first = array("I", [_UNSET]) * len(trie)
        more: dict[int, list[int]] = {}
        key_id = trie.key_id
        last_list = last_source = None
        base = 0
        for domain, lst, src, kind in rules():
            if lst is not last_list or src is not last_source:   # rules come in runs of one list
                last_list, last_source = lst, src
                base = (list_ids.setdefault(lst, len(list_ids)) << _LIST_SHIFT
                        | source_ids.setdefault(src, len(source_ids)) << 2)
                if len(list_ids) > _MAX_LISTS or len(source_ids) > _SOURCE_MASK:
                    raise ValueError(f"too many lists to compile ({len(list_ids)} lists, {len(source_ids)} sources)")
            try:
                kid = key_id(domain[::-1])
            except KeyError:
                raise ValueError(f"{domain}: a list changed while it was compiled") from None
            code = base | kind
            old = first[kid]
            if old == _UNSET:
                first[kid] = code
            elif old != code:
                more.setdefault(kid, [old]).append(code)
        del key_id

        # Combos: the distinct code sets. A name with one code has it as its combo, the rest a sorted tuple.
        combo_of = {kid: _dedupe(codes) for kid, codes in more.items()}
        combo_of = {kid: combo[0] if len(combo) == 1 else combo for kid, combo in combo_of.items()}
        counts = Counter(first)
        if _UNSET in counts:
            raise ValueError("a list changed while it was compiled")
        for kid, combo in combo_of.items():
            counts[first[kid]] -= 1
            counts[combo] += 1
        # The commonest combo (usually: the biggest list's) gets id 0; ids follow how often they are used.
        ordered = [value for value, n in counts.most_common() if n > 0]
        combo_ids = {value: cid for cid, value in enumerate(ordered)}
        values = array("H" if len(ordered) <= 0x10000 else "I", 
                       map(combo_ids.get, first, repeat(0)))    # a name in `more` gets its own combo below
        del first
        for kid, combo in combo_of.items():
            values[kid] = combo_ids[combo]
        codes_of = [(v,) if type(v) is int else v for v in ordered]
        size = sum(counts[v] * sum(1 for c in codes if not c & 1) for v, codes in zip(ordered, codes_of))
        combos = [[[c >> _LIST_SHIFT, (c >> 2) & _SOURCE_MASK, c & 1, (c & _EXACT) >> 1] for c in codes]
                  for codes in codes_of]
        table = {"lists": list(list_ids), "sources": list(source_ids), "combos": combos, "size": size}
        return cls(trie, values, table)

    # --- querying ---------------------------------------------------------------------------------------------

    def lookup(self, qname: str) -> tuple[Hit, ...]:
        """Every hit for ``qname`` and each parent suffix, most specific first; ``()`` when nothing matches."""
        name = query_ascii(qname)
        if not name:
            return _NONE
        rev = name[::-1]
        found = self._trie.prefixes(rev)
        if not found:
            return _NONE
        n = len(rev)
        hits: list[Hit] = []
        excepted: frozenset[str] | None = None
        for key in reversed(found):                    # longest stored suffix first
            k = len(key)
            if k != n and rev[k] != ".":               # "moc.elgemo" inside "moc.elgemoton": not a label boundary
                continue
            combo = self._combos[self._values[self._trie.key_id(key)]]
            if combo.excepts:
                excepted = combo.excepts if excepted is None else excepted | combo.excepts
            if combo.rules:
                rule = name[n - k:]
                for lst, src, exact in combo.rules:
                    if (excepted is None or lst not in excepted) and (not exact or k == n):
                        hits.append(Hit(lst, rule, src))
        return tuple(hits) if hits else _NONE

    def __len__(self) -> int:
        """The number of (domain, list) rules; exceptions are not counted."""
        return self._size

    def lists(self) -> frozenset[str]:
        """The lists that hold at least one rule."""
        return frozenset(lst for combo in self._combos for lst, _, _ in combo.rules)

    def counts(self) -> dict[str, int]:
        """Rules per list, for status pages. Walks every name: not for the query path."""
        per_combo = [0] * len(self._combos)
        for cid in self._values:
            per_combo[cid] += 1
        out: dict[str, int] = {}
        for combo, n in zip(self._combos, per_combo):
            for lst, _, _ in combo.rules:       # one rule per list in a combo
                out[lst] = out.get(lst, 0) + n
        return out

    def __repr__(self) -> str:
        return f"<DomainIndex {self._size} rules in {len(self.lists())} lists>"

    # --- the on-disk cache ------------------------------------------------------------------------------------

    def save(self, path: str | os.PathLike) -> None:
        """Write the compiled index to ``path`` atomically (temporary file, then rename)."""
        atomic_write(Path(path), self.tobytes())

    @classmethod
    def load(cls, path: str | os.PathLike) -> "DomainIndex":
        """Read an index written by ``save``; ValueError if the file is not one (the caller recompiles)."""
        with open(path, "rb") as f:
            data = f.read()
        return cls.frombytes(data, str(path))

    def tobytes(self) -> bytes:
        """The index as one string of bytes: the cache file's content, and what the compile child sends back."""
        trie = self._trie.tobytes()
        values = self._values.tobytes()
        table = json.dumps({**self._table, "typecode": self._values.typecode},
                           separators=(",", ":")).encode()
        return b"".join((_MAGIC, _HEADER.pack(len(trie), len(values), len(table)), trie, values, table))

    @classmethod
    def frombytes(cls, data: bytes, what: str = "index") -> "DomainIndex":
        """The index ``tobytes`` gave; ValueError, naming ``what``, if ``data`` is not one."""
        start = len(_MAGIC) + _HEADER.size
        if not data.startswith(_MAGIC) or len(data) < start:
            raise ValueError(f"{what}: not a Hearth index file")
        n_trie, n_values, n_table = _HEADER.unpack_from(data, len(_MAGIC))
        if start + n_trie + n_values + n_table != len(data):
            raise ValueError(f"{what}: truncated Hearth index file")
        view = memoryview(data)
        try:
            # map, not frombytes: the trie is read in place, so loading costs no copy (frombytes made two, and
            # the daemon's heap kept them: +20 MB after a reload of a million names)
            trie = marisa_trie.Trie().map(view[start:start + n_trie])
            table = json.loads(bytes(view[start + n_trie + n_values:]))
            values = array(table.pop("typecode"))
            values.frombytes(view[start + n_trie:start + n_trie + n_values])
        except (RuntimeError, ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{what}: damaged Hearth index file: {e}") from e
        if len(values) != len(trie):
            raise ValueError(f"{what}: damaged Hearth index file: {len(values)} values for {len(trie)} names")
        index = cls(trie, values, table)
        index._buffer = data
        return index


_domain = itemgetter(0)
_backwards = itemgetter(slice(None, None, -1))      # name[::-1]: the trie key


def _dedupe(codes: list[int]) -> tuple[int, ...]:
    """One code per (list, rule-or-exception): the first source given wins, except that a rule beats an exact
    rule of the same list (it blocks more); sorted so equal sets share a combo."""
    seen: dict[int, int] = {}
    for c in codes:
        k = c >> _LIST_SHIFT << 1 | (c & 1)
        old = seen.get(k)
        if old is None or (old & _EXACT and not c & _EXACT):
            seen[k] = c
    return tuple(sorted(seen.values()))
