"""Safe-search DNS rewrites: engine host names answered as a CNAME to the engine's safe host.

The data is ``blocklists/safesearch.yaml`` (format in blocklists/README.md). Hosts are matched exactly, not as
suffixes: ``forcesafesearch.google.com`` is itself under google.com and must resolve normally. YouTube's two
levels map to two different hosts (restrictmoderate / restrict) and are chosen per profile.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from ..config import ConfigError
from ..config.cache import shipped_data
from ..lists.names import query_ascii, to_ascii

__all__ = ["SafeSearch", "YOUTUBE_LEVELS"]

FILE_NAME = "safesearch.yaml"
YOUTUBE_LEVELS = ("moderate", "strict")
_EMPTY: Mapping = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class SafeSearch:
    engines: Mapping[str, tuple[str, str]] = field(default_factory=lambda: _EMPTY)   # host -> (engine, safe host)
    youtube_hosts: frozenset[str] = frozenset()
    youtube: Mapping[str, str] = field(default_factory=lambda: _EMPTY)               # level -> safe host

    def target(self, qname: str, youtube: str, safe_search: bool) -> tuple[str, str] | None:
        """``(engine, safe host)`` if ``qname`` is to be rewritten for a profile with these settings, else None."""
        name = query_ascii(qname)
        if name is None:
            return None
        if safe_search:
            hit = self.engines.get(name)
            if hit is not None:
                return hit
        if youtube in YOUTUBE_LEVELS and name in self.youtube_hosts:
            return "youtube", self.youtube[youtube]
        return None

    @classmethod
    def load(cls, path: str | Path) -> "SafeSearch":
        """Read and check a safesearch.yaml; ConfigError listing every problem with its YAML path."""
        path = Path(path)
        try:
            data = shipped_data(path, _parse)          # parsed again only when the file changed
        except Exception as e:
            import yaml
            if not isinstance(e, (OSError, yaml.YAMLError)):
                raise
            raise ConfigError([f"cannot read: {e}"], path) from e
        return cls.from_dict(data, path)

    @classmethod
    def from_dict(cls, data: Any, path: str | Path | None = None) -> "SafeSearch":
        errors: list[str] = []
        if not isinstance(data, dict):
            raise ConfigError(["expected a mapping with 'engines' and 'youtube'"], path)
        for key in set(data) - {"engines", "youtube"}:
            errors.append(f"{key}: unknown key (expected engines, youtube)")

        def hosts_of(where: str, value: Any) -> list[str]:
            if not isinstance(value, list) or not value:
                errors.append(f"{where}: expected a non-empty list of host names")
                return []
            out = []
            for i, h in enumerate(value):
                name = to_ascii(h) if isinstance(h, str) else None
                if name is None:
                    errors.append(f"{where}[{i}]: not a host name: {h!r}")
                else:
                    out.append(name)
            return out

        def host(where: str, value: Any) -> str | None:
            name = to_ascii(value) if isinstance(value, str) else None
            if name is None:
                errors.append(f"{where}: not a host name: {value!r}")
            return name

        engines: dict[str, tuple[str, str]] = {}
        raw_engines = data.get("engines") or {}
        if not isinstance(raw_engines, dict):
            errors.append("engines: expected a mapping of engine name to {target, hosts}")
            raw_engines = {}
        for engine, spec in raw_engines.items():
            where = f"engines.{engine}"
            if not isinstance(spec, dict):
                errors.append(f"{where}: expected a mapping with target and hosts")
                continue
            target = host(f"{where}.target", spec.get("target"))
            for h in hosts_of(f"{where}.hosts", spec.get("hosts")):
                if h == target:
                    errors.append(f"{where}.hosts: {h} is the target itself (it would never resolve)")
                elif h in engines and engines[h][0] != engine:
                    errors.append(f"{where}.hosts: {h} is already a host of {engines[h][0]}")
                elif target is not None:
                    engines[h] = (str(engine), target)

        youtube: dict[str, str] = {}
        yt_hosts: frozenset[str] = frozenset()
        raw_yt = data.get("youtube")
        if raw_yt is not None:
            if not isinstance(raw_yt, dict):
                errors.append("youtube: expected a mapping with moderate, strict and hosts")
            else:
                for key in set(raw_yt) - {"moderate", "strict", "hosts"}:
                    errors.append(f"youtube.{key}: unknown key (expected moderate, strict, hosts)")
                for level in YOUTUBE_LEVELS:
                    t = host(f"youtube.{level}", raw_yt.get(level))
                    if t is not None:
                        youtube[level] = t
                yt_hosts = frozenset(hosts_of("youtube.hosts", raw_yt.get("hosts")))
                for h in yt_hosts & set(youtube.values()):
                    errors.append(f"youtube.hosts: {h} is a target itself (it would never resolve)")
        if errors:
            raise ConfigError(errors, path)
        return cls(MappingProxyType(engines), yt_hosts, MappingProxyType(youtube))

    @classmethod
    def from_dir(cls, blocklists_dir: str | Path) -> "SafeSearch":
        return cls.load(Path(blocklists_dir) / FILE_NAME)


def _parse(text: str) -> Any:
    import yaml     # here: PyYAML loads only when the file changed since it was last parsed
    # libyaml's loader when PyYAML has it (ten times faster: every CLI command reads these files)
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
