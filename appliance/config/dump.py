"""A Config back into plain YAML data: what ``parse`` reads gives the same Config again.

Used by the admin to show and download settings, and by tests that hold ``parse(to_data(c)) == c``. Values equal
to their defaults are left out, so a written file says only what the parent chose.
"""
from __future__ import annotations

import ipaddress
from dataclasses import fields, is_dataclass
from datetime import time
from pathlib import Path

from .schema import (CHILD_DEFAULTS, DAYS, DEFAULT_PROFILE, SCHEMA_VERSION, AdminConfig, Budget, Config,
                     Endpoint, Profile, ProxyConfig, Upstream, Window)


RUNNING_COPY = "running-config.yaml"


def running_copy(data_dir: Path) -> Path:
    """Where the daemon keeps the config it runs: live commands use it while the file on disk has errors."""
    return Path(data_dir) / RUNNING_COPY


def write_running_copy(config: Config) -> None:
    """The config the daemon now runs, self-contained (its paths absolute), written atomically."""
    import yaml

    from appliance.files import atomic_write
    text = "# The config the DNS daemon runs (written by it; edit the real file instead).\n" + yaml.safe_dump(
        to_data(config), sort_keys=False, allow_unicode=True)
    atomic_write(running_copy(config.data_dir), text.encode("utf-8"))


def to_data(config: Config) -> dict:
    out: dict = {"schema_version": SCHEMA_VERSION}
    dflt = Config()
    for f in fields(Config):
        if f.name in ("source", "profiles"):
            continue
        value = getattr(config, f.name)
        if f.name in ("admin", "proxy"):      # sections whose presence turns a process on
            if value is not None:
                out[f.name] = _section(value, AdminConfig() if f.name == "admin" else ProxyConfig())
            continue
        if value == getattr(dflt, f.name):
            continue
        out[f.name] = _section(value, getattr(dflt, f.name)) if is_dataclass(value) else _plain(value)
    kids = {n: _profile(p, child=p.filtering) for n, p in config.profiles.items() if n != DEFAULT_PROFILE}
    if kids:
        out["profiles"] = kids
    if DEFAULT_PROFILE in config.profiles:
        default = _profile(config.profiles[DEFAULT_PROFILE], child=False)
        if default:
            out["default_profile"] = default
    return out


def _section(value, default) -> dict:
    """The fields of a section that differ from the section's defaults."""
    out = {}
    for f in fields(value):
        v = getattr(value, f.name)
        if v != getattr(default, f.name):
            out[f.name] = _section(v, getattr(default, f.name)) if is_dataclass(v) and not isinstance(
                v, (Endpoint, Upstream)) else _plain(v)
    return out


def _plain(v):
    if isinstance(v, (Endpoint, Upstream)):
        s = str(v)
        return s + f"#{v.server_name}" if isinstance(v, Upstream) and v.server_name else s
    if isinstance(v, (ipaddress.IPv4Network, ipaddress.IPv6Network, Path)):
        return str(v)
    if isinstance(v, time):
        return f"{v:%H:%M}"
    if isinstance(v, tuple) and len(v) == 2 and all(isinstance(x, time) for x in v):
        return f"{v[0]:%H:%M}-{v[1]:%H:%M}"           # quiet hours
    if isinstance(v, (tuple, list)):
        return [_plain(x) for x in v]
    if is_dataclass(v):
        return {f.name: _plain(getattr(v, f.name)) for f in fields(v) if getattr(v, f.name) is not None}
    return v


def _profile(p: Profile, child: bool) -> dict:
    base = Profile(p.name, **(CHILD_DEFAULTS if child else {}))
    out = {}
    for f in fields(Profile):
        if f.name == "name":
            continue
        v = getattr(p, f.name)
        if v == getattr(base, f.name):
            continue
        if f.name == "schedules":
            out[f.name] = [_window(w) for w in v]
        elif f.name == "budgets":
            out[f.name] = [_budget(b) for b in v]
        else:
            out[f.name] = _plain(v)
    return out


def _budget(b: Budget) -> dict:
    out: dict = {"name": b.name}
    if b.apps:
        out["apps"] = list(b.apps)
    if b.block:
        out["block"] = list(b.block)
    out["minutes"] = b.minutes
    out["days"] = ",".join(DAYS[d] for d in sorted(b.days))
    return out


def _window(w: Window) -> dict:
    out = {"name": w.name, "days": ",".join(DAYS[d] for d in sorted(w.days)), "from": f"{w.start:%H:%M}",
           "to": f"{w.end:%H:%M}", "block": "everything" if w.everything else list(w.block)}
    if w.block_apps:
        out["block_apps"] = list(w.block_apps)
    if w.allow or w.allow_school:
        out["allow"] = (["school"] if w.allow_school else []) + list(w.allow)
    return out
