"""The JSON API under /api/v1: the same data and actions as the screens, for scripts and home automation.
A bearer token (`hearth token create NAME`) or the browser's session with its CSRF token (X-CSRFToken header).
Every route is declared once with ``@route``, which also writes its entry in the OpenAPI 3 document served at
/api/v1/openapi.json (a test holds the document against the real routes)."""
from __future__ import annotations

from dataclasses import asdict, is_dataclass

from flask import Blueprint, jsonify, request
from flask_babel import gettext as _

from appliance.config import DEFAULT_PROFILE

from . import context

bp = Blueprint("api", __name__, url_prefix="/api/v1")
PATHS: dict[str, dict] = {}


def route(path: str, method: str, summary: str, *, params: tuple = (), body: dict | None = None):
    """Register a view and its OpenAPI operation. ``params``: (name, where, schema type, description)."""
    def wrap(fn):
        bp.add_url_rule(path, fn.__name__, fn, methods=[method])
        op: dict = {"summary": summary, "operationId": fn.__name__,
                    "responses": {"200": {"description": "OK", "content": {"application/json": {}}},
                                  "400": {"description": "Refused input; `error` says why"},
                                  "401": {"description": "Not logged in, or a bad token"}}}
        oparams = []
        for name, where, typ, desc in params:
            oparams.append({"name": name, "in": where, "required": where == "path", "description": desc,
                            "schema": {"type": typ}})
        if oparams:
            op["parameters"] = oparams
        if body:
            op["requestBody"] = {"content": {"application/json": {"schema": {"type": "object",
                                                                              "properties": body}}}}
        oa_path = path.replace("<int:", "{").replace("<", "{").replace(">", "}")
        PATHS.setdefault(oa_path, {})[method.lower()] = op
        return fn
    return wrap


def _plain(obj):
    if is_dataclass(obj):
        return {k: _plain(v) for k, v in asdict(obj).items()}
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [_plain(v) for v in (sorted(obj) if isinstance(obj, (set, frozenset)) else obj)]
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    if hasattr(obj, "value") and not isinstance(obj, (str, int, float, bool)):
        return obj.value
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return str(obj)


def _body() -> dict:
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else request.form.to_dict()


def _child(name):
    cfg = context.config()
    if name == DEFAULT_PROFILE or name not in cfg.profiles:
        return None
    return cfg.profiles[name]


def _no_child(name):
    return jsonify(error=_("There is no child named %(name)s.", name=name)), 404


_NAME_PARAM = (("name", "path", "string", "the child's name"),)


def _profile_json(p) -> dict:
    return {"name": p.name, "devices": list(p.devices), "block": list(p.block), "block_apps": list(p.block_apps),
            "allow": list(p.allow), "deny": list(p.deny), "safe_search": p.safe_search, "youtube": p.youtube,
            "bypass": p.bypass,
            "schedules": [{"name": w.name, "days": sorted(w.days), "from": f"{w.start:%H:%M}",
                           "to": f"{w.end:%H:%M}", "everything": w.everything, "block": list(w.block),
                           "block_apps": list(w.block_apps), "allow": list(w.allow)} for w in p.schedules],
            "now": context.actions().now(p.name)}


@route("/status", "GET", "The appliance's health, in words")
def status():
    from .dashboard import APPLIANCE_CHECKS, findings
    # The same findings as `hearth doctor --json` (check, state, text, fix); the panel shows the appliance's own.
    return jsonify(health=[x.as_dict() for x in findings() if x.check in APPLIANCE_CHECKS])


@route("/children", "GET", "Every child with their rules and what is in force now")
def children():
    return jsonify(children=[_profile_json(p) for p in context.kids()])


@route("/children/<name>", "GET", "One child", params=(("name", "path", "string", "the child's name"),))
def child(name):
    p = _child(name)
    return jsonify(_profile_json(p)) if p else _no_child(name)


