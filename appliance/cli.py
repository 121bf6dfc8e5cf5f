"""`hearth`: run the daemons, check a config, explain a decision, pause and reward children, manage lists."""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from datetime import datetime

from appliance import config as configmod
from appliance import control
from appliance.config import Config, ConfigError


def _print_errors(path, e: ConfigError, file=sys.stderr) -> None:
    print(f"{path}: {len(e.errors)} error(s):", file=file)
    for line in e.errors:
        print(f"  {line}", file=file)


def _load(args) -> Config:
    path = configmod.resolve_path(args.config)
    try:
        return configmod.load(path)
    except ConfigError as e:
        _print_errors(path, e)
        raise SystemExit(1) from None


def _data_dir(args):
    """Where the daemon's socket is, even when the config on disk is broken (the daemon runs the old one)."""
    path = configmod.resolve_path(args.config)
    try:
        return configmod.load(path).data_dir
    except ConfigError:
        import yaml
        from pathlib import Path
        try:
            raw = (yaml.safe_load(Path(path).read_text()) or {}).get("data_dir")
        except (OSError, yaml.YAMLError, AttributeError):
            raw = None
        p = Path(raw) if isinstance(raw, str) else Path(configmod.Config().data_dir)
        return p if p.is_absolute() else Path(path).resolve().parent / p


def _tell_daemon(config: Config) -> None:
    """The daemon polls overrides by itself each second: only say so when no daemon is there to read them."""
    try:
        control.request(config.data_dir, "ping", timeout=2)
    except OSError:
        print("(the DNS daemon is not running here; it will read this when it starts)")


# --- commands ------------------------------------------------------------------------------------------------

def cmd_check_config(args) -> int:
    path = args.file or configmod.resolve_path(args.config)
    try:
        cfg = configmod.load(path)
    except ConfigError as e:
        _print_errors(path, e, file=sys.stdout)     # the answer to the question asked: stdout
        return 1
    kids = [p for p in cfg.profiles if p != configmod.DEFAULT_PROFILE]
    print(f"{path}: OK ({len(cfg.devices)} devices, {len(kids)} profiles: {', '.join(kids) or 'none'})")
    return 0


def cmd_dns(args) -> int:
    from appliance.dns.daemon import run
    cfg = _load(args)      # errors printed plainly before anything starts
    try:
        run(configmod.resolve_path(args.config))
    except OSError as e:   # most often: port 53 taken (systemd-resolved, dnsmasq) or no right to bind it
        listen = ", ".join(str(ep) for ep in cfg.dns.listen)
        print(f"hearth dns: cannot start listening on {listen}: {e.strerror or e}", file=sys.stderr)
        return 1
    return 0


def cmd_serve(args) -> int:
    # Everything the config enables; today that is the DNS daemon (the proxy and the admin join it later).
    return cmd_dns(args)


def parse_instant(text: str, tz) -> datetime:
    """--at: "YYYY-MM-DD HH:MM" on the configured zone's clock, or ISO 8601 with an offset."""
    from appliance.policy.schedules import local_instant
    try:
        t = datetime.fromisoformat(text.strip())
    except ValueError:
        raise SystemExit(f"--at: cannot read {text!r}: write \"2026-12-01 21:30\" or 2026-12-01T21:30+01:00")
    return local_instant(t.date(), t.time(), tz) if t.tzinfo is None else t.astimezone(tz)


def cmd_explain(args) -> int:
    from appliance.dns.codec import type_code, type_name
    from appliance.dns.daemon import build_rules
    from appliance.policy.clients import Directory
    from appliance.policy.decide import decide
    from appliance.state import db
    from appliance.state.overrides import NO_OVERRIDES, OverrideStore

    cfg = _load(args)
    directory = Directory.from_config(cfg)
    if args.device:
        dev = next((d for d in cfg.devices if d.name == args.device), None)
        if dev is None:
            print(f"unknown device {args.device!r} (known: {', '.join(d.name for d in cfg.devices) or 'none'})",
                  file=sys.stderr)
            return 2
        client = directory.identify(dev.ip or (str(dev.cidr.network_address) if dev.cidr else "0.0.0.0"), dev.mac)
    else:
        client = directory.identify(args.ip, args.mac.lower() if args.mac else None)
    now = parse_instant(args.at, cfg.tz) if args.at else datetime.now(cfg.tz)
    dbfile = db.db_path(cfg.data_dir)
    overrides = NO_OVERRIDES
    if dbfile.exists():
        store = OverrideStore(dbfile)
        overrides = store.snapshot(now)
        store.close()
    qtype = type_code(args.type)
    if qtype is None:
        print(f"--type: unknown query type {args.type!r} (e.g. A, AAAA, HTTPS, MX)", file=sys.stderr)
        return 2
    d = decide(cfg.profiles[client.profile], args.domain.rstrip(".").lower(), qtype, now, overrides,
               build_rules(cfg))
    if args.json:
        print(json.dumps({"domain": args.domain, "type": type_name(qtype), "at": now.isoformat(),
                          "device": client.device, **d.as_dict()}))
        return 0
    who = f"device {client.device}" if client.device else f"{client.address} (no configured device)"
    print(f"{args.domain} for {who}, profile {client.profile}, at {now:%Y-%m-%d %H:%M %Z}:")
    print(f"  {d.action.value.upper()} — {d.reason.value}")
    for field in ("list", "rule", "schedule", "target"):
        v = getattr(d, field)
        if v:
            print(f"  {field}: {v}")
    if d.nxdomain:
        print("  answered NXDOMAIN")
    return 0


