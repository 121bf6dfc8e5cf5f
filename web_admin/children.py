"""Children: create, rename, delete; what each may reach (categories and apps as toggles, allow and deny lists,
safe search, YouTube); and the big buttons (pause, resume, allow an app for a while, bedtime later, end a window).
Rules go through config.save(); the buttons through appliance.actions, as the CLI's commands do."""
from __future__ import annotations

import re

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from appliance.config import DEFAULT_PROFILE

from . import context, saving
from .saving import edits

bp = Blueprint("children", __name__, url_prefix="/children")

# What a new child starts with: the categories every family blocks (a parent turns more on from the toggles).
STARTER_BLOCK = ("random-chat", "dating", "risky-social", "adult", "gambling", "bypass")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
YOUTUBE = ("off", "moderate", "strict")


def child_name(raw: str) -> tuple[str | None, str | None]:
    """A profile name from what a parent typed ("Emma" -> "emma"), or an error in words."""
    name = (raw or "").strip().lower().replace(" ", "-")
    if not name:
        return None, _("Give the child a name.")
    if not _NAME.match(name):
        return None, _("Use letters a-z, digits, '-' or '_' (32 at most), e.g. emma.")
    if name == DEFAULT_PROFILE:
        return None, _("“default” is the rules for devices nobody has assigned: choose another name.")
    return name, None


def _profile_or_404(name: str):
    cfg = context.config()
    if name == DEFAULT_PROFILE or name not in cfg.profiles:
        abort(404)
    return cfg.profiles[name]


@bp.route("/")
def index():
    return render_template("children.html", children=context.kids(), errors={}, form={},
                           title=_("Children"))


@bp.post("/add")
def add():
    name, error = child_name(request.form.get("name", ""))
    if name and name in context.config().profiles:
        error = _("There is already a child named %(name)s.", name=name)
    if error:
        return render_template("children.html", children=context.kids(), errors={"name": error},
                               form=request.form, title=_("Children")), 400
    cat = context.catalog()
    block = [c for c in STARTER_BLOCK if c in cat.categories]
    result = saving.save_and_say(lambda doc: edits.add_profile(doc, name, block=block),
                                 _("%(name)s added. Now give them their devices and rules.", name=name))
    if not result.ok:
        return render_template("children.html", children=context.kids(),
                               errors={"name": "; ".join(result.errors)}, form=request.form,
                               title=_("Children")), 400
    return redirect(url_for("children.edit", name=name))


def _lines(text: str) -> list[str]:
    return [x.strip().lower() for x in re.split(r"[\s,]+", text or "") if x.strip()]


def _render_edit(profile, form=None, errors=None, status=200):
    cat = context.catalog()
    try:
        overrides = [o for o in context.actions().overrides() if o.profile == profile.name]
    except Exception:
        overrides = []
    apps_by_category: dict[str, list] = {}
    for app in cat.apps.values():
        apps_by_category.setdefault(app.category, []).append(app)
    try:
        budgets = context.actions().budgets(profile.name) if profile.budgets else []
    except Exception:       # an unreadable log must not hide the child's page
        budgets = []
    return render_template("child.html", p=profile, catalog=cat, apps_by_category=apps_by_category,
                           form=form, errors=errors or {}, overrides=overrides, youtube=YOUTUBE, budgets=budgets,
                           now_lines=context.actions().now(profile.name), tz=context.config().tz,
                           title=profile.name.capitalize()), status


@bp.route("/<name>")
def edit(name):
    return _render_edit(_profile_or_404(name))


_FIELD_OF = (("allow", "allow"), ("deny", "deny"), ("block_apps", "apps"), ("block", "categories"),
             ("youtube", "youtube"), ("safe_search", "safe_search"))


def field_errors(errors: list[str], prefix: str) -> dict[str, str]:
    """Map save()'s "profiles.emma.allow[1]: ..." lines onto the form's fields; the rest go under "form"."""
    out: dict[str, list[str]] = {}
    for line in errors:
        path, _sep, msg = line.partition(": ")
        key = "form"
        if path.startswith(prefix):
            rest = path[len(prefix):].lstrip(".")
            for yaml_key, field in _FIELD_OF:
                if rest.startswith(yaml_key):
                    key, line = field, msg
                    break
        out.setdefault(key, []).append(line)
    return {k: "; ".join(v) for k, v in out.items()}


