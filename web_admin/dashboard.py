"""Today, per child: queries and blocks, the top blocked apps and categories, alerts waiting, what is in force right
now, a 24-hour activity chart; and the appliance's health."""
from __future__ import annotations

import shutil
import time
from datetime import datetime
from pathlib import Path

from flask import Blueprint, render_template
from flask_babel import gettext as _

from appliance import control

from . import charts, context

bp = Blueprint("dashboard", __name__)


def health() -> list[tuple[str, str]]:
    """(state, sentence) pairs: state is ok, warn or bad."""
    cfg = context.config()
    out: list[tuple[str, str]] = []
    try:
        st = control.request(cfg.data_dir, "stats", timeout=3)
    except (OSError, ValueError):
        st = None
    if st is None or not st.get("ok"):
        out.append(("bad", _("The DNS filter is not running: nothing is filtered. Start it with “hearth dns”.")))
    else:
        ups = st.get("upstreams") or {}
        sick = [u for u, h in ups.items() if _upstream_sick(h)]
        if sick and len(sick) == len(ups):
            out.append(("bad", _("No upstream DNS server answers: the internet looks down.")))
        elif sick:
            out.append(("warn", _("Some upstream DNS servers do not answer: %(names)s", names=", ".join(sick))))
        else:
            out.append(("ok", _("Upstream DNS servers answer.")))
        dropped = st.get("log_dropped", 0)
        if dropped:
            out.append(("warn", _("%(n)s log entries were dropped (the disk is slow or full).", n=f"{dropped:,}")))
        else:
            out.append(("ok", _("The log keeps up (%(n)s entries written).", n=f"{st.get('log_written', 0):,}")))
        last = st.get("last_reload") or {}
        if last and not last.get("ok"):
            out.append(("bad", _("The last change was refused: %(why)s", why="; ".join(last.get("errors", [])))))
    try:
        du = shutil.disk_usage(cfg.data_dir)
        free = du.free / du.total if du.total else 1
        state = "ok" if free > 0.1 else ("warn" if free > 0.03 else "bad")
        out.append((state, _("Disk: %(free)s GB free of %(total)s GB.", free=f"{du.free / 1e9:.1f}",
                             total=f"{du.total / 1e9:.1f}")))
    except OSError:
        pass
    out.extend(list_health(cfg))
    synced = clock_synchronised()
    if synced is True:
        out.append(("ok", _("The clock is synchronised.")))
    elif synced is False:
        out.append(("bad", _("The clock is not synchronised: schedules may start at the wrong time.")))
    return out


def _upstream_sick(h) -> bool:
    """The daemon's word for an upstream ("ok", "failing", "down"); a bare score from an older daemon."""
    if isinstance(h, dict):
        return h.get("state") == "down"
    return isinstance(h, (int, float)) and h >= 0.5


def list_health(cfg) -> list[tuple[str, str]]:
    """The parent's own lists: the last download failed, or none succeeded for three days."""
    from appliance.lists.sources import read_status
    urls = [s for s in cfg.lists.sources if s.url]
    if not urls:
        return []
    status = read_status(cfg)
    stale, failed = [], []
    for s in urls:
        st = status.get(s.name)
        if st is None or not st.last_success:
            stale.append(s.name)
            continue
        try:
            age = time.time() - datetime.fromisoformat(st.last_success).timestamp()
        except ValueError:
            age = 0
        if st.last_error:
            failed.append(s.name)
        elif age > 3 * 86400:
            stale.append(s.name)
    out = []
    if failed:
        out.append(("warn", _("These lists failed to update and keep their last good copy: %(names)s",
                              names=", ".join(failed))))
    if stale:
        out.append(("warn", _("These lists have not been downloaded for days (or ever): %(names)s",
                              names=", ".join(stale))))
    if not out:
        out.append(("ok", _("Your lists are up to date.")))
    return out


def clock_synchronised() -> bool | None:
    """systemd-timesyncd's flag file, or the kernel's unsynchronised bit via adjtimex; None when unknown."""
    if Path("/run/systemd/timesync/synchronized").exists():
        return True
    try:
        import ctypes
        import ctypes.util
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        buf = ctypes.create_string_buffer(512)       # struct timex; modes = 0 only reads
        state = libc.adjtimex(buf)
        return state != 5                            # TIME_ERROR: the clock is not synchronised
    except (OSError, AttributeError):
        return None


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
