"""What a request needs from ``appliance``, got once per request (flaskr's ``get_db`` on ``g``) or once per config
file version: the config, the admin store, the client directory, the catalog, the log reader.

The config is re-read when the file changes on disk (a parent may edit it by hand, or `hearth` may); a file that
no longer loads keeps the last good one in use, and every page says what is wrong with the file.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from datetime import datetime

from flask import Flask, current_app, g

from appliance import config as configmod
from appliance.config import Config, ConfigError
from appliance.policy.clients import Directory, NeighbourTable

_lock = threading.Lock()


@dataclass(frozen=True)
class Loaded:
    stamp: tuple
    config: Config
    directory: Directory
    error: ConfigError | None = None     # the file on disk is broken: `config` is the last good one


def _stamp(path: str) -> tuple:
    try:
        st = os.stat(path)
        return st.st_mtime_ns, st.st_size, st.st_ino
    except OSError:
        return ()


def load_config(app: Flask) -> Config:
    return _loaded(app).config


def _loaded(app: Flask) -> Loaded:
    path = app.config["HEARTH_CONFIG"]
    stamp = _stamp(path)
    cur: Loaded | None = app.extensions.get("hearth_config")
    if cur is not None and cur.stamp == stamp:
        return cur
    with _lock:
        cur = app.extensions.get("hearth_config")
        if cur is not None and cur.stamp == stamp:
            return cur
        try:
            config = configmod.load(path)
            new = Loaded(stamp, config, Directory.from_config(config))
        except ConfigError as e:
            if cur is None:
                raise       # nothing good to fall back on: the admin cannot start on this file
            new = Loaded(stamp, cur.config, cur.directory, e)
        app.extensions["hearth_config"] = new
        return new


def init_app(app: Flask) -> None:
    arp = app.config.get("ARP_PATH")
    app.extensions["hearth_neighbours"] = (NeighbourTable(arp, ipv6=False) if arp else NeighbourTable())
    app.teardown_appcontext(_close)


def config() -> Config:
    if "config" not in g:
        loaded = _loaded(current_app)
        g.config, g.config_error, g.directory = loaded.config, loaded.error, loaded.directory
    return g.config


def kids():
    """The children's profiles, in file order (not the default one, not the parents' unfiltered one)."""
    return [p for p in config().children() if p.child]


def config_error() -> ConfigError | None:
    config()
    return g.config_error


def directory() -> Directory:
    config()
    return g.directory


def neighbours() -> NeighbourTable:
    return current_app.extensions["hearth_neighbours"]


def store():
    if "admin_store" not in g:
        from appliance.state.admin import AdminStore
        g.admin_store = AdminStore.in_dir(config().data_dir)
    return g.admin_store


def catalog():
    from appliance.lists.catalog import load_catalog
    cfg = config()
    key = str(cfg.blocklists_dir)
    cache = current_app.extensions.setdefault("hearth_catalog", {})
    if key not in cache:
        cache[key] = load_catalog(cfg.blocklists_dir)
    return cache[key]


def reports():
    if "reports" not in g:
        from appliance.state import db
        from appliance.state.reports import Reports
        g.reports = Reports(db.log_path(config()))
    return g.reports


def alerts_store():
    if "alerts" not in g:
        from appliance.state import db
        from appliance.state.alerts import Alerts
        g.alerts = Alerts(db.db_path(config().data_dir), tz=config().tz)
    return g.alerts


def actions():
    if "actions" not in g:
        from appliance.actions import Actions

        from .i18n import lang
        g.actions = Actions(config(), lang=lang())
    return g.actions


def now() -> datetime:
    """The admin's clock in the configured zone (a test may pin it with HEARTH_NOW, an aware datetime)."""
    pinned = current_app.config.get("HEARTH_NOW")
    tz = config().tz
    return pinned.astimezone(tz) if pinned else datetime.now(tz)


def _close(exc) -> None:
    for name in ("admin_store", "reports", "alerts", "actions"):
        obj = g.pop(name, None)
        close = getattr(obj, "close", None)
        if close:
            close()
