"""`hearth budget` and `hearth budgets`: more time for a child today, and what is used and left.

    hearth budget CHILD BUDGET +30m     give 30 more minutes of BUDGET today (lifts a spent budget at once)
    hearth budgets [CHILD] [--json]     each budget today: minutes used, allowed, left
"""
from __future__ import annotations

import json
import sys

GRANT_HELP = "give a child more minutes of a time budget, for today only (e.g. hearth budget emma videos +30m)"
LIST_HELP = "the time budgets today: minutes used and left, per child"


def add_grant_arguments(p) -> None:
    p.add_argument("profile", metavar="CHILD")
    p.add_argument("budget", help="the budget's name in the config")
    p.add_argument("minutes", help="e.g. +30m, +1h, 15")


def run_grant(args) -> int:
    from appliance import cli
    return cli._act(args, lambda a: a.grant(args.profile, args.budget, args.minutes))


def add_list_arguments(p) -> None:
    p.add_argument("profile", nargs="?", metavar="CHILD", help="only this child")
    p.add_argument("--json", action="store_true", help="a JSON array: child, budget, used, allowed, left, spent")


def run_list(args) -> int:
    from appliance import cli
    from appliance.actions import UserError
    actions = cli._actions(args)
    try:
        rows = actions.budgets(args.profile)
    except UserError as e:
        print(f"hearth: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps([u.as_dict() for u in rows], ensure_ascii=False))
        return 0
    if not rows:
        print("no time budgets (add budgets: to a child's profile)")
        return 0
    for u in rows:
        if not u.applies:
            state = "does not count today"
        elif u.spent:
            state = f"used up: {u.used} of {u.allowed} min, blocked until midnight"
        else:
            state = f"{u.used} of {u.allowed} min used, {u.left} left"
        extra = f" (+{u.granted} granted)" if u.granted else ""
        print(f"{u.profile:<12} {u.budget:<16} {state}{extra}")
    return 0
