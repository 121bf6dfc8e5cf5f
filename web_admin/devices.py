"""Devices: every device the DNS filter has seen (from the log reader), its vendor from the MAC prefix (netaddr's
packaged IEEE database, nothing fetched), first and last seen; assign to a child, rename, forget. A device nobody
has assigned and no parent has looked at yet is flagged as new."""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from appliance.config import DEFAULT_PROFILE

from . import context, saving
from .saving import edits

bp = Blueprint("devices", __name__, url_prefix="/devices")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,47}$")


@lru_cache(maxsize=4096)
def vendor(mac: str | None) -> str:
    if not mac:
        return ""
    try:
        first = int(mac.split(":")[0], 16)
    except ValueError:
        return ""
    if first & 0x02:      # locally administered: a phone's private (random) address, no maker in it
        return _("private address")
    try:
        import netaddr
        return netaddr.EUI(mac).oui.registration().org
    except Exception:      # not in the database (netaddr raises NotRegisteredError) or not a MAC
        return ""


@dataclass(frozen=True, slots=True)
class Row:
    key: str
    name: str | None          # the configured device name
    hostname: str | None      # what the network calls it (DHCP lease or the router's reverse DNS)
    mac: str | None
    ip: str | None
    vendor: str
    profile: str | None       # the child it belongs to (None: default rules)
    first_seen: float | None
    last_seen: float | None
    new: bool


def rows() -> list[Row]:
    cfg = context.config()
    owner = {d: p.name for p in cfg.children() for d in p.devices}
    looked = context.store().looked_at()
    seen = list(context.reports().devices())
    out: list[Row] = []
    named: set[str] = set()
    by_mac = {d.mac: d for d in cfg.devices if d.mac}
    by_ip = {d.ip: d for d in cfg.devices if d.ip}
    for s in seen:
        dev = next((d for d in cfg.devices if d.name == s.device), None) if s.device else None
        dev = dev or (by_mac.get(s.mac) if s.mac else None) or by_ip.get(s.ip)
        if dev is not None:
            if dev.name in named:
                continue
            named.add(dev.name)
        out.append(Row(s.key, dev.name if dev else None, None, s.mac, s.ip, vendor(s.mac),
                       owner.get(dev.name) if dev else None, s.first_seen.timestamp(), s.last_seen.timestamp(),
                       new=dev is None and s.key not in looked))
    for d in cfg.devices:          # configured, never seen yet
        if d.name not in named:
            out.append(Row(d.mac or d.ip or d.name, d.name, None, d.mac, d.ip or (str(d.cidr) if d.cidr else None),
                           vendor(d.mac), owner.get(d.name), None, None, new=False))
    out.sort(key=lambda r: (not r.new, -(r.last_seen or 0)))
    from dataclasses import replace

    from .hostnames import names_for
    known = names_for([r.ip for r in out if r.ip and "/" not in r.ip])
    return [replace(r, hostname=known.get(r.ip)) if r.ip in known else r for r in out]


@bp.route("/")
def index():
    return render_template("devices.html", rows=rows(), children=context.config().children(),
                           title=_("Devices"))


def _device_name(raw: str) -> tuple[str | None, str | None]:
    name = (raw or "").strip().lower().replace(" ", "-")
    if not _NAME.match(name):
        return None, _("Name the device with letters a-z, digits, '-' or '_', e.g. emma-phone.")
    return name, None


@bp.post("/assign")
def assign():
    """Name a seen device (it joins the config) and/or give it to a child."""
    f = request.form
    cfg = context.config()
    child = f.get("profile") or None
    if child == DEFAULT_PROFILE:
        child = None
    if child is not None and child not in cfg.profiles:
        flash(_("There is no child named %(name)s.", name=child), "error")
        return redirect(url_for("devices.index"))
    existing = f.get("device") or None
    if existing:
        result = saving.save_and_say(lambda doc: edits.assign_device(doc, existing, child),
                                     _("%(device)s now gets the rules of %(child)s.", device=existing,
                                       child=child or _("nobody (default rules)")))
        return redirect(url_for("devices.index"))
    name, error = _device_name(f.get("name", ""))
    mac, ip = (f.get("mac") or None), (f.get("ip") or None)
    if name and any(d.name == name for d in cfg.devices):
        error = _("There is already a device named %(name)s.", name=name)
    if error:
        flash(error, "error")
        return redirect(url_for("devices.index"))

    def edit(doc):
        edits.add_device(doc, name, mac=mac, ip=None if mac else ip)
        if child:
            edits.assign_device(doc, name, child)
    result = saving.save_and_say(edit, _("%(device)s is saved.", device=name))
    if result.ok:
        context.store().mark_looked_at(mac or ip or name)
    return redirect(url_for("devices.index"))


@bp.post("/looked-at")
def looked_at():
    context.store().mark_looked_at(request.form.get("key", ""))
    return redirect(url_for("devices.index"))


@bp.post("/rename")
def rename():
    old = request.form.get("device", "")
    new, error = _device_name(request.form.get("new_name", ""))
    if error:
        flash(error, "error")
    else:
        saving.save_and_say(lambda doc: edits.rename_device(doc, old, new),
                            _("%(old)s is now called %(new)s.", old=old, new=new))
    return redirect(url_for("devices.index"))


@bp.post("/forget")
def forget():
    name = request.form.get("device", "")
    saving.save_and_say(lambda doc: edits.forget_device(doc, name),
                        _("%(device)s is forgotten; if it comes back it gets the default rules.", device=name))
    return redirect(url_for("devices.index"))
