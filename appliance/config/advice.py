"""Things in a valid config that will not do what a parent probably means: said by check-config and the admin,
never refused (the file is still usable)."""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from appliance.lists.parse import parse_file

from .schema import Config


def warnings(config: Config) -> list[str]:
    out: list[str] = []
    owned = {d for p in config.profiles.values() for d in p.devices}
    for p in config.children():
        if not p.devices:
            out.append(f"profiles.{p.name}: no devices, so these rules apply to nobody yet (add the child's "
                       "devices under devices: and list them here)")
    for d in config.devices:
        if d.name not in owned:
            out.append(f"devices: {d.name} is in no profile, so it gets the default profile's rules")
    by_ip = defaultdict(list)
    for d in config.devices:
        if d.ip:
            by_ip[d.ip].append(d.name)
    for ip, names in by_ip.items():
        if len(names) > 1:
            out.append(f"devices: {', '.join(names)} share the address {ip}: only the first is recognised by it "
                       "(give each a MAC, or a fixed address in the router)")
    essentials = _essentials(config)
    for p in config.profiles.values():
        where = "default_profile" if p.name == "default" else f"profiles.{p.name}"
        for d in p.deny:
            rule = _under(d, essentials)
            if rule:
                out.append(f"{where}.deny: {d} cannot be blocked: {rule} is an essential that keeps devices "
                           "working (it beats deny lists, pauses and bedtime)")
    return out


def _essentials(config: Config) -> set[str]:
    path = Path(config.blocklists_dir) / "never-block.txt"
    try:
        shipped = set(parse_file(path).domains)
    except OSError:
        shipped = set()
    return shipped | set(config.essentials)


def _under(name: str, suffixes: set[str]) -> str | None:
    parts = name.split(".")
    for i in range(len(parts)):
        s = ".".join(parts[i:])
        if s in suffixes:
            return s
    return None
