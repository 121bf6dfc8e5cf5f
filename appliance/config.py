"""The policy file: /etc/hearth/hearth.yaml loaded into frozen dataclasses.

Every error is collected with its YAML path (``profiles.emma.block[2]: unknown category "datng" ...``) so a
parent fixes them all at once; a daemon that reloads a bad file keeps the old config.
"""
from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

DEFAULT_CONFIG_PATH = "/etc/hearth/hearth.yaml"
SHIPPED_BLOCKLISTS = Path(__file__).resolve().parent.parent / "blocklists"
DEFAULT_PROFILE = "default"
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class ConfigError(Exception):
    """A config that cannot be used; ``errors`` holds one line per problem, each naming its YAML path."""

    def __init__(self, errors: list[str], path: str | os.PathLike | None = None):
        self.errors = list(errors)
        self.path = path
        where = f"{path}: " if path else ""
        super().__init__(where + "; ".join(self.errors))


# --- the shapes ------------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Endpoint:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Upstream:
    host: str
    port: int
    tls: bool = False           # DNS over TLS (tls://host[:port])
    server_name: str | None = None  # TLS name to verify; None = do not verify the name (IP-only upstream)

    def __str__(self) -> str:
        scheme = "tls://" if self.tls else ""
        return f"{scheme}{Endpoint(self.host, self.port)}"


@dataclass(frozen=True, slots=True)
class RateLimit:
    queries: int = 1000
    seconds: int = 60


@dataclass(frozen=True, slots=True)
class DnsConfig:
    listen: tuple[Endpoint, ...] = (Endpoint("127.0.0.1", 5353),)
    upstreams: tuple[Upstream, ...] = (Upstream("9.9.9.9", 53), Upstream("149.112.112.112", 53))
    block_answer: str = "null_ip"                 # null_ip (0.0.0.0 / ::) or nxdomain
    allow_networks: tuple[IpNetwork, ...] = ()
    trusted_forwarders: tuple[IpNetwork, ...] = ()  # routers whose EDNS client-subnet / MAC options we believe
    rate_limit: RateLimit = RateLimit()
    blocked_ttl: int = 10                          # seconds a blocked answer may be cached
    max_ttl: int = 60                              # clamp on answers to children, so a bedtime lands in a minute
    min_cache_ttl: int = 0
    max_cache_ttl: int = 86400
    negative_ttl: int = 300                        # upper bound for caching NXDOMAIN / NODATA (RFC 2308)
    cache_size: int = 20000
    upstream_timeout: float = 2.0
    serve_stale: bool = True                       # RFC 8767: answer from an expired entry when upstreams fail
    stale_ttl: int = 30                            # TTL of such a stale answer
    stale_max_age: int = 86400                     # how long past expiry an entry may still be served stale


@dataclass(frozen=True, slots=True)
class Device:
    name: str
    mac: str | None = None          # lower case, colon-separated
    ip: str | None = None
    cidr: IpNetwork | None = None


@dataclass(frozen=True, slots=True)
class Window:
    """A weekly schedule window. ``end`` earlier than ``start`` runs past midnight and belongs to its start day."""

    name: str
    days: frozenset[int]            # 0 = Monday ... 6 = Sunday: the days the window *starts* on
    start: time
    end: time
    everything: bool = False        # block: everything (only essentials and ``allow`` still resolve)
    block: tuple[str, ...] = ()     # categories blocked on top of the profile's own while the window is in force
    block_apps: tuple[str, ...] = ()
    allow: tuple[str, ...] = ()     # domains still allowed inside an ``everything`` window


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    devices: tuple[str, ...] = ()
    block: tuple[str, ...] = ()             # categories
    block_apps: tuple[str, ...] = ()        # apps from the catalog
    allow: tuple[str, ...] = ()             # domains, suffix-matched, beat categories and apps
    deny: tuple[str, ...] = ()              # domains, suffix-matched, always blocked
    safe_search: bool = False
    youtube: str = "off"                    # off | moderate | strict
    bypass: bool = False                    # block the "bypass" category (on by default for children)
    schedules: tuple[Window, ...] = ()


@dataclass(frozen=True, slots=True)
class ListSource:
    """A list a parent added: a URL (updated on schedule) or a local file, feeding one category."""

    name: str
    category: str
    url: str | None = None
    path: str | None = None


@dataclass(frozen=True, slots=True)
class ListsConfig:
    sources: tuple[ListSource, ...] = ()
    update_hour: int = 4                    # daily, at a quiet hour ...
    update_jitter_minutes: int = 60         # ... jittered so a thousand Hearths do not hit a list host at once
    max_bytes: int = 64 * 1024 * 1024
    timeout: float = 60.0


@dataclass(frozen=True, slots=True)
class Config:
    timezone: str = "UTC"
    data_dir: Path = Path("/var/lib/hearth")
    blocklists_dir: Path = SHIPPED_BLOCKLISTS
    dns: DnsConfig = DnsConfig()
    devices: tuple[Device, ...] = ()
    profiles: dict[str, Profile] = field(default_factory=dict)   # by name; includes "default"
    essentials: tuple[str, ...] = ()        # the parent's additions to never-block
    lists: ListsConfig = ListsConfig()
    source: str | None = None               # the file it came from

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def default_profile(self) -> Profile:
        return self.profiles[DEFAULT_PROFILE]
