"""`hearth alerts` and `hearth notify`: the alerts a parent reads and marks, and a test of the channels.

    hearth alerts [--json] [--all] [--child NAME]   new and seen alerts, newest first (--all: dismissed too)
    hearth alerts seen ID               mark one as seen
    hearth alerts dismiss ID            dismiss one (a later attempt opens a new alert)
    hearth notify test                  send a test message to every channel; say which failed, and why
    hearth notify pending               the messages waiting for a channel that was down, and why
"""
from __future__ import annotations

import json
import sys

ALERTS_HELP = "list the alerts (risky attempts, new devices); mark one seen or dismiss it"
NOTIFY_HELP = "test the notification channels (alerts.notify), or list the messages still waiting to go out"


def _config(args):
    from appliance import cli
    return cli._load(args)


def _store(cfg):
    from appliance.state import db
    from appliance.state.alerts import Alerts
    return Alerts(db.db_path(cfg.data_dir), tz=cfg.tz)


# --- hearth alerts ---------------------------------------------------------------------------------------------

def add_alerts_arguments(p) -> None:
    p.add_argument("action", nargs="?", choices=("seen", "dismiss"), help="mark alert ID seen, or dismiss it")
    p.add_argument("id", nargs="?", help="the alert's number, as the list shows it")
    p.add_argument("--json", action="store_true", help="print a JSON array of alerts")
    p.add_argument("--all", action="store_true", help="include dismissed alerts")
    p.add_argument("--child", help="only this child's alerts")
    p.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")


def run_alerts(args) -> int:
    from appliance.state.alerts import AlertNotFound
    cfg = _config(args)
    store = _store(cfg)
    try:
        if args.action:
            if args.id is None or not str(args.id).lstrip("#").isdigit():
                print(f"hearth alerts {args.action}: give the alert's number, e.g. hearth alerts {args.action} 12",
                      file=sys.stderr)
                return 2
            try:
                a = (store.mark_seen if args.action == "seen" else store.dismiss)(int(str(args.id).lstrip("#")))
            except AlertNotFound as e:
                print(f"{e} (hearth alerts --all lists them)", file=sys.stderr)
                return 1
            print(f"alert {a.id} is now {a.status}")
            return 0
        if args.id is not None:
            print("hearth alerts: say what to do with it: hearth alerts seen ID, or hearth alerts dismiss ID",
                  file=sys.stderr)
            return 2
        if args.child is not None and args.child not in cfg.profiles:
            kids = [p for p in cfg.profiles if p != "default"]
            print(f"unknown child {args.child!r} (known: {', '.join(kids) or 'none'})", file=sys.stderr)
            return 2
        alerts = store.list(limit=args.limit, include_dismissed=args.all, child=args.child)
    finally:
        store.close()
    if args.json:
        keys = ("id", "child", "device", "domain", "list", "reason", "count", "first", "last", "severity",
                "status")
        print(json.dumps([{k: a.as_dict()[k] for k in keys} for a in alerts], ensure_ascii=False))
        return 0
    if not alerts:
        print("no alerts" + ("" if args.all else " (hearth alerts --all shows the dismissed ones too)"))
        return 0
    for a in alerts:
        when = f"{a.first:%Y-%m-%d %H:%M}"
        if a.last.replace(second=0, microsecond=0) != a.first.replace(second=0, microsecond=0):
            when += f"–{a.last:%H:%M}"
        who = f"{a.child} ({a.device})" if a.child else "new device"
        what = a.domain or a.device or ""
        times = f" ×{a.count}" if a.count > 1 else ""
        print(f"#{a.id:<4} {a.status:<9} {a.severity:<6} {when}  {who}  {what}{times}")
        print(f"       {a.words}")
    return 0


# --- hearth notify ---------------------------------------------------------------------------------------------

def add_notify_arguments(p) -> None:
    p.add_argument("action", choices=("test", "pending"),
                   help="test: send a test message to every channel; pending: what still waits to be sent")


def run_notify(args) -> int:
    from appliance import notify
    from appliance.state.alerts import settings
    cfg = _config(args)
    s = settings(cfg)
    if args.action == "pending":
        return _pending(cfg)
    if not s.notify:
        print("no notification channels: add Apprise addresses under alerts.notify in the config, e.g.\n"
              '  alerts: {notify: ["mailtos://user:password@example.com", "ntfy://my-family-topic"]}')
        return 1
    failed = 0
    for shown, why in notify.test_channels(s.notify, s.language):
        if why is None:
            print(f"sent:   {shown}")
        else:
            failed += 1
            print(f"FAILED: {shown}: {why}")
    ok = len(s.notify) - failed
    print(f"{ok} of {len(s.notify)} channel(s) took the test message"
          + ("" if not failed else "; fix the failed ones and run hearth notify test again"))
    return 1 if failed else 0


def _pending(cfg) -> int:
    from datetime import datetime

    from appliance import notify
    from appliance.state import db
    n = notify.Notifier(cfg, db.db_path(cfg.data_dir))
    try:
        rows = n.pending()
    finally:
        n.close()
    if not rows:
        print("nothing waiting: every message went out")
        return 0
    for r in rows:
        made = datetime.fromtimestamp(r["created"], cfg.tz)
        nxt = datetime.fromtimestamp(r["next_try"], cfg.tz)
        print(f"{made:%Y-%m-%d %H:%M}  {r['title']}")
        tries = f"{r['attempts']} {'try' if r['attempts'] == 1 else 'tries'} so far"
        print(f"       {tries}, next at {nxt:%H:%M}" + (f"; {r['error']}" if r["error"] else ""))
    return 0
