"""The last good reading of a config file, kept so that the next command need not parse it again.

A parent's `hearth pause` spent a third of its start reading the config: importing PyYAML, parsing the file and
reading the shipped catalog's 46 YAML files to know which category and app names exist. The result is the same
as long as everything it was read from is the same, so ``load`` keeps it here and reuses it only when all of that
is unchanged:

- the file's bytes (compared whole, not by date: a file changed within one clock tick is still read again);
- the catalog it was checked against (each file's size, modification time and inode, the folders' listings);
- the files the reader checks are there (``dns.tls_ca_file``): whether each still is;
- the code that reads a config (Hearth's own modules for it, by size and modification time: an upgrade reads
  the file again), this format, and $HOME (``~`` in a path).

The catalog's names and titles are kept the same way (by its files' signature), and so is the data of a shipped
YAML file (``shipped_data``: blocklists/safesearch.yaml, by its bytes).

Only a config without errors is kept: a broken file is read, and its errors reported with their YAML paths, every
time. The entry is JSON (a tampered entry can never run code), one file per config path in ``$HEARTH_CACHE_DIR``,
else ``$XDG_CACHE_HOME/hearth`` or ``~/.cache/hearth``, used only when it belongs to the user reading it and no one
else may write it. Anything wrong with an entry (unreadable, foreign, stale, from another version) means the file
is read as if there were none; a cache that cannot be written is skipped in silence.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import stat
from datetime import time
from pathlib import Path
from typing import Any, Callable

from . import schema

FORMAT = 1
MAX_ENTRIES = 32        # one per config path: tests and tools that make many configs must not fill the disk
_HERE = Path(__file__).resolve().parent
# What turns a file into a Config: this package and the two list modules it asks for names.
_CODE = (*sorted(str(p) for p in _HERE.glob("*.py")), str(_HERE.parent / "lists" / "catalog.py"),
         str(_HERE.parent / "lists" / "names.py"))
_CLASSES = {c.__name__: c for c in vars(schema).values() if isinstance(c, type) and dataclasses.is_dataclass(c)}


class Unfit(Exception):
    """A value this cache cannot write down exactly (then the config is simply not cached)."""


def cache_dir() -> Path | None:
    env = os.environ.get("HEARTH_CACHE_DIR")
    if env is not None:
        return Path(env) if env else None          # HEARTH_CACHE_DIR= (empty): no cache
    base = os.environ.get("XDG_CACHE_HOME") or (os.path.join(os.environ["HOME"], ".cache")
                                                if os.environ.get("HOME") else None)
    return Path(base) / "hearth" if base else None


def entry_path(kind: str, path: str) -> Path | None:
    """Where the entry of a config file or a catalog (``kind``) at ``path`` (absolute, resolved) is kept."""
    d = cache_dir()
    return d / f"{kind}-{path.strip('/').replace('%', '%25').replace('/', '%2F')}.json" if d else None


# --- what a reading depended on ---------------------------------------------------------------------------------

def _stat(path: str) -> list | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ino]


_code: list = []


def code_signature() -> list:
    """The code this process runs (its files as they were at the first call, near import time)."""
    if not _code:
        _code.append([FORMAT, [[p, _stat(p)] for p in _CODE]])
    return [*_code[0], os.environ.get("HOME", "")]


def catalog_signature(root: str) -> list:
    """Everything ``catalog_names`` reads in ``root``: the folders' listings and each file's size, time and inode."""
    out: list = [_stat(root)]
    for sub in ("categories", "apps"):
        folder = os.path.join(root, sub)
        out.append([sub, _stat(folder)])
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            continue
        for name in names:
            path = os.path.join(folder, name)
            if sub == "categories":
                out.append([name, _stat(path), _stat(os.path.join(path, "category.yaml")),
                            _stat(os.path.join(path, "domains.txt"))])
            elif name.endswith(".yaml"):
                out.append([name, _stat(path)])
    return out


# --- a Config as JSON, and back -----------------------------------------------------------------------------------

def encode(value):
    """Plain JSON with a tag for every type JSON lacks; a type the schema does not use raises Unfit."""
    if value is None or type(value) in (str, bool, float):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)           # the loader's ints remember their text (an int subclass): the number is what counts
    if type(value) is tuple:
        return {"()": [encode(v) for v in value]}
    if type(value) is frozenset:
        return {"fs": [encode(v) for v in value]}
    if type(value) is dict:
        return {"{}": [[encode(k), encode(v)] for k, v in value.items()]}
    if isinstance(value, Path):
        return {"path": str(value)}
    if type(value) is time:
        return {"time": value.isoformat()}
    if type(value) in (ipaddress.IPv4Network, ipaddress.IPv6Network):
        return {"net": str(value)}
    cls = type(value)
    if _CLASSES.get(cls.__name__) is cls:
        return {"@": cls.__name__, **{f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(cls)}}
    raise Unfit(cls.__name__)


def decode(data):
    if not isinstance(data, dict):
        if isinstance(data, list):
            raise ValueError("a bare list")         # every sequence is tagged: a list is not ours
        return data
    if "@" in data:
        cls = _CLASSES[data["@"]]
        return cls(**{k: decode(v) for k, v in data.items() if k != "@"})
    (tag, v), = data.items()
    if tag == "()":
        return tuple(decode(x) for x in v)
    if tag == "fs":
        return frozenset(decode(x) for x in v)
    if tag == "{}":
        return {decode(k): decode(x) for k, x in v}
    if tag == "path":
        return Path(v)
    if tag == "time":
        return time.fromisoformat(v)
    if tag == "net":
        return ipaddress.ip_network(v)
    raise ValueError(f"unknown tag {tag}")


# --- the entries ------------------------------------------------------------------------------------------------

def _read(where: Path | None):
    """An entry's JSON, if this user wrote it and no one else may change it; else None."""
    if where is None:
        return None
    with open(where, "rb") as f:
        for st in (os.fstat(f.fileno()), os.stat(where.parent)):
            if st.st_uid != os.geteuid() or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
                return None         # someone else's: it could say anything
        return json.loads(f.read())


