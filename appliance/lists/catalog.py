"""The shipped catalog: categories and apps described in ``blocklists/`` (format: blocklists/README.md).

Cheap on purpose: the config validator calls it to know which names exist, so it reads the small YAML files and
never the ``domains.txt`` lists (store.py does that when it compiles the index).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from .names import to_ascii

_NAME = re.compile(r"[a-z0-9][a-z0-9-]*\Z")
# What an app's hosts do, for maintainers and the coverage check; blocking never depends on it.
ROLES = ("api", "login", "media", "live", "upload", "web")


class CatalogError(Exception):
    """The shipped lists are broken; ``errors`` holds one line per problem, each naming its file."""

    def __init__(self, errors: list[str]):
        self.errors = list(errors)
        super().__init__("; ".join(self.errors))


@dataclass(frozen=True, slots=True)
class Category:
    name: str
    title: str
    title_fr: str
    description: str
    description_fr: str
    maintainer_note: str


@dataclass(frozen=True, slots=True)
class App:
    name: str
    title: str
    category: str
    description: str
    domains: tuple[str, ...]
    notes: str
    # role -> hosts, each under one of ``domains``
    roles: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))
    # Hosts outside the app's own domains that it cannot work without (its API on shared infrastructure, images,
    # fonts): never blocked because of the app, but let through with it while a parent allows the app for a while.
    needs: tuple[str, ...] = ()
    # Hosts (each under one of ``domains``, suffix-matched) whose queries mean someone is using the app now: the
    # feed, the video or game servers. Push, telemetry and background refresh are left out: a time budget counts
    # minutes with a query for one of these (appliance/state/budgets.py), so they must not count a phone in a pocket.
    foreground: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Catalog:
    categories: Mapping[str, Category]
    apps: Mapping[str, App]


def category_domains_path(root: Path, category: str) -> Path:
    return Path(root) / "categories" / category / "domains.txt"


# root -> (the files' signature, the catalog read from them): one process reads the catalog several times (the
# config's validation, then explain's titles; the daemon's reload, its alerts and budgets), the files seldom change.
_read: dict[Path, tuple[tuple, Catalog]] = {}


def _signature(root: Path) -> tuple:
    """What load_catalog reads, by name, size and modification time: a change to any of them reads it again."""
    sig = []
    for path in sorted([*root.glob("categories/*/category.yaml"), *root.glob("categories/*/domains.txt"),
                        *root.glob("apps/*.yaml"), root / "categories", root / "apps"]):
        try:
            st = path.stat()
        except OSError:
            continue
        sig.append((str(path), st.st_size, st.st_mtime_ns, st.st_ino))
    return tuple(sig)


def load_catalog(root: str | Path) -> Catalog:
    root = Path(root)
    sig = _signature(root)
    known = _read.get(root)
    if known is not None and known[0] == sig:
        return known[1]        # immutable: the same catalog can be handed out again
    catalog = _load(root)
    _read[root] = (sig, catalog)
    return catalog


def _load(root: Path) -> Catalog:
    errors: list[str] = []
    if not (root / "categories").is_dir():
        raise CatalogError([f"{root / 'categories'}: no such directory (is blocklists_dir right?)"])
    categories: dict[str, Category] = {}
    for folder in sorted(p for p in (root / "categories").iterdir() if p.is_dir()):
        cat = _category(folder, errors)
        if cat:
            categories[cat.name] = cat
    apps: dict[str, App] = {}
    if (root / "apps").is_dir():
        for path in sorted((root / "apps").glob("*.yaml")):
            app = _app(path, categories, errors)
            if app:
                apps[app.name] = app
    if errors:
        raise CatalogError(errors)
    return Catalog(MappingProxyType(categories), MappingProxyType(apps))


def _category(folder: Path, errors: list[str]) -> Category | None:
    path = folder / "category.yaml"
    if not _NAME.match(folder.name):
        errors.append(f"{folder}: a category folder name is lower case a-z, 0-9 and '-'")
        return None
    doc = _yaml(path, errors)
    if doc is None:
        return None
    if not (folder / "domains.txt").is_file():
        errors.append(f"{folder / 'domains.txt'}: missing")
    text = _texts(path, doc, errors, required=("title", "description"),
                  optional=("title_fr", "description_fr", "maintainer_note"))
    if text is None:
        return None
    return Category(folder.name, text["title"], text["title_fr"] or text["title"], text["description"],
                    text["description_fr"] or text["description"], text["maintainer_note"])


def _app(path: Path, categories: Mapping[str, Category], errors: list[str]) -> App | None:
    doc = _yaml(path, errors)
    if doc is None:
        return None
    before = len(errors)
    name = doc.get("name", path.stem)
    if name != path.stem or not _NAME.match(path.stem):
        errors.append(f"{path}: name must be the file's name ({path.stem!r}), lower case a-z, 0-9 and '-'")
    category = doc.get("category")
    if category not in categories:
        errors.append(f"{path}: category: {category!r} is not a folder under categories/")
    raw = doc.get("domains")
    domains: list[str] = []
    if not isinstance(raw, list) or not raw:
        errors.append(f"{path}: domains: a non-empty list of domains is required")
    else:
        for i, d in enumerate(raw):
            name_ = to_ascii(d) if isinstance(d, str) else None
            if name_ is None:
                errors.append(f"{path}: domains[{i}]: {d!r} is not a domain")
            else:
                domains.append(name_)
    roles = _roles(path, doc.get("roles"), domains, errors)
    needs = _needs(path, doc.get("needs"), domains, errors)
    foreground = _foreground(path, doc.get("foreground"), domains, errors)
    text = _texts(path, doc, errors, required=("title", "description"), optional=("notes",))
    if text is None or len(errors) > before:
        return None
    return App(path.stem, text["title"], category, text["description"], tuple(dict.fromkeys(domains)),
               text["notes"], roles, needs, foreground)


def _foreground(path: Path, raw: Any, domains: list[str], errors: list[str]) -> tuple[str, ...]:
    """The optional ``foreground:`` list: hosts under the app's own domains (a budget must never count a name the
    app does not own: a shared CDN would charge every app on it)."""
    if raw is None:
        return ()
    if not isinstance(raw, list) or not raw:
        errors.append(f"{path}: foreground: a list of the hosts that mean the app is in use")
        return ()
    out = []
    for i, h in enumerate(raw):
        host = to_ascii(h) if isinstance(h, str) else None
        if host is None or "." not in host:
            errors.append(f"{path}: foreground[{i}]: {h!r} is not a host name")
        elif not any(host == d or host.endswith("." + d) for d in domains):
            errors.append(f"{path}: foreground[{i}]: {host} is not under any of the app's domains")
        else:
            out.append(host)
    return tuple(dict.fromkeys(out))


def _needs(path: Path, raw: Any, domains: list[str], errors: list[str]) -> tuple[str, ...]:
    """The optional ``needs:`` list: host names (each matched exactly), none under the app's own domains."""
    if raw is None:
        return ()
    if not isinstance(raw, list) or not raw:
        errors.append(f"{path}: needs: a list of host names the app cannot work without")
        return ()
    out = []
    for i, h in enumerate(raw):
        host = to_ascii(h) if isinstance(h, str) else None
        if host is None or "." not in host:
            errors.append(f"{path}: needs[{i}]: {h!r} is not a host name")
        elif any(host == d or host.endswith("." + d) for d in domains):
            errors.append(f"{path}: needs[{i}]: {host} is under the app's own domains already")
        else:
            out.append(host)
    return tuple(dict.fromkeys(out))


