"""The reader's tools: walk YAML data once, collecting every error with its path instead of stopping at the first.

Scalars declared with ``schema.setting()`` are read from their metadata (``settings``); the section readers in
``load.py`` use the other helpers for structured values. Nothing here reads a file.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import MISSING
from pathlib import Path

from appliance.lists.names import to_ascii

from .errors import fmt_names, shown
from .schema import IpNetwork, scalar_settings

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


class Reader:
    def __init__(self, base_dir: Path):
        self.base = base_dir
        self.errors: list[str] = []

    def err(self, path: str, msg: str) -> None:
        self.errors.append(f"{path}: {msg}")

    # -- generic helpers
    def mapping(self, v, path, keys: set[str]) -> dict:
        if v is None:
            return {}
        if not isinstance(v, dict):
            self.err(path or "the file", f"expected a mapping (key: value lines), got {shown(v)}")
            return {}
        for k in v:
            if k not in keys:
                self.err(f"{path}.{k}" if path else str(k), f"unknown key (known: {fmt_names(keys)})")
        return v

    def seq(self, v, path) -> list:
        if v is None:
            return []
        if not isinstance(v, list):
            self.err(path, f"expected a list, got {shown(v)}")
            return []
        return v

    def settings(self, cls, d: dict, path: str) -> dict:
        """Every ``setting()`` field of ``cls`` read from ``d``, validated against its declared bounds."""
        out = {}
        for f in scalar_settings(cls):
            m, p, v = f.metadata, f"{path}.{f.name}", d.get(f.name)
            default = f.default if f.default is not MISSING else None
            if m["choices"]:
                out[f.name] = self.choice(v, p, default, m["choices"])
            elif isinstance(default, bool):
                out[f.name] = self.boolean(v, p, default)
            elif isinstance(default, int):
                out[f.name] = self.integer(v, p, default, m["lo"], m["hi"])
            else:
                out[f.name] = self.number(v, p, default, m["lo"], m["hi"])
        return out

    def integer(self, v, path, default: int, lo: int, hi: int) -> int:
        if v is None:
            return default
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            self.err(path, f"expected a whole number from {lo} to {hi}, got {shown(v)}")
            return default
        return int(v)

    def number(self, v, path, default: float, lo: float, hi: float) -> float:
        if v is None:
            return default
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
            self.err(path, f"expected a number from {lo} to {hi}, got {shown(v)}")
            return default
        return float(v)

    def boolean(self, v, path, default: bool) -> bool:
        if v is None:
            return default
        if not isinstance(v, bool):
            self.err(path, f"expected true or false, got {shown(v)}")
            return default
        return v

    def choice(self, v, path, default: str, options: tuple[str, ...]) -> str:
        if v is None:
            return default
        if v is False and "off" in options:    # YAML reads a bare `off` as false
            return "off"
        if v not in options:
            self.err(path, f"expected one of {', '.join(options)}, got {shown(v)}")
            return default
        return v

    def name(self, v, path) -> str | None:
        if not isinstance(v, str) or not _NAME.match(v):
            self.err(path, f"expected a name of lower-case letters, digits, '-' or '_', got {shown(v)}")
            return None
        return v

    def domain(self, v, path) -> str | None:
        if not isinstance(v, str):
            self.err(path, f"expected a domain name, got {shown(v)}")
            return None
        # The lists' own spelling rule, so an allow or deny entry is written exactly as the index writes names.
        # Edge hyphens, which that rule lets through for real-world lists, are a parent's typo here.
        d = to_ascii(v)
        if d is None or any(label[0] == "-" or label[-1] == "-" for label in d.split(".")):
            self.err(path, f"not a valid domain name: {shown(v)}")
            return None
        return d

    def domains(self, v, path) -> tuple[str, ...]:
        out = [self.domain(x, f"{path}[{i}]") for i, x in enumerate(self.seq(v, path))]
        return tuple(dict.fromkeys(d for d in out if d))

    def network(self, v, path) -> IpNetwork | None:
        try:
            return ipaddress.ip_network(str(v), strict=False)
        except ValueError:
            self.err(path, f"not an IP network: {shown(v)}")
            return None

    def networks(self, v, path) -> tuple[IpNetwork, ...]:
        out = [self.network(x, f"{path}[{i}]") for i, x in enumerate(self.seq(v, path))]
        return tuple(n for n in out if n)

    def path_value(self, v, path, default: Path) -> Path:
        if v is None:
            return default
        if not isinstance(v, str) or not v:
            self.err(path, f"expected a path, got {shown(v)}")
            return default
        p = Path(v).expanduser()
        return p if p.is_absolute() else (self.base / p)

    def endpoint(self, v, path, default_port: int) -> tuple[str, int] | None:
        s = str(v).strip()
        m = re.match(r"^\[([0-9a-fA-F:.]+)\](?::(\d+))?$", s) or re.match(r"^([^:\[\]]+)(?::(\d+))?$", s)
        if not m:
            try:   # a bare IPv6 address, no port
                return str(ipaddress.IPv6Address(s)), default_port
            except ValueError:
                self.err(path, f"expected host[:port] or [v6]:port, got {shown(v)}")
                return None
        port = int(m.group(2)) if m.group(2) else default_port
        if not 0 < port < 65536:
            self.err(path, f"port out of range in {shown(v)}")
            return None
        return m.group(1), port
