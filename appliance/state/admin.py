"""The admin's own secrets and counters: the parent's password hash, the session epoch, failed logins per client
and the API tokens for scripts. Kept in their own SQLite file in the data directory, ``admin.db``, readable by its
owner only (the log in ``hearth.db`` may be shared with the CLI's group; these hashes are not), so `hearth passwd`
on the Pi's shell and the running admin see the same thing, and every waitress thread shares one rate limit.

- The password is hashed with argon2id (argon2-cffi's defaults); it is set once by first-run setup and changed only
  by a parent who knows it or by `hearth passwd` from the shell. Setting it bumps the session epoch.
- The session epoch is a number every signed session cookie carries: "log out everywhere" bumps it, and a cookie
  with an older number is no longer a login.
- Tokens are 32 random bytes shown once; only their SHA-256 is stored (a random secret needs no slow hash).
- The session secret, which signs the cookies, is a 0600 file beside the database (never in the database, so a
  copy of the log for a bug report does not carry it).
"""
from __future__ import annotations

import hashlib
import os
import secrets
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from . import db

SECRET_NAME = "admin-secret"
STORE_NAME = "admin.db"
MIN_PASSWORD = 8
MAX_FAILURES = 5               # failed logins from one client ...
FAILURE_WINDOW = 15 * 60       # ... within this many seconds lock that client out until the oldest one ages out

_SCHEMA = """
CREATE TABLE IF NOT EXISTS admin_settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS admin_login_failures (client TEXT NOT NULL, ts REAL NOT NULL);
CREATE INDEX IF NOT EXISTS admin_login_failures_client ON admin_login_failures (client, ts);
CREATE TABLE IF NOT EXISTS admin_devices_looked_at (key TEXT PRIMARY KEY, ts REAL NOT NULL);
CREATE TABLE IF NOT EXISTS admin_tokens (
    name TEXT PRIMARY KEY, sha256 TEXT NOT NULL UNIQUE, created REAL NOT NULL, last_used REAL
);
"""


class PasswordError(ValueError):
    """A password a parent cannot use; the message says why in plain words."""


@dataclass(frozen=True, slots=True)
class Token:
    name: str
    created: float
    last_used: float | None


def _hasher():
    from argon2 import PasswordHasher     # the admin's dependency: imported only where a password is handled
    return PasswordHasher()


def check_new_password(password: str) -> None:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise PasswordError(f"the password needs at least {MIN_PASSWORD} characters")
    if len(password) > 1024:
        raise PasswordError("the password is too long (1024 characters at most)")


def session_secret(data_dir: str | Path) -> bytes:
    """The key that signs session cookies: made once, readable by its owner only."""
    path = Path(data_dir) / SECRET_NAME
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:       # another process made it first: use theirs
        return bytes.fromhex(path.read_text().strip())
    with os.fdopen(fd, "w") as f:
        f.write(key.hex())
    return key


def store_path(data_dir: str | Path) -> Path:
    return Path(data_dir) / STORE_NAME


