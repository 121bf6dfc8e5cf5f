"""`hearth`: run the daemons, check a config, explain a decision, pause and reward children, manage lists."""
from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime, timedelta

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
        if not os.path.exists(path):
            print("  (give the file with --config FILE, or set HEARTH_CONFIG=FILE)", file=sys.stderr)
        raise SystemExit(1) from None


def _load_live(args) -> Config:
    """For live commands (pause, allow, explain, …): the file, or, while the file has errors, the config the
    daemon runs, so a typo never locks a parent out of pausing a child."""
    path = configmod.resolve_path(args.config)
    try:
        return configmod.load(path)
    except ConfigError as e:
        running = configmod.running_copy(_data_dir(args))
        if not running.exists():
            return _load(args)
        try:
            cfg = configmod.load(running)
        except ConfigError:
            return _load(args)
        print(f"hearth: {path} has {len(e.errors)} error(s) (see: hearth check-config); until they are fixed, "
              "this uses the config the DNS daemon runs", file=sys.stderr)
        return cfg


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
    """The daemon hears the database written and reads the change by itself; asking it to read now makes the
    change in force before the command prints its message. Say so only when no daemon is there to read it."""
    try:
        control.request(config.data_dir, "overrides", timeout=2)
    except OSError:
        print("(the DNS daemon is not running here; it will read this when it starts)")


def _actions(args):
    from appliance.actions import Actions
    return Actions(_load_live(args))


def _act(args, fn) -> int:
    """Run one parent action: print its message, or the reason it could not be done (exit 2)."""
    from appliance.actions import UserError
    actions = _actions(args)
    try:
        result = fn(actions)
    except UserError as e:
        print(f"hearth: {e}", file=sys.stderr)
        return 2
    print(result.message)
    _tell_daemon(actions.config)
    return 0


# --- commands ------------------------------------------------------------------------------------------------

def cmd_check_config(args) -> int:
    path = args.file or configmod.resolve_path(args.config)
    try:
        cfg = configmod.load(path)
    except ConfigError as e:
        _print_errors(path, e, file=sys.stdout)     # the answer to the question asked: stdout
        return 1
    from appliance.config.advice import warnings
    kids = [p.name for p in cfg.children()]
    print(f"{path}: OK ({len(cfg.devices)} devices, {len(kids)} profiles: {', '.join(kids) or 'none'})")
    for line in warnings(cfg):
        print(f"  warning: {line}")
    return 0


def _log_in_zone(tz) -> None:
    """Times in the system log in the config's zone, as everywhere else a parent reads a time."""
    def converter(secs):
        return datetime.fromtimestamp(secs, tz).timetuple()
    import logging
    for handler in logging.getLogger().handlers:
        if handler.formatter is not None:
            handler.formatter.converter = converter


def cmd_dns(args) -> int:
    from appliance.dns.daemon import run
    cfg = _load(args)      # errors printed plainly before anything starts
    _log_in_zone(cfg.tz)
    try:
        run(configmod.resolve_path(args.config))
    except OSError as e:   # most often: port 53 taken (systemd-resolved, dnsmasq) or no right to bind it
        from appliance import ports
        listen = ", ".join(str(ep) for ep in cfg.dns.listen)
        print(f"hearth dns: cannot start listening on {listen}: {e.strerror or e}", file=sys.stderr)
        for port in sorted({ep.port for ep in cfg.dns.listen}):
            who = ports.holder(port)
            if who is not None:
                print(f"  port {port} is held by {who.name} (process {who.pid}): {who.advice}", file=sys.stderr)
        return 1
    return 0


