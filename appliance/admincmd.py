"""`hearth passwd`, `hearth token create|revoke|list` and `hearth admin`: the web admin's commands on the Pi's shell.

Light at import (the CLI imports this to build its parser): Flask, waitress and argon2 load only when a command
runs. Each command is an ``add_*`` (its arguments) and a ``run_*`` (the command itself, returning the exit code).
"""
from __future__ import annotations

import getpass
import sys


def _config(args):
    from appliance import cli
    return cli._load(args)


def _store(cfg):
    from appliance.state.admin import AdminStore
    return AdminStore.in_dir(cfg.data_dir)


# --- hearth passwd ------------------------------------------------------------------------------------------------

def add_passwd(parser) -> None:
    parser.add_argument("--stdin", action="store_true",
                        help="read the new password from the first line of standard input (for scripts)")


def run_passwd(args) -> int:
    from appliance.state.admin import PasswordError, check_new_password
    cfg = _config(args)
    if args.stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("New admin password: ")
        if getpass.getpass("The same again: ") != password:
            print("the two passwords differ; nothing changed", file=sys.stderr)
            return 1
    try:
        check_new_password(password)
    except PasswordError as e:
        print(f"{e}; nothing changed", file=sys.stderr)
        return 1
    store = _store(cfg)
    try:
        store.set_password(password)
    finally:
        store.close()
    print("admin password changed; every browser must log in again")
    return 0


# --- hearth token -------------------------------------------------------------------------------------------------

def add_token(parser) -> None:
    parser.add_argument("action", choices=("create", "revoke", "list"))
    parser.add_argument("name", nargs="?", help="the token's name, e.g. home-assistant (create, revoke)")


def run_token(args) -> int:
    cfg = _config(args)
    if args.action != "list" and not args.name:
        print(f"hearth token {args.action}: give the token's name, e.g. hearth token {args.action} home-assistant",
              file=sys.stderr)
        return 2
    store = _store(cfg)
    try:
        if args.action == "create":
            try:
                secret = store.create_token(args.name)
            except ValueError as e:
                print(f"hearth token create: {e}", file=sys.stderr)
                return 1
            print(secret)
            print(f"(token {args.name!r}: shown once; send it as 'Authorization: Bearer <token>' to /api/v1)",
                  file=sys.stderr)
            return 0
        if args.action == "revoke":
            if not store.revoke_token(args.name):
                print(f"no token named {args.name!r}", file=sys.stderr)
                return 1
            print(f"token {args.name!r} revoked")
            return 0
        from datetime import datetime
        tokens = store.tokens()
        for t in tokens:
            used = datetime.fromtimestamp(t.last_used, cfg.tz).strftime("%Y-%m-%d %H:%M") if t.last_used else "never"
            made = datetime.fromtimestamp(t.created, cfg.tz).strftime("%Y-%m-%d %H:%M")
            print(f"{t.name}  created {made}  last used {used}")
        if not tokens:
            print("no tokens")
        return 0
    finally:
        store.close()


# --- hearth admin -------------------------------------------------------------------------------------------------

def add_admin(parser) -> None:
    parser.add_argument("--listen", metavar="HOST:PORT", help="instead of the config's admin.listen")


def run_admin(args) -> int:
    """Serve the admin under waitress (what systemd runs), on admin.listen."""
    from appliance import config as configmod
    cfg = _config(args)
    listen = args.listen or (str(cfg.admin.listen) if cfg.admin and cfg.admin.listen else None)
    if not listen:
        print("the config has no admin section (admin: {listen: \"0.0.0.0:80\"}); or give --listen HOST:PORT",
              file=sys.stderr)
        return 1
    try:
        serve(configmod.resolve_path(args.config), listen)
    except OSError as e:
        print(f"hearth admin: cannot listen on {listen}: {e.strerror or e}", file=sys.stderr)
        return 1
    return 0


def make_server(config_path: str, listen: str, test_config: dict | None = None):
    """A waitress server for the admin, not yet running (``.run()``; ``.close()``): for `hearth serve` and tests."""
    from waitress import create_server

    from web_admin import create_app
    app = create_app(config_path, test_config)
    # Few threads: a family's phones, and a Pi's 1 GB. No proxy headers trusted: the client address must be real,
    # since it decides whether a child's device is refused.
    return create_server(app, listen=listen, threads=4, ident="hearth", clear_untrusted_proxy_headers=True)


def serve(config_path: str, listen: str) -> None:
    server = make_server(config_path, listen)
    print(f"Hearth admin on http://{listen}/", flush=True)
    server.run()
