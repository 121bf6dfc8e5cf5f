"""A decision in words for the parent's language: ``appliance.wording`` says it (the same sentence the CLI and
the notifications use); the admin only picks the language."""
from __future__ import annotations

import re

from flask_babel import gettext as _
from markupsafe import Markup, escape

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


_VERDICT = re.compile(r"^(blocked|allowed|rewritten|bloqué|autorisé|réécrit)\s*:\s*", re.I)


def sentence(text: str, pill: bool = True) -> Markup:
    """A decision's sentence for a page: the verdict as a coloured pill (not said twice), *name* in italics. The
    sentence holds names from the network (escaped here, before any markup is added)."""
    m = _VERDICT.match(text or "")
    verdict = m.group(1).lower() if m else ""
    rest = text[m.end():] if m else (text or "")
    body = re.sub(r"\*([^*]+)\*", r"<em>\1</em>", str(escape(rest)))
    if not pill or not verdict:
        return Markup(body)
    cls = "allowed" if verdict in ("allowed", "autorisé") else "blocked"
    word = _("allowed") if cls == "allowed" else _("blocked")
    return Markup(f'<span class="pill {cls}">{escape(word)}</span> ') + Markup(body)


def reason_names() -> dict[str, str]:
    """The log filter's choices, in words."""
    return {
        "SCHEDULE": _("a schedule"), "CATEGORY": _("a category"), "APP": _("an app"),
        "DENY_LIST": _("the child's deny list"), "PAUSED": _("a pause"), "BYPASS": _("a way around the filter"),
        "CNAME": _("a hidden address (CNAME)"), "RATE_LIMIT": _("too many requests"),
        "SAFE_SEARCH": _("safe search"), "ALLOW_LIST": _("the allow list"), "OVERRIDE": _("a timed allow"),
        "ESSENTIAL": _("always allowed"), "CANARY": _("browser DNS switch"), "NONE": _("nothing matched"),
    }