def cmd_serve(args) -> int:
    """Everything the config enables, in the foreground: the web admin (admin.listen) beside the DNS daemon."""
    import threading
    cfg = _load(args)
    if cfg.admin is not None and (cfg.admin.listen or cfg.admin.https_listen):
        from appliance import admincmd
        path = configmod.resolve_path(args.config)
        try:
            if cfg.admin.listen:
                server = admincmd.make_server(path, str(cfg.admin.listen))
                threading.Thread(target=server.run, name="hearth-admin", daemon=True).start()
                print(f"Hearth admin on http://{cfg.admin.listen}/ (a first visit sets the password)", flush=True)
            if cfg.admin.https_listen:
                secure = admincmd.make_https_server(path, str(cfg.admin.https_listen), cfg.data_dir)
                threading.Thread(target=secure.safe_start, name="hearth-admin-https", daemon=True).start()
                print(f"Hearth admin on https://{cfg.admin.https_listen}/ (certificate SHA-256 "
                      f"{admincmd.ensure_certificate(cfg.data_dir)[2]})", flush=True)
        except OSError as e:
            print(f"hearth serve: the admin cannot listen on {cfg.admin.listen or cfg.admin.https_listen}: "
                  f"{e.strerror or e}", file=sys.stderr)
            return 1
    proxy = _start_proxy(args, cfg)
    try:
        return cmd_dns(args)
    finally:
        if proxy is not None:
            proxy.terminate()


def _start_proxy(args, cfg: Config):
    """With a proxy section: `hearth proxy` beside the DNS daemon, ended with it."""
    if cfg.proxy is None:
        return None
    import subprocess
    proc = subprocess.Popen([sys.executable, "-m", "appliance.cli", "proxy", "--config",
                             configmod.resolve_path(args.config)])
    print(f"Hearth proxy ({cfg.proxy.mode}) on {cfg.proxy.listen}; set up devices at http://hearth.setup/ "
          "through it", flush=True)
    return proc


def cmd_proxy(args) -> int:
    from appliance.proxy.run import run
    extra = args.mitmdump[1:] if args.mitmdump[:1] == ["--"] else args.mitmdump
    return run(_load(args), configmod.resolve_path(args.config), extra)


def cmd_approve(args) -> int:
    from appliance.actions import UserError
    from appliance.proxy.access import approve
    cfg = _load_live(args)
    try:
        result = approve(cfg, args.id, getattr(args, "for"))
    except UserError as e:
        print(f"hearth approve: {e}", file=sys.stderr)
        return 2
    print(result.message)
    _tell_daemon(cfg)
    return 0


def cmd_explain(args) -> int:
    from appliance.actions import UserError
    actions = _actions(args)
    try:
        ex = actions.explain(args.domain, device=args.device, ip=args.ip, mac=args.mac, profile=args.profile,
                             at=args.at, qtype=args.type)
    except UserError as e:
        print(f"hearth explain: {e}", file=sys.stderr)
        return 2
    d, client = ex.decision, ex.client
    if args.json:
        print(json.dumps({"domain": ex.domain, "type": ex.qtype, "at": ex.at.isoformat(), "device": client.device,
                          "words": ex.words, **d.as_dict()}))
        return 0
    if client.device:
        who = f"device {client.device}"
    elif args.profile:
        who = f"profile {args.profile}"
    else:
        who = f"{client.address} (no configured device)"
    print(f"{ex.domain} for {who}, profile {client.profile}, at {ex.at:%Y-%m-%d %H:%M %Z}:")
    print(f"  {d.action.value.upper()} — {d.reason.value}")
    print(f"  {ex.words}")
    for field in ("list", "rule", "schedule", "target"):
        v = getattr(d, field)
        if v:
            print(f"  {field}: {v}")
    if d.nxdomain:
        print("  answered NXDOMAIN")
    return 0


def cmd_pause(args) -> int:
    return _act(args, lambda a: a.pause(args.profile, duration=None if args.until else (args.duration or "1h"),
                                        until=args.until))


def cmd_allow(args) -> int:
    return _act(args, lambda a: a.allow(args.profile, args.target, args.duration))


def cmd_later(args) -> int:
    return _act(args, lambda a: a.later(args.profile, args.window, args.delay))


def cmd_end(args) -> int:
    return _act(args, lambda a: a.end(args.profile, args.window))


def cmd_resume(args) -> int:
    return _act(args, lambda a: a.resume(args.profile))


def cmd_cancel(args) -> int:
    return _act(args, lambda a: a.cancel(args.id))


def cmd_now(args) -> int:
    from appliance.actions import UserError
    actions = _actions(args)
    try:
        lines = actions.now(args.profile)
    except UserError as e:
        print(f"hearth: {e}", file=sys.stderr)
        return 2
    print(f"{args.profile}, now:")
    for line in lines:
        print(f"  {line}")
    return 0


