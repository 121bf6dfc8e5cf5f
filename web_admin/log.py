"""The log: blocked requests by default, filtered by child, device, domain, reason and time, each row saying why
in words with "Allow for this child" (always, or for a while) and "Block for this child". Keyset pagination (the
reader's opaque cursor, never OFFSET) and a CSV export of the same filter."""
from __future__ import annotations

import csv
import io
from datetime import timedelta

from flask import Blueprint, Response, flash, redirect, render_template, request, stream_with_context, url_for
from flask_babel import gettext as _

from appliance.config import DEFAULT_PROFILE

from . import context, saving, words
from .saving import edits

bp = Blueprint("log", __name__, url_prefix="/log")
PAGE = 50
SPANS = {"1h": timedelta(hours=1), "1d": timedelta(days=1), "7d": timedelta(days=7), "30d": timedelta(days=30)}


def read_filter(args):
    """The filter from the query string; unknown values fall back to the defaults (a link may be old)."""
    from appliance.state.reports import LogFilter
    cfg = context.config()
    show = args.get("show", "blocked")
    span = args.get("span", "1d")
    since = context.now() - SPANS[span] if span in SPANS else None
    profile = args.get("child") or None
    if profile is not None and profile not in cfg.profiles:
        profile = None
    reason = args.get("reason") or None
    if reason not in words.reason_names():
        reason = None
    f = LogFilter(profile=profile, device=args.get("device") or None, domain=(args.get("domain") or "").strip()
                  or None, reason=reason, since=since,
                  blocked_only=show == "blocked", action="allow" if show == "allowed" else None)
    chosen = {"show": show if show in ("blocked", "allowed", "all") else "blocked", "span": span,
              "child": profile or "", "device": args.get("device", ""), "domain": args.get("domain", ""),
              "reason": reason or ""}
    return f, chosen


@bp.route("/")
def index():
    f, chosen = read_filter(request.args)
    from appliance.state.reports import BadFilter
    try:
        page = context.reports().search(f, limit=PAGE, cursor=request.args.get("cursor") or None)
    except BadFilter as e:
        flash(str(e), "error")
        return redirect(url_for("log.index"))
    names = words.titles()
    entries = [(e, words.decision(e.decision, names)) for e in page.entries]
    cfg = context.config()
    return render_template("log.html", entries=entries, next_cursor=page.next_cursor, chosen=chosen,
                           children=cfg.children(), devices=cfg.devices, reasons=words.reason_names(),
                           title=_("Log"))


@bp.route("/export.csv")
def export():
    f, _chosen = read_filter(request.args)
    reports = context.reports()
    tz = context.config().tz

    names = words.titles()

    def rows():
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["time", "child", "device", "address", "domain", "type", "action", "reason", "list", "rule",
                    "schedule", "count", "why"])
        cursor, sent = None, 0
        while sent < 100_000:
            page = reports.search(f, limit=1000, cursor=cursor)
            for e in page.entries:
                w.writerow([e.ts.astimezone(tz).isoformat(timespec="seconds"), e.profile,
                            e.device or "", e.address, _csv_safe(e.qname), e.qtype, e.action, e.reason,
                            e.list or "", e.rule or "", e.schedule or "", e.count, words.decision(e.decision, names)])
            sent += len(page.entries)
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
            if not page.next_cursor:
                break
            cursor = page.next_cursor
    return Response(stream_with_context(rows()), mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=hearth-log.csv"})


def _csv_safe(text: str) -> str:
    """A domain is attacker-chosen: never let a spreadsheet read it as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _back():
    target = request.form.get("back_url") or ""
    return redirect(target if target.startswith("/log") else url_for("log.index"))


@bp.post("/allow")
def allow():
    """Allow a domain for this child: always (the child's allow list) or for a while (a live override)."""
    from appliance.actions import UserError
    from flask import flash
    profile, domain = request.form.get("profile", ""), request.form.get("domain", "").strip().lower().rstrip(".")
    if profile == DEFAULT_PROFILE or profile not in context.config().profiles:
        flash(_("This request came from a device no child has; give the device to a child first."), "error")
        return _back()
    duration = request.form.get("duration") or "always"
    if duration == "always":
        saving.save_and_say(lambda doc: edits.add_to(doc, profile, "allow", domain),
                            _("%(domain)s is now always allowed for %(child)s.", domain=domain, child=profile))
    else:
        try:
            result = context.actions().allow(profile, domain, duration)
            flash(result.message, "ok")
        except UserError as e:
            flash(str(e), "error")
    return _back()


@bp.post("/block")
def block():
    from flask import flash
    profile, domain = request.form.get("profile", ""), request.form.get("domain", "").strip().lower().rstrip(".")
    if profile == DEFAULT_PROFILE or profile not in context.config().profiles:
        flash(_("This request came from a device no child has; give the device to a child first."), "error")
        return _back()
    saving.save_and_say(lambda doc: edits.add_to(doc, profile, "deny", domain),
                        _("%(domain)s is now always blocked for %(child)s.", domain=domain, child=profile))
    return _back()