def _act(name, call):
    from appliance.actions import UserError
    if _child(name) is None:
        return _no_child(name)
    try:
        result = call(context.actions())
    except UserError as e:
        return jsonify(error=str(e)), 400
    o = getattr(result, "override", None)
    return jsonify(message=result.message, override=_plain(o) if o is not None else None)


_NAME = (("name", "path", "string", "the child's name"),)


@route("/children/<name>/pause", "POST", "Pause a child's internet now", params=_NAME,
       body={"duration": {"type": "string", "example": "30m"}, "until": {"type": "string", "example": "21:30"}})
def pause(name):
    b = _body()
    return _act(name, lambda a: a.pause(name, duration=b.get("duration") or (None if b.get("until") else "1h"),
                                        until=b.get("until") or None))


@route("/children/<name>/resume", "POST", "End a child's pause", params=_NAME)
def resume(name):
    return _act(name, lambda a: a.resume(name))


@route("/children/<name>/allow", "POST", "Allow an app, a category or a domain for a while", params=_NAME,
       body={"target": {"type": "string", "example": "youtube"}, "duration": {"type": "string", "example": "30m"}})
def allow(name):
    b = _body()
    return _act(name, lambda a: a.allow(name, str(b.get("target", "")), b.get("duration") or "30m"))


@route("/children/<name>/later", "POST", "Start a schedule window later tonight", params=_NAME,
       body={"window": {"type": "string", "example": "bedtime"}, "delay": {"type": "string", "example": "30m"}})
def later(name):
    b = _body()
    return _act(name, lambda a: a.later(name, str(b.get("window", "")), b.get("delay") or "30m"))


@route("/children/<name>/end", "POST", "End a schedule window now (or skip its next time)", params=_NAME,
       body={"window": {"type": "string", "example": "homework"}})
def end(name):
    b = _body()
    return _act(name, lambda a: a.end(name, str(b.get("window", ""))))


def _saved(edit, message: str):
    """A config change through config.save(): the daemon's reload answer, or why nothing was written."""
    from . import saving
    result = saving.save(edit)
    if not result.ok:
        return jsonify(error=_("Nothing was changed."), errors=result.errors), 400
    return jsonify(message=message, reload=result.reload)


@route("/children", "POST", "Add a child (with the categories every family blocks)",
       body={"name": {"type": "string", "example": "emma"}})
def add_child():
    from .children import STARTER_BLOCK, child_name
    from .saving import edits
    name, error = child_name(str(_body().get("name", "")))
    if error:
        return jsonify(error=error), 400
    block = [c for c in STARTER_BLOCK if c in context.catalog().categories]
    return _saved(lambda doc: edits.add_profile(doc, name, block=block), _("%(name)s added.", name=name))


_RULES = ("block", "block_apps", "allow", "deny", "safe_search", "youtube", "bypass")


@route("/children/<name>/rules", "POST", "Change a child's rules (only the fields given)", params=_NAME_PARAM,
       body={"block": {"type": "array"}, "block_apps": {"type": "array"}, "allow": {"type": "array"},
             "deny": {"type": "array"}, "safe_search": {"type": "boolean"}, "youtube": {"type": "string"},
             "bypass": {"type": "boolean"}})
def set_rules(name):
    from .saving import edits
    if _child(name) is None:
        return _no_child(name)
    b = _body()
    unknown = sorted(set(b) - set(_RULES))
    if unknown:
        return jsonify(error=_("Unknown fields: %(names)s", names=", ".join(unknown))), 400
    return _saved(lambda doc: edits.set_profile(doc, name, **b), _("%(name)s's rules are saved.", name=name))


@route("/devices/assign", "POST", "Give a configured device to a child (child null: to nobody)",
       body={"device": {"type": "string"}, "child": {"type": "string", "nullable": True}})