def cmd_overrides(args) -> int:
    actions = _actions(args)
    active = actions.overrides()
    if args.json:
        print(json.dumps([o.as_dict() for o in active]))
        return 0
    for o in active:
        print(f"  [{o.id}] {o.describe(actions.config.tz)}")
    if not active:
        print("no live overrides")
    else:
        print("(hearth cancel ID ends one now)")
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
        print(f"the DNS daemon is not reachable at {control.socket_path(data_dir)}: {e.strerror or e}",
              file=sys.stderr)
        print("  (is it running? systemctl status hearth-dns, or start it with: hearth dns)", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(st))
        return 0
    up = int(st.get("uptime", 0))
    queries = st["hot"] + st["full_chain"]
    print(f"Hearth has been answering for {up // 86400}d {up % 86400 // 3600}h {up % 3600 // 60}m: "
          f"{queries:,} questions, {st.get('blocked', 0):,} blocked, {st['hot']:,} answered from memory")
    problems = [f"{st['refused']:,} refused (from outside the home networks)" if st["refused"] else "",
                f"{st['rate_limited']:,} refused to devices asking too fast" if st["rate_limited"] else "",
                f"{st['servfail']:,} failed (no upstream answered)" if st["servfail"] else "",
                f"{st['stale']:,} answered from an expired copy while upstreams were down" if st["stale"] else "",
                f"{st['newcomers_dropped']:,} dropped from new addresses arriving by the thousand (a device may be "
                "inventing addresses)" if st.get("newcomers_dropped") else ""]
    if any(problems):
        print("  " + "; ".join(p for p in problems if p))
    today = _today_totals(args)
    if today:
        print(today)
    print(f"block lists: {st['index_entries']:,} names; in memory: {st['hot_entries']:,} answers, "
          f"{st['cache_entries']:,} upstream records")
    if st.get("index_stale"):       # the newest lists could not be compiled: older ones are blocking
        print(f"WARNING: {st['index_stale']}")
    print(f"query log: {st['log_written']:,} rows written, {st['log_dropped']:,} lost")
    if (st.get("log") or {}).get("last_error"):
        print(f"  the query log's last problem: {st['log']['last_error']}")
    words = {"ok": "answering", "failing": "failing now and then", "down": "DOWN (not answering)"}
    for u, h in st["upstreams"].items():
        h = h if isinstance(h, dict) else {"state": "ok", "latency_ms": None}
        lat = f", {h['latency_ms']:.0f} ms" if h.get("latency_ms") is not None else ""
        print(f"upstream {u}: {words.get(h['state'], h['state'])}{lat}")
    if all((h.get("state") if isinstance(h, dict) else "ok") == "down" for h in st["upstreams"].values()):
        print("WARNING: no upstream is answering: check the Pi's internet connection")
    if st.get("degraded"):
        print(f"WARNING: the database cannot be opened ({st['degraded']}): pauses, timed allows and the query log "
              "are off until it can. Free some disk space.")
    last = st.get("last_reload") or {}
    if last and not last.get("ok"):
        print("last reload refused (the daemon runs the config it had): " + "; ".join(last.get("errors", [])))
    return 0


def _today_totals(args) -> str | None:
    """Today since midnight, from the query log: what a parent means by "blocks today"."""
    from appliance.state import db
    from appliance.state.reports import Reports
    try:
        cfg = configmod.load(configmod.resolve_path(args.config))
    except ConfigError:
        return None
    now = datetime.now(cfg.tz)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    try:
        reports = Reports(db.log_path(cfg))
        try:
            totals = reports.totals(midnight, midnight + timedelta(days=1))     # whole quarter hours
        finally:
            reports.close()
    except Exception:           # an unreadable log must not hide the rest of the status
        return None
    if not totals:
        return "today: nothing logged yet"
    blocks = sum(t.blocks for t in totals.values())
    queries = sum(t.queries for t in totals.values())
    kids = ", ".join(f"{p} {t.blocks:,}" for p, t in sorted(totals.items()) if p != configmod.DEFAULT_PROFILE)
    return f"today: {queries:,} questions, {blocks:,} blocked" + (f" (blocked per child: {kids})" if kids else "")


