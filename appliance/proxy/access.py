"""A parent approves a child's *Ask for access*: the ask alert becomes a timed allow of what blocked the page.

The ask is an alert of kind ``ask`` raised by the proxy (reason ASK, the domain to allow in ``domain``). The
approval itself is a parent action, ``Actions.approve`` in ``appliance/actions.py``, shared with the admin's
buttons (the admin never imports the proxy's modules); this name stays for ``hearth approve`` and the addon's
side of the story. Imports no mitmproxy.
"""
from __future__ import annotations

from datetime import timedelta

from appliance.actions import ASK, ActionResult, Actions
from appliance.config import Config

__all__ = ["approve", "ASK"]


def approve(config: Config, alert_id: int, duration: str | timedelta | None = None, *, lang: str = "en",
            actions: Actions | None = None) -> ActionResult:
    """Allow what the ask ``alert_id`` asked for, for ``duration`` (default proxy.ask_minutes; "today": until
    midnight)."""
    return (actions or Actions(config, lang=lang)).approve(alert_id, duration)
