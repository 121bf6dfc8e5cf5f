"""Reading the policy file: YAML text → migrated data → a validated, frozen ``Config``.

``load`` is the only part that touches the disk (the file, the catalog of list names, files the config names);
``parse`` turns data into a Config with the catalog handed to it, so the same checks run on a file, on the admin's
edit before it is saved, and in tests.
"""
from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from . import cache
from .errors import ConfigError, shown, unknown
from .migrate import migrate
from .reader import Reader
from .schema import (CHILD_DEFAULTS, DAYS, DEFAULT_CONFIG_PATH, DEFAULT_PROFILE, SHIPPED_BLOCKLISTS, YOUTUBE_CHOICES,
                     AdminConfig, AlertsConfig, Budget, Config, Device, DnsConfig, Endpoint, ListsConfig, ListSource,
                     MetricsConfig, Profile, ProxyConfig, QueryLogConfig, RateLimit, UnknownDevices, Upstream, Window)

RESERVED_CATEGORIES = ("never-block", "school")   # built-in groups a parent's list must not turn itself into
MAX_NODES = 20_000          # YAML nodes after aliases are expanded: a real config has a few hundred
_MAC = re.compile(r"^[0-9a-f]{2}([:-][0-9a-f]{2}){5}$")
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class CatalogNames:
    """What the shipped lists are called: the only thing validation needs from the catalog (and the titles that
    `hearth explain` names them by)."""

    categories: frozenset[str]
    apps: frozenset[str]
    titles: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))  # "app:tiktok" -> "TikTok"


def resolve_path(cli_value: str | None) -> str:
    """--config FILE, else $HEARTH_CONFIG, else the system path."""
    return cli_value or os.environ.get("HEARTH_CONFIG") or DEFAULT_CONFIG_PATH


def load(path: str | os.PathLike, *, catalog: CatalogNames | None = None) -> Config:
    """Read and validate a config file; raises ConfigError listing every problem with its YAML path.

    A file read before without errors, unchanged, is not parsed again (see cache.py: the same bytes, catalog and
    code give the same Config); a file with errors is read every time."""
    try:
        raw = Path(path).read_bytes()
    except OSError as e:
        raise ConfigError([f"cannot read: {e.strerror or e}"], path) from None
    if catalog is not None:
        return load_text(raw, path, catalog=catalog)
    where = os.path.realpath(path)
    config = cache.lookup(where, raw, str(path))
    if config is None:
        seen: dict[str, bool] = {}

        def file_exists(p: str) -> bool:
            seen[p] = os.path.isfile(p)
            return seen[p]

        data = read_yaml(raw, path)
        base = Path(path).resolve().parent
        root = _blocklists_dir(data, base)
        signature = cache.catalog_signature(str(root))      # before reading: a change meanwhile is seen next time
        config = parse(data, catalog=catalog_names(root), base_dir=base, source=str(path), file_exists=file_exists)
        cache.store(where, raw, config, str(root), signature, seen)
    return config


def load_text(raw: bytes | str, path: str | os.PathLike, *, catalog: CatalogNames | None = None) -> Config:
    """As ``load``, for text that is not (yet) on disk: the admin's edit before it is written."""
    data = read_yaml(raw, path)
    base = Path(path).resolve().parent
    if catalog is None:
        catalog = catalog_names(_blocklists_dir(data, base))
    config = parse(data, catalog=catalog, base_dir=base, source=str(path), file_exists=os.path.isfile)
    return config


