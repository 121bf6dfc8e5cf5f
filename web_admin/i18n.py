"""English and French: chosen from the browser's Accept-Language, or by the switch in the page's footer (kept in
the session). Times are shown on the configured zone's clock."""
from __future__ import annotations

from datetime import datetime, timezone

from flask import Flask, request, session

LANGUAGES = ("en", "fr")


def select_locale() -> str:
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(LANGUAGES) or "en"


def select_timezone() -> str:
    from . import context
    return context.config().timezone


def lang() -> str:
    return select_locale()


def local(ts) -> datetime | None:
    """A unix time or an aware datetime on the configured zone's clock."""
    from . import context
    if ts is None:
        return None
    if isinstance(ts, (int, float)):
        ts = datetime.fromtimestamp(ts, timezone.utc)
    return ts.astimezone(context.config().tz)


def hhmm(ts) -> str:
    t = local(ts)
    return t.strftime("%H:%M") if t else ""


def when(ts) -> str:
    """"14:05:09" today, "Mon 30 Nov 14:05" before."""
    from flask_babel import format_datetime
    from . import context
    t = local(ts)
    if t is None:
        return ""
    if t.date() == context.now().date():
        return t.strftime("%H:%M:%S")
    return format_datetime(t, "EEE d MMM HH:mm")


def init_app(app: Flask) -> None:
    app.jinja_env.filters["hhmm"] = hhmm
    app.jinja_env.filters["when"] = when
    from .words import sentence
    app.jinja_env.filters["sentence"] = sentence
    app.jinja_env.globals["current_lang"] = lang