def _store(cfg: Config):
    from appliance.state import db
    from appliance.state.overrides import OverrideStore
    return OverrideStore(db.db_path(cfg.data_dir))


def _profile(cfg: Config, name: str):
    p = cfg.profiles.get(name)
    if p is None or name == configmod.DEFAULT_PROFILE:
        kids = [n for n in cfg.profiles if n != configmod.DEFAULT_PROFILE]
        raise SystemExit(f"unknown profile {name!r} (known: {', '.join(kids) or 'none'})")
    return p


def _override(args, make) -> int:
    """Store one override for args.profile, say what it does, and tell the parent if no daemon will apply it."""
    cfg = _load(args)
    profile = _profile(cfg, args.profile)
    store = _store(cfg)
    try:
        o = make(store, profile, datetime.now(cfg.tz), cfg)
    except ValueError as e:
        raise SystemExit(str(e))
    finally:
        store.close()
    print(o.describe(cfg.tz))
    _tell_daemon(cfg)
    return 0


def cmd_pause(args) -> int:
    from appliance.state.overrides import parse_duration, parse_until

    def make(store, profile, now, cfg):
        if args.until:
            return store.add_pause(profile.name, now, until=parse_until(args.until, cfg.tz, now))
        return store.add_pause(profile.name, now, duration=parse_duration(args.duration or "1h"))
    return _override(args, make)


def cmd_allow(args) -> int:
    from appliance.lists.catalog import load_catalog
    from appliance.state.overrides import parse_duration

    def make(store, profile, now, cfg):
        cat = load_catalog(cfg.blocklists_dir)
        target = args.target.lower()
        if target not in cat.apps and target not in cat.categories and "." not in target:
            raise ValueError(f"{args.target!r} is not an app, a category or a domain "
                             f"(apps: {', '.join(sorted(cat.apps)[:10])}, …)")
        return store.add_allow(profile.name, target, parse_duration(args.duration), now)
    return _override(args, make)


def cmd_later(args) -> int:
    from appliance.state.overrides import parse_duration
    return _override(args, lambda store, profile, now, cfg:
                     store.shift_window(profile, args.window, parse_duration(args.delay), now))


def cmd_end(args) -> int:
    return _override(args, lambda store, profile, now, cfg: store.end_window(profile, args.window, now))


def cmd_resume(args) -> int:
    cfg = _load(args)
    _profile(cfg, args.profile)
    store = _store(cfg)
    try:
        n = store.resume(args.profile, datetime.now(cfg.tz))
    finally:
        store.close()
    print(f"{args.profile}: internet resumed" if n else f"{args.profile} was not paused")
    _tell_daemon(cfg)
    return 0


def cmd_overrides(args) -> int:
    cfg = _load(args)
    active = _store(cfg).list_active(datetime.now(cfg.tz))
    for o in active:
        print(o.describe(cfg.tz))
    if not active:
        print("no live overrides")
    return 0


def cmd_reload(args) -> int:
    data_dir = _data_dir(args)      # the daemon judges the file itself and answers with its errors
    try:
        reply = control.request(data_dir, "reload")
    except OSError as e:
        print(f"the DNS daemon is not reachable at {control.socket_path(data_dir)}: {e}", file=sys.stderr)
        return 1
    if reply.get("ok"):
        print("reloaded" + "".join(f"\n  note: {n}" for n in reply.get("notes", [])))
        return 0
    print("reload refused; the daemon keeps its running config:", file=sys.stderr)
    for line in reply.get("errors", []):
        print(f"  {line}", file=sys.stderr)
    return 1


