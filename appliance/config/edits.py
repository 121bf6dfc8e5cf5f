"""Small named edits on the config document that ``config.save()`` hands over (a ruamel.yaml round-trip
CommentedMap: a dict whose comments and key order survive). Each edit changes only what it names and raises
``ValueError`` with a message for parents when it cannot apply (a name taken, a child that does not exist); the
full validation of the result is ``save()``'s, with the same checks as ``hearth check-config``.

They work on plain dicts and lists too. save() quotes what YAML 1.1 would misread (21:00, off), so edits write
plain values.
"""
from __future__ import annotations

from typing import Any, Iterable, MutableMapping

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
PROFILE_FIELDS = ("block", "block_apps", "allow", "deny", "safe_search", "youtube", "bypass", "log_allowed")


def _section(doc: MutableMapping, key: str) -> MutableMapping:
    if not isinstance(doc.get(key), dict):
        doc[key] = {}
    return doc[key]


def _seq(parent: MutableMapping, key: str) -> list:
    if not isinstance(parent.get(key), list):
        parent[key] = []
    return parent[key]


def _profiles(doc: MutableMapping) -> MutableMapping:
    return _section(doc, "profiles")


def _profile(doc: MutableMapping, name: str) -> MutableMapping:
    profiles = _profiles(doc)
    if name not in profiles:
        raise ValueError(f"there is no child named {name!r}")
    if not isinstance(profiles[name], dict):
        profiles[name] = {}
    return profiles[name]


def _devices(doc: MutableMapping) -> list:
    return _seq(doc, "devices")


def _device(doc: MutableMapping, name: str) -> MutableMapping:
    for d in _devices(doc):
        if isinstance(d, dict) and d.get("name") == name:
            return d
    raise ValueError(f"there is no device named {name!r}")


def _rename_in(seq: Any, old: str, new: str | None) -> None:
    """Rename (or with new=None remove) an entry of a list in place, keeping its position."""
    if not isinstance(seq, list):
        return
    for i in range(len(seq) - 1, -1, -1):
        if seq[i] == old:
            if new is None:
                del seq[i]
            else:
                seq[i] = new


# --- settings -----------------------------------------------------------------------------------------------------

def set_timezone(doc: MutableMapping, zone: str) -> None:
    doc["timezone"] = zone


def set_setting(doc: MutableMapping, section: str, key: str, value: Any) -> None:
    """One setting of a section (dns, query_log, alerts, admin, lists); None removes it (back to the default)."""
    sec = _section(doc, section)
    if value is None:
        sec.pop(key, None)
    else:
        sec[key] = list(value) if isinstance(value, tuple) else value


# --- children -----------------------------------------------------------------------------------------------------

def add_profile(doc: MutableMapping, name: str, *, block: Iterable[str] = (), block_apps: Iterable[str] = ()) -> None:
    profiles = _profiles(doc)
    if name in profiles:
        raise ValueError(f"there is already a child named {name!r}")
    if name == "default":
        raise ValueError("'default' is the name of the rules for devices nobody has assigned: choose another")
    profiles[name] = {"devices": [], "block": list(block), "block_apps": list(block_apps), "schedules": []}


def rename_profile(doc: MutableMapping, old: str, new: str) -> None:
    profiles = _profiles(doc)
    _profile(doc, old)
    if new == old:
        return
    if new in profiles:
        raise ValueError(f"there is already a child named {new!r}")
    items = list(profiles.items())
    for k, _v in items:
        del profiles[k]
    for k, v in items:       # same place in the file, new name
        profiles[new if k == old else k] = v


def delete_profile(doc: MutableMapping, name: str) -> None:
    _profile(doc, name)
    del _profiles(doc)[name]


def set_profile(doc: MutableMapping, name: str, **fields: Any) -> None:
    """Fields of a child's rules (block, block_apps, allow, deny, safe_search, youtube, bypass, log_allowed)."""
    target = _profile(doc, name) if name != "default" else _section(doc, "default_profile")
    for k, v in fields.items():
        if k not in PROFILE_FIELDS:
            raise ValueError(f"unknown setting {k!r} for a child")
        if v is None:
            target.pop(k, None)
        else:
            target[k] = list(v) if isinstance(v, (tuple, list, set, frozenset)) else v


def add_to(doc: MutableMapping, name: str, key: str, item: str) -> None:
    """Add one entry to a child's list (allow, deny, block, block_apps), taking it off the opposite list."""
    target = _profile(doc, name) if name != "default" else _section(doc, "default_profile")
    seq = _seq(target, key)
    if item not in seq:
        seq.append(item)
    opposite = {"allow": "deny", "deny": "allow"}.get(key)
    if opposite:
        _rename_in(target.get(opposite), item, None)


