"""A parent approves a child's *Ask for access*: the ask alert becomes a timed allow of what blocked the page.

The ask is an alert of kind ``ask`` raised by the proxy (reason ASK, the domain to allow in ``domain``); approving
it is one ``Actions.allow`` and marks the alert seen. Imports no mitmproxy: the CLI and the admin call it.
"""
from __future__ import annotations

from datetime import timedelta

from appliance.actions import ActionResult, Actions, UserError
from appliance.config import Config
from appliance.state import db
from appliance.state.alerts import AlertNotFound, Alerts

__all__ = ["approve", "ASK"]

ASK = "ASK"     # the reason of an ask alert


def approve(config: Config, alert_id: int, duration: str | timedelta | None = None, *, lang: str = "en",
            actions: Actions | None = None) -> ActionResult:
    """Allow what the ask ``alert_id`` asked for, for ``duration`` (default proxy.ask_minutes)."""
    store = Alerts(db.db_path(config.data_dir), config.tz)
    try:
        try:
            a = store.get(alert_id)
        except AlertNotFound:
            raise UserError(f"there is no ask number {alert_id} (hearth alerts lists them)") from None
        if a.reason != ASK or not a.child or not a.domain:
            raise UserError(f"alert {alert_id} is not a child's ask for access")
        if duration is None:
            duration = timedelta(minutes=config.proxy.ask_minutes if config.proxy else 30)
        result = (actions or Actions(config, lang=lang)).allow(a.child, a.domain, duration)
        store.mark_seen(alert_id)
        return result
    finally:
        store.close()
