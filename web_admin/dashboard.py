"""Today, per child: queries and blocks, the top blocked apps and categories, alerts waiting, what is in force right
now, a 24-hour activity chart; and the appliance's health."""
from __future__ import annotations

from flask import Blueprint, render_template
from flask_babel import gettext as _

from . import charts, context

bp = Blueprint("dashboard", __name__)


# The dashboard's panel: the appliance itself; the setup check (settings) adds the home's devices.
APPLIANCE_CHECKS = frozenset({"service", "port", "admin", "upstreams", "log", "reload", "disk", "wear", "clock",
                              "lists"})


def findings(*, probe: bool = False):
    """appliance.doctor's findings in the page's language (the same as `hearth doctor`). ``probe``: ask the
    upstreams directly when the daemon is down (up to a couple of seconds; the setup check only)."""
    from appliance import doctor
    from .i18n import lang
    cfg = context.config()
    facts = doctor.gather(cfg, neighbours=context.neighbours(), probe_timeout=1.5 if probe else 0)
    return doctor.diagnose(cfg, facts, lang=lang())


def health() -> list[tuple[str, str]]:
    """(state, sentence) pairs: state is ok, warn or bad."""
    return [(x.state, x.text) for x in findings() if x.check in APPLIANCE_CHECKS]


def child_cards() -> list[dict]:
    cfg = context.config()
    now = context.now()
    reports = context.reports()
    try:
        waiting = context.alerts_store().list(status="new", limit=500)
    except Exception:          # no alerts table yet: nothing waiting
        waiting = []
    cards = []
    for p in context.kids():
        s = reports.day_summary(p.name, now.date(), cfg.tz)
        cards.append({
            "profile": p, "summary": s,
            "now": context.actions().now(p.name),
            "alerts": sum(1 for a in waiting if a.child == p.name),
            "chart": charts.activity(list(s.by_hour), list(s.blocks_by_hour),
                                     _("Requests by hour today for %(name)s", name=p.name)),
        })
    return cards


@bp.route("/")
def index():
    from .words import titles
    return render_template("dashboard.html", cards=child_cards(), health=health(), titles=titles(),
                           title=_("Today"))