def cmd_lists(args) -> int:
    from appliance.lists import commands
    cfg = _load(args)
    if args.action == "status":
        print("\n".join(commands.status_lines(cfg)))
        return 0
    code = commands.run_update(cfg, only=args.name, accept_shrink=args.accept_shrink)
    if code == 2:
        return code
    try:
        control.request(cfg.data_dir, "reload", timeout=60)
    except OSError:
        pass     # no daemon running: it compiles the new lists when it starts
    return code


def cmd_doctor(args) -> int:
    """Every setup check, each finding with what to do; exit 1 when anything is bad."""
    from appliance import doctor
    cfg = _load_live(args)
    findings = doctor.run(cfg, lang=args.lang or cfg.alerts.language)
    if args.json:
        print(json.dumps({"ok": doctor.exit_code(findings) == 0, "findings": [x.as_dict() for x in findings]},
                         ensure_ascii=False))
        return doctor.exit_code(findings)
    marks = {"ok": "ok  ", "warn": "WARN", "bad": "BAD "}
    for x in findings:
        print(f"{marks[x.state]}  {x.text}")
        if x.fix:
            print(f"      → {x.fix}")
    bad = sum(x.state == "bad" for x in findings)
    warn = sum(x.state == "warn" for x in findings)
    print(f"\n{bad} problem(s), {warn} warning(s)" if bad or warn else "\neverything looks right")
    return doctor.exit_code(findings)


def cmd_backup(args) -> int:
    from appliance import backup
    cfg = _load_live(args)
    try:
        report = backup.create(cfg, configmod.resolve_path(args.config), args.file, with_log=not args.no_log)
    except backup.BackupError as e:
        print(f"hearth backup: {e}", file=sys.stderr)
        return 1
    # `sudo hearth backup FILE`: the file is the parent's to copy off the Pi, not root's.
    if os.geteuid() == 0 and os.environ.get("SUDO_UID", "").isdigit():
        try:
            os.chown(args.file, int(os.environ["SUDO_UID"]), int(os.environ.get("SUDO_GID", "0") or 0))
        except OSError:
            pass
    print(report)
    return 0


def cmd_restore(args) -> int:
    from appliance import backup
    try:
        report = backup.restore(args.file, configmod.resolve_path(args.config), dry_run=args.check)
    except backup.BackupError as e:
        print(f"hearth restore: {e}", file=sys.stderr)
        print("  nothing was changed", file=sys.stderr)
        return 1
    print(report)
    if not args.check:
        try:
            control.request(configmod.load(configmod.resolve_path(args.config)).data_dir, "reload", timeout=30)
        except (OSError, ValueError, ConfigError):
            print("(restart Hearth so every part reads what was restored: sudo systemctl restart hearth-dns "
                  "hearth-admin)")
    return 0


# --- the parser ----------------------------------------------------------------------------------------------
# Each command's arguments are added by its own builder, so that `hearth pause` builds pause's parser only: argparse
# spends about 1 ms per sub-parser (mostly gettext looking for translations on disk), 30 ms for all of them, and the
# builders of log, alerts, budget, passwd and scan import their modules. `hearth --help`, a typo or an option before
# the command builds them all, so what argparse says is the same either way (tests/test_cli_parser.py).

def _args_check_config(add):
    sp = add("check-config", cmd_check_config, "check a config file; exit 1 with every error if it is bad")
    sp.add_argument("file", nargs="?", help="the file to check (default: --config)")


def _args_explain(add):
    sp = add("explain", cmd_explain, "say what Hearth decides for a domain, and why (no network used)")
    sp.add_argument("domain")
    who = sp.add_mutually_exclusive_group(required=True)
    who.add_argument("--device", help="a device name from the config")
    who.add_argument("--ip", help="the address the query comes from")
    who.add_argument("--profile", help="a child's name (or default): as any device of theirs")
    sp.add_argument("--mac", help="with --ip: the device's MAC")
    sp.add_argument("--at", help='when: 21:30 (today), "YYYY-MM-DD HH:MM" in the configured zone, or ISO 8601')
    sp.add_argument("--type", default="A", help="query type (default A)")
    sp.add_argument("--json", action="store_true", help="print the decision as one JSON object")


def _args_pause(add):
    sp = add("pause", cmd_pause, "pause a child's internet now, for a while or until a time")
    sp.add_argument("profile")
    sp.add_argument("duration", nargs="?", help="e.g. 30m, 1h30m (default 1h)")
    sp.add_argument("--until", help="instead of a duration: 21:30, or \"2026-12-01 07:00\"")


