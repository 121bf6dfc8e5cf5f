"""Alerts: the list (new first), mark seen, dismiss; a child's *Ask for access* approved for a while (the same
``Actions.approve`` as ``hearth approve``); the notification channels (Apprise URLs) with Send test."""
from __future__ import annotations

import re

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from appliance.actions import ASK, TODAY
from appliance.state.alerts import MANY_DEVICES

from . import context, saving
from .saving import edits

bp = Blueprint("alerts", __name__, url_prefix="/alerts")

# How long an approved ask allows the site: the buttons an ask alert gets, and the only lengths accepted.
APPROVE_FOR = ("30m", "2h", TODAY)


def _allowed_until(items) -> dict[int, object]:
    """For each ask alert, when the allow it asked for ends, if one is live now (approved here or by the CLI)."""
    asks = [a for a in items if a.reason == ASK and a.child and a.domain]
    if not asks:
        return {}
    try:
        live = {(o.profile, o.target): o.expires for o in context.actions().overrides() if o.kind == "allow"}
    except Exception:       # an unreadable overrides table must not hide the alerts
        return {}
    return {a.id: live[(a.child, a.domain)] for a in asks if (a.child, a.domain) in live}


@bp.route("/")
def index():
    show_all = request.args.get("all") == "1"
    items = context.alerts_store().list(limit=200, include_dismissed=show_all)
    from appliance import notify
    channels = context.config().alerts.notify
    return render_template("alerts.html", alerts=items, show_all=show_all, channels=channels,
                           shown=[notify.display_url(u) for u in channels], ask=ASK, many_devices=MANY_DEVICES,
                           approve_for=APPROVE_FOR, allowed_until=_allowed_until(items), tz=context.config().tz,
                           title=_("Alerts"))


@bp.post("/<int:alert_id>/approve")
def approve(alert_id):
    """Grant a child's ask for access: a timed allow of the domain that blocked the page."""
    from appliance.actions import UserError
    duration = request.form.get("duration", "")
    if duration not in APPROVE_FOR:
        flash(_("Nothing was changed: choose one of the buttons (30 minutes, 2 hours or today)."), "error")
        return redirect(url_for("alerts.index"))
    try:
        result = context.actions().approve(alert_id, duration)
    except UserError as e:
        flash(str(e), "error")
    else:
        flash(result.message, "ok")
    return redirect(url_for("alerts.index"))


@bp.post("/<int:alert_id>/seen")
def seen(alert_id):
    _change(lambda a: a.mark_seen(alert_id))
    return redirect(url_for("alerts.index"))


@bp.post("/<int:alert_id>/dismiss")
def dismiss(alert_id):
    _change(lambda a: a.dismiss(alert_id))
    return redirect(url_for("alerts.index"))


def _change(call):
    try:
        call(context.alerts_store())
    except LookupError:
        flash(_("That alert no longer exists."), "error")


def _channels(text: str) -> list[str]:
    return [x for x in re.split(r"\s+", text or "") if x]


@bp.post("/channels")
def channels():
    from appliance import notify
    urls = _channels(request.form.get("notify", ""))
    for u in urls:
        why = notify.check_url(u) if "://" in u else "no scheme"
        if why:
            flash(_("Nothing was changed: %(what)s does not look like a notification address (e.g. "
                    "mailtos://user:password@example.com or ntfy://my-topic).", what=notify.display_url(u)),
                  "error")
            return redirect(url_for("alerts.index"))
    saving.save_and_say(lambda doc: edits.set_setting(doc, "alerts", "notify", urls or None),
                        _("Notification channels saved."))
    return redirect(url_for("alerts.index"))


@bp.post("/test")
def test():
    """Send a test message to every channel, and say which failed and why."""
    from appliance import notify
    from .i18n import lang
    results = notify.test_channels(context.config().alerts.notify, lang=lang())
    for channel, error in results:
        if error is None:
            flash(_("Sent to %(channel)s.", channel=channel), "ok")
        else:
            flash(_("Could not send to %(channel)s: %(why)s", channel=channel, why=error), "error")
    if not results:
        flash(_("There is no notification channel yet: add one below."), "info")
    return redirect(url_for("alerts.index"))
