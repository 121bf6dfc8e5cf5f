"""The policy file: /etc/hearth/hearth.yaml loaded into frozen dataclasses.

Every error is collected with its YAML path (``profiles.emma.block[2]: unknown category "datng" ...``) so a
parent fixes them all at once; a daemon that reloads a bad file keeps the old config.
"""
from __future__ import annotations

import difflib
import ipaddress
import os
import re
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from appliance.lists.names import to_ascii

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
    tls_ca_file: str | None = None                 # extra CA bundle for tls:// upstreams (system CAs otherwise)


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
class QueryLogConfig:
    enabled: bool = True        # off: decisions still apply, nothing is written (a household's privacy choice)
    keep_days: int = 90         # rows older than this are pruned nightly


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
    query_log: QueryLogConfig = QueryLogConfig()
    source: str | None = None               # the file it came from

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def default_profile(self) -> Profile:
        return self.profiles[DEFAULT_PROFILE]


# --- loading ---------------------------------------------------------------------------------------------------

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_MAC = re.compile(r"^[0-9a-f]{2}([:-][0-9a-f]{2}){5}$")
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def resolve_path(cli_value: str | None) -> str:
    """--config FILE, else $HEARTH_CONFIG, else the system path."""
    return cli_value or os.environ.get("HEARTH_CONFIG") or DEFAULT_CONFIG_PATH


