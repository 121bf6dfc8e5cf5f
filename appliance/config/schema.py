"""The shapes of the policy file, with each setting's default and valid range declared once, beside it.

A scalar setting is a ``setting(default, lo=…, hi=…)`` or ``setting(default, choices=…)`` field: the reader
(``load.py``) validates it from this metadata and the writer (``dump.py``) turns it back into YAML data, so a
default or a bound lives in exactly one place. Structured values (addresses, windows, profiles) have their own
readers in ``load.py``.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, fields
from datetime import time
from pathlib import Path
from zoneinfo import ZoneInfo

DEFAULT_CONFIG_PATH = "/etc/hearth/hearth.yaml"
SHIPPED_BLOCKLISTS = Path(__file__).resolve().parent.parent.parent / "blocklists"
DEFAULT_PROFILE = "default"
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SCHEMA_VERSION = 2          # the file format this code writes; older files are migrated when read (migrate.py)
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# A home's own networks: Hearth must never answer the internet (an open resolver is an amplification weapon).
# The one default for dns.allow_networks: the README and the starter config say "the home's private networks".
PRIVATE_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10",
    "::1/128", "fc00::/7", "fe80::/10"))


def setting(default, *, lo=None, hi=None, choices: tuple[str, ...] | None = None, help: str = ""):
    """A scalar setting: its default, its bounds (numbers) or choices (words), and what it is for."""
    return field(default=default, metadata={"setting": True, "lo": lo, "hi": hi, "choices": choices, "help": help})


def scalar_settings(cls) -> list:
    """The fields of ``cls`` declared with ``setting()``, in declaration order."""
    return [f for f in fields(cls) if f.metadata.get("setting")]


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
    tls: bool = False               # DNS over TLS (tls://host[:port])
    server_name: str | None = None  # TLS name to verify; None = do not verify the name (IP-only upstream)

    def __str__(self) -> str:
        scheme = "tls://" if self.tls else ""
        return f"{scheme}{Endpoint(self.host, self.port)}"


@dataclass(frozen=True, slots=True)
class RateLimit:
    queries: int = setting(1000, lo=0, hi=10**7, help="queries per client per window; 0 turns the limit off")
    seconds: int = setting(60, lo=1, hi=86400, help="the window")


@dataclass(frozen=True, slots=True)
class DnsConfig:
    listen: tuple[Endpoint, ...] = (Endpoint("127.0.0.1", 5353),)
    upstreams: tuple[Upstream, ...] = (Upstream("9.9.9.9", 53), Upstream("149.112.112.112", 53))
    block_answer: str = setting("null_ip", choices=("null_ip", "nxdomain"), help="0.0.0.0 / :: or NXDOMAIN")
    allow_networks: tuple[IpNetwork, ...] = PRIVATE_NETWORKS
    trusted_forwarders: tuple[IpNetwork, ...] = ()  # routers whose EDNS client-subnet / MAC options we believe
    rate_limit: RateLimit = RateLimit()
    blocked_ttl: int = setting(10, lo=0, hi=3600, help="seconds a blocked answer may be cached")
    max_ttl: int = setting(60, lo=1, hi=86400, help="clamp on answers to children: a bedtime lands in a minute")
    min_cache_ttl: int = setting(0, lo=0, hi=3600)
    max_cache_ttl: int = setting(86400, lo=1, hi=7 * 86400)
    negative_ttl: int = setting(300, lo=0, hi=86400, help="upper bound for caching NXDOMAIN / NODATA (RFC 2308)")
    cache_size: int = setting(20000, lo=0, hi=10**7)
    upstream_timeout: float = setting(2.0, lo=0.05, hi=30)
    serve_stale: bool = setting(True, help="RFC 8767: answer from an expired entry when upstreams fail")
    stale_ttl: int = setting(30, lo=1, hi=3600, help="TTL of such a stale answer")
    stale_max_age: int = setting(86400, lo=0, hi=7 * 86400, help="how long past expiry an entry may be served")
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
    allow_school: bool = False      # ``allow: [school]``: the school group gets through this window too


@dataclass(frozen=True, slots=True)
class Budget:
    """Minutes a day of some apps or categories, on some days of the week; spent, they are blocked until midnight.

    Use is counted in minutes in which the child's devices asked for the apps' foreground hosts (the catalog's
    ``foreground:``), so push and background refresh do not eat it."""

    name: str
    minutes: int
    days: frozenset[int] = frozenset(range(7))     # 0 = Monday ... 6 = Sunday: the days the budget applies
    apps: tuple[str, ...] = ()                     # apps from the catalog
    block: tuple[str, ...] = ()                    # categories


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
    log_allowed: bool | None = None         # None: follow query_log.log_allowed
    filtering: bool = True                  # off: the parents' own devices, nothing blocked, still logged
    budgets: tuple[Budget, ...] = ()        # time budgets, names unique within the profile
    managed: bool = False                   # the proxy inspects this child's browsers (HTTPS, with its CA)
    block_urls: tuple[str, ...] = ()        # the proxy blocks these pages: "reddit.com/r/name" (host + path prefix)

    @property
    def child(self) -> bool:
        """A child's profile: a named one with filtering on (not the default profile, not the parents')."""
        return self.name != "default" and self.filtering


# Defaults that differ for a child's profile and for the default profile (devices nobody has assigned).
CHILD_DEFAULTS = {"safe_search": True, "youtube": "moderate", "bypass": True}
YOUTUBE_CHOICES = ("off", "moderate", "strict")


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
    update_hour: int = setting(4, lo=0, hi=23, help="daily, at a quiet hour ...")
    update_jitter_minutes: int = setting(60, lo=0, hi=720, help="... jittered so Hearths do not all ask at once")
    max_bytes: int = setting(64 * 1024 * 1024, lo=1024, hi=1 << 30)
    timeout: float = setting(60.0, lo=1, hi=3600)


@dataclass(frozen=True, slots=True)
class QueryLogConfig:
    enabled: bool = setting(True, help="off: decisions still apply, nothing is written (a household's choice)")
    keep_days: int = setting(90, lo=1, hi=3650, help="rows older than this are pruned nightly")
    keep_allowed_days: int = setting(30, lo=1, hi=3650, help="allowed rows are pruned sooner than blocks")
    log_allowed: bool = setting(True, help="false: only blocked requests are written")
    storage: str = setting("disk", choices=("disk", "memory"),
                           help="memory: kept in RAM only, spares the SD card; the log starts empty after every "
                                "restart or power cut")


@dataclass(frozen=True, slots=True)
class AdminConfig:
    """The web admin. Absent from the file: no admin is started."""

    listen: Endpoint | None = Endpoint("127.0.0.1", 8080)
    https_listen: Endpoint | None = None
    parents: tuple[str, ...] = ()               # device names allowed in even if they belong to a profile
    parent_networks: tuple[IpNetwork, ...] = ()  # networks allowed in (the parents' own subnet, a VPN)


@dataclass(frozen=True, slots=True)
class AlertsConfig:
    notify: tuple[str, ...] = ()        # Apprise URLs: mailtos://…, ntfy://…, json://…
    digest: time | None = time(19, 30)  # the daily digest per child; None: no digest
    quiet: tuple[time, time] | None = (time(22, 0), time(7, 0))   # normal alerts wait; high ones still go
    categories: tuple[str, ...] = ("random-chat", "dating", "risky-social", "adult", "bypass")
    apps: tuple[str, ...] = ()          # blocked apps that raise an alert
    new_devices: bool = setting(True, help="an alert when a device nobody has assigned joins")
    language: str = setting("en", choices=("en", "fr"), help="the language of messages to parents")


@dataclass(frozen=True, slots=True)
class UnknownDevices:
    """What a device nobody has assigned to a child gets."""

    profile: str = setting("default", choices=("default", "quarantine"),
                           help="default: the default profile; quarantine: only the essentials until a parent "
                                "assigns it, so a new phone is no way round the rules")


@dataclass(frozen=True, slots=True)
class ProxyConfig:
    """The HTTP(S) proxy for managed devices (mitmproxy with Hearth's addon). Absent from the file: no proxy."""

    listen: Endpoint = Endpoint("127.0.0.1", 8081)
    mode: str = setting("regular", choices=("regular", "transparent", "wireguard"),
                        help="regular: browsers set the proxy (a PAC file); transparent: the Pi is the managed "
                             "devices' gateway; wireguard: devices connect through mitmproxy's WireGuard server")
    passthrough: tuple[str, ...] = ()       # the parent's additions to the passthrough list (never decrypted)
    scan: bool = setting(True, help="look for risky conversations in the pages and messages of managed browsers")
    scan_bytes: int = setting(256 * 1024, lo=1024, hi=16 * 1024 * 1024,
                              help="bodies larger than this are streamed, not read")
    ask_minutes: int = setting(30, lo=5, hi=24 * 60, help="how long an approved ask for access allows the site")


@dataclass(frozen=True, slots=True)
class MetricsConfig:
    listen: Endpoint | None = None      # a Prometheus endpoint; off by default


@dataclass(frozen=True, slots=True)
class Config:
    timezone: str = "UTC"
    data_dir: Path = Path("/var/lib/hearth")
    blocklists_dir: Path = SHIPPED_BLOCKLISTS
    dns: DnsConfig = DnsConfig()
    devices: tuple[Device, ...] = ()
    profiles: dict[str, Profile] = field(default_factory=dict)   # by name; includes "default"
    essentials: tuple[str, ...] = ()        # the parent's additions to never-block (device health)
    school: tuple[str, ...] = ()            # the family's own school hosts, added to the school group
    lists: ListsConfig = ListsConfig()
    query_log: QueryLogConfig = QueryLogConfig()
    admin: AdminConfig | None = None        # None: the file has no admin section
    alerts: AlertsConfig = AlertsConfig()
    metrics: MetricsConfig = MetricsConfig()
    unknown_devices: UnknownDevices = UnknownDevices()
    proxy: ProxyConfig | None = None        # None: the file has no proxy section
    source: str | None = None               # the file it came from

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def default_profile(self) -> Profile:
        return self.profiles[DEFAULT_PROFILE]

    def children(self) -> list[Profile]:
        """The named profiles, in file order (every profile but the default one)."""
        return [p for n, p in self.profiles.items() if n != DEFAULT_PROFILE]