def read_yaml(raw: bytes | str, path) -> Any:
    """YAML text → data, or ConfigError with the line. Refuses what would hurt the Pi or mislead a parent:
    text that is not UTF-8, aliases that expand past MAX_NODES, a key given twice in one mapping.

    libyaml's parser reads the file when PyYAML has it (a tenth of the pure-Python one's time); a file it refuses is
    read again by the pure-Python parser, whose messages are the ones parents see (and tests hold)."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            line = raw[:e.start].count(b"\n") + 1
            raise ConfigError([f"line {line}: the file is not UTF-8 text (an accent saved in another encoding?): "
                               "save it as UTF-8"], path) from None
    import yaml         # here: a command whose config was read before never loads PyYAML (cache.py)
    fast, pure = _loaders()
    # libyaml takes a tab between words (as YAML allows) where PyYAML's own parser refuses it: a file with a tab
    # is left to the pure parser, so that both accept the same files (tests/config/test_yaml_parsers.py).
    if fast is not None and "\t" not in raw:
        try:
            return _read_with(fast, raw, path)
        except (yaml.YAMLError, UnicodeError):
            pass        # said again below, in the pure parser's words
    return _read_with(pure, raw, path)


def _read_with(loader_class, raw: str, path) -> Any:
    import yaml
    loader = None
    try:
        loader = loader_class(raw)      # the pure parser checks every character here
        node = loader.get_single_node()
        if node is not None and _size(node, {}) > MAX_NODES:
            raise ConfigError([f"the file expands to more than {MAX_NODES:,} values through aliases (&name / "
                               "*name): write the values out"], path)
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as e:
        if loader_class is not _LOADERS[1]:
            raise
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = str(getattr(e, "problem", None) or e)
        if isinstance(e, yaml.reader.ReaderError):      # a control character (it used to escape as a crash)
            where = f"line {raw.count(chr(10), 0, e.position) + 1}: "
            problem = f"an invisible control character (U+{e.character:04X}) that YAML does not allow: delete it"
        if "'\\t'" in problem:
            problem = "a tab character: indent with spaces, not tabs"
        raise ConfigError([f"{where}not valid YAML: {problem}"], path) from None
    finally:
        if loader is not None:
            loader.dispose()
    return {} if data is None else data


class _YamlInt(int):
    """An int that remembers how it was written, so `to: 7` (00:07 in YAML's base 60) can be told from 7:00."""
    text: str


_LOADERS: list = []     # (libyaml's loader or None, the pure-Python one), made on first use


def _loaders() -> tuple:
    """Our two loaders: the same constructor (ints that keep their text, keys given twice refused) on libyaml's
    parser and on PyYAML's own."""
    if not _LOADERS:
        import yaml

        class Ours:
            def construct_yaml_int(self, node):
                value = _YamlInt(super().construct_yaml_int(node))
                value.text = node.value
                return value

            def construct_mapping(self, node, deep=False):
                if isinstance(node, yaml.MappingNode):
                    seen = set()
                    for key_node, _ in node.value:
                        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
                        if key is not None and key in seen:
                            raise yaml.constructor.ConstructorError(
                                None, None, f"the key {key!r} is written twice in the same place: keep one "
                                "(a second one would silently replace the first)", key_node.start_mark)
                        seen.add(key)
                return super().construct_mapping(node, deep)

        made = []
        for base in (getattr(yaml, "CSafeLoader", None), yaml.SafeLoader):
            if base is None:
                made.append(None)
                continue
            cls = type(f"_{base.__name__}", (Ours, base), {})
            cls.add_constructor("tag:yaml.org,2002:int", Ours.construct_yaml_int)
            made.append(cls)
        _LOADERS[:] = made
    return tuple(_LOADERS)


def _size(node, memo: dict) -> int:
    """Nodes in the document with every alias expanded; memoised, so an alias bomb is measured, not expanded."""
    key = id(node)
    if key in memo:
        return memo[key]
    memo[key] = 1          # a cycle counts once
    from yaml import MappingNode, SequenceNode
    if isinstance(node, SequenceNode):
        n = 1 + sum(_size(c, memo) for c in node.value)
    elif isinstance(node, MappingNode):
        n = 1 + sum(_size(k, memo) + _size(v, memo) for k, v in node.value)
    else:
        n = 1
    memo[key] = min(n, MAX_NODES + 1)
    return memo[key]


def _blocklists_dir(data, base: Path) -> Path:
    v = data.get("blocklists_dir") if isinstance(data, dict) else None
    if not isinstance(v, str) or not v:
        return SHIPPED_BLOCKLISTS
    p = Path(v).expanduser()
    return p if p.is_absolute() else base / p


def catalog_names(root: Path) -> CatalogNames | ConfigError:
    """The names of the categories and apps shipped in ``root`` (a broken tree comes back as the error). Kept in
    the cache while none of the catalog's files changes: reading its 46 YAML files was a third of `hearth pause`."""
    known = cache.catalog_lookup(str(root))
    if known is not None:
        return CatalogNames(frozenset(known["categories"]), frozenset(known["apps"]),
                            MappingProxyType(known["titles"]))
    from appliance.lists.catalog import load_catalog   # late: the catalog module reads files
    signature = cache.catalog_signature(str(root))
    try:
        cat = load_catalog(root)
    except Exception as e:  # a broken shipped file must still name itself, not crash the loader
        return ConfigError([f"blocklists_dir: cannot read the lists in {root}: {e}"])
    titles = {**{f"app:{a.name}": a.title for a in cat.apps.values()},
              **{c.name: c.title for c in cat.categories.values()}}
    cache.catalog_store(str(root), signature, {"categories": sorted(cat.categories), "apps": sorted(cat.apps),
                                               "titles": titles})
    return CatalogNames(frozenset(cat.categories), frozenset(cat.apps), MappingProxyType(titles))


def parse(data: Any, *, catalog: CatalogNames | ConfigError, base_dir: Path | None = None,
          source: str | None = None, file_exists: Callable[[str], bool] | None = None) -> Config:
    """Data → Config, every error collected with its path. Reads no file: ``file_exists`` (when given) checks the
    files the config names."""
    r = _Sections(base_dir or Path.cwd(), catalog, file_exists)
    migrated, errors = migrate(data) if isinstance(data, dict) else (data, [])
    r.errors.extend(errors)
    config = r.config(migrated, source)
    if r.errors:
        raise ConfigError(r.errors, source)
    return config


class _Sections(Reader):
    """One method per part of the file."""

    def __init__(self, base_dir: Path, catalog: CatalogNames | ConfigError, file_exists):
        super().__init__(base_dir)
        if isinstance(catalog, ConfigError):
            self.errors.extend(catalog.errors)
            catalog = CatalogNames(frozenset(), frozenset())
        self.catalog = catalog
        self.file_exists = file_exists

    def config(self, data, source) -> Config:
        d = self.mapping(data, "", {"timezone", "data_dir", "blocklists_dir", "dns", "devices", "profiles",
                                    "default_profile", "essentials", "school", "lists", "query_log", "admin",
                                    "alerts", "metrics", "unknown_devices", "proxy", "schema_version"})
        tz = self.timezone(d.get("timezone", "UTC"))
        data_dir = self.path_value(d.get("data_dir"), "data_dir", Path("/var/lib/hearth"))
        bl_dir = self.path_value(d.get("blocklists_dir"), "blocklists_dir", SHIPPED_BLOCKLISTS)
        lists = self.lists(d.get("lists"), "lists", set(self.catalog.categories))
        categories = set(self.catalog.categories) | {s.category for s in lists.sources}
        apps = set(self.catalog.apps)
        devices = self.devices(d.get("devices"), "devices")
        profiles = self.profiles(d, {dev.name for dev in devices}, categories, apps)
        return Config(
            timezone=tz, data_dir=data_dir, blocklists_dir=bl_dir, dns=self.dns(d.get("dns"), "dns"),
            devices=devices, profiles=profiles, essentials=self.domains(d.get("essentials"), "essentials"),
            school=self.domains(d.get("school"), "school"),
            lists=lists, query_log=QueryLogConfig(**self.settings(
                QueryLogConfig, self.mapping(d.get("query_log"), "query_log", _keys(QueryLogConfig)), "query_log")),
            admin=self.admin(d["admin"], "admin", {dev.name for dev in devices}) if "admin" in d else None,
            alerts=self.alerts(d.get("alerts"), "alerts", categories, apps),
            metrics=MetricsConfig(self.listen(self.mapping(d.get("metrics"), "metrics", {"listen"}).get("listen"),
                                              "metrics.listen", 9153)),
            unknown_devices=UnknownDevices(**self.settings(
                UnknownDevices, self.mapping(d.get("unknown_devices"), "unknown_devices", _keys(UnknownDevices)),
                "unknown_devices")),
            proxy=self.proxy(d["proxy"], "proxy") if "proxy" in d else None,
            source=source)

    def timezone(self, tz) -> str:
        try:
            if not isinstance(tz, str) or len(tz) > 64:
                raise ValueError
            ZoneInfo(tz)
            return tz
        except (ZoneInfoNotFoundError, ValueError, OSError):
            self.err("timezone", f"unknown time zone {shown(tz)} (e.g. Europe/Paris, America/New_York, UTC)")
            return "UTC"

    def listen(self, v, path, default_port: int) -> Endpoint | None:
        if v is None or v is False:
            return None
        ep = self.endpoint(v, path, default_port)
        if ep is None:
            return None
        try:
            ipaddress.ip_address(ep[0])
        except ValueError:
            self.err(path, f"listen on an IP address, got {shown(ep[0])}")
            return None
        return Endpoint(*ep)

    def dns(self, v, path) -> DnsConfig:
        d = self.mapping(v, path, _keys(DnsConfig))
        dflt = DnsConfig()
        listen = [ep for i, x in enumerate(self.seq(d.get("listen"), f"{path}.listen"))
                  if (ep := self.listen(x, f"{path}.listen[{i}]", 53))]
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
                                 f"resolver: it cannot ask itself), got {shown(ep[0])}")
                    else:
                        self.err(f"{path}.upstreams[{i}]", "give DNS over TLS as tls://IP#name, e.g. "
                                 "tls://9.9.9.9#dns.quad9.net")
        rl = self.mapping(d.get("rate_limit"), f"{path}.rate_limit", _keys(RateLimit))
        return DnsConfig(
            listen=tuple(listen) or dflt.listen,
            upstreams=tuple(ups) or dflt.upstreams,
            allow_networks=self.networks(d.get("allow_networks"), f"{path}.allow_networks") if "allow_networks" in d
            else dflt.allow_networks,
            trusted_forwarders=self.networks(d.get("trusted_forwarders"), f"{path}.trusted_forwarders"),
            rate_limit=RateLimit(**self.settings(RateLimit, rl, f"{path}.rate_limit")),
            tls_ca_file=self.ca_file(d.get("tls_ca_file"), f"{path}.tls_ca_file"),
            **self.settings(DnsConfig, d, path),
        )

    def ca_file(self, v, path) -> str | None:
        if v is None:
            return None
        p = self.path_value(v, path, Path())
        if self.file_exists is not None and not self.file_exists(str(p)):
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
                    self.err(f"{p}.mac", f"expected a MAC like aa:bb:cc:dd:ee:ff, got {shown(d['mac'])}")
            if d.get("ip") is not None:
                try:
                    ip = str(ipaddress.ip_address(str(d["ip"])))
                except ValueError:
                    self.err(f"{p}.ip", f"not an IP address: {shown(d['ip'])}")
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
        raw = d.get("profiles")
        raw = self.mapping(raw, "profiles", set(raw) if isinstance(raw, dict) else set())
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
        keys = {"devices", "block", "block_apps", "allow", "deny", "safe_search", "youtube", "bypass", "schedules",
                "log_allowed", "filtering", "budgets", "managed", "block_urls"}
        d = self.mapping(v, p, keys)
        filtering = self.boolean(d.get("filtering"), f"{p}.filtering", True)
        if not filtering:
            if not child:
                self.err(f"{p}.filtering", "the default profile always filters (devices nobody has assigned may be "
                         "a child's); make a profile for the parents' devices with filtering: off")
                filtering = True
            else:
                for k in ("block", "block_apps", "schedules", "safe_search", "youtube", "bypass", "allow", "deny",
                          "budgets", "block_urls"):
                    if d.get(k):
                        self.err(f"{p}.{k}", "this profile has filtering: off, so it blocks nothing: remove "
                                 f"{k} or turn filtering on")
        devs = []
        for i, x in enumerate(self.seq(d.get("devices"), f"{p}.devices")):
            if not child:
                self.err(f"{p}.devices", "the default profile applies to every device nobody has assigned; "
                         "list no devices here")
                break
            if x not in devices:
                self.err(f"{p}.devices[{i}]", unknown("device", x, devices))
            else:
                devs.append(x)
        sched = tuple(self.window(x, f"{p}.schedules[{i}]", categories, apps)
                      for i, x in enumerate(self.seq(d.get("schedules"), f"{p}.schedules")))
        names = [w.name for w in sched if w]
        for n in {n for n in names if names.count(n) > 1}:
            self.err(f"{p}.schedules", f"two windows are named {n!r}: names must differ so overrides can name one")
        if d.get("budgets") and not child:
            self.err(f"{p}.budgets", "time budgets are a child's: give them in the child's profile")
        budgets = tuple(b for i, x in enumerate(self.seq(d.get("budgets"), f"{p}.budgets"))
                        if (b := self.budget(x, f"{p}.budgets[{i}]", categories, apps))) if child else ()
        bnames = [b.name for b in budgets]
        for n in {n for n in bnames if bnames.count(n) > 1}:
            self.err(f"{p}.budgets", f"two budgets are named {n!r}: names must differ so a grant can name one")
        dflt = CHILD_DEFAULTS if child and filtering else {}    # the parents' own devices: no child defaults
        return Profile(
            name=name, devices=tuple(devs),
            block=self.names_in(d.get("block"), f"{p}.block", categories, "category"),
            block_apps=self.names_in(d.get("block_apps"), f"{p}.block_apps", apps, "app"),
            allow=self.domains(d.get("allow"), f"{p}.allow"),
            deny=self.domains(d.get("deny"), f"{p}.deny"),
            safe_search=self.boolean(d.get("safe_search"), f"{p}.safe_search", dflt.get("safe_search", False)),
            youtube=self.choice(d.get("youtube"), f"{p}.youtube", dflt.get("youtube", "off"), YOUTUBE_CHOICES),
            bypass=self.boolean(d.get("bypass"), f"{p}.bypass", dflt.get("bypass", False)),
            schedules=tuple(w for w in sched if w),
            log_allowed=self.boolean(d.get("log_allowed"), f"{p}.log_allowed", None) if "log_allowed" in d
            else None,
            filtering=filtering, budgets=budgets,
            managed=self.boolean(d.get("managed"), f"{p}.managed", False),
            block_urls=self.urls(d.get("block_urls"), f"{p}.block_urls"),
        )

    def urls(self, v, path) -> tuple[str, ...]:
        """Pages the proxy blocks: a host and a path prefix ("reddit.com/r/name"); the scheme may be given."""
        out = []
        for i, x in enumerate(self.seq(v, path)):
            text = re.sub(r"^https?://", "", x.strip()) if isinstance(x, str) else ""
            host, slash, rest = text.partition("/")
            name = self.domain(host, f"{path}[{i}]") if host else None
            if not host:
                self.err(f"{path}[{i}]", f"expected a page such as reddit.com/r/name, got {shown(x)}")
            if name:
                out.append(name + slash + rest)
        return tuple(dict.fromkeys(out))

    def proxy(self, v, path) -> ProxyConfig:
        d = self.mapping(v, path, _keys(ProxyConfig))
        dflt = ProxyConfig()
        listen = self.listen(d["listen"], f"{path}.listen", 8081) if "listen" in d else dflt.listen
        return ProxyConfig(listen=listen or dflt.listen,
                           passthrough=self.domains(d.get("passthrough"), f"{path}.passthrough"),
                           **self.settings(ProxyConfig, d, path))

    def budget(self, v, p, categories, apps) -> Budget | None:
        d = self.mapping(v, p, {"name", "apps", "block", "minutes", "days"})
        name = self.name(d.get("name"), f"{p}.name")
        minutes = d.get("minutes")
        if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= 24 * 60:
            self.err(f"{p}.minutes", f"expected the minutes a day, a whole number from 1 to 1440, got "
                     f"{shown(minutes)}")
            minutes = None
        days = self.days(d["days"], f"{p}.days") if "days" in d else frozenset(range(7))
        b = d.get("block")
        if b == "everything":
            self.err(f"{p}.block", "a budget counts apps or categories, not everything: name them (a pause or a "
                     "window blocks everything)")
            b = None
        # block: may name apps as well as categories, as a window's block: does
        named = self.names_in(b, f"{p}.block", categories | apps, "category or app")
        app_names = self.names_in(d.get("apps"), f"{p}.apps", apps, "app") + tuple(
            x for x in named if x not in categories)
        cats = tuple(x for x in named if x in categories)
        if not app_names and not cats and "apps" not in d and "block" not in d:
            self.err(p, "say what the budget counts: apps: [youtube, tiktok] or block: [games]")
        if name is None or minutes is None or not days or not (app_names or cats):
            return None
        return Budget(name=name, minutes=int(minutes), days=days, apps=tuple(dict.fromkeys(app_names)), block=cats)

    def names_in(self, v, path, known: set[str], what: str) -> tuple[str, ...]:
        out = []
        for i, x in enumerate(self.seq(v, path)):
            if x not in known:
                self.err(f"{path}[{i}]", unknown(what, x, known))
            else:
                out.append(x)
        return tuple(dict.fromkeys(out))

    def days(self, v, path) -> frozenset[int]:
        if isinstance(v, list) and v and all(isinstance(x, str) for x in v):
            v = ",".join(v)          # days: [sat, sun]
        if not isinstance(v, str) or not v.strip():
            self.err(path, f"expected days such as mon-fri, sat,sun or daily, got {shown(v)}")
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
                    self.err(path, f"unknown day in {shown(part)} (days: {', '.join(DAYS)})")
                    continue
                i, j = DAYS.index(a), DAYS.index(b)
                out.update((i + k) % 7 for k in range((j - i) % 7 + 1))   # sun-thu wraps over the week's end
            elif part in DAYS:
                out.add(DAYS.index(part))
            else:
                self.err(path, f"unknown day {shown(part)} (days: {', '.join(DAYS)}, or daily, weekdays, weekend)")
        return frozenset(out)

    def hhmm(self, v, path) -> time | None:
        if isinstance(v, int) and not isinstance(v, bool):
            # YAML 1.1 reads an unquoted 21:00 as 1260 (base 60). Only that spelling is a time: `7` or `0700`
            # would silently mean 00:07 or (octal) 07:28.
            text = getattr(v, "text", None)
            if text is not None and not re.fullmatch(r"\d{1,2}:\d{2}", text):
                self.err(path, f"expected a time HH:MM, got {text}: write it as \"{_guess_time(text)}\"")
                return None
            v = f"{v // 60:02d}:{v % 60:02d}" if 0 <= v < 24 * 60 else str(v)
        if isinstance(v, str) and v.strip() == "24:00":
            self.err(path, "24:00 is not a time of day: use 00:00 (a window to 00:00 ends at midnight)")
            return None
        if isinstance(v, str) and re.fullmatch(r"\s*\d{1,2}:\d{2}\s*-\s*\d{1,2}:\d{2}\s*", v):
            self.err(path, f"expected one time, got a range {shown(v)}: write from: and to: apart")
            return None
        if isinstance(v, str) and re.fullmatch(r"\s*\d{1,2}(:\d{2})?\s*[ap]\.?m\.?\s*", v, re.I):
            self.err(path, f"expected a 24-hour time HH:MM, got {shown(v)} (9pm is written 21:00)")
            return None
        m = _HHMM.match(str(v)) if v is not None else None
        if not m:
            self.err(path, f"expected a time HH:MM from 00:00 to 23:59, got {shown(v)}")
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
        everything = b == "everything" or b == ["everything"]
        block: tuple[str, ...] = ()
        if b is None:
            self.err(f"{p}.block", "say what the window blocks: everything, or a list of categories")
        elif b == ["everything"]:
            self.err(f"{p}.block", "write block: everything without brackets")
        elif not everything:
            if isinstance(b, str):
                self.err(f"{p}.block", f"expected everything or a list of categories, got {shown(b)} "
                         f"(a list is written [{b}])")
            else:
                known = categories | apps
                block = self.names_in(b, f"{p}.block", known, "category or app")
        named_apps = block + self.names_in(d.get("block_apps"), f"{p}.block_apps", apps, "app")
        raw_allow = self.seq(d.get("allow"), f"{p}.allow")
        allow_school = "school" in raw_allow        # the school group by name, beside domains
        allow = self.domains([x for x in raw_allow if x != "school"], f"{p}.allow")
        if (allow or allow_school) and not everything:
            self.err(f"{p}.allow", "allow goes with block: everything (a category window already lets the rest through)")
        if None in (name, start, end) or not days:
            return None
        # `block:` may name categories and apps alike; each goes where decide() looks for it.
        return Window(name=name, days=days, start=start, end=end, everything=everything,
                      block=tuple(x for x in block if x in categories),
                      block_apps=tuple(dict.fromkeys(x for x in named_apps if x not in categories)),
                      allow=allow, allow_school=allow_school)

    def lists(self, v, path, categories: set[str]) -> ListsConfig:
        d = self.mapping(v, path, _keys(ListsConfig))
        out: list[ListSource] = []
        for i, x in enumerate(self.seq(d.get("sources"), f"{path}.sources")):
            p = f"{path}.sources[{i}]"
            s = self.mapping(x, p, {"name", "url", "path", "category"})
            name = self.name(s.get("name"), f"{p}.name")
            cat = self.name(s.get("category"), f"{p}.category")
            if cat in RESERVED_CATEGORIES:
                # A parent's list named never-block would make its domains beat pauses and bedtime.
                self.err(f"{p}.category", f"{cat!r} is Hearth's own group and cannot be a list's category: "
                         "to let domains through, add them to a profile's allow list or to essentials")
                cat = None
            url, file = s.get("url"), s.get("path")
            if (url is None) == (file is None):
                self.err(p, "give either url or path")
            elif url is not None and not _valid_url(url):
                self.err(f"{p}.url", f"expected an http(s) URL such as https://example.org/list.txt, got "
                         f"{shown(url)}")
            if name and cat and (url is None) != (file is None):
                out.append(ListSource(name, cat, url, str(self.path_value(file, f"{p}.path", Path())) if file else None))
        names = [s.name for s in out]
        for n in {n for n in names if names.count(n) > 1}:
            self.err(f"{path}.sources", f"two lists are named {n!r}")
        return ListsConfig(sources=tuple(out), **self.settings(ListsConfig, d, path))

    def admin(self, v, path, devices: set[str]) -> AdminConfig:
        d = self.mapping(v, path, {"listen", "https_listen", "parents", "parent_networks"})
        dflt = AdminConfig()
        parents = []
        for i, x in enumerate(self.seq(d.get("parents"), f"{path}.parents")):
            if x not in devices:
                self.err(f"{path}.parents[{i}]", unknown("device", x, devices))
            else:
                parents.append(x)
        return AdminConfig(
            listen=self.listen(d["listen"], f"{path}.listen", 80) if "listen" in d else dflt.listen,
            https_listen=self.listen(d.get("https_listen"), f"{path}.https_listen", 443),
            parents=tuple(parents),
            parent_networks=self.networks(d.get("parent_networks"), f"{path}.parent_networks"))

    def alerts(self, v, path, categories: set[str], apps: set[str]) -> AlertsConfig:
        d = self.mapping(v, path, _keys(AlertsConfig))
        dflt = AlertsConfig()
        notify = []
        for i, x in enumerate(self.seq(d.get("notify"), f"{path}.notify")):
            if not isinstance(x, str) or not re.match(r"^[a-z][a-z0-9+.-]*://\S+$", x):
                self.err(f"{path}.notify[{i}]", f"expected a notification URL such as mailtos://user:pass@host or "
                         f"ntfy://topic, got {shown(x)}")
            else:
                notify.append(x)
        digest = dflt.digest
        if "digest" in d:
            digest = None if d["digest"] in (None, False, "off") else self.hhmm(d["digest"], f"{path}.digest")
        quiet = dflt.quiet
        if "quiet" in d:
            q = d["quiet"]
            if q in (None, False, "off"):
                quiet = None
            elif isinstance(q, str) and re.fullmatch(r"\s*\d{1,2}:\d{2}\s*-\s*\d{1,2}:\d{2}\s*", q):
                a, b = (self.hhmm(x.strip(), f"{path}.quiet") for x in q.split("-"))
                quiet = (a, b) if a and b else dflt.quiet
            else:
                self.err(f"{path}.quiet", f"expected quiet hours such as \"22:00-07:00\", or off, got {shown(q)}")
        return AlertsConfig(
            notify=tuple(notify), digest=digest, quiet=quiet,
            categories=self.names_in(d["categories"], f"{path}.categories", categories, "category")
            if "categories" in d else tuple(c for c in dflt.categories if c in categories),
            apps=self.names_in(d.get("apps"), f"{path}.apps", apps, "app"),
            **self.settings(AlertsConfig, d, path))


def _keys(cls) -> set[str]:
    return set(cls.__slots__)


def _valid_url(url) -> bool:
    if not isinstance(url, str) or not re.match(r"^https?://[A-Za-z0-9.-]+(:\d+)?(/\S*)?$", url):
        return False
    try:
        url.encode("ascii")
    except UnicodeEncodeError:      # "https://…" copied from the README
        return False
    return True


def _guess_time(text: str) -> str:
    digits = re.sub(r"\D", "", text)
    if len(digits) <= 2:
        return f"{int(digits or 0):02d}:00"
    return f"{digits[:-2].zfill(2)}:{digits[-2:]}"
