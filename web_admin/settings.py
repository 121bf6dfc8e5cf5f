"""Settings: upstreams (with DNS over TLS), block answer, TTLs, retention, networks, time zone; download and
restore of the config (validated before anything is replaced); a whole backup (`hearth backup`) to download, and
one to check and keep ready for `hearth restore`; the password, tokens and "log out everywhere"; and the setup check, which says from what the DNS filter actually sees whether filtering works."""
from __future__ import annotations

import ipaddress
import os
import re
import tempfile
import time
import zoneinfo
from pathlib import Path

from flask import (Blueprint, Response, current_app, flash, redirect, render_template, request, send_file, url_for)
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
                           tokens=context.store().tokens(), waiting=_waiting(), upload_mb=_upload_mb(), title=_("Settings")), status


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


# --- a whole backup -----------------------------------------------------------------------------------------------
# The same appliance.backup as `hearth backup` and `hearth restore --check`. The admin never restores itself: restore
# refuses while the DNS daemon runs, and the admin holds admin.db. A checked file is kept in the data directory
# and the parent is given the one command that stops Hearth, restores (saving what is there now as
# pre-restore-*.tar.gz), removes the kept file and starts Hearth again.

CHECKED = "restore-checked.tar.gz"     # uploaded and checked, waiting for the parent to confirm
WAITING = "restore-waiting.tar.gz"     # confirmed: `hearth restore` puts it back


def _data() -> Path:
    return Path(context.config().data_dir)


def _config_path() -> Path:
    return Path(current_app.config["HEARTH_CONFIG"]).absolute()


def restore_command(path: Path) -> str:
    """What the parent types on the Pi (the same stop and start backup.py itself asks for)."""
    from appliance import config as configmod
    cfg = "" if str(_config_path()) == configmod.DEFAULT_CONFIG_PATH else f" --config {_config_path()}"
    return (f"sudo systemctl stop hearth-dns hearth-admin && sudo hearth restore{cfg} {path} && sudo rm {path}; "
            "sudo systemctl start hearth-dns hearth-admin")


def _waiting() -> dict | None:
    path = _data() / WAITING
    if not path.is_file():
        return None
    return {"command": restore_command(path), "when": time.strftime("%Y-%m-%d %H:%M",
                                                                    time.localtime(path.stat().st_mtime))}


@bp.post("/backup")
def backup_download():
    """Streams the file `hearth backup` writes: made in the data directory (never /tmp, a RAM disk on a Pi), opened,
    then unlinked, so nothing with the password's hash stays behind and nothing is held whole in memory."""
    from appliance import backup
    with_log = request.form.get("with_log") == "on"
    data = _data()
    try:
        with tempfile.TemporaryDirectory(prefix=".hearth-download-", dir=data) as scratch:
            out = Path(scratch) / "backup.tar.gz"
            backup.create(context.config(), _config_path(), out, with_log=with_log)
            f = open(out, "rb")
    except (backup.BackupError, OSError) as e:
        flash(_("The backup could not be made: %(why)s", why=str(e)), "error")
        return redirect(url_for("settings.index"))
    name = f"hearth-backup-{time.strftime('%Y%m%d')}{'' if with_log else '-no-log'}.tar.gz"
    resp = send_file(f, mimetype="application/gzip", as_attachment=True, download_name=name, max_age=0)
    resp.headers["Cache-Control"] = "no-store"        # it holds the admin's secret and password hash
    return resp


@bp.post("/backup/check")
def backup_check():
    """Checks an uploaded backup with `hearth restore --check`'s code and shows what it holds; nothing is replaced.
    A file that fails is deleted and the parent is told why."""
    from appliance import backup
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash(_("Nothing was changed: choose a backup file first."), "error")
        return redirect(url_for("settings.index"))
    data = _data()
    data.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".restore-upload-", suffix=".tar.gz", dir=data)
    try:
        with os.fdopen(fd, "wb") as f:
            upload.save(f)
        os.chmod(tmp, 0o600)
        checked = backup.check(tmp, _config_path())
    except backup.BackupError as e:
        Path(tmp).unlink(missing_ok=True)
        flash(_("Nothing was changed: this file cannot be restored. %(why)s",
                why=str(e).replace(tmp, upload.filename)), "error")
        return redirect(url_for("settings.index"))
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    os.replace(tmp, data / CHECKED)
    return render_template("backup_check.html", checked=checked, rows=_compare(checked),
                           filename=upload.filename, title=_("Check a backup"))


def _compare(checked) -> list[tuple[str, str, str]]:
    """(what, in the backup, on Hearth now) rows, in words a parent knows."""
    now = context.config()
    data = _data()

    def kids(cfg) -> str:
        return ", ".join(p.name for p in cfg.children() if p.child) or _("none")

    def present(in_backup: bool, here: bool) -> tuple[str, str]:
        return (_("yes") if in_backup else _("no"), _("yes") if here else _("no"))

    rows = [(_("Made on"), checked.created.replace("T", " ")[:16] or _("unknown"), ""),
            (_("Children"), kids(checked.config), kids(now)),
            (_("Devices"), str(len(checked.config.devices)), str(len(now.devices))),
            (_("Time zone"), checked.config.timezone, now.timezone),
            (_("Query log"), _("included") if checked.with_log else _("not included"), "")]
    for label, name in ((_("Password and tokens"), "admin.db"), (_("Pauses, allowances and devices seen"),
                                                                  "hearth.db")):
        rows.append((label, *present(name in checked.files, (data / name).exists())))
    ca = any(n.startswith("proxy-ca/") for n in checked.files)
    rows.append((_("Certificates"), *present(ca or "admin-cert.pem" in checked.files,
                                             (data / "admin-cert.pem").exists() or (data / "proxy-ca").is_dir())))
    return rows


@bp.post("/backup/keep")
def backup_keep():
    """The parent confirmed: the checked file is kept for `hearth restore` (checked again: it sat on the card)."""
    from appliance import backup
    data = _data()
    path = data / CHECKED
    if not path.is_file():
        flash(_("Nothing was changed: upload the backup again."), "error")
        return redirect(url_for("settings.index"))
    try:
        backup.check(path, _config_path())
    except backup.BackupError as e:
        path.unlink(missing_ok=True)
        flash(_("Nothing was changed: this file cannot be restored. %(why)s",
                why=str(e).replace(str(path), _("the uploaded backup"))), "error")
        return redirect(url_for("settings.index"))
    os.replace(path, data / WAITING)
    flash(_("The backup is ready on the Pi. Nothing has been replaced yet: run the command below on the Pi."), "ok")
    return redirect(url_for("settings.index") + "#backup")


@bp.post("/backup/discard")
def backup_discard():
    data = _data()
    for name in (CHECKED, WAITING):
        (data / name).unlink(missing_ok=True)
    flash(_("The uploaded backup is deleted. Nothing was changed."), "ok")
    return redirect(url_for("settings.index") + "#backup")


def _upload_mb() -> int:
    return max(1, (current_app.config.get("MAX_CONTENT_LENGTH") or 0) // (1024 * 1024))


@bp.errorhandler(413)
def too_large(e):
    flash(_("Nothing was changed: that file is larger than the admin accepts (%(mb)d MB). Make the backup without "
            "the query log, or copy it to the Pi and run: sudo hearth restore FILE", mb=_upload_mb()), "error")
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