class AdminStore:
    def __init__(self, path: str | Path, clock=time.time):
        self.path = Path(path)
        self.clock = clock
        if not self.path.exists():      # made private before SQLite writes a byte (its -wal and -shm follow)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
        self._conn = db.connect(self.path)
        self._conn.executescript(_SCHEMA)

    @classmethod
    def in_dir(cls, data_dir: str | Path, clock=time.time) -> "AdminStore":
        return cls(store_path(data_dir), clock)

    def close(self) -> None:
        self._conn.close()

    def _get(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM admin_settings WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    # --- password ---------------------------------------------------------------------------------------------

    def password_set(self) -> bool:
        return self._get("password") is not None

    def setup_password(self, password: str) -> bool:
        """First run only: set the password if none is set. False when one already was (setup happens once)."""
        check_new_password(password)
        hashed = _hasher().hash(password)
        with self._conn:
            cur = self._conn.execute("INSERT OR IGNORE INTO admin_settings (key, value) VALUES ('password', ?)",
                                     (hashed,))
        return cur.rowcount == 1

    def set_password(self, password: str) -> None:
        """Replace the password (hearth passwd, or a parent who knows the old one); every session ends."""
        check_new_password(password)
        hashed = _hasher().hash(password)
        with self._conn:
            self._conn.execute("INSERT INTO admin_settings (key, value) VALUES ('password', ?) "
                               "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (hashed,))
            self._bump_epoch()

    def check_password(self, password: str) -> bool:
        hashed = self._get("password")
        if hashed is None or not isinstance(password, str):
            return False
        from argon2.exceptions import InvalidHashError, VerificationError
        ph = _hasher()
        try:
            ph.verify(hashed, password)
        except (VerificationError, InvalidHashError):
            return False
        if ph.check_needs_rehash(hashed):     # argon2-cffi raised its defaults: keep up, silently
            with self._conn:
                self._conn.execute("UPDATE admin_settings SET value = ? WHERE key = 'password'",
                                   (ph.hash(password),))
        return True

    # --- sessions ---------------------------------------------------------------------------------------------

    def epoch(self) -> int:
        return int(self._get("epoch") or 0)

    def log_out_everywhere(self) -> None:
        with self._conn:
            self._bump_epoch()

    def _bump_epoch(self) -> None:
        self._conn.execute("INSERT INTO admin_settings (key, value) VALUES ('epoch', '1') "
                           "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1")

    # --- login rate limit -------------------------------------------------------------------------------------

    def retry_after(self, client: str) -> int:
        """Seconds this client must wait before it may try a password again (0: it may now)."""
        now = self.clock()
        rows = self._conn.execute("SELECT ts FROM admin_login_failures WHERE client = ? AND ts > ? ORDER BY ts",
                                  (client, now - FAILURE_WINDOW)).fetchall()
        if len(rows) < MAX_FAILURES:
            return 0
        return max(1, int(rows[-MAX_FAILURES][0] + FAILURE_WINDOW - now + 0.999))

    def login_failed(self, client: str) -> None:
        now = self.clock()
        with self._conn:
            self._conn.execute("DELETE FROM admin_login_failures WHERE ts <= ?", (now - FAILURE_WINDOW,))
            self._conn.execute("INSERT INTO admin_login_failures (client, ts) VALUES (?, ?)", (client, now))

    def login_succeeded(self, client: str) -> None:
        with self._conn:
            self._conn.execute("DELETE FROM admin_login_failures WHERE client = ?", (client,))

    # --- devices a parent has looked at (the others are flagged as new) -------------------------------------

    def looked_at(self) -> set[str]:
        return {r[0] for r in self._conn.execute("SELECT key FROM admin_devices_looked_at")}

    def mark_looked_at(self, key: str) -> None:
        with self._conn:
            self._conn.execute("INSERT OR REPLACE INTO admin_devices_looked_at (key, ts) VALUES (?, ?)",
                               (key, self.clock()))

    # --- API tokens -------------------------------------------------------------------------------------------

    def create_token(self, name: str) -> str:
        """A new token named ``name``; the secret is returned once and never stored."""
        if not name or len(name) > 64 or not all(c.isalnum() or c in "-_." for c in name):
            raise ValueError("a token name is letters, digits, '-', '_' or '.' (64 at most), e.g. home-assistant")
        secret = "hearth_" + secrets.token_urlsafe(32)
        try:
            with self._conn:
                self._conn.execute("INSERT INTO admin_tokens (name, sha256, created) VALUES (?, ?, ?)",
                                   (name, _sha(secret), self.clock()))
        except sqlite3.IntegrityError:
            raise ValueError(f"a token named {name!r} exists already (revoke it first)") from None
        return secret

    def revoke_token(self, name: str) -> bool:
        with self._conn:
            return self._conn.execute("DELETE FROM admin_tokens WHERE name = ?", (name,)).rowcount == 1

    def tokens(self) -> list[Token]:
        return [Token(r["name"], r["created"], r["last_used"])
                for r in self._conn.execute("SELECT name, created, last_used FROM admin_tokens ORDER BY name")]

    def check_token(self, secret: str) -> str | None:
        """The token's name if ``secret`` is a live token, else None."""
        if not secret:
            return None
        row = self._conn.execute("SELECT name FROM admin_tokens WHERE sha256 = ?", (_sha(secret),)).fetchone()
        if row is None:
            return None
        with self._conn:
            self._conn.execute("UPDATE admin_tokens SET last_used = ? WHERE name = ?", (self.clock(), row[0]))
        return row[0]


def _sha(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
