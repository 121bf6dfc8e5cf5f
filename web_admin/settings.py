"""Settings: upstreams (with DNS over TLS), block answer, TTLs, retention, networks, time zone; download and
restore of the config (validated before anything is replaced); the password, tokens and "log out everywhere";
and the setup check, which says from what the DNS filter actually sees whether filtering works."""
from __future__ import annotations

import ipaddress
import re
import time
import zoneinfo
from pathlib import Path

from flask import (Blueprint, Response, current_app, flash, redirect, render_template, request, url_for)
from flask_babel import gettext as _

from . import context, saving
from .saving import edits

bp = Blueprint("settings", __name__, url_prefix="/settings")


def _split(text: str) -> list[str]:
    return [x for x in re.split(r"[\s,]+", text or "") if x]


def _form_from_config():
    cfg = context.config()
    d, q = cfg.dns, cfg.query_log
    return {"upstreams": "\n".join(str(u) + (f"#{u.server_name}" if u.tls and u.server_name else "")
                                   for u in d.upstreams),
            "block_answer": d.block_answer, "max_ttl": str(d.max_ttl), "blocked_ttl": str(d.blocked_ttl),
            "keep_days": str(q.keep_days), "keep_allowed_days": str(getattr(q, "keep_allowed_days", 30)),
            "log_allowed": "on" if getattr(q, "log_allowed", True) else "",
            "allow_networks": "\n".join(str(n) for n in d.allow_networks),
            "trusted_forwarders": "\n".join(str(n) for n in d.trusted_forwarders),
            "timezone": cfg.timezone}


def _render(form, errors, status=200):
    return render_template("settings.html", form=form, errors=errors, zones=_zones(),
                           tokens=context.store().tokens(), title=_("Settings")), status


def _zones():
    from .auth import timezones
    return timezones()


@bp.route("/")
def index():
    return _render(_form_from_config(), {})


def _int(form, key, lo, hi, errors):
    try:
        v = int(form.get(key, ""))
        if lo <= v <= hi:
            return v
    except ValueError:
        pass
    errors[key] = _("A whole number from %(lo)d to %(hi)d.", lo=lo, hi=hi)
    return None


@bp.post("/")
def save():
    f = request.form
    errors: dict[str, str] = {}
    ups = _split(f.get("upstreams", ""))
    if not ups:
        errors["upstreams"] = _("Give at least one upstream DNS server, e.g. 9.9.9.9.")
    nets = _split(f.get("allow_networks", ""))
    forwarders = _split(f.get("trusted_forwarders", ""))
    for key, values in (("allow_networks", nets), ("trusted_forwarders", forwarders)):
        for n in values:
            try:
                ipaddress.ip_network(n, strict=False)
            except ValueError:
                errors[key] = _("%(what)s is not a network such as 192.168.1.0/24.", what=n)
                break
    if not nets and "allow_networks" not in errors:
        errors["allow_networks"] = _("Give at least your home network, or nobody can use Hearth.")
    block_answer = f.get("block_answer")
    if block_answer not in ("null_ip", "nxdomain"):
        errors["block_answer"] = _("Choose how blocked sites are answered.")
    max_ttl = _int(f, "max_ttl", 1, 86400, errors)
    blocked_ttl = _int(f, "blocked_ttl", 0, 3600, errors)
    keep_days = _int(f, "keep_days", 1, 3650, errors)
    keep_allowed = _int(f, "keep_allowed_days", 1, 3650, errors)
    zone = f.get("timezone", "")
    if zone not in zoneinfo.available_timezones():
        errors["timezone"] = _("Choose a time zone from the list.")
    if errors:
        return _render(f, errors, 400)

    def edit(doc):
        edits.set_setting(doc, "dns", "upstreams", ups)
        edits.set_setting(doc, "dns", "allow_networks", nets)
        edits.set_setting(doc, "dns", "trusted_forwarders", forwarders or None)
        edits.set_setting(doc, "dns", "block_answer", block_answer)
        edits.set_setting(doc, "dns", "max_ttl", max_ttl)
        edits.set_setting(doc, "dns", "blocked_ttl", blocked_ttl)
        edits.set_setting(doc, "query_log", "keep_days", keep_days)
        edits.set_setting(doc, "query_log", "keep_allowed_days", keep_allowed)
        edits.set_setting(doc, "query_log", "log_allowed", f.get("log_allowed") == "on")
        edits.set_timezone(doc, zone)
    result = saving.save_and_say(edit, _("Settings saved."))
    if not result.ok:
        return _render(f, _settings_errors(result.errors), 400)
    return redirect(url_for("settings.index"))


def _settings_errors(lines: list[str]) -> dict[str, str]:
    out: dict[str, list[str]] = {}
    for line in lines:
        path, _sep, msg = line.partition(": ")
        key = path.split(".")[-1].split("[")[0] if "." in path else "form"
        if key not in ("upstreams", "allow_networks", "trusted_forwarders", "block_answer", "max_ttl",
                       "blocked_ttl", "keep_days", "keep_allowed_days", "timezone"):
            key, msg = "form", line
        out.setdefault(key, []).append(msg)
    return {k: "; ".join(v) for k, v in out.items()}


# --- the file itself ----------------------------------------------------------------------------------------------

@bp.route("/config.yaml")
def download():
    path = Path(current_app.config["HEARTH_CONFIG"])
    return Response(path.read_bytes(), mimetype="application/yaml",
                    headers={"Content-Disposition": f"attachment; filename=hearth-{time.strftime('%Y%m%d')}.yaml"})


@bp.post("/restore")
def restore():
    """Replace the whole config with an uploaded file, after it passes every check; nothing changes otherwise."""
    upload = request.files.get("file")
    raw = upload.read() if upload else b""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        flash(_("Nothing was changed: that file is not text (UTF-8)."), "error")
        return redirect(url_for("settings.index"))
    if not text.strip():
        flash(_("Nothing was changed: choose a config file first."), "error")
        return redirect(url_for("settings.index"))
    saving.save_and_say(None, _("The config file is restored."), text=text)
    return redirect(url_for("settings.index"))


@bp.post("/tokens/revoke")
def revoke_token():
    name = request.form.get("name", "")
    if context.store().revoke_token(name):
        flash(_("The token %(name)s no longer works.", name=name), "ok")
    return redirect(url_for("settings.index"))


# --- setup check --------------------------------------------------------------------------------------------------

ROUTER_HELP = {
    "Freebox": "Freebox OS → Paramètres de la Freebox → DHCP → Serveurs DNS : mettre l'adresse de Hearth.",
    "Livebox": "Livebox → Paramètres avancés → Réseau → DHCP → Serveur DNS primaire : l'adresse de Hearth.",
    "Fritz!Box": "Home Network → Network → Network Settings → IPv4 Settings → Local DNS server: Hearth's address "
                 "(and IPv6 Settings → DNSv6 server in the home network).",
    "Other routers": "Look for DHCP or LAN settings, and set the DNS server handed to devices to Hearth's address.",
}


def setup_checks() -> list[tuple[str, str, str]]:
    """(state, headline, what to do) rows: appliance.doctor's findings, as `hearth doctor` prints them."""
    from .dashboard import findings
    return [(x.state, x.text, x.fix) for x in findings(probe=True)]


@bp.route("/check")
def check():
    return render_template("check.html", checks=setup_checks(), routers=ROUTER_HELP, title=_("Setup check"))
