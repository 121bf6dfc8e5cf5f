"""A config that cannot be used, and the words its messages use for values."""
from __future__ import annotations

import difflib
import os


class ConfigError(Exception):
    """A config that cannot be used; ``errors`` holds one line per problem, each naming its YAML path."""

    def __init__(self, errors: list[str], path: str | os.PathLike | None = None):
        self.errors = list(errors)
        self.path = path
        where = f"{path}: " if path else ""
        super().__init__(where + "; ".join(self.errors))


MAX_SHOWN = 60      # characters of a value quoted in a message: a huge value must not make a huge message


def shown(v) -> str:
    """A value as a parent wrote it, cut short; never a Python type name."""
    if v is None:
        return "nothing"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dict):
        return "a mapping"
    if isinstance(v, (list, tuple)):
        return "a list"
    text = repr(v) if isinstance(v, str) else str(v)
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + "…"


def unknown(what: str, name, known) -> str:
    """unknown category "datng" (did you mean "dating"? known: adult, bypass, …)"""
    close = difflib.get_close_matches(str(name), list(known), n=1)
    hint = f'did you mean "{close[0]}"? ' if close else ""
    return f'unknown {what} "{str(name)[:MAX_SHOWN]}" ({hint}known: {fmt_names(known) or "none"})'


def fmt_names(names) -> str:
    names = sorted(names)
    shown_ = ", ".join(names[:8])
    return shown_ + (", …" if len(names) > 8 else "")