def _args_allow(add):
    sp = add("allow", cmd_allow, "allow an app, a category or a domain for a while, then block it again")
    sp.add_argument("profile")
    sp.add_argument("target", help="an app (youtube), a category (games) or a domain")
    sp.add_argument("duration", help="e.g. 30m")


def _args_resume(add):
    add("resume", cmd_resume, "end a child's pause now").add_argument("profile")


def _args_later(add):
    sp = add("later", cmd_later, "start tonight's schedule window later (e.g. bedtime 30 minutes later)")
    sp.add_argument("profile")
    sp.add_argument("window", help="the schedule window's name")
    sp.add_argument("delay", help="e.g. 30m")


def _args_end(add):
    sp = add("end", cmd_end, "end a schedule window now (or skip its next time if it is not in force)")
    sp.add_argument("profile")
    sp.add_argument("window", help="the schedule window's name")


def _args_overrides(add):
    sp = add("overrides", cmd_overrides, "list the live pauses, allows and schedule changes, with their ids")
    sp.add_argument("--json", action="store_true", help="a JSON array of objects (id, profile, kind, target, until)")


def _args_cancel(add):
    sp = add("cancel", cmd_cancel, "end a live pause, allow or schedule change now (its id: hearth overrides)")
    sp.add_argument("id", type=int)


def _args_now(add):
    add("now", cmd_now, "everything in force for a child right now, in words").add_argument("profile")


def _args_log(add):
    from appliance import logcmd        # light: each command imports what it needs when it runs
    logcmd.log_arguments(add("log", logcmd.run_log, logcmd.LOG_HELP))


def _args_devices(add):
    from appliance import logcmd
    logcmd.devices_arguments(add("devices", logcmd.run_devices, logcmd.DEVICES_HELP))


def _args_doctor(add):
    sp = add("doctor", cmd_doctor, "check this Hearth's setup: port 53, services, upstreams, clock, disk, lists, "
                                   "devices; each problem with what to do (exit 1 if one is serious)")
    sp.add_argument("--json", action="store_true", help="the findings as JSON (what the admin's health panel shows)")
    sp.add_argument("--lang", choices=("en", "fr"), help="the language (default: alerts.language)")


def _args_backup(add):
    sp = add("backup", cmd_backup, "save the config, overrides, admin password and tokens, and the log, to one file")
    sp.add_argument("file", help="the backup file to write (e.g. hearth-backup.tar.gz)")
    sp.add_argument("--no-log", action="store_true", help="leave the query log out (a smaller file)")


def _args_restore(add):
    sp = add("restore", cmd_restore, "put back a backup made by hearth backup (checked whole before anything changes)")
    sp.add_argument("file")
    sp.add_argument("--check", action="store_true", help="only check the file; change nothing")


def _args_status(add):
    sp = add("status", cmd_status, "what the running daemon is doing: queries, blocks, upstream health")
    sp.add_argument("--json", action="store_true", help="the daemon's counters as one JSON object")


def _args_lists(add):
    sp = add("lists", cmd_lists, "show or update the block lists")
    sp.add_argument("action", choices=("status", "update"))
    sp.add_argument("name", nargs="?", help="with update: only this list")
    sp.add_argument("--accept-shrink", action="store_true",
                    help="with update: accept a list that shrank by more than half (you checked it is right)")


def _args_alerts(add):
    from appliance import alertcmd     # light: its commands import what they need when they run
    alertcmd.add_alerts_arguments(add("alerts", alertcmd.run_alerts, alertcmd.ALERTS_HELP))


def _args_notify(add):
    from appliance import alertcmd
    alertcmd.add_notify_arguments(add("notify", alertcmd.run_notify, alertcmd.NOTIFY_HELP))


def _args_budget(add):
    from appliance import budgetcmd    # light: the store loads when a command runs
    budgetcmd.add_grant_arguments(add("budget", budgetcmd.run_grant, budgetcmd.GRANT_HELP))


def _args_budgets(add):
    from appliance import budgetcmd
    budgetcmd.add_list_arguments(add("budgets", budgetcmd.run_list, budgetcmd.LIST_HELP))


