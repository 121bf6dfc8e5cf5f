"""Hearth's mitmproxy addon: the managed devices' browsers, decided by the same policy engine as DNS.

    mitmdump -s appliance/proxy/addon.py --set hearth_config=/etc/hearth/hearth.yaml     (``hearth proxy`` does it)

What it does, hook by hook:
- ``tls_clienthello``: a connection from a device whose profile is not ``managed``, to a host on the passthrough
  list, or without a name, is relayed without decryption (ignored): only managed browsers are read.
- ``tls_failed_client``: a managed device that refused the proxy's certificate for one host (an app that pins)
  gets the host passed through from then on, and the parent is told; a device that refuses it everywhere lacks
  the CA, and the parent is told that instead (``rules.Handshakes``).
- ``request``: the engine's decision for the host, refined by the child's page rules (``rules.page_verdict``):
  blocked, the browser gets the block page with *Ask for access*; rewritten for safe search, the engine's
  parameters and the YouTube-Restrict header are set. The form of the block page posts back to the same host
  (``pages.ASK_PATH``): the ask becomes an ``ask`` alert that a parent approves into a timed allow.
- ``request``, ``response``, ``websocket_message``: the words in form posts, JSON, text pages and WebSocket text
  messages go to the risky-text detector (``appliance.textscan``); a hit is a ``text`` alert with its category,
  the site and one sentence, never the page.
- ``responseheaders``: bodies with no words, or larger than ``proxy.scan_bytes``, are streamed, never held.

The decisions go on a stream of the proxy's own, with the same sinks as DNS (the query log with ``source:
proxy``, the alerts) writing the same database; nothing here writes SQL. Blocks and safe-search rewrites are
logged; allowed requests are not (DNS already logged the name, and a page is a hundred requests).
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import secrets
import sqlite3
import time
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from mitmproxy import exceptions, http

from appliance import config as configmod
from appliance.config import DEFAULT_PROFILE, Config, ConfigError, Profile
from appliance.lists.names import to_ascii
from appliance.model import Action, Client, Decision, Reason
from appliance.policy.clients import NeighbourTable
from appliance.policy.engine import Engine
from appliance.state import alerts as alertsmod
from appliance.state import db, migrate
from appliance.state.alerts import Notice
from appliance.state.budgets import BudgetStore
from appliance.state.overrides import OverrideStore
from appliance.state.querylog import Entry, QueryLog
from appliance.stream import Stream
from appliance.textscan.scanner import scanner_for
from appliance.wording import describe

# absolute: mitmdump loads this file as a script, outside its package
from appliance.proxy import pages, rules, texts
from appliance.proxy.onboarding import ca_certificate, onboarding_page
from appliance.proxy.run import confdir_of, learned_path, proxy_dir, secure_confdir, wireguard_device

log = logging.getLogger("hearth.proxy")

OVERRIDE_POLL = 1.0         # seconds: a parent's approval reaches the proxy within this
OVERRIDE_REFRESH = 60.0     # re-read the overrides anyway (expiries)
CONFIG_POLL = 2.0           # seconds between two looks at the config file's modification time
WHO_TTL = 10.0              # seconds a client's identity is remembered (the neighbour table is read once)
REWRITE_LOG_EVERY = 60.0    # one log row per device, host and minute for safe-search rewrites
HIGH_TEXT = frozenset({"grooming", "self-harm"})
_META = "hearth"            # flow.metadata key: (Client, Profile, Decision or None for Hearth's own pages, the
                            # host as decided: what alerts name, whatever a later addon does to the request)
# Hearth's setup files, answered on any host: a device fetching its PAC file asks the proxy's own address
_SETUP_PATHS = frozenset({"/__hearth/proxy.pac", "/__hearth/ca.pem", "/__hearth/ca.cer"})

_W = {
    "en": {"text": "{what}: \u201c{excerpt}\u201d on {host}",
           "ask": "asks for access to {url} ({why})",
           "pinned": "an app refused to be inspected on {host}; it is passed through from now on (filtered by "
                     "name only)",
           "no_ca": "this device does not trust Hearth's certificate yet, so its secure pages fail: install it "
                    "from http://hearth.setup/ on the device, or remove managed: true"},
    "fr": {"text": "{what} : \u00ab {excerpt} \u00bb sur {host}",
           "ask": "demande l'accès à {url} ({why})",
           "pinned": "une appli a refusé d'être inspectée sur {host} ; elle passe désormais sans être lue (filtrée "
                     "par son nom seulement)",
           "no_ca": "cet appareil ne fait pas encore confiance au certificat de Hearth, ses pages sécurisées "
                    "échouent : installez-le depuis http://hearth.setup/ sur l'appareil, ou retirez managed: true"},
}


def _peer_ip(conn) -> str:
    ip = conn.peername[0] if conn.peername else ""
    return ip[7:] if ip.startswith("::ffff:") else ip


class HearthAddon:
    def __init__(self, *, neighbours: NeighbourTable | None = None):
        self.neighbours = neighbours
        self.config: Config | None = None
        self.engine: Engine | None = None
        self.stream = Stream()
        self.querylog: QueryLog | None = None
        self.alerts: alertsmod.AlertSink | None = None
        self.rules = rules.ProxyRules()
        self.handshakes = rules.Handshakes()
        self.scanner = None
        self._who: dict[tuple[str, str | None], tuple[float, Client, Profile]] = {}
        self._logged: dict[tuple, float] = {}
        self._tasks: list[asyncio.Task] = []
        self._mtime: float | None = None
        self._secret = b""
        self.stats = {"inspected": 0, "ignored": 0, "blocked": 0, "rewritten": 0, "scanned": 0, "text_hits": 0,
                      "asks": 0, "learned": 0}

    # --- options and configuration -------------------------------------------------------------------------

    def load(self, loader) -> None:
        loader.add_option("hearth_config", str, "", "Hearth's policy file (hearth.yaml): devices, profiles, proxy")
        loader.add_option("hearth_neighbours", bool, True,
                          "read devices' MAC addresses from the kernel's neighbour table (off in tests)")

    def configure(self, updated) -> None:
        from mitmproxy import ctx
        if "hearth_neighbours" in updated and self.neighbours is None and ctx.options.hearth_neighbours:
            self.neighbours = NeighbourTable()
        if "hearth_config" not in updated:
            return
        path = ctx.options.hearth_config
        if not path:
            raise exceptions.OptionsError("hearth_config: give Hearth's config file (--set hearth_config=FILE)")
        try:
            config = configmod.load(path)
        except ConfigError as e:
            raise exceptions.OptionsError(f"{path}: " + "; ".join(e.errors)) from None
        except OSError as e:
            raise exceptions.OptionsError(f"cannot read {path}: {e.strerror or e}") from None
        try:
            self._start(config, path)
        except (OSError, ValueError, sqlite3.Error) as e:
            raise exceptions.OptionsError(f"the proxy cannot start: {e}") from None

    def _start(self, config: Config, path: str) -> None:
        dbfile = db.db_path(config.data_dir)
        self._mtime = _mtime(path)
        self.path = path
        conn = db.connect(dbfile)       # the schema first, as the DNS daemon does (the proxy may start first)
        try:
            migrate.upgrade(conn)
        finally:
            conn.close()
        try:
            overrides = OverrideStore(dbfile)
        except (sqlite3.Error, OSError) as e:
            log.error("cannot open %s (%s): pauses and timed allows are not seen until it opens", dbfile, e)
            overrides = None
        try:
            budgets = BudgetStore(dbfile)
        except Exception as e:       # noqa: BLE001 — no budget then blocks, as in DNS
            log.error("cannot open the time budgets in %s (%s)", dbfile, e)
            budgets = None
        self.engine = Engine.build(config, overrides=overrides, budgets=budgets)
        self.querylog = QueryLog(db.log_path(config), enabled=config.query_log.enabled)
        self.querylog.configure(config)
        self.alerts = alertsmod.follow(alertsmod.AlertSink(config, dbfile), self.engine)
        self.stream = Stream([self.querylog, self.alerts])
        self.scanner = scanner_for()
        self._secret = _secret(proxy_dir(config))
        self._apply(config)

    def _apply(self, config: Config) -> None:
        """The parts of a config the addon keeps itself: its rules (passthrough, safe-search edits)."""
        p = config.proxy
        learned = rules.read_names(_read(learned_path(config)))
        self.rules = rules.load_rules(Path(config.blocklists_dir) / "proxy", p.passthrough if p else (), learned)
        self.handshakes.learned.update(learned)
        self.config = config
        self._who.clear()

    # --- running -------------------------------------------------------------------------------------------

    def running(self) -> None:
        if self.config is None:
            return
        self._write_wireguard_peers()
        secure_confdir(confdir_of(self.config))     # mitmproxy has made its CA (and WireGuard keys) by now: 0600
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self.querylog.run()), loop.create_task(self.alerts.run()),
                       loop.create_task(self._watch())]

    def _write_wireguard_peers(self) -> None:
        """Each WireGuard device's client configuration beside its server's (``wireguard-<device>.peer``), for the
        admin to show as a QR code; mitmproxy itself only prints it in its log."""
        from mitmproxy import ctx
        try:
            servers = list(ctx.master.addons.get("proxyserver").servers)
        except Exception:       # noqa: BLE001 — not running under a full master (tests), or another mitmproxy
            return
        for inst in servers:
            data = getattr(inst.mode, "data", "") or ""
            if wireguard_device(data) is None or not hasattr(inst, "client_conf"):
                continue
            try:
                text = inst.client_conf()
                if text:
                    peer = Path(data).with_suffix(".peer")
                    fd = os.open(peer, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                    with os.fdopen(fd, "w") as f:
                        f.write(text + "\n")
            except OSError as e:
                log.error("cannot write the WireGuard configuration for %s: %s", wireguard_device(data), e)

    async def done(self) -> None:
        for t in self._tasks:
            t.cancel()
        if self.querylog is not None:
            await self.querylog.flush()
            self.querylog.close()
        if self.alerts is not None:
            await self.alerts.flush(final=True)
            self.alerts.close()
        if self.engine is not None and self.engine.store is not None:
            self.engine.store.close()

    async def _watch(self) -> None:
        """Overrides every second (an approval lands within one), the config file every few."""
        loop = asyncio.get_running_loop()
        last_refresh = last_config = time.monotonic()
        while True:
            await asyncio.sleep(OVERRIDE_POLL)
            try:
                force = time.monotonic() - last_refresh >= OVERRIDE_REFRESH
                if force:
                    last_refresh = time.monotonic()
                await loop.run_in_executor(None, lambda: self.engine.refresh_overrides(force=force))
                if time.monotonic() - last_config >= CONFIG_POLL:
                    last_config = time.monotonic()
                    await self._maybe_reload(loop)
            except asyncio.CancelledError:
                raise
            except Exception:        # a locked database or a bad file must not stop the proxy
                log.exception("refreshing the policy failed; trying again")

    async def _maybe_reload(self, loop) -> None:
        m = _mtime(self.path)
        if m == self._mtime:
            return
        self._mtime = m
        try:
            config = await loop.run_in_executor(None, configmod.load, self.path)
            await loop.run_in_executor(None, self.engine.reload, config)
        except ConfigError as e:
            log.error("reload refused, keeping the running config: %s", "; ".join(e.errors))
            return
        self.querylog.configure(config)
        self._apply(config)
        log.info("reloaded %s", self.path)

    # --- who is asking --------------------------------------------------------------------------------------

    def who(self, conn) -> tuple[Client, Profile] | None:
        """The client of a connection and its profile if it is managed (the proxy reads it), else None.
        A WireGuard device is known by its own server (one configuration per device, run.wireguard_modes), not by
        its tunnel address, which every configuration shares."""
        ip = _peer_ip(conn)
        wg = wireguard_device(getattr(getattr(conn, "proxy_mode", None), "data", "") or "")
        now = time.monotonic()
        hit = self._who.get((ip, wg))
        if hit is None or now - hit[0] > WHO_TTL:
            if wg is not None:
                pname = next((p.name for p in self.config.children() if wg in p.devices), DEFAULT_PROFILE)
                client = Client(ip, None, wg, pname)
            else:
                mac = self.neighbours.mac_for(ip) if self.neighbours is not None else None
                client = self.engine.snapshot.identify(ip, mac)
            profile = self.config.profiles.get(client.profile) or self.config.default_profile
            if len(self._who) > 4096:
                self._who.clear()
            hit = self._who[(ip, wg)] = (now, client, profile)
        _, client, profile = hit
        return (client, profile) if profile.managed else None

    # --- TLS ------------------------------------------------------------------------------------------------

    def tls_clienthello(self, data) -> None:
        if self.config is None:
            return
        sni = data.client_hello.sni
        who = self.who(data.context.client)
        if who is None or not sni or rules.suffix_in(sni, self.rules.passthrough) is not None:
            data.ignore_connection = True       # relayed as it is: never decrypted
            self.stats["ignored"] += 1
        else:
            self.stats["inspected"] += 1

    def tls_established_client(self, data) -> None:
        self.handshakes.succeeded(_peer_ip(data.context.client))

    def tls_failed_client(self, data) -> None:
        if self.config is None:
            return
        ip = _peer_ip(data.context.client)
        host = data.conn.sni
        who = self.who(data.context.client)
        if who is None or not host:
            return
        verdict = self.handshakes.failed(ip, host)
        client, profile = who
        if verdict == "learn":
            self._learn(host)
            self._notice("pinned", client, profile, host, None, None, self._say("pinned", host=host))
        elif verdict == "no-ca":
            self._notice("no_ca", client, profile, client.device or ip, None, None, self._say("no_ca"))

    def _learn(self, host: str) -> None:
        name = to_ascii(host) or host.lower()
        path = learned_path(self.config)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a", encoding="utf-8") as f:
                f.write(f"{name}  # refused the proxy's certificate {time.strftime('%Y-%m-%d %H:%M')}\n")
        except OSError as e:
            log.error("cannot remember %s as passed through (%s); it is passed through until a restart", name, e)
        self.rules = rules.ProxyRules(self.rules.passthrough | {name}, self.rules.params, self.rules.headers)
        self.stats["learned"] += 1
        log.info("%s refused the proxy's certificate: passed through from now on", name)

    # --- HTTP -----------------------------------------------------------------------------------------------

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if self.config is None:
            return
        if flow.request.pretty_host == pages.SETUP_HOST or flow.request.path.split("?", 1)[0] in _SETUP_PATHS:
            flow.metadata[_META] = (None, None, None, flow.request.pretty_host)    # Hearth's setup, any device
            return
        who = self.who(flow.client_conn)
        if who is None:
            flow.request.stream = True          # not ours to read: relayed as it comes
            return
        client, profile = who
        req = flow.request
        host = req.pretty_host
        verdict = None
        if not req.path.startswith(pages.ASK_PATH):
            verdict = self._verdict(profile, host, req.path)
            # The Host header may name one site and the connection (its TLS name, the CONNECT target) another:
            # either one blocks, and an allowed Host never opens a blocked connection.
            for other in {(flow.client_conn.sni or "").lower(), (req.host or "").lower()} - {"", host.lower()}:
                if verdict.action is Action.BLOCK:
                    break
                d = self._verdict(profile, other, req.path)
                if d.action is Action.BLOCK:
                    verdict = d
        flow.metadata[_META] = (client, profile, verdict, host)
        if verdict is not None and verdict.action is Action.BLOCK:
            return      # the body is read (and dropped) before the block page: a streamed one would go out first
        length = _length(req.headers)
        if length > self._scan_bytes() or (length != 0 and not texts.is_text_type(req.headers.get("content-type"))):
            req.stream = True          # an upload: no words to read, never held in memory

    def _verdict(self, profile: Profile, host: str, path: str) -> Decision:
        snap = self.engine.snapshot
        return rules.page_verdict(snap.decide(profile.name, host, 1, snap.now()), host, path, profile.block_urls)

    def request(self, flow: http.HTTPFlow) -> None:
        meta = flow.metadata.get(_META)
        if meta is None:
            return
        client, profile, verdict, host = meta
        req = flow.request
        if verdict is None:
            if profile is None:
                self._setup(flow)
            else:
                self._ask(flow, client, profile)
            return
        if verdict.action is Action.BLOCK:
            self.stats["blocked"] += 1
            self._log(client, host, verdict)
            url = req.pretty_url
            flow.response = http.Response.make(403, pages.block_page(
                verdict, url, self._token(profile.name, host), lang=self._lang(), minutes=self._ask_minutes(),
                titles=self.alerts.titles.mapping(self._lang())), {"Content-Type": "text/html; charset=utf-8",
                                                                   "Cache-Control": "no-store"})
            return
        params, headers = rules.safe_search_edits(verdict, self.rules)
        if params or headers:
            self.stats["rewritten"] += 1
            if req.method == "GET":
                for k, v in params.items():
                    req.query[k] = v
            for k, v in headers.items():
                req.headers[k] = v
            self._log(client, host, verdict, every=REWRITE_LOG_EVERY)
        if self._scanning() and not req.stream and req.raw_content:
            self._scan(client, profile, host, texts.body_texts(req.headers.get("content-type"),
                                                               req.get_content(strict=False) or b""))

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        r = flow.response
        if flow.metadata.get(_META) is None or not self._scanning():
            r.stream = True
            return
        if not texts.is_text_type(r.headers.get("content-type")) or _length(r.headers) > self._scan_bytes():
            r.stream = True         # a video, a 20 MB download: passed on as it comes, never held

    def response(self, flow: http.HTTPFlow) -> None:
        meta = flow.metadata.get(_META)
        r = flow.response
        if meta is None or r.stream or not self._scanning() or meta[2] is None or meta[2].action is Action.BLOCK:
            return      # not managed, streamed, or a page Hearth made itself
        raw = r.get_content(strict=False) or b""
        if len(raw) > self._scan_bytes():
            return
        client, profile, _, host = meta
        self._scan(client, profile, host, texts.body_texts(r.headers.get("content-type"), raw))

    def websocket_message(self, flow: http.HTTPFlow) -> None:
        meta = flow.metadata.get(_META)
        if meta is None or not self._scanning() or flow.websocket is None:
            return
        m = flow.websocket.messages[-1]
        if not m.is_text or len(m.content) > self._scan_bytes():
            return
        client, profile, _, host = meta
        text = m.text
        found = texts.body_texts("text/plain", text.encode("utf-8"))
        self._scan(client, profile, host, found)

    # --- the detector ---------------------------------------------------------------------------------------

    def _scan(self, client: Client, profile: Profile, host: str, messages: list[str]) -> None:
        for text in messages:
            self.stats["scanned"] += 1
            said: set[str] = set()
            for hit in self.scanner.scan(text):
                if hit.category in said:
                    continue            # one message, one alert per category: its first hit says it
                said.add(hit.category)
                self.stats["text_hits"] += 1
                what = hit.description
                self._notice("text", client, profile, host, hit.category, hit.rule,
                             self._say("text", what=what, excerpt=hit.excerpt, host=host),
                             "high" if hit.category in HIGH_TEXT else "normal")

    # --- asks for access -------------------------------------------------------------------------------------

    def _token(self, profile: str, host: str) -> str:
        return hmac.new(self._secret, f"{profile}|{host.lower()}".encode(), hashlib.sha256).hexdigest()[:32]

    def _ask(self, flow: http.HTTPFlow, client: Client, profile: Profile) -> None:
        req = flow.request
        host = req.pretty_host
        form = req.urlencoded_form if req.method == "POST" else {}
        url = form.get("url", "")
        token = form.get("token", "")
        asked = urlsplit(url)
        if (req.method != "POST" or (asked.hostname or "").lower() != host.lower()
                or not hmac.compare_digest(token, self._token(profile.name, host))):
            flow.response = http.Response.make(400, pages.refused_page(lang=self._lang()),
                                               {"Content-Type": "text/html; charset=utf-8"})
            return
        path = asked.path + ("?" + asked.query if asked.query else "")
        verdict = self._verdict(profile, host, path or "/")
        if verdict.action is Action.BLOCK:
            self.stats["asks"] += 1
            why = describe(verdict, lang=self._lang(), titles=self.alerts.titles.mapping(self._lang()))
            self._notice("ask", client, profile, _allow_target(verdict, host), None, url,
                         self._say("ask", url=url, why=why), self._ask_severity(), decision=verdict)
        flow.response = http.Response.make(200, pages.asked_page(host, lang=self._lang()),
                                           {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"})

    def _ask_severity(self) -> str:
        """A child is waiting: an ask goes out at once ("high" skips the digest), except in the quiet hours."""
        local = datetime.now(self.config.tz).time()
        return "normal" if alertsmod.in_window(local, self.config.alerts.quiet) else "high"

    # --- the onboarding host ---------------------------------------------------------------------------------

    def _setup(self, flow: http.HTTPFlow) -> None:
        path = flow.request.path.split("?", 1)[0]
        base = "/__hearth"
        if path in (f"{base}/ca.pem", f"{base}/ca.cer"):
            cert = ca_certificate(confdir_of(self.config))
            if cert is not None:
                kind = "application/x-x509-ca-cert"
                flow.response = http.Response.make(200, cert, {
                    "Content-Type": kind, "Content-Disposition": f'attachment; filename="hearth-ca{path[-4:]}"'})
                return
        # the proxy's address as this device reaches it (listen may be 0.0.0.0)
        here = flow.client_conn.sockname or (self.config.proxy.listen.host, self.config.proxy.listen.port)
        proxy = f"[{here[0]}]:{here[1]}" if ":" in here[0] else f"{here[0]}:{here[1]}"
        if path == f"{base}/proxy.pac":
            flow.response = http.Response.make(200, pages.pac_file(proxy).encode(),
                                               {"Content-Type": "application/x-ns-proxy-autoconfig"})
            return
        flow.response = http.Response.make(200, onboarding_page(self.config, lang=self._lang(), base=base,
                                                                pac_url=f"http://{proxy}{base}/proxy.pac"),
                                           {"Content-Type": "text/html; charset=utf-8"})

    # --- the stream ------------------------------------------------------------------------------------------

    def _log(self, client: Client, host: str, d: Decision, every: float = 0.0) -> None:
        now = time.time()
        if every:
            key = (client.address, host, d.reason)
            if now - self._logged.get(key, 0.0) < every:
                return
            if len(self._logged) > 10_000:
                self._logged.clear()
            self._logged[key] = now
        self.stream.put(Entry(now, client, host, 0, d, 0, False, None, None, 1, "proxy"))

    def _notice(self, kind: str, client: Client, profile: Profile, domain: str, lst, rule, words: str,
                severity: str = "normal", decision: Decision | None = None) -> None:
        self.alerts.notice(Notice(kind, time.time(), client, profile.name, domain, lst, rule, words, severity,
                                  decision))

    # --- settings --------------------------------------------------------------------------------------------

    def _lang(self) -> str:
        return self.config.alerts.language

    def _say(self, key: str, **kw) -> str:
        return _W.get(self._lang(), _W["en"])[key].format(**kw)

    def _scanning(self) -> bool:
        return self.config.proxy is None or self.config.proxy.scan

    def _scan_bytes(self) -> int:
        return self.config.proxy.scan_bytes if self.config.proxy else 256 * 1024

    def _ask_minutes(self) -> int:
        return self.config.proxy.ask_minutes if self.config.proxy else 30


def _allow_target(d: Decision, host: str) -> str:
    """What an approved ask allows: the domain rule that blocked the page (omegle.com for www.omegle.com), the
    host of a page rule (a timed allow of reddit.com opens its blocked pages too), else the host itself."""
    if d.reason is Reason.DENY_LIST and d.rule and "/" in d.rule:
        return d.rule.split("/", 1)[0]
    if d.rule and "." in d.rule and "/" not in d.rule:
        return d.rule
    return host.lower()


def _length(headers) -> int:
    """The declared body length; -1 when not declared (chunked)."""
    try:
        return int(headers.get("content-length", "-1"))
    except ValueError:
        return -1


def _mtime(path: str) -> float | None:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return None


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return ""


def _secret(directory: Path) -> bytes:
    """The key of the ask tokens, kept across restarts (a block page shown before a restart still works)."""
    path = directory / "ask.key"
    try:
        return bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError):
        pass
    key = secrets.token_bytes(32)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(key.hex())
    except OSError as e:
        log.warning("cannot keep the ask key in %s (%s): block pages shown before a restart cannot ask", path, e)
    return key


addons = [HearthAddon()]