def _write(where: Path | None, entry: dict) -> None:
    if where is None:
        return
    text = json.dumps(entry, ensure_ascii=False, separators=(",", ":"))
    where.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = where.with_name(f".{where.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, where)
    entries = sorted(where.parent.glob("*.json"), key=lambda p: p.stat().st_mtime_ns)
    for old in entries[:-MAX_ENTRIES]:
        old.unlink(missing_ok=True)


def lookup(config_path: str, raw: bytes, source: str):
    """The Config read from exactly these bytes at ``config_path``, if nothing it depended on has changed."""
    try:
        entry = _read(entry_path("config", config_path))
        if (entry is None or entry["text"].encode("utf-8") != raw or entry["code"] != code_signature()
                or entry["catalog"] != catalog_signature(entry["root"])
                or any(os.path.isfile(p) != was for p, was in entry["exists"])):
            return None
        config = decode(entry["config"])
        return dataclasses.replace(config, source=source) if isinstance(config, schema.Config) else None
    except Exception:       # missing, unreadable, half-written, another version's: read the file instead
        return None


def store(config_path: str, raw: bytes, config, root: str, catalog: list, exists: dict[str, bool]) -> None:
    """Keep a good reading (``catalog``: the catalog's signature taken before it was read); never raises (a cache
    is worth nothing if it can break a parent's command)."""
    try:
        data = encode(config)
        if decode(data) != config:
            return
        _write(entry_path("config", config_path), {"text": raw.decode("utf-8"), "code": code_signature(), "root": root,
                                         "catalog": catalog, "exists": sorted(exists.items()),
                                         "config": data})
    except (Unfit, OSError, ValueError, TypeError, UnicodeError):
        return


def catalog_lookup(root: str) -> dict | None:
    """What ``catalog_names`` found in ``root`` (names and titles), if none of its files has changed since."""
    try:
        entry = _read(entry_path("catalog", root))
        if entry is None or entry["code"] != code_signature() or entry["catalog"] != catalog_signature(root):
            return None
        return entry["names"]
    except Exception:
        return None


def catalog_store(root: str, signature: list, names: dict) -> None:
    """Keep what was read from ``root`` (``signature``: taken before it was read)."""
    try:
        _write(entry_path("catalog", root), {"code": code_signature(), "catalog": signature, "names": names})
    except (OSError, ValueError, TypeError):
        return


def shipped_data(path: Path, parse: Callable[[str], Any]) -> Any:
    """The data of a shipped YAML file (``parse``: its text → data), parsed only when its bytes changed: so that
    `hearth explain` does not load PyYAML for blocklists/safesearch.yaml. Read errors and ``parse``'s errors are
    raised as they are; data JSON cannot hold exactly (dates, number keys) is parsed every time."""
    raw = path.read_bytes()
    where = entry_path("data", os.path.realpath(path))
    try:
        entry = _read(where)
        if entry is not None and entry["format"] == FORMAT and entry["text"].encode("utf-8") == raw:
            return entry["data"]
    except Exception:
        pass
    data = parse(raw.decode("utf-8"))
    try:
        if json.loads(json.dumps(data)) == data:
            _write(where, {"format": FORMAT, "text": raw.decode("utf-8"), "data": data})
    except (OSError, ValueError, TypeError):
        pass
    return data
