"""`hearth log` and `hearth devices`: the query log and the devices seen, read through ``state/reports``.

    hearth log --child emma --blocked --since 1d
    hearth log --domain tiktok --json
    hearth devices

Times are shown on the configured zone's clock; ``--json`` gives the stored values (times in UTC, ISO 8601) for
scripts. Light at import: the CLI imports this module to build its parser, and each command imports what it needs
when it runs.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import datetime, timedelta, tzinfo

LOG_HELP = "show what the devices asked and what Hearth decided, newest first"
DEVICES_HELP = "list the devices seen on the network, assigned to a child or not"

_AGO = re.compile(r"(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?\Z")


def log_arguments(p: argparse.ArgumentParser) -> None:
    who = p.add_mutually_exclusive_group()
    who.add_argument("--child", "--profile", dest="profile", metavar="NAME", help="one child's profile")
    p.add_argument("--device", help="a device name, a MAC or an address")
    p.add_argument("--domain", help="names containing this (e.g. tiktok)")
    p.add_argument("--reason", help="why: schedule, app, category, bypass, paused, deny-list, ...")
    p.add_argument("--list", help="an app or a category (e.g. tiktok, random-chat)")
    p.add_argument("--source", choices=("dns", "proxy"), help="which part of Hearth decided")
    p.add_argument("--blocked", action="store_true", help="only what was blocked")
    p.add_argument("--since", help="how far back: 30m, 2h, 1d, 1w, or a date and time (2026-12-01 18:00)")
    p.add_argument("--until", help="up to: the same forms as --since")
    p.add_argument("--limit", type=int, default=50, help="at most this many entries (default 50)")
    p.add_argument("--json", action="store_true", help="print a JSON array of entries")


def devices_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print a JSON array of devices")


def parse_when(text: str, tz: tzinfo, now: datetime) -> datetime:
    """"1d", "2h30m" (that long ago), or a local date and time: "2026-12-01", "2026-12-01 18:00", "18:00"
    (today), or ISO 8601 with an offset. ValueError says what is accepted."""
    t = text.strip()
    m = _AGO.match(t.lower().replace(" ", ""))
    if t and m and any(m.groups()):
        w, d, h, mi = (int(g or 0) for g in m.groups())
        return now - timedelta(weeks=w, days=d, hours=h, minutes=mi)
    try:
        if re.fullmatch(r"\d{1,2}:\d{2}", t):
            hh, mm = map(int, t.split(":"))
            return now.astimezone(tz).replace(hour=hh, minute=mm, second=0, microsecond=0)
        parsed = datetime.fromisoformat(t)
    except ValueError:
        raise ValueError(f"cannot read {text!r} as a time: write e.g. 30m, 2h, 1d, 1w, 18:00, 2026-12-01 "
                         f"or \"2026-12-01 18:00\"") from None
    return parsed.replace(tzinfo=tz) if parsed.tzinfo is None else parsed


def _setup(args):
    from appliance import cli
    from appliance.state import db
    cfg = cli._load(args)
    return cfg, db.log_path(cfg)


def run_log(args) -> int:
    from appliance.state.reports import BadFilter, LogFilter, LogUnreadable, Reports
    from appliance.wording import describe

    cfg, path = _setup(args)
    tz = cfg.tz
    now = datetime.now(tz)
    if args.profile and args.profile not in cfg.profiles:
        kids = [n for n in cfg.profiles if n != "default"]
        print(f"unknown child {args.profile!r} (known: {', '.join(kids) or 'none'})", file=sys.stderr)
        return 2
    if not 1 <= args.limit <= 10_000:
        print("--limit: between 1 and 10000", file=sys.stderr)
        return 2
    try:
        since = parse_when(args.since, tz, now) if args.since else None
        until = parse_when(args.until, tz, now) if args.until else None
    except ValueError as e:
        print(f"--since/--until: {e}", file=sys.stderr)
        return 2
    f = LogFilter(profile=args.profile, device=args.device, domain=args.domain, reason=args.reason, list=args.list,
                  since=since, until=until, source=args.source, blocked_only=args.blocked)
    lang = getattr(getattr(cfg, "alerts", None), "language", "en") or "en"
    titles = _titles(cfg)
    try:
        with Reports(path) as reports:
            page = reports.search(f, limit=args.limit)
    except BadFilter as e:
        print(str(e), file=sys.stderr)
        return 2
    except LogUnreadable as e:
        print(str(e), file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps([{**e.as_dict(), "why": describe(e.decision, lang=lang, titles=titles)}
                          for e in page.entries], indent=1))
        return 0
    if not page.entries:
        print("nothing in the log matches" + ("" if path.exists() else " (no log yet: the DNS daemon writes it)"))
        return 0
    rows = [(_when(e.ts.astimezone(tz), now), e.device or e.address, e.qname, _verdict(e),
             describe(e.decision, lang=lang, titles=titles)) for e in page.entries]
    _table(("time", "device", "name", "verdict", "why"), rows)
    if page.next_cursor:
        print(f"(the {len(rows)} newest shown; more with --limit, or narrow with --since or --until)")
    return 0


def run_devices(args) -> int:
    from appliance.state.reports import LogUnreadable, Reports

    cfg, path = _setup(args)
    try:
        with Reports(path) as reports:
            seen = reports.devices()
    except LogUnreadable as e:
        print(str(e), file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps([{"key": d.key, "device": d.device, "profile": d.profile, "mac": d.mac, "ip": d.ip,
                           "first_seen": d.first_seen.isoformat(), "last_seen": d.last_seen.isoformat(),
                           "assigned": d.assigned} for d in seen], indent=1))
        return 0
    if not seen:
        print("no device seen yet")
        return 0
    now = datetime.now(cfg.tz)
    _table(("device", "profile", "MAC", "address", "first seen", "last seen"),
           [(d.device or "(not assigned)", d.profile, d.mac or "-", d.ip, _when(d.first_seen.astimezone(cfg.tz), now),
             _when(d.last_seen.astimezone(cfg.tz), now)) for d in seen])
    unassigned = sum(not d.assigned for d in seen)
    if unassigned:
        print(f"{unassigned} device(s) not assigned: they get the default profile until you add them to the config")
    return 0


# --- printing ---------------------------------------------------------------------------------------------------

def _titles(cfg) -> dict[str, str]:
    """Apps and categories by the names parents read ("app:tiktok" -> "TikTok"); none if the catalog is broken."""
    try:
        from appliance.lists.catalog import load_catalog
        cat = load_catalog(cfg.blocklists_dir)
    except Exception:        # the log must stay readable whatever the lists folder holds
        return {}
    titles = {f"app:{a.name}": a.title for a in cat.apps.values()}
    titles.update({c.name: c.title for c in cat.categories.values()})
    return titles


def _when(t: datetime, now: datetime) -> str:
    if t.date() == now.date():
        return t.strftime("%H:%M:%S")
    if t.year == now.year:
        return t.strftime("%a %d %b %H:%M:%S")
    return t.strftime("%Y-%m-%d %H:%M:%S")


def _verdict(e) -> str:
    word = {"allow": "allowed", "block": "blocked", "rewrite": "rewritten"}.get(e.action, e.action)
    return f"{word} ×{e.count}" if e.count > 1 else word


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]], file=None) -> None:
    file = file or sys.stdout
    widths = [min(max(len(str(r[i])) for r in [header, *rows]), 48 if i < len(header) - 1 else 10_000)
              for i in range(len(header))]

    def line(cells) -> str:
        out = []
        for i, c in enumerate(cells):
            c = str(c)
            if i < len(cells) - 1:
                c = c if len(c) <= widths[i] else c[:widths[i] - 1] + "…"
                c = c.ljust(widths[i])
            out.append(c)
        return "  ".join(out).rstrip()
    print(line(header), file=file)
    for r in rows:
        print(line(r), file=file)
