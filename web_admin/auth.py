"""Who may use the admin, checked before every request, in this order:

1. the client is identified the way DNS identifies it (source address → neighbour-table MAC → device → profile);
   a device assigned to a child never gets in (a friendly "ask a parent" page), unless ``admin.parents`` or
   ``admin.parent_networks`` names it (devices in the parents' own ``filtering: off`` profile are not a child's); nor does anything outside the home's networks (``dns.allow_networks``);
2. a bearer token (``hearth token create``) authenticates a script on ``/api/v1`` and needs no CSRF token;
3. every other write carries a CSRF token (Flask-WTF), forms and cookie-authenticated API calls alike;
4. until a password is set, only first-run setup is reachable; then everything but login needs a login.
A session is a signed cookie holding the store's session epoch: "log out everywhere" moves the epoch on.
"""
from __future__ import annotations

import ipaddress
import zoneinfo
from functools import lru_cache

from flask import (Blueprint, Flask, current_app, flash, g, jsonify, redirect, render_template, request, session,
                   url_for)
from flask.sessions import SecureCookieSessionInterface
from flask_babel import gettext as _, ngettext
from flask_wtf.csrf import CSRFError


from appliance.model import Client
from appliance.state.admin import PasswordError

from . import context, saving

bp = Blueprint("auth", __name__)

# Reachable without a login (setup only while no password is set; static files need nothing).
_OPEN = {"auth.login", "auth.setup", "auth.language"}


class _Sessions(SecureCookieSessionInterface):
    """Secure cookies over HTTPS, plain ones over HTTP (the Pi's http://hearth.local must still work)."""

    def get_cookie_secure(self, app) -> bool:
        return request.is_secure


def init_app(app: Flask) -> None:
    app.session_interface = _Sessions()
    app.before_request(guard)
    app.after_request(_headers)

    @app.errorhandler(CSRFError)
    def csrf_refused(e):
        msg = _("This page was open too long or came from elsewhere. Reload it and try again.")
        if request.path.startswith("/api/"):
            return jsonify(error=msg), 400
        return render_template("error.html", title=_("Please try again"), message=msg), 400

    @app.errorhandler(404)
    def not_found(e):
        if request.path.startswith("/api/"):
            return jsonify(error=_("No such page.")), 404
        return render_template("error.html", title=_("Not found"), message=_("There is no such page.")), 404

    @app.context_processor
    def _globals():
        return {"logged_in": logged_in(), "config_error": _safe_config_error()}


# Everything is served from the Pi itself; nothing inline, nothing framed, no referrer to other sites.
_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def _headers(resp):
    resp.headers.setdefault("Content-Security-Policy", _CSP)
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("X-Frame-Options", "DENY")
    resp.headers.setdefault("Referrer-Policy", "same-origin")
    if request.endpoint != "static":
        resp.headers.setdefault("Cache-Control", "no-store")     # pages show a family's browsing: never cached
    return resp


def _safe_config_error():
    try:
        return context.config_error()
    except Exception:      # a page about a broken file must still render
        return None


# --- who is asking ------------------------------------------------------------------------------------------------

def client() -> Client:
    if "client" not in g:
        ip = _ip()
        g.client = context.directory().identify(ip, context.neighbours().mac_for(ip))
    return g.client


def _ip() -> str:
    ip = request.remote_addr or "0.0.0.0"
    try:
        addr = ipaddress.ip_address(ip.split("%")[0])
    except ValueError:
        return "0.0.0.0"
    if addr.version == 6 and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    return str(addr)


def _is_parent(c: Client) -> bool:
    admin = context.config().admin
    if admin is None:
        return False
    if c.device and c.device in getattr(admin, "parents", ()):
        return True
    addr = ipaddress.ip_address(c.address)
    nets = tuple(getattr(admin, "parent_networks", ())) + tuple(
        _as_network(p) for p in getattr(admin, "parents", ()) if _as_network(p))
    return any(addr.version == n.version and addr in n for n in nets)


@lru_cache(maxsize=256)
def _as_network(text: str):
    try:
        return ipaddress.ip_network(str(text), strict=False)
    except ValueError:
        return None


def _rate_key(ip: str) -> str:
    """Failed logins are counted per device address; an IPv6 device per /64 (privacy addresses rotate)."""
    addr = ipaddress.ip_address(ip)
    if addr.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return ip


def logged_in() -> bool:
    if getattr(g, "token", None):
        return True
    try:
        return session.get("auth") is True and session.get("epoch") == context.store().epoch()
    except Exception:
        return False


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def guard():
    if request.endpoint == "static":
        return None
    c = client()
    parent = _is_parent(c)
    if not parent and not context.directory().allowed(c.address):
        return _refuse(_("The admin answers only the home network."), page="outside.html")
    profile = context.config().profiles.get(c.profile)
    if profile is not None and profile.child and not parent:     # a child's; not the parents' unfiltered profile
        return _refuse(_("This device belongs to a child."), page="ask_parent.html")
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        name = context.store().check_token(header[7:].strip()) if _wants_json() else None
        if name is None:
            return jsonify(error=_("That token is not valid (revoked, or mistyped).")), 401
        g.token = name
        return None
    if request.method not in ("GET", "HEAD", "OPTIONS") and current_app.config.get("WTF_CSRF_ENABLED", True):
        current_app.extensions["csrf"].protect()      # raises CSRFError, answered above
    if not context.store().password_set():
        if request.endpoint in ("auth.setup", "auth.language"):
            return None
        if _wants_json():
            return jsonify(error=_("Hearth is not set up yet: open the admin in a browser first.")), 503
        return redirect(url_for("auth.setup"))
    if request.endpoint in _OPEN or logged_in():
        return None
    if _wants_json():
        return jsonify(error=_("Log in first, or send a bearer token.")), 401
    return redirect(url_for("auth.login", next=request.full_path if request.query_string else request.path))


