"""`hearth passwd`, `hearth token create|revoke|list` and `hearth admin`: the web admin's commands on the Pi's shell.

Light at import (the CLI imports this to build its parser): Flask, waitress and argon2 load only when a command
runs, and so do ssl, subprocess and getpass. Each command is an ``add_*`` (its arguments) and a ``run_*`` (the command itself, returning the exit code).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path


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
    import getpass
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
    parser.add_argument("--fingerprint", action="store_true",
                        help="print the HTTPS certificate's SHA-256 fingerprint (made if missing) and exit")


def run_admin(args) -> int:
    """Serve the admin under waitress (what systemd runs), on admin.listen; HTTPS too on admin.https_listen."""
    import threading
    from appliance import config as configmod
    cfg = _config(args)
    if args.fingerprint:
        print(ensure_certificate(cfg.data_dir)[2])
        return 0
    listen = args.listen or (str(cfg.admin.listen) if cfg.admin and cfg.admin.listen else None)
    https = str(cfg.admin.https_listen) if cfg.admin and cfg.admin.https_listen else None
    if not listen and not https:
        print("the config has no admin section (admin: {listen: \"0.0.0.0:80\"}); or give --listen HOST:PORT",
              file=sys.stderr)
        return 1
    path = configmod.resolve_path(args.config)
    try:
        if https:
            secure = make_https_server(path, https, cfg.data_dir)
            threading.Thread(target=secure.safe_start, name="hearth-admin-https", daemon=True).start()
            print(f"Hearth admin on https://{https}/ (certificate SHA-256 "
                  f"{ensure_certificate(cfg.data_dir)[2]})", flush=True)
        if listen:
            serve(path, listen)
        else:
            threading.Event().wait()
    except OSError as e:
        print(f"hearth admin: cannot listen on {listen or https}: {e.strerror or e}", file=sys.stderr)
        return 1
    return 0


# --- HTTPS: a self-signed certificate made on first start, as Pi-hole v6 does -----------------------------------

CERT_NAME, KEY_NAME = "admin-cert.pem", "admin-key.pem"


def ensure_certificate(data_dir) -> tuple[Path, Path, str]:
    """(certificate, key, SHA-256 fingerprint): made once with openssl (an EC key readable by its owner only,
    valid ten years, for hearth.local and localhost), then reused so a parent's browser remembers it."""
    import hashlib
    import ssl
    import subprocess
    data_dir = Path(data_dir)
    cert, key = data_dir / CERT_NAME, data_dir / KEY_NAME
    if not (cert.exists() and key.exists()):
        data_dir.mkdir(parents=True, exist_ok=True)
        old = os.umask(0o077)
        try:
            subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                            "-nodes", "-days", "3650", "-subj", "/CN=hearth.local",
                            "-addext", "subjectAltName=DNS:hearth.local,DNS:localhost,IP:127.0.0.1",
                            "-keyout", str(key), "-out", str(cert)],
                           check=True, capture_output=True, timeout=60)
        finally:
            os.umask(old)
        os.chmod(cert, 0o644)
    der = ssl.PEM_cert_to_DER_cert(cert.read_text())
    digest = hashlib.sha256(der).hexdigest().upper()
    return cert, key, ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def make_https_server(config_path: str, listen: str, data_dir, test_config: dict | None = None):
    """The admin over HTTPS (waitress speaks no TLS; cheroot, pure Python, does). ``.safe_start()``, ``.stop()``."""
    from cheroot import wsgi
    from cheroot.ssl.builtin import BuiltinSSLAdapter

    from web_admin import create_app
    cert, key, _fp = ensure_certificate(data_dir)
    host, _sep, port = listen.rpartition(":")
    server = wsgi.Server((host.strip("[]"), int(port)), create_app(config_path, test_config), numthreads=4,
                         server_name="hearth")
    server.ssl_adapter = BuiltinSSLAdapter(str(cert), str(key))
    return server


def make_server(config_path: str, listen: str, test_config: dict | None = None):
    """A waitress server for the admin, not yet running (``.run()``; ``.close()``): for `hearth serve` and tests."""
    from waitress import create_server

    from web_admin import create_app
    app = create_app(config_path, test_config)
    # Few threads: a family's phones, and a Pi's 1 GB. No proxy headers trusted: the client address must be real,
    # since it decides whether a child's device is refused. The loop's timeout only paces waitress's housekeeping
    # (closing idle connections, every 30 s anyway): its default of 1 s woke an idle Pi every second. A request,
    # a new connection and a finished response wake the loop themselves.
    # waitress keeps a body up to max_request_body_size (1 GB by default) in a temporary file, in RAM on Trixie,
    # before Flask can refuse it, even from someone not logged in: the same bound as the app's, and a little more
    # for the form around an upload.
    limit = (app.config.get("MAX_CONTENT_LENGTH") or 2 * 1024 * 1024) + 64 * 1024
    return create_server(app, listen=listen, threads=4, ident="hearth", clear_untrusted_proxy_headers=True,
                         asyncore_loop_timeout=30, max_request_body_size=limit)


def serve(config_path: str, listen: str) -> None:
    server = make_server(config_path, listen)
    print(f"Hearth admin on http://{listen}/", flush=True)
    server.run()