def _roles(path: Path, raw: Any, domains: list[str], errors: list[str]) -> Mapping[str, tuple[str, ...]]:
    """The optional ``roles:`` mapping: each role names at least one host, and each host is one the app blocks
    (so a role can never widen what blocking the app blocks)."""
    if raw is None:
        return MappingProxyType({})
    if not isinstance(raw, dict):
        errors.append(f"{path}: roles: expected a mapping such as 'api: [api.example.com]'")
        return MappingProxyType({})
    out: dict[str, tuple[str, ...]] = {}
    for role, hosts in raw.items():
        if role not in ROLES:
            errors.append(f"{path}: roles: {role!r} is not a role (one of {', '.join(ROLES)})")
            continue
        if not isinstance(hosts, list) or not hosts:
            errors.append(f"{path}: roles: {role}: a non-empty list of hosts is required")
            continue
        names = []
        for i, h in enumerate(hosts):
            name = to_ascii(h) if isinstance(h, str) else None
            if name is None:
                errors.append(f"{path}: roles: {role}[{i}]: {h!r} is not a domain")
            elif not any(name == d or name.endswith("." + d) for d in domains):
                errors.append(f"{path}: roles: {role}[{i}]: {name} is not under any of the app's domains")
            else:
                names.append(name)
        out[role] = tuple(dict.fromkeys(names))
    return MappingProxyType(out)


def _yaml(path: Path, errors: list[str]) -> dict[str, Any] | None:
    import yaml     # here: a CLI command that finds the catalog's names in the config cache never loads PyYAML
    try:
        # libyaml's loader when PyYAML has it (ten times faster: every CLI command reads these files)
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except FileNotFoundError:
        errors.append(f"{path}: missing")
        return None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        errors.append(f"{path}: cannot read: {e}".replace("\n", " "))
        return None
    if not isinstance(doc, dict):
        errors.append(f"{path}: expected a mapping of fields, found {type(doc).__name__}")
        return None
    return doc


def _texts(path: Path, doc: dict, errors: list[str], *, required: tuple[str, ...],
           optional: tuple[str, ...]) -> dict[str, str] | None:
    out: dict[str, str] = {}
    ok = True
    for key in required + optional:
        value = doc.get(key)
        if value is None and key in optional:
            value = ""
        if not isinstance(value, str) or (key in required and not value.strip()):
            errors.append(f"{path}: {key}: text required" if key in required else f"{path}: {key}: must be text")
            ok = False
            continue
        out[key] = value.strip()
    return out if ok else None
