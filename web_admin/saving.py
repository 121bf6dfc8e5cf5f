"""Every change to the policy file goes through here: ``config.save()`` with one named edit, then a message for
the parent that says what the DNS daemon answered. A refused edit writes nothing and comes back with its reasons."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from flask import current_app, flash
from flask_babel import gettext as _

from appliance.config import ConfigError

from appliance.config import edits  # noqa: F401  (the views' edits: `from .saving import edits`)


@dataclass(frozen=True)
class Saved:
    ok: bool
    errors: list[str] = field(default_factory=list)
    reload: dict | None = None


def save(edit: Callable) -> Saved:
    from appliance.config.save import save as save_config
    try:
        result = save_config(current_app.config["HEARTH_CONFIG"], edit,
                             notify_daemon=current_app.config.get("NOTIFY_DAEMON", True))
    except ConfigError as e:
        return Saved(False, list(e.errors))
    except ValueError as e:          # an edit refused its input (a name taken, a profile that does not exist)
        return Saved(False, [str(e)])
    return Saved(True, [], getattr(result, "reload", None))


def replace_text(text: str) -> Saved:
    """A whole file (a restored download), validated before it replaces anything."""
    from appliance.config.save import replace
    try:
        result = replace(current_app.config["HEARTH_CONFIG"], text,
                         notify_daemon=current_app.config.get("NOTIFY_DAEMON", True))
    except ConfigError as e:
        return Saved(False, list(e.errors))
    return Saved(True, [], result.reload)


def save_and_say(edit: Callable | None, done: str, *, text: str | None = None) -> Saved:
    """Save (an edit, or with ``text`` a whole file), then flash ``done`` and the daemon's answer (or the
    reasons nothing was saved)."""
    result = save(edit) if text is None else replace_text(text)
    if not result.ok:
        flash(_("Nothing was changed: %(why)s", why="; ".join(result.errors)), "error")
        return result
    flash(done, "ok")
    say_reload(result.reload)
    return result


def say_reload(reply: dict | None) -> None:
    if reply is None:
        flash(_("The DNS filter is not running; it will use this when it starts."), "info")
    elif reply.get("ok"):
        flash(_("The DNS filter now uses it."), "ok")
    else:
        flash(_("Saved, but the DNS filter refused the file and keeps the previous rules: %(why)s",
                why="; ".join(reply.get("errors", []))), "error")