def load(path: str | os.PathLike) -> Config:
    """Read and validate a config file; raises ConfigError listing every problem with its YAML path."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError([f"cannot read: {e.strerror or e}"], path) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError([f"{where}not valid YAML: {getattr(e, 'problem', None) or e}"], path) from None
    base = Path(path).resolve().parent
    return parse(data if data is not None else {}, base_dir=base, source=str(path))


def parse(data: Any, *, base_dir: Path | None = None, source: str | None = None) -> Config:
    r = _Reader(base_dir or Path.cwd())
    config = r.config(data, source)
    if r.errors:
        raise ConfigError(r.errors, source)
    return config


def _unknown(what: str, name, known) -> str:
    """unknown category "datng" (did you mean "dating"? known: adult, bypass, …)"""
    close = difflib.get_close_matches(str(name), list(known), n=1)
    hint = f'did you mean "{close[0]}"? ' if close else ""
    return f'unknown {what} "{name}" ({hint}known: {_fmt_names(known) or "none"})'


def _fmt_names(names) -> str:
    names = sorted(names)
    shown = ", ".join(names[:8])
    return shown + (", …" if len(names) > 8 else "")


class _Reader:
    """Walks the YAML tree once, collecting errors with their paths instead of stopping at the first."""

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
            self.err(path, f"expected a mapping, got {type(v).__name__}")
            return {}
        for k in v:
            if k not in keys:
                self.err(f"{path}.{k}" if path else str(k), f"unknown key (known: {_fmt_names(keys)})")
        return v

    def seq(self, v, path) -> list:
        if v is None:
            return []
        if isinstance(v, (str, dict)) or not isinstance(v, list):
            self.err(path, f"expected a list, got {type(v).__name__}")
            return []
        return v

    def integer(self, v, path, default: int, lo: int, hi: int) -> int:
        if v is None:
            return default
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            self.err(path, f"expected a whole number from {lo} to {hi}, got {v!r}")
            return default
        return v

    def number(self, v, path, default: float, lo: float, hi: float) -> float:
        if v is None:
            return default
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
            self.err(path, f"expected a number from {lo} to {hi}, got {v!r}")
            return default
        return float(v)

    def boolean(self, v, path, default: bool) -> bool:
        if v is None:
            return default
        if not isinstance(v, bool):
            self.err(path, f"expected true or false, got {v!r}")
            return default
        return v

    def choice(self, v, path, default: str, options: tuple[str, ...]) -> str:
        if v is None:
            return default
        if v is False and "off" in options:    # YAML reads a bare `off` as false
            return "off"
        if v not in options:
            self.err(path, f"expected one of {', '.join(options)}, got {v!r}")
            return default
        return v

    def name(self, v, path) -> str | None:
        if not isinstance(v, str) or not _NAME.match(v):
            self.err(path, f"expected a name of lower-case letters, digits, '-' or '_', got {v!r}")
            return None
        return v

    def domain(self, v, path) -> str | None:
        if not isinstance(v, str):
            self.err(path, f"expected a domain name, got {v!r}")
            return None
        # The lists' own spelling rule, so an allow or deny entry is written exactly as the index writes names.
        # Edge hyphens, which that rule lets through for real-world lists, are a parent's typo here.
        d = to_ascii(v)
        if d is None or any(label[0] == "-" or label[-1] == "-" for label in d.split(".")):
            self.err(path, f"not a valid domain name: {v!r}")
            return None
        return d

    def domains(self, v, path) -> tuple[str, ...]:
        out = [self.domain(x, f"{path}[{i}]") for i, x in enumerate(self.seq(v, path))]
        return tuple(dict.fromkeys(d for d in out if d))

    def network(self, v, path) -> IpNetwork | None:
        try:
            return ipaddress.ip_network(str(v), strict=False)
        except ValueError:
            self.err(path, f"not an IP network: {v!r}")
            return None

    def networks(self, v, path) -> tuple[IpNetwork, ...]:
        out = [self.network(x, f"{path}[{i}]") for i, x in enumerate(self.seq(v, path))]
        return tuple(n for n in out if n)

    # -- sections
    def config(self, data, source) -> Config:
        d = self.mapping(data, "", {"timezone", "data_dir", "blocklists_dir", "dns", "devices", "profiles",
                                    "default_profile", "essentials", "lists", "query_log"})
        tz = d.get("timezone", "UTC")
        try:
            ZoneInfo(str(tz))
        except (ZoneInfoNotFoundError, ValueError):
            self.err("timezone", f"unknown time zone {tz!r} (e.g. Europe/Paris, America/New_York, UTC)")
            tz = "UTC"
        data_dir = self.path_value(d.get("data_dir"), "data_dir", Path("/var/lib/hearth"))
        bl_dir = self.path_value(d.get("blocklists_dir"), "blocklists_dir", SHIPPED_BLOCKLISTS)
        categories, apps = self.catalog_names(bl_dir)
        lists = self.lists(d.get("lists"), "lists", categories)
        categories = categories | {s.category for s in lists.sources}
        devices = self.devices(d.get("devices"), "devices")
        profiles = self.profiles(d, {dev.name for dev in devices}, categories, apps)
        return Config(
            timezone=str(tz), data_dir=data_dir, blocklists_dir=bl_dir, dns=self.dns(d.get("dns"), "dns"),
            devices=devices, profiles=profiles, essentials=self.domains(d.get("essentials"), "essentials"),
            lists=lists, query_log=self.query_log(d.get("query_log"), "query_log"), source=source)

    def query_log(self, v, path) -> QueryLogConfig:
        d = self.mapping(v, path, {"enabled", "keep_days"})
        return QueryLogConfig(self.boolean(d.get("enabled"), f"{path}.enabled", True),
                              self.integer(d.get("keep_days"), f"{path}.keep_days", 90, 1, 3650))

    def path_value(self, v, path, default: Path) -> Path:
        if v is None:
            return default
        if not isinstance(v, str) or not v:
            self.err(path, f"expected a path, got {v!r}")
            return default
        p = Path(v).expanduser()
        return p if p.is_absolute() else (self.base / p)

    def catalog_names(self, root: Path) -> tuple[set[str], set[str]]:
        from appliance.lists.catalog import load_catalog   # late: the catalog module reads files
        try:
            cat = load_catalog(root)
        except Exception as e:  # a broken shipped file must still name itself, not crash the loader
            self.err("blocklists_dir", f"cannot read the lists in {root}: {e}")
            return set(), set()
        return set(cat.categories), set(cat.apps)

    def endpoint(self, v, path, default_port: int) -> tuple[str, int] | None:
        s = str(v).strip()
        m = re.match(r"^\[([0-9a-fA-F:.]+)\](?::(\d+))?$", s) or re.match(r"^([^:\[\]]+)(?::(\d+))?$", s)
        if not m:
            try:   # a bare IPv6 address, no port
                return str(ipaddress.IPv6Address(s)), default_port
            except ValueError:
                self.err(path, f"expected host[:port] or [v6]:port, got {v!r}")
                return None
        port = int(m.group(2)) if m.group(2) else default_port
        if not 0 < port < 65536:
            self.err(path, f"port out of range in {v!r}")
            return None
        return m.group(1), port

    def dns(self, v, path) -> DnsConfig:
        d = self.mapping(v, path, set(DnsConfig.__slots__))
        dflt = DnsConfig()
        listen = []
        for i, x in enumerate(self.seq(d.get("listen"), f"{path}.listen")):
            ep = self.endpoint(x, f"{path}.listen[{i}]", 53)
            if ep:
                try:
                    ipaddress.ip_address(ep[0])
                    listen.append(Endpoint(*ep))
                except ValueError:
                    self.err(f"{path}.listen[{i}]", f"listen on an IP address, got {ep[0]!r}")
        ups = []
        for i, x in enumerate(self.seq(d.get("upstreams"), f"{path}.upstreams")):
            s, _, tls_name = str(x).partition("#")     # tls://9.9.9.9#dns.quad9.net names the certificate
            tls = s.startswith("tls://")
            ep = self.endpoint(s[6:] if tls else s, f"{path}.upstreams[{i}]", 853 if tls else 53)
            if ep:
                try:
                    ipaddress.ip_address(ep[0])
                    ups.append(Upstream(ep[0], ep[1], tls, (tls_name or None) if tls else None))
                except ValueError:
                    if not tls:
                        self.err(f"{path}.upstreams[{i}]", f"a plain upstream must be an IP address (Hearth is the "
                                 f"resolver: it cannot ask itself), got {ep[0]!r}")
                    else:
                        self.err(f"{path}.upstreams[{i}]", "give DNS over TLS as tls://IP#name, e.g. "
                                 "tls://9.9.9.9#dns.quad9.net")
        rl = self.mapping(d.get("rate_limit"), f"{path}.rate_limit", {"queries", "seconds"})
        return DnsConfig(
            listen=tuple(listen) or dflt.listen,
            upstreams=tuple(ups) or dflt.upstreams,
            block_answer=self.choice(d.get("block_answer"), f"{path}.block_answer", "null_ip", ("null_ip", "nxdomain")),
            allow_networks=self.networks(d.get("allow_networks"), f"{path}.allow_networks") if "allow_networks" in d
            else _PRIVATE_NETWORKS,
            trusted_forwarders=self.networks(d.get("trusted_forwarders"), f"{path}.trusted_forwarders"),
            rate_limit=RateLimit(self.integer(rl.get("queries"), f"{path}.rate_limit.queries", 1000, 0, 10**7),
                                 self.integer(rl.get("seconds"), f"{path}.rate_limit.seconds", 60, 1, 86400)),
            blocked_ttl=self.integer(d.get("blocked_ttl"), f"{path}.blocked_ttl", dflt.blocked_ttl, 0, 3600),
            max_ttl=self.integer(d.get("max_ttl"), f"{path}.max_ttl", dflt.max_ttl, 1, 86400),
            min_cache_ttl=self.integer(d.get("min_cache_ttl"), f"{path}.min_cache_ttl", 0, 0, 3600),
            max_cache_ttl=self.integer(d.get("max_cache_ttl"), f"{path}.max_cache_ttl", 86400, 1, 7 * 86400),
            negative_ttl=self.integer(d.get("negative_ttl"), f"{path}.negative_ttl", 300, 0, 86400),
            cache_size=self.integer(d.get("cache_size"), f"{path}.cache_size", dflt.cache_size, 0, 10**7),
            upstream_timeout=self.number(d.get("upstream_timeout"), f"{path}.upstream_timeout", 2.0, 0.05, 30),
            serve_stale=self.boolean(d.get("serve_stale"), f"{path}.serve_stale", True),
            stale_ttl=self.integer(d.get("stale_ttl"), f"{path}.stale_ttl", 30, 1, 3600),
            stale_max_age=self.integer(d.get("stale_max_age"), f"{path}.stale_max_age", 86400, 0, 7 * 86400),
            tls_ca_file=self.ca_file(d.get("tls_ca_file"), f"{path}.tls_ca_file"),
        )

    def ca_file(self, v, path) -> str | None:
        if v is None:
            return None
        p = self.path_value(v, path, Path())
        if not p.is_file():
            self.err(path, f"no such file: {p}")
            return None
        return str(p)

    def devices(self, v, path) -> tuple[Device, ...]:
        out: list[Device] = []
        seen: set[str] = set()
        for i, x in enumerate(self.seq(v, path)):
            p = f"{path}[{i}]"
            d = self.mapping(x, p, {"name", "mac", "ip", "cidr"})
            name = self.name(d.get("name"), f"{p}.name")
            if name in seen:
                self.err(f"{p}.name", f"device {name!r} is listed twice")
            mac = ip = cidr = None
            if d.get("mac") is not None:
                m = str(d["mac"]).lower().replace("-", ":")
                if _MAC.match(m):
                    mac = m
                else:
                    self.err(f"{p}.mac", f"expected a MAC like aa:bb:cc:dd:ee:ff, got {d['mac']!r}")
            if d.get("ip") is not None:
                try:
                    ip = str(ipaddress.ip_address(str(d["ip"])))
                except ValueError:
                    self.err(f"{p}.ip", f"not an IP address: {d['ip']!r}")
            if d.get("cidr") is not None:
                cidr = self.network(d["cidr"], f"{p}.cidr")
            if name and not (mac or ip or cidr) and not any(k in d for k in ("mac", "ip", "cidr")):
                self.err(p, "a device needs a mac, an ip or a cidr")
            if name:
                seen.add(name)
                out.append(Device(name, mac, ip, cidr))
        return tuple(out)

    def profiles(self, d: dict, devices: set[str], categories: set[str], apps: set[str]) -> dict[str, Profile]:
        out: dict[str, Profile] = {}
        owner: dict[str, str] = {}
        raw = self.mapping(d.get("profiles"), "profiles", set(d.get("profiles") or {}) if isinstance(
            d.get("profiles"), dict) else set())
        for pname, pv in raw.items():
            p = f"profiles.{pname}"
            if self.name(pname, p) is None:
                continue
            if pname == DEFAULT_PROFILE:
                self.err(p, "'default' is reserved: use default_profile for devices nobody has assigned")
                continue
            prof = self.profile(pname, pv, p, devices, categories, apps, child=True)
            for i, dev in enumerate(prof.devices):
                if dev in owner:
                    self.err(f"{p}.devices[{i}]", f"device {dev!r} already belongs to profile {owner[dev]!r}")
                owner[dev] = pname
            out[pname] = prof
        out[DEFAULT_PROFILE] = self.profile(DEFAULT_PROFILE, d.get("default_profile"), "default_profile",
                                            devices, categories, apps, child=False)
        return out

    def profile(self, name, v, p, devices, categories, apps, child: bool) -> Profile:
        keys = {"devices", "block", "block_apps", "allow", "deny", "safe_search", "youtube", "bypass", "schedules"}
        d = self.mapping(v, p, keys)
        devs = []
        for i, x in enumerate(self.seq(d.get("devices"), f"{p}.devices")):
            if not child:
                self.err(f"{p}.devices", "the default profile applies to every device nobody has assigned; "
                         "list no devices here")
                break
            if x not in devices:
                self.err(f"{p}.devices[{i}]", _unknown("device", x, devices))
            else:
                devs.append(x)
        sched = tuple(self.window(x, f"{p}.schedules[{i}]", categories, apps)
                      for i, x in enumerate(self.seq(d.get("schedules"), f"{p}.schedules")))
        names = [w.name for w in sched if w]
        for n in {n for n in names if names.count(n) > 1}:
            self.err(f"{p}.schedules", f"two windows are named {n!r}: names must differ so overrides can name one")
        return Profile(
            name=name, devices=tuple(devs),
            block=self.names_in(d.get("block"), f"{p}.block", categories, "category"),
            block_apps=self.names_in(d.get("block_apps"), f"{p}.block_apps", apps, "app"),
            allow=self.domains(d.get("allow"), f"{p}.allow"),
            deny=self.domains(d.get("deny"), f"{p}.deny"),
            safe_search=self.boolean(d.get("safe_search"), f"{p}.safe_search", child),
            youtube=self.choice(d.get("youtube"), f"{p}.youtube", "moderate" if child else "off",
                                ("off", "moderate", "strict")),
            bypass=self.boolean(d.get("bypass"), f"{p}.bypass", child),
            schedules=tuple(w for w in sched if w),
        )

    def names_in(self, v, path, known: set[str], what: str) -> tuple[str, ...]:
        out = []
        for i, x in enumerate(self.seq(v, path)):
            if x not in known:
                self.err(f"{path}[{i}]", _unknown(what, x, known))
            else:
                out.append(x)
        return tuple(dict.fromkeys(out))

    def days(self, v, path) -> frozenset[int]:
        if not isinstance(v, str) or not v.strip():
            self.err(path, f"expected days such as mon-fri, sat,sun or daily, got {v!r}")
            return frozenset()
        out: set[int] = set()
        for part in v.lower().replace(" ", "").split(","):
            if part in ("daily", "everyday", "all"):
                out.update(range(7))
            elif part in ("weekdays",):
                out.update(range(5))
            elif part in ("weekend", "weekends"):
                out.update((5, 6))
            elif "-" in part:
                a, _, b = part.partition("-")
                if a not in DAYS or b not in DAYS:
                    self.err(path, f"unknown day in {part!r} (days: {', '.join(DAYS)})")
                    continue
                i, j = DAYS.index(a), DAYS.index(b)
                out.update((i + k) % 7 for k in range((j - i) % 7 + 1))   # sun-thu wraps over the week's end
            elif part in DAYS:
                out.add(DAYS.index(part))
            else:
                self.err(path, f"unknown day {part!r} (days: {', '.join(DAYS)}, or daily, weekdays, weekend)")
        return frozenset(out)

    def hhmm(self, v, path) -> time | None:
        if isinstance(v, int) and not isinstance(v, bool):   # YAML 1.1 reads an unquoted 21:00 as 1260 (base 60)
            v = f"{v // 60:02d}:{v % 60:02d}" if 0 <= v < 24 * 60 else str(v)
        m = _HHMM.match(str(v)) if v is not None else None
        if not m:
            self.err(path, f"expected a time HH:MM from 00:00 to 23:59, got {v!r}")
            return None
        return time(int(m.group(1)), int(m.group(2)))

    def window(self, v, p, categories, apps) -> Window | None:
        d = self.mapping(v, p, {"name", "days", "from", "to", "block", "block_apps", "allow"})
        name = self.name(d.get("name"), f"{p}.name")
        days = self.days(d.get("days"), f"{p}.days")
        start, end = self.hhmm(d.get("from"), f"{p}.from"), self.hhmm(d.get("to"), f"{p}.to")
        if start is not None and start == end:
            self.err(p, f"from and to are both {start:%H:%M}: a window needs a length (use 00:00 to 23:59 for "
                     "a whole day)")
        b = d.get("block")
        everything = b == "everything"
        block: tuple[str, ...] = ()
        if b is None:
            self.err(f"{p}.block", "say what the window blocks: everything, or a list of categories")
        elif not everything:
            if isinstance(b, str):
                self.err(f"{p}.block", f"expected everything or a list of categories, got {b!r}")
            else:
                known = categories | apps
                block = self.names_in(b, f"{p}.block", known, "category or app")
        named_apps = block + self.names_in(d.get("block_apps"), f"{p}.block_apps", apps, "app")
        allow = self.domains(d.get("allow"), f"{p}.allow")
        if allow and not everything:
            self.err(f"{p}.allow", "allow goes with block: everything (a category window already lets the rest through)")
        if None in (name, start, end) or not days:
            return None
        # `block:` may name categories and apps alike; each goes where decide() looks for it.
        return Window(name=name, days=days, start=start, end=end, everything=everything,
                      block=tuple(x for x in block if x in categories),
                      block_apps=tuple(dict.fromkeys(x for x in named_apps if x not in categories)),
                      allow=allow)

    def lists(self, v, path, categories: set[str]) -> ListsConfig:
        d = self.mapping(v, path, {"sources", "update_hour", "update_jitter_minutes", "max_bytes", "timeout"})
        out: list[ListSource] = []
        for i, x in enumerate(self.seq(d.get("sources"), f"{path}.sources")):
            p = f"{path}.sources[{i}]"
            s = self.mapping(x, p, {"name", "url", "path", "category"})
            name = self.name(s.get("name"), f"{p}.name")
            cat = self.name(s.get("category"), f"{p}.category")
            url, file = s.get("url"), s.get("path")
            if (url is None) == (file is None):
                self.err(p, "give either url or path")
            elif url is not None and not (isinstance(url, str) and re.match(r"^https?://[^\s/]+", url)):
                self.err(f"{p}.url", f"expected an http(s) URL, got {url!r}")
            if name and cat and (url is None) != (file is None):
                out.append(ListSource(name, cat, url, str(self.path_value(file, f"{p}.path", Path())) if file else None))
        names = [s.name for s in out]
        for n in {n for n in names if names.count(n) > 1}:
            self.err(f"{path}.sources", f"two lists are named {n!r}")
        dflt = ListsConfig()
        return ListsConfig(
            sources=tuple(out),
            update_hour=self.integer(d.get("update_hour"), f"{path}.update_hour", dflt.update_hour, 0, 23),
            update_jitter_minutes=self.integer(d.get("update_jitter_minutes"), f"{path}.update_jitter_minutes",
                                               dflt.update_jitter_minutes, 0, 720),
            max_bytes=self.integer(d.get("max_bytes"), f"{path}.max_bytes", dflt.max_bytes, 1024, 1 << 30),
            timeout=self.number(d.get("timeout"), f"{path}.timeout", dflt.timeout, 1, 3600),
        )


# A home's own networks: Hearth must never answer the internet (an open resolver is an amplification weapon).
_PRIVATE_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10",
    "::1/128", "fc00::/7", "fe80::/10"))
