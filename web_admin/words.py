"""A decision in words for the parent's language: ``appliance.wording`` says it (the same sentence the CLI and
the notifications use); the admin only picks the language."""
from __future__ import annotations

from flask_babel import gettext as _

from appliance.model import Decision

from .i18n import lang


def titles() -> dict[str, str]:
    """Catalog names → titles in the parent's language ("tiktok" → "TikTok"), for the sentences."""
    from . import context
    cat = context.catalog()
    fr = lang() == "fr"
    out = {c.name: (c.title_fr if fr else c.title) for c in cat.categories.values()}
    out.update({a.name: a.title for a in cat.apps.values()})
    return out


def decision(d: Decision, names: dict[str, str] | None = None) -> str:
    from appliance import wording
    return wording.describe(d, lang=lang(), titles=names if names is not None else titles())


def reason_names() -> dict[str, str]:
    """The log filter's choices, in words."""
    return {
        "SCHEDULE": _("a schedule"), "CATEGORY": _("a category"), "APP": _("an app"),
        "DENY_LIST": _("the child's deny list"), "PAUSED": _("a pause"), "BYPASS": _("a way around the filter"),
        "CNAME": _("a hidden address (CNAME)"), "RATE_LIMIT": _("too many requests"),
        "SAFE_SEARCH": _("safe search"), "ALLOW_LIST": _("the allow list"), "OVERRIDE": _("a timed allow"),
        "ESSENTIAL": _("always allowed"), "CANARY": _("browser DNS switch"), "NONE": _("nothing matched"),
    }