def cmd_status(args) -> int:
    data_dir = _data_dir(args)
    try:
        st = control.request(data_dir, "stats", timeout=5)
    except OSError as e:
        print(f"the DNS daemon is not reachable at {control.socket_path(data_dir)}: {e}", file=sys.stderr)
        return 1
    up = int(st.get("uptime", 0))
    print(f"running for {up // 86400}d {up % 86400 // 3600}h {up % 3600 // 60}m; "
          f"{st['hot'] + st['full_chain']:,} queries ({st['hot']:,} from the hot cache), "
          f"{st['refused']:,} refused, {st['rate_limited']:,} rate-limited, {st['servfail']:,} SERVFAIL, "
          f"{st['stale']:,} stale")
    print(f"lists: {st['index_entries']:,} entries; caches: {st['hot_entries']:,} replies, "
          f"{st['cache_entries']:,} upstream answers")
    print(f"query log: {st['log_written']:,} rows written, {st['log_dropped']:,} dropped")
    print("upstreams (lower is healthier): " + ", ".join(f"{u} {s}" for u, s in st["upstreams"].items()))
    last = st.get("last_reload") or {}
    if last and not last.get("ok"):
        print("last reload refused: " + "; ".join(last.get("errors", [])))
    return 0


def cmd_lists(args) -> int:
    from appliance.lists import commands
    cfg = _load(args)
    if args.action == "status":
        print("\n".join(commands.status_lines(cfg)))
        return 0
    code = commands.run_update(cfg)
    try:
        control.request(cfg.data_dir, "reload", timeout=60)
    except OSError:
        pass     # no daemon running: it compiles the new lists when it starts
    return code


# --- the parser ----------------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="FILE",
                        help=f"the config file (default: $HEARTH_CONFIG, else {configmod.DEFAULT_CONFIG_PATH})")
    p = argparse.ArgumentParser(prog="hearth", parents=[common],
                                description="Hearth: a home DNS filter that keeps children safe online.")
    # After the command too (hearth pause --config F ...), without undoing a --config given before it.
    later = argparse.ArgumentParser(add_help=False)
    later.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS, help="the config file")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name, fn, help_):
        sp = sub.add_parser(name, parents=[later], help=help_, description=help_)
        sp.set_defaults(fn=fn)
        return sp

    add("dns", cmd_dns, "run the DNS daemon in the foreground (what systemd runs)")
    add("serve", cmd_serve, "run everything the config enables, in the foreground")
    sp = add("check-config", cmd_check_config, "check a config file; exit 1 with every error if it is bad")
    sp.add_argument("file", nargs="?", help="the file to check (default: --config)")
    sp = add("explain", cmd_explain, "say what Hearth decides for a domain, and why (no network used)")
    sp.add_argument("domain")
    who = sp.add_mutually_exclusive_group(required=True)
    who.add_argument("--device", help="a device name from the config")
    who.add_argument("--ip", help="the address the query comes from")
    sp.add_argument("--mac", help="with --ip: the device's MAC")
    sp.add_argument("--at", help='when: "YYYY-MM-DD HH:MM" in the configured zone, or ISO 8601 with an offset')
    sp.add_argument("--type", default="A", help="query type (default A)")
    sp.add_argument("--json", action="store_true", help="print the decision as one JSON object")
    sp = add("pause", cmd_pause, "pause a child's internet now, for a while or until a time")
    sp.add_argument("profile")
    sp.add_argument("duration", nargs="?", help="e.g. 30m, 1h30m (default 1h)")
    sp.add_argument("--until", help="instead of a duration: 21:30, or \"2026-12-01 07:00\"")
    sp = add("allow", cmd_allow, "allow an app, a category or a domain for a while, then block it again")
    sp.add_argument("profile")
    sp.add_argument("target", help="an app (youtube), a category (games) or a domain")
    sp.add_argument("duration", help="e.g. 30m")
    sp = add("resume", cmd_resume, "end a child's pause now")
    sp.add_argument("profile")
    sp = add("later", cmd_later, "start tonight's schedule window later (e.g. bedtime 30 minutes later)")
    sp.add_argument("profile")
    sp.add_argument("window", help="the schedule window's name")
    sp.add_argument("delay", help="e.g. 30m")
    sp = add("end", cmd_end, "end a schedule window now (or skip its next time if it is not in force)")
    sp.add_argument("profile")
    sp.add_argument("window", help="the schedule window's name")
    add("overrides", cmd_overrides, "list the live pauses, allows and schedule changes")
    add("reload", cmd_reload, "ask the running daemon to re-read the config and lists")
    add("status", cmd_status, "what the running daemon is doing: queries, caches, upstream health")
    sp = add("lists", cmd_lists, "show or update the block lists")
    sp.add_argument("action", choices=("status", "update"))
    return p


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=os.environ.get("HEARTH_LOG", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)    # it narrates every job it adds
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args) or 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
