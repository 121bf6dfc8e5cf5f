"""Host names as the index stores them: lower-case A-labels (punycode), no trailing dot.

One place for the rule so that parsing a list and looking up a query can never disagree on a spelling.
"""
from __future__ import annotations

import re

# DNS names in lists are hostnames in practice, but real lists hold "_dmarc"-style labels and labels with edge
# hyphens that do resolve; refusing them would silently unblock, so only the character set and lengths are checked.
_LABEL = re.compile(r"[a-z0-9_-]{1,63}\Z")
_NUMERIC_TLD = re.compile(r"[0-9]+\Z")
# The same rules as to_ascii for a name already in stored form, in one regex: the fast path for big lists.
is_stored_form = re.compile(r"(?=.{1,253}\Z)(?:[a-z0-9_-]{1,63}\.)*(?![0-9]+\Z)[a-z0-9_-]{1,63}\Z").match


def to_ascii(name: str) -> str | None:
    """``name`` lower-cased, without its trailing dot, IDN labels as punycode; None if it is not a usable name."""
    name = name.strip().lower()
    if name.endswith("."):
        name = name[:-1]
    if not name:
        return None
    if not name.isascii():
        try:
            # The stdlib codec is IDNA 2003 (it maps "ß" to "ss"); the `idna` package is not a dependency and list
            # authors write the common U-labels that both standards encode alike.
            name = name.encode("idna").decode("ascii").lower()
        except UnicodeError:
            return None
    if len(name) > 253:
        return None
    labels = name.split(".")
    if not all(_LABEL.match(label) for label in labels):
        return None
    if _NUMERIC_TLD.match(labels[-1]):     # an IPv4 address or a number, not a name
        return None
    return name


def stored_form(name: str) -> str | None:
    """``to_ascii`` with the fast path first: a name already in stored form is returned as it is."""
    return name if is_stored_form(name) else to_ascii(name)


def query_ascii(qname: str) -> str | None:
    """Fast path for lookups: a query off the wire is already ASCII; only an unusual one pays for ``to_ascii``."""
    if qname.isascii():
        name = qname.lower()
        return name[:-1] if name.endswith(".") else name
    return to_ascii(qname)
