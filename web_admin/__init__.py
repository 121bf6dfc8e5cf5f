"""The parent's web admin (Flask): one blueprint per screen, views that parse a form, call a service in
``appliance`` and render. It changes the policy only through ``config.save()`` with the named edits of
``appliance.config.edits``, and live overrides only through ``appliance.actions``; it reads the log through
``appliance.state.reports``. No SQL and no policy decision is made here.
"""
from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from flask import Flask


def create_app(config_path: str | os.PathLike | None = None, test_config: dict | None = None) -> Flask:
    from flask_babel import Babel
    from flask_wtf.csrf import CSRFProtect

    from appliance import config as configmod
    from appliance.state.admin import session_secret

    from . import context, i18n

    app = Flask(__name__, instance_relative_config=False)
    path = str(config_path or configmod.resolve_path(None))
    app.config.update(
        HEARTH_CONFIG=path,
        ARP_PATH=None,                       # the kernel's neighbour table unless a test gives a file
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_NAME="hearth_session",
        PERMANENT_SESSION_LIFETIME=timedelta(days=30),
        WTF_CSRF_CHECK_DEFAULT=False,        # checked in auth.guard, after a bearer token has had its say
        WTF_CSRF_TIME_LIMIT=None,            # the token lives as long as the session
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,  # a config file to restore is the largest thing a parent sends
        BABEL_TRANSLATION_DIRECTORIES=str(Path(__file__).parent / "translations"),
        TEMPLATES_AUTO_RELOAD=False,
    )
    if test_config:
        app.config.update(test_config)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = session_secret(context.load_config(app).data_dir)

    CSRFProtect(app)
    Babel(app, locale_selector=i18n.select_locale, timezone_selector=i18n.select_timezone)
    context.init_app(app)
    i18n.init_app(app)

    from . import (alerts, api, auth, children, dashboard, devices, lists, log, proxy, schedules, settings)
    for bp in (auth.bp, dashboard.bp, children.bp, schedules.bp, devices.bp, log.bp, alerts.bp, lists.bp,
               proxy.bp, settings.bp, api.bp):
        app.register_blueprint(bp)
    auth.init_app(app)
    return app