def assign_device():
    from .saving import edits
    b = _body()
    device, child_ = str(b.get("device", "")), b.get("child") or None
    if child_ is not None and _child(child_) is None:
        return _no_child(child_)
    return _saved(lambda doc: edits.assign_device(doc, device, child_),
                  _("%(device)s now gets the rules of %(child)s.", device=device,
                    child=child_ or _("nobody (default rules)")))


@route("/overrides", "GET", "The live pauses, allows and schedule changes")
def overrides():
    tz = context.config().tz
    return jsonify(overrides=[{**_plain(o), "words": o.describe(tz)} for o in context.actions().overrides()])


@route("/overrides/<int:override_id>", "DELETE", "Cancel a live override",
       params=(("override_id", "path", "integer", "the override's id"),))
def cancel(override_id):
    from appliance.actions import UserError
    try:
        result = context.actions().cancel(override_id)
    except UserError as e:
        return jsonify(error=str(e)), 400
    return jsonify(message=result.message)


@route("/log", "GET", "The log, newest first, one page at a time (keyset: pass next_cursor back as cursor)",
       params=(("show", "query", "string", "blocked (default), allowed or all"),
               ("child", "query", "string", "a child's name"), ("device", "query", "string", "a device name"),
               ("domain", "query", "string", "part of the domain"), ("reason", "query", "string", "e.g. SCHEDULE"),
               ("span", "query", "string", "1h, 1d (default), 7d, 30d or all"),
               ("cursor", "query", "string", "from the previous page"),
               ("limit", "query", "integer", "rows per page, 1 to 500 (default 50)")))
def log():
    from . import words
    from .log import read_filter
    f, _chosen = read_filter(request.args)
    try:
        limit = max(1, min(500, int(request.args.get("limit", 50))))
    except ValueError:
        return jsonify(error=_("limit is a whole number from 1 to 500")), 400
    from appliance.state.reports import BadFilter
    try:
        page = context.reports().search(f, limit=limit, cursor=request.args.get("cursor") or None)
    except BadFilter as e:
        return jsonify(error=str(e)), 400
    names = words.titles()
    return jsonify(entries=[{**e.as_dict(), "why": words.decision(e.decision, names)} for e in page.entries],
                   next_cursor=page.next_cursor)


@route("/devices", "GET", "Every device seen, with its vendor and child")
def devices():
    from .devices import rows
    return jsonify(devices=[_plain(r) for r in rows()])


@route("/alerts", "GET", "Alerts, newest first", params=(("all", "query", "string", "1: include dismissed"),))
def alerts():
    items = context.alerts_store().list(limit=200, include_dismissed=request.args.get("all") == "1")
    return jsonify(alerts=[a.as_dict() for a in items])


def _alert(call):
    try:
        a = call(context.alerts_store())
    except LookupError:
        return jsonify(error=_("That alert no longer exists.")), 404
    return jsonify(a.as_dict())


_ALERT = (("alert_id", "path", "integer", "the alert's id"),)


@route("/alerts/<int:alert_id>/seen", "POST", "Mark an alert seen", params=_ALERT)
def alert_seen(alert_id):
    return _alert(lambda s: s.mark_seen(alert_id))


@route("/alerts/<int:alert_id>/dismiss", "POST", "Dismiss an alert", params=_ALERT)
def alert_dismiss(alert_id):
    return _alert(lambda s: s.dismiss(alert_id))


@route("/openapi.json", "GET", "This document")
def openapi():
    return jsonify({
        "openapi": "3.0.3",
        "info": {"title": "Hearth admin API", "version": "1",
                 "description": "Send `Authorization: Bearer <token>` (hearth token create NAME), or use the "
                                "browser session with an X-CSRFToken header on writes."},
        "servers": [{"url": bp.url_prefix}],
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"},
                                           "session": {"type": "apiKey", "in": "cookie",
                                                       "name": "hearth_session"}}},
        "security": [{"bearer": []}, {"session": []}],
        "paths": PATHS,
    })