def remove_from(doc: MutableMapping, name: str, key: str, item: str) -> None:
    target = _profile(doc, name) if name != "default" else _section(doc, "default_profile")
    _rename_in(target.get(key), item, None)


# --- schedules ----------------------------------------------------------------------------------------------------

def days_text(days: Iterable[int]) -> str:
    """{0..4} -> "mon-fri"; {6,0,1,2,3} -> "sun-thu"; {5,6} -> "sat-sun"; {0,2} -> "mon,wed"."""
    ds = sorted(set(days))
    if len(ds) == 7:
        return "daily"
    if not ds:
        return ""
    # a run that may wrap over the week's end: find the start after the gap
    present = [i in ds for i in range(7)]
    for start in range(7):
        if present[start] and not present[(start - 1) % 7]:
            n = 0
            while present[(start + n) % 7]:
                n += 1
            if n == len(ds) and n >= 3:
                return f"{DAYS[start]}-{DAYS[(start + n - 1) % 7]}"
            break
    return ",".join(DAYS[i] for i in ds)


def window_data(name: str, days: Iterable[int], start: str, end: str, *, everything: bool,
                block: Iterable[str] = (), allow: Iterable[str] = ()) -> dict:
    w: dict[str, Any] = {"name": name, "days": days_text(days), "from": start, "to": end,
                         "block": "everything" if everything else list(block)}
    if everything and allow:
        w["allow"] = list(allow)
    return w


def set_schedules(doc: MutableMapping, name: str, windows: list[dict]) -> None:
    """Replace a child's schedule windows with ``windows`` (dicts from window_data)."""
    _profile(doc, name)["schedules"] = list(windows)


# --- devices ------------------------------------------------------------------------------------------------------

def add_device(doc: MutableMapping, name: str, *, mac: str | None = None, ip: str | None = None) -> None:
    if any(isinstance(d, dict) and d.get("name") == name for d in _devices(doc)):
        raise ValueError(f"there is already a device named {name!r}")
    if not (mac or ip):
        raise ValueError("a device needs a MAC or an IP address")
    d: dict[str, Any] = {"name": name}
    if mac:
        d["mac"] = mac.lower()
    elif ip:
        d["ip"] = ip
    _devices(doc).append(d)


def rename_device(doc: MutableMapping, old: str, new: str) -> None:
    dev = _device(doc, old)
    if new == old:
        return
    if any(isinstance(d, dict) and d.get("name") == new for d in _devices(doc)):
        raise ValueError(f"there is already a device named {new!r}")
    dev["name"] = new
    for p in (_profiles(doc) or {}).values():
        if isinstance(p, dict):
            _rename_in(p.get("devices"), old, new)
    if isinstance(doc.get("admin"), dict):
        _rename_in(doc["admin"].get("parents"), old, new)


def forget_device(doc: MutableMapping, name: str) -> None:
    devices = _devices(doc)
    _device(doc, name)
    devices[:] = [d for d in devices if not (isinstance(d, dict) and d.get("name") == name)]
    for p in (_profiles(doc) or {}).values():
        if isinstance(p, dict):
            _rename_in(p.get("devices"), name, None)
    if isinstance(doc.get("admin"), dict):
        _rename_in(doc["admin"].get("parents"), name, None)


def assign_device(doc: MutableMapping, device: str, profile: str | None) -> None:
    """Give a device to a child (or with None to nobody: the default rules)."""
    _device(doc, device)
    if profile is not None:
        _profile(doc, profile)
    for pname, p in _profiles(doc).items():
        if isinstance(p, dict):
            _rename_in(p.get("devices"), device, None)
    if profile is not None:
        _seq(_profile(doc, profile), "devices").append(device)


# --- lists --------------------------------------------------------------------------------------------------------

def add_list_source(doc: MutableMapping, name: str, url: str, category: str) -> None:
    sources = _seq(_section(doc, "lists"), "sources")
    if any(isinstance(s, dict) and s.get("name") == name for s in sources):
        raise ValueError(f"there is already a list named {name!r}")
    sources.append({"name": name, "url": url, "category": category})


def remove_list_source(doc: MutableMapping, name: str) -> None:
    lists = doc.get("lists")
    if isinstance(lists, dict) and isinstance(lists.get("sources"), list):
        lists["sources"][:] = [s for s in lists["sources"] if not (isinstance(s, dict) and s.get("name") == name)]