@bp.post("/<name>/rules")
def rules(name):
    p = _profile_or_404(name)
    cat = context.catalog()
    f = request.form
    youtube = f.get("youtube", "off")
    errors = {}
    if youtube not in YOUTUBE:
        errors["youtube"] = _("Choose one of the YouTube levels.")
    fields = {
        "block": [c for c in cat.categories if f.get(f"cat-{c}") == "on" and c != "bypass"],
        "block_apps": [a for a in cat.apps if f.get(f"app-{a}") == "on"],
        "allow": _lines(f.get("allow", "")),
        "deny": _lines(f.get("deny", "")),
        "safe_search": f.get("safe_search") == "on",
        "youtube": youtube,
        "bypass": f.get("cat-bypass") == "on",
    }
    if errors:
        return _render_edit(p, f, errors, 400)
    result = saving.save_and_say(lambda doc: edits.set_profile(doc, name, **fields),
                                 _("%(name)s's rules are saved.", name=name))
    if not result.ok:
        return _render_edit(p, f, field_errors(result.errors, f"profiles.{name}"), 400)
    return redirect(url_for("children.edit", name=name))


@bp.post("/<name>/rename")
def rename(name):
    _profile_or_404(name)
    new, error = child_name(request.form.get("new_name", ""))
    if new and new != name and new in context.config().profiles:
        error = _("There is already a child named %(name)s.", name=new)
    if error:
        flash(error, "error")
        return redirect(url_for("children.edit", name=name))
    result = saving.save_and_say(lambda doc: edits.rename_profile(doc, name, new),
                                 _("%(old)s is now called %(new)s.", old=name, new=new))
    return redirect(url_for("children.edit", name=new if result.ok else name))


@bp.post("/<name>/delete")
def delete(name):
    _profile_or_404(name)
    if request.form.get("confirm") != name:
        flash(_("To delete %(name)s, type the name in the box first.", name=name), "error")
        return redirect(url_for("children.edit", name=name))
    result = saving.save_and_say(lambda doc: edits.delete_profile(doc, name),
                                 _("%(name)s was deleted; their devices now get the default rules.", name=name))
    return redirect(url_for("children.index") if result.ok else url_for("children.edit", name=name))


# --- the big buttons: live overrides through appliance.actions -----------------------------------------------------

def _act(name, call):
    from appliance.actions import UserError
    _profile_or_404(name)
    try:
        result = call(context.actions())
    except UserError as e:
        flash(str(e), "error")
    else:
        flash(result.message, "ok")
    back = request.form.get("back")
    if back == "dashboard":
        return redirect(url_for("dashboard.index"))
    if back == "log":
        return redirect(request.form.get("back_url") or url_for("log.index"))
    return redirect(url_for("children.edit", name=name))


@bp.post("/<name>/pause")
def pause(name):
    until = request.form.get("until") or None
    duration = None if until else (request.form.get("duration") or "1h")
    return _act(name, lambda a: a.pause(name, duration=duration, until=until))


@bp.post("/<name>/resume")
def resume(name):
    return _act(name, lambda a: a.resume(name))


@bp.post("/<name>/allow")
def allow(name):
    return _act(name, lambda a: a.allow(name, request.form.get("target", ""), request.form.get("duration") or "30m"))


@bp.post("/<name>/later")
def later(name):
    return _act(name, lambda a: a.later(name, request.form.get("window", ""), request.form.get("delay") or "30m"))


@bp.post("/<name>/end")
def end(name):
    return _act(name, lambda a: a.end(name, request.form.get("window", "")))


@bp.post("/<name>/grant")
def grant(name):
    return _act(name, lambda a: a.grant(name, request.form.get("budget", ""), request.form.get("minutes") or "30"))


@bp.post("/<name>/cancel/<int:override_id>")
def cancel(name, override_id):
    return _act(name, lambda a: a.cancel(override_id))
