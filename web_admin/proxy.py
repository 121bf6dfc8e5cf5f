"""The web filter's setup screen (issue 13), for a parent: how a managed child's device reaches Hearth's proxy (the
PAC file's address, the gateway, or a WireGuard QR code per device), Hearth's certificate to download, the steps
per system and the honest list of what inspection cannot do, from ``appliance.proxy.onboarding`` (the same words
the proxy shows at http://hearth.setup/).

Only a logged-in parent reaches it (``auth.guard``: a child's device gets "ask a parent"). A WireGuard
configuration holds the device's private key: it is sent only here, never cached (``Cache-Control: no-store``).
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from flask import Blueprint, Response, abort, render_template, request, url_for
from flask_babel import gettext as _
from markupsafe import Markup

from appliance.proxy.onboarding import ca_certificate, onboarding_html
from appliance.proxy.run import confdir_of, proxy_dir, wireguard_device, wireguard_modes

from . import context

bp = Blueprint("proxy", __name__, url_prefix="/proxy")

PEER_SUFFIX = ".peer"       # the addon writes each device's client configuration as wireguard-<device>.peer
NO_STORE = {"Cache-Control": "no-store, max-age=0", "Pragma": "no-cache"}


@dataclass(frozen=True)
class Tunnel:
    """One managed device's WireGuard server: its port, and its client configuration once the proxy made it."""
    device: str
    port: int
    peer: Path

    @property
    def ready(self) -> bool:
        return self.peer.is_file()


def tunnels(config) -> list[Tunnel]:
    """The managed devices' WireGuard servers, read from the proxy's own mode list (one place decides the ports)."""
    if config.proxy is None or config.proxy.mode != "wireguard":
        return []
    out = []
    for mode in wireguard_modes(config):
        spec = mode.partition(":")[2]           # "wireguard:<server conf>@<host>:<port>"
        path, _at, where = spec.rpartition("@")
        device = wireguard_device(path)
        if device is not None:
            out.append(Tunnel(device, int(where.rpartition(":")[2]), proxy_dir(config) / f"wireguard-{device}"
                              f"{PEER_SUFFIX}"))
    return out


def _tunnel_or_404(device: str) -> Tunnel:
    """Only a managed device's own file: the name comes from the config, never from the address bar."""
    t = next((t for t in tunnels(context.config()) if t.device == device), None)
    if t is None:
        abort(404)
    return t


def reachable(listen, admin_host: str) -> tuple[str | None, str]:
    """The proxy's address as a device on the home network reaches it, and what the parent should know:
    (address, "ok"); (address, "loopback") when the proxy listens on the Pi itself only, so no device can reach
    it; (None, "anywhere") when it listens on every address (0.0.0.0, ::) and the admin was opened at a loopback
    address too, so its address on the home network is not known here. A listen on every address is otherwise
    reached at the address the parent's browser used for the admin: both run on the Pi."""
    host = listen.host
    wildcard = host in ("", "0.0.0.0", "::")
    if wildcard:
        host = admin_host
    if not host or _loopback(host):
        return (None, "anywhere") if wildcard else (f"{_bracket(host)}:{listen.port}", "loopback")
    return f"{_bracket(host)}:{listen.port}", "ok"


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost" or host.endswith(".localhost")


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _admin_host() -> str:
    """The admin's host name or address as the parent's browser wrote it, without its port."""
    host = request.host or ""
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


@bp.route("/")
def index():
    from .i18n import lang
    cfg = context.config()
    p = cfg.proxy
    if p is None:
        return render_template("proxy.html", proxy=None, title=_("Web filter"))
    address, reach = reachable(p.listen, _admin_host())
    pac_url = f"http://{address}/__hearth/proxy.pac" if address else None
    guide = Markup(onboarding_html(cfg, lang=lang(), base=url_for("proxy.index").rstrip("/"), pac_url=pac_url))
    managed = [d for prof in cfg.children() if prof.managed for d in prof.devices]
    return render_template("proxy.html", proxy=p, address=address, reach=reach, pac_url=pac_url, guide=guide,
                           has_ca=ca_certificate(confdir_of(cfg)) is not None, tunnels=tunnels(cfg),
                           managed=managed, title=_("Web filter"))


@bp.route("/ca.pem")
@bp.route("/ca.cer")
def ca():
    """Hearth's public certificate (the proxy made it on its first start; its private key never leaves the proxy's
    folder). The same PEM bytes under both names, as the proxy serves them: iOS and macOS open .pem, Android and
    Windows .cer."""
    cert = ca_certificate(confdir_of(context.config()))
    if cert is None:
        return render_template("error.html", title=_("No certificate yet"),
                               message=_("Hearth's certificate is made when the web filter first starts. Start "
                                         "it (hearth proxy), then come back to this page.")), 404
    ext = request.path.rsplit(".", 1)[1]
    return Response(cert, mimetype="application/x-x509-ca-cert",
                    headers={"Content-Disposition": f'attachment; filename="hearth-ca.{ext}"'})


def _peer_text(t: Tunnel) -> str:
    try:
        return t.peer.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        abort(404)


@bp.route("/wireguard/<device>.conf")
def wireguard_conf(device):
    """The device's WireGuard configuration as a file for the WireGuard app (it holds the private key)."""
    text = _peer_text(_tunnel_or_404(device))
    return Response(text, mimetype="text/plain",
                    headers={**NO_STORE, "Content-Disposition": 'attachment; filename="hearth.conf"'})


@bp.route("/wireguard/<device>.svg")
def wireguard_qr(device):
    """The same configuration as a QR code for the WireGuard app's "scan from QR code", drawn on the Pi."""
    import io

    import segno
    text = _peer_text(_tunnel_or_404(device))
    out = io.BytesIO()
    segno.make(text.strip(), error="m").save(out, kind="svg", scale=4, border=4, dark="#000", light="#fff",
                                             xmldecl=False, title=None)
    return Response(out.getvalue(), mimetype="image/svg+xml", headers=NO_STORE)


@bp.app_context_processor
def _nav():
    """The screens' tabs show the web filter only when the config has a proxy section."""
    try:
        return {"proxy_on": context.config().proxy is not None}
    except Exception:       # a page about a broken config must still render
        return {"proxy_on": False}