def _args_passwd(add):
    from appliance import admincmd     # light: Flask, waitress and argon2 load when a command runs
    admincmd.add_passwd(add("passwd", admincmd.run_passwd, "set a new admin password (from the Pi's shell)"))


def _args_token(add):
    from appliance import admincmd
    admincmd.add_token(add("token", admincmd.run_token, "create, revoke or list the admin API's tokens"))


def _args_admin(add):
    from appliance import admincmd
    admincmd.add_admin(add("admin", admincmd.run_admin, "serve the web admin in the foreground (what systemd runs)"))


def _args_proxy(add):
    sp = add("proxy", cmd_proxy, "run the web proxy for managed devices (mitmdump with Hearth's addon)")
    sp.add_argument("mitmdump", nargs=argparse.REMAINDER, help="after --: more mitmdump options")


def _args_approve(add):
    sp = add("approve", cmd_approve, "grant a child's ask for access (its number: hearth alerts)")
    sp.add_argument("id", type=int)
    sp.add_argument("--for", help="how long, e.g. 30m (default proxy.ask_minutes)")


def _args_scan(add):
    from appliance.textscan import command as scan
    scan.add_arguments(add("scan", scan.run, "say what is worrying in a message (the proxy's risky-text detector)"))


# Every command, in the order `hearth --help` lists them.
COMMANDS = {
    "dns": lambda add: add("dns", cmd_dns, "run the DNS daemon in the foreground (what systemd runs)"),
    "serve": lambda add: add("serve", cmd_serve, "run everything the config enables, in the foreground"),
    "check-config": _args_check_config, "explain": _args_explain, "pause": _args_pause, "allow": _args_allow,
    "resume": _args_resume, "later": _args_later, "end": _args_end, "overrides": _args_overrides,
    "cancel": _args_cancel, "now": _args_now, "log": _args_log, "devices": _args_devices, "doctor": _args_doctor,
    "backup": _args_backup, "restore": _args_restore,
    "reload": lambda add: add("reload", cmd_reload, "ask the running daemon to re-read the config and lists"),
    "status": _args_status, "lists": _args_lists, "alerts": _args_alerts, "notify": _args_notify,
    "budget": _args_budget, "budgets": _args_budgets, "passwd": _args_passwd, "token": _args_token,
    "admin": _args_admin, "proxy": _args_proxy, "approve": _args_approve, "scan": _args_scan,
}


def command_named(argv: list[str]) -> str | None:
    """The command ``argv`` runs, read as argparse will; None when that is not plain (no command, --help or
    another option before it, a name that is not a command): then every parser is built and argparse answers."""
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--config":
            i += 2
        elif arg.startswith("--config="):
            i += 1
        else:
            return arg if arg in COMMANDS else None     # an option here ("-h", "--conf"): argparse's business
    return None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole parser, or with ``only`` a parser that knows that one command (what ``command_named`` found)."""
    p = argparse.ArgumentParser(prog="hearth", description="Hearth: a home DNS filter that keeps children safe online.")
    p.add_argument("--config", metavar="FILE",
                   help=f"the config file (default: $HEARTH_CONFIG, else {configmod.DEFAULT_CONFIG_PATH})")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name, fn, help_):
        sp = sub.add_parser(name, help=help_, description=help_)
        # After the command too (hearth pause --config F ...), without undoing a --config given before it.
        sp.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS, help="the config file")
        sp.set_defaults(fn=fn)
        return sp

    for name, builder in COMMANDS.items():
        if only is None or name == only:
            builder(add)
    return p


# Parent commands whose code logs nothing: they start without the logging module (7 ms here, more on a Pi).
# tests/test_cli_imports.py fails if one of them comes to load it, so a message can never go unconfigured.
QUIET = frozenset({"check-config", "pause", "allow", "resume", "later", "end", "overrides", "cancel", "now"})


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(command_named(argv)).parse_args(argv)
    if args.command not in QUIET:
        import logging
        logging.basicConfig(level=os.environ.get("HEARTH_LOG", "INFO"),
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        logging.getLogger("apscheduler").setLevel(logging.WARNING)    # it narrates every job it adds
    try:
        return args.fn(args) or 0
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:          # `hearth status | head -1`: the reader left; that is not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