def _refuse(message: str, page: str):
    if _wants_json():
        return jsonify(error=message), 403
    return render_template(page, client=client()), 403


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("dashboard.index")


# --- first run ----------------------------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def timezones() -> list[str]:
    return ["UTC"] + sorted(z for z in zoneinfo.available_timezones()
                            if "/" in z and not z.startswith(("Etc/", "SystemV/")))


@bp.route("/setup", methods=["GET", "POST"])
def setup():
    store = context.store()
    if store.password_set():
        flash(_("Hearth is already set up: log in with its password."), "info")
        return redirect(url_for("auth.login"))
    cfg = context.config()
    form = {"timezone": request.form.get("timezone", cfg.timezone)}
    errors: dict[str, str] = {}
    if request.method == "POST":
        password, again = request.form.get("password", ""), request.form.get("password2", "")
        try:
            from appliance.state.admin import check_new_password
            check_new_password(password)
        except PasswordError as e:
            errors["password"] = _password_words(e)
        if not errors and password != again:
            errors["password2"] = _("The two passwords differ.")
        if form["timezone"] not in zoneinfo.available_timezones():
            errors["timezone"] = _("Choose a time zone from the list.")
        if not errors:
            if form["timezone"] != cfg.timezone:
                from .saving import edits
                result = saving.save(lambda doc: edits.set_timezone(doc, form["timezone"]))
                if not result.ok:
                    errors["timezone"] = "; ".join(result.errors)
            if not errors:
                if not store.setup_password(password):
                    flash(_("Hearth is already set up: log in with its password."), "info")
                    return redirect(url_for("auth.login"))
                _start_session(store)
                flash(_("Welcome to Hearth. Add your children next."), "ok")
                return redirect(url_for("dashboard.index"))
        return render_template("setup.html", form=form, errors=errors, zones=timezones()), 400
    return render_template("setup.html", form=form, errors=errors, zones=timezones())


def _password_words(e: PasswordError) -> str:
    from appliance.state.admin import MIN_PASSWORD
    if "at least" in str(e):
        return ngettext("The password needs at least %(num)d character.",
                        "The password needs at least %(num)d characters.", MIN_PASSWORD)
    return _("The password is too long.")


def _start_session(store) -> None:
    session.clear()
    session["auth"] = True
    session["epoch"] = store.epoch()
    session.permanent = True


# --- login and out ------------------------------------------------------------------------------------------------

@bp.route("/login", methods=["GET", "POST"])
def login():
    store = context.store()
    next_url = request.values.get("next")
    if request.method == "GET":
        if logged_in():
            return redirect(_safe_next(next_url))
        return render_template("login.html", next=next_url, error=None)
    key = _rate_key(client().address)
    wait = store.retry_after(key)
    if wait:
        minutes = max(1, (wait + 59) // 60)
        error = ngettext("Too many wrong passwords from this device. Try again in %(num)d minute.",
                         "Too many wrong passwords from this device. Try again in %(num)d minutes.", minutes)
        return render_template("login.html", next=next_url, error=error), 429
    if not store.check_password(request.form.get("password", "")):
        store.login_failed(key)
        return render_template("login.html", next=next_url,
                               error=_("That password is not right. (Forgot it? Run “hearth passwd” on the Pi.)")), 401
    store.login_succeeded(key)
    _start_session(store)
    return redirect(_safe_next(next_url))


@bp.post("/logout")
def logout():
    session.clear()
    flash(_("Logged out."), "ok")
    return redirect(url_for("auth.login"))


@bp.post("/logout-everywhere")
def logout_everywhere():
    context.store().log_out_everywhere()
    session.clear()
    flash(_("Logged out on every phone and computer. Log in again here."), "ok")
    return redirect(url_for("auth.login"))


@bp.post("/language")
def language():
    chosen = request.form.get("lang")
    if chosen in ("en", "fr"):
        session["lang"] = chosen
    back = request.form.get("next") or ""
    return redirect(_safe_next(back))     # the guard sends a visitor who is not logged in to the login page


@bp.route("/password", methods=["GET", "POST"])
def password():
    errors: dict[str, str] = {}
    if request.method == "POST":
        store = context.store()
        new, again = request.form.get("password", ""), request.form.get("password2", "")
        if not store.check_password(request.form.get("current", "")):
            errors["current"] = _("That is not the current password.")
        else:
            try:
                from appliance.state.admin import check_new_password
                check_new_password(new)
            except PasswordError as e:
                errors["password"] = _password_words(e)
            if not errors and new != again:
                errors["password2"] = _("The two passwords differ.")
        if not errors:
            store.set_password(new)     # every other session ends; this one goes on
            session["epoch"] = store.epoch()
            flash(_("Password changed. Other phones and computers must log in again."), "ok")
            return redirect(url_for("settings.index"))
        return render_template("password.html", errors=errors), 400
    return render_template("password.html", errors=errors)
