"""Schedules: a weekly editor per child (days, from, to, what the window blocks, its own allow list), a week
drawn with overnight windows on the evening they belong to, and a live preview of what is in force now."""
from __future__ import annotations

import re
from datetime import time

from flask import Blueprint, abort, jsonify, redirect, render_template, request, url_for
from flask_babel import format_datetime, gettext as _

from appliance.config import DEFAULT_PROFILE, Window
from appliance.policy.schedules import current_or_next

from . import charts, context, saving
from .saving import edits

bp = Blueprint("schedules", __name__, url_prefix="/schedules")
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
MAX_WINDOWS = 12


def day_names() -> list[str]:
    return [_("Mon"), _("Tue"), _("Wed"), _("Thu"), _("Fri"), _("Sat"), _("Sun")]


def preview(name: str, windows) -> str:
    """"Right now Emma is in bedtime until 07:00", or the next window to start."""
    now = context.now()
    current, upcoming = [], []
    for w in windows:
        occ = current_or_next(w, now)
        if occ is None:
            continue
        if occ.start.timestamp() <= now.timestamp():
            current.append((occ.end, w))
        else:
            upcoming.append((occ.start, w))
    child = name.capitalize()
    if current:
        end, w = min(current, key=lambda x: x[0].timestamp())
        return _("Right now %(child)s is in “%(window)s” until %(end)s.", child=child, window=w.name,
                 end=_at(end, now))
    if upcoming:
        start, w = min(upcoming, key=lambda x: x[0].timestamp())
        return _("Right now no window is in force for %(child)s; next: “%(window)s” at %(start)s.", child=child,
                 window=w.name, start=_at(start, now))
    return _("%(child)s has no schedule: only the everyday rules apply.", child=child)


def _at(t, now) -> str:
    return t.strftime("%H:%M") if t.date() == now.date() else format_datetime(t, "EEE HH:mm")


def _profile_or_404(name):
    cfg = context.config()
    if name == DEFAULT_PROFILE or name not in cfg.profiles:
        abort(404)
    return cfg.profiles[name]


@bp.route("/")
def index():
    rows = [(p, preview(p.name, p.schedules),
             charts.week(p.schedules, day_names(), context.now(), _("The week of %(name)s", name=p.name)))
            for p in context.kids()]
    return render_template("schedules.html", rows=rows, title=_("Schedules"))


def read_form(form) -> tuple[list[dict], list[Window], dict[str, str]]:
    """The editor's rows as config data (for save) and as Windows (for the preview); errors by row."""
    cat = context.catalog()
    data, windows, errors = [], [], {}
    for i in range(MAX_WINDOWS + 1):
        p = f"w{i}-"
        if p + "name" not in form:
            continue
        name = form.get(p + "name", "").strip().lower().replace(" ", "-")
        if not name or form.get(p + "delete") == "on":
            continue
        days = [d for d in range(7) if form.get(f"{p}day-{d}") == "on"]
        start, end = form.get(p + "from", ""), form.get(p + "to", "")
        everything = form.get(p + "what", "everything") == "everything"
        block = [c for c in cat.categories if form.get(f"{p}cat-{c}") == "on"]
        apps = [a for a in form.get(p + "apps", "").split(",") if a in cat.apps]   # kept as they were
        allow = [x for x in re.split(r"[\s,]+", form.get(p + "allow", "").lower()) if x and x != "school"]
        school = form.get(p + "school") == "on" and everything      # the school group gets through this window
        problems = []
        if not days:
            problems.append(_("tick at least one day"))
        ms, me = _HHMM.match(start), _HHMM.match(end)
        if not ms or not me:
            problems.append(_("write the times as HH:MM, e.g. 21:00"))
        elif start == end:
            problems.append(_("from and to are the same time"))
        if not everything and not (block or apps):
            problems.append(_("choose what it blocks"))
        if problems:
            errors[f"w{i}"] = "; ".join(problems)
            continue
        data.append(edits.window_data(name, days, start, end, everything=everything, block=block + apps,
                                      allow=((["school"] if school else []) + allow) if everything else ()))
        windows.append(Window(name=name, days=frozenset(days), start=time(int(ms[1]), int(ms[2])),
                              end=time(int(me[1]), int(me[2])), everything=everything, block=tuple(block),
                              block_apps=tuple(apps), allow=tuple(allow), allow_school=school))
    return data, windows, errors


def _rows_for(profile) -> list[dict]:
    return [{"name": w.name, "days": set(w.days), "from": f"{w.start:%H:%M}", "to": f"{w.end:%H:%M}",
             "everything": w.everything, "block": set(w.block), "apps": ",".join(w.block_apps),
             "allow": "\n".join(w.allow), "school": w.allow_school}
            for w in profile.schedules]


def _rows_from(form) -> list[dict]:
    cat = context.catalog()
    rows = []
    for i in range(MAX_WINDOWS + 1):
        p = f"w{i}-"
        if p + "name" not in form or not form.get(p + "name", "").strip():
            continue
        rows.append({"name": form.get(p + "name", ""), "days": {d for d in range(7) if form.get(f"{p}day-{d}")},
                     "from": form.get(p + "from", ""), "to": form.get(p + "to", ""),
                     "everything": form.get(p + "what", "everything") == "everything",
                     "block": {c for c in cat.categories if form.get(f"{p}cat-{c}")},
                     "apps": form.get(p + "apps", ""), "allow": form.get(p + "allow", ""),
                     "school": form.get(p + "school") == "on", "index": i})
    return rows


def _render(profile, rows, errors, status=200, windows=None):
    windows = profile.schedules if windows is None else windows
    return render_template("schedule.html", p=profile, rows=rows, errors=errors, catalog=context.catalog(),
                           day_names=day_names(), preview=preview(profile.name, windows),
                           week=charts.week(windows, day_names(), context.now(),
                                            _("The week of %(name)s", name=profile.name)),
                           title=_("Schedules of %(name)s", name=profile.name.capitalize())), status


@bp.route("/<name>")
def edit(name):
    p = _profile_or_404(name)
    return _render(p, _rows_for(p), {})


@bp.post("/<name>")
def save(name):
    p = _profile_or_404(name)
    data, windows, errors = read_form(request.form)
    if errors:
        return _render(p, _rows_from(request.form), errors, 400, windows)
    result = saving.save_and_say(lambda doc: edits.set_schedules(doc, name, data),
                                 _("The schedules of %(name)s are saved.", name=name))
    if not result.ok:
        return _render(p, _rows_from(request.form), {"form": "; ".join(result.errors)}, 400, windows)
    return redirect(url_for("schedules.edit", name=name))


@bp.post("/<name>/preview")
def live_preview(name):
    """The editor's live preview: what would be in force now with the windows as typed (nothing saved)."""
    _profile_or_404(name)
    _data, windows, errors = read_form(request.form)
    return jsonify(preview=preview(name, windows), errors=errors)
