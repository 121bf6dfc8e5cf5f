"""`hearth doctor` and the admin's health panel: what goes wrong in homes, each finding with what to do about it.

One place for every setup check, so the shell and the admin say the same thing. Two steps:

- ``gather(cfg)`` looks at the machine (the daemon's stats over its control socket, who holds port 53, the clock,
  the disk, the devices the filter has seen, the lists' status, the neighbour table) and returns ``Facts``;
- ``diagnose(cfg, facts)`` is pure: facts in, findings out, in English or French. Tests write Facts by hand.

A finding is ``ok``, ``warn`` (filtering works, but not as well as it should) or ``bad`` (children are not
protected, or the rules run at the wrong time). ``hearth doctor`` exits non-zero when any finding is bad.
"""
from __future__ import annotations

import os
import shutil
import socket
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Mapping

from appliance import control, ports
from appliance.config import Config

__all__ = ["Finding", "Facts", "Seen", "gather", "diagnose", "run", "STATES"]

STATES = ("ok", "warn", "bad")

# A clock earlier than this is wrong for sure: a Pi without a real-time clock boots in 1970 (or at the time
# fake-hwclock saved) until NTP answers. The date this check was written; a later one is caught by the database.
CLOCK_FLOOR = datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp()
RECENT = 3600               # "asked in the last hour"
SILENT = 6 * 3600           # a child's device on the network but silent this long may use its own DNS
LIST_STALE = 3 * 86400
LOG_BIG = 2 * 1024 ** 3     # a query log past 2 GB slows the admin's pages on a Pi and wears the card
WRITES_HIGH = 20000         # log rows per hour: a busy family of five is well under it
CARD_HIGH = 500 * 10**6     # bytes written to the data's disk per hour: 12 GB a day wears a cheap card in months


@dataclass(frozen=True, slots=True)
class Finding:
    check: str              # a stable name: port, service, admin, upstreams, log, reload, disk, wear, clock,
    #                         lists, clients, ipv6, device (the admin's panel and --json readers key on it)
    state: str              # ok | warn | bad
    text: str               # what is the matter, in the parent's words
    fix: str = ""           # what to do; empty when nothing is

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Seen:
    """A device the filter has seen (from the query log's devices table)."""
    ip: str
    last_seen: float        # unix time
    device: str | None = None
    mac: str | None = None


@dataclass(frozen=True, slots=True)
class Facts:
    """What the doctor saw. ``None`` means "could not tell": that check says nothing rather than guess."""
    now: float
    stats: Mapping | None = None                   # the daemon's stats; None: not reachable
    holders: Mapping[int, ports.Holder | None] = field(default_factory=dict)   # the DNS ports, when it is down
    probes: Mapping[str, bool] | None = None       # upstream -> answered, asked directly when the daemon is down
    clock_synced: bool | None = None
    newest_write: float | None = None              # the latest time Hearth wrote its database (a clock floor)
    disk: tuple[int, int] | None = None            # (free, total) bytes where the data lives
    db_bytes: int = 0
    disk_writes: float | None = None               # bytes written per hour to the data's disk since boot
    lists: Mapping[str, tuple[str | None, str | None]] = field(default_factory=dict)  # name -> (ok at, error)
    seen: tuple[Seen, ...] = ()
    gateway: str | None = None
    global_ipv6: bool = False
    online: frozenset[str] = frozenset()           # addresses the neighbour table has now
    units: Mapping[str, str] = field(default_factory=dict)    # systemd unit -> its state (empty: no systemd)
    admin_up: bool | None = None                   # the admin's port answers; None: no admin configured


# --- the words ------------------------------------------------------------------------------------------------
# One table per language, keyed by the message's name; {} fields filled by str.format.

_EN = {
    "port.taken": "Port {port} is held by {name} (process {pid}): Hearth cannot answer DNS.",
    "service.down": "The DNS filter is not running: nothing is filtered.",
    "service.down.fix": "Start it: sudo systemctl start hearth-dns (see why it stopped: journalctl -u hearth-dns).",
    "service.down.fix.local": "Start it with “hearth dns”.",
    "service.up": "The DNS filter is running.",
    "unit.failed": "The service {unit} has failed.",
    "unit.failed.fix": "See why: journalctl -u {unit} -n 50; then: sudo systemctl restart {unit}",
    "admin.down": "The web admin does not answer on {listen}.",
    "admin.down.fix": "Start it: sudo systemctl start hearth-admin (see why: journalctl -u hearth-admin).",
    "upstreams.none": "No upstream DNS server answers: the internet looks down.",
    "upstreams.none.fix": "Check the Pi's network cable or Wi-Fi and the router's internet; if it works, check "
                          "dns.upstreams in the config (a firewall may block port 53 or 853 to the internet).",
    "upstreams.some": "Some upstream DNS servers do not answer: {names}",
    "upstreams.some.fix": "Hearth uses the others. If it lasts, replace these in dns.upstreams.",
    "upstreams.ok": "Upstream DNS servers answer.",
    "log.dropped": "{n} log entries were dropped (the disk is slow or full).",
    "log.dropped.fix": "Free some disk space, or keep fewer days of log (query_log.keep_days).",
    "log.ok": "The log keeps up ({n} entries written).",
    "reload.refused": "The last change was refused: {why}",
    "reload.refused.fix": "Fix the config (hearth check-config says where); until then the filter keeps the rules "
                          "it had.",
    "disk": "Disk: {free} GB free of {total} GB.",
    "disk.fix": "Free some space: delete old files, or keep fewer days of log (query_log.keep_days).",
    "wear.big": "The query log takes {size} GB on the card.",
    "wear.big.fix": "Keep fewer days of log (query_log.keep_days), or only blocked requests "
                    "(query_log.log_allowed: false).",
    "wear.busy": "The log writes about {n} rows an hour: an SD card wears out faster.",
    "wear.busy.fix": "Log only blocked requests (query_log.log_allowed: false), or use a USB SSD for /var/lib/hearth.",
    "wear.ok": "The query log takes {size} MB.",
    "wear.memory": "The query log is kept in memory only (query_log.storage: memory): the SD card is spared, and "
                   "the log starts empty after every restart or power cut.",
    "wear.card": "The disk Hearth's data is on takes about {size} MB of writes an hour: an SD card wears out "
                 "with writes.",
    "wear.card.fix": "See what writes (sudo iotop -ao); keep fewer days of log or only blocked requests "
                     "(query_log.log_allowed: false), or move /var/lib/hearth to a USB SSD.",
    "wear.card.ok": "The disk takes about {size} MB of writes an hour.",
    "clock.wrong": "The clock says {when}, which cannot be right: schedules and pauses run at the wrong time.",
    "clock.wrong.fix": "Connect the Pi to the internet so it sets its clock (check: timedatectl); if it stays "
                       "wrong, run: sudo timedatectl set-ntp true. A Pi has no battery clock: it needs the network "
                       "at each start.",
    "clock.unsynced": "The clock is not synchronised: schedules may start at the wrong time.",
    "clock.unsynced.fix": "Check the time with timedatectl; turn on network time with: sudo timedatectl set-ntp "
                          "true",
    "clock.ok": "The clock is synchronised.",
    "lists.failed": "These lists failed to update and keep their last good copy: {names}",
    "lists.failed.fix": "See why with: hearth lists status; check the Pi's internet and each list's address.",
    "lists.stale": "These lists have not been downloaded for days (or ever): {names}",
    "lists.stale.fix": "Update them now: hearth lists update (the DNS filter also does it every night).",
    "lists.ok": "Your lists are up to date.",
    "lists.uncompiled": "Your newest lists are not in force: {why}",
    "lists.uncompiled.fix": "Remove the biggest list from lists.sources (or use a smaller version of it), then: "
                            "sudo systemctl reload hearth-dns.",
    "clients.none": "No request reached Hearth in the last hour.",
    "clients.none.fix": "Set Hearth's address as the DNS server in your router's DHCP settings, then restart a "
                        "phone's Wi-Fi.",
    "clients.router": "Requests come from one address only ({ip}): probably the router, which hides who is asking. "
                      "Per-child rules cannot work like this.",
    "clients.router.fix": "Make the router hand Hearth's address to devices as their DNS server, or if the router "
                          "forwards with the device's address in EDNS, list it in dns.trusted_forwarders.",
    "clients.ok": "{n} devices asked Hearth in the last hour.",
    "ipv6": "This network has IPv6 but no device asks Hearth over IPv6: they may use the router's IPv6 DNS and go "
            "around Hearth.",
    "ipv6.fix": "In the router's IPv6 settings, set the DNS server to Hearth's IPv6 address or turn off the "
                "router's own IPv6 DNS.",
    "device": "{device} ({child}) is on the network but has not asked Hearth for hours: it may use its own DNS.",
    "device.fix": "Check its Wi-Fi settings for a manual DNS, or block port 53 and 853 to the internet on the "
                  "router for that device.",
}
_FR = {
    "port.taken": "Le port {port} est occupé par {name} (processus {pid}) : Hearth ne peut pas répondre au DNS.",
    "service.down": "Le filtre DNS ne tourne pas : rien n'est filtré.",
    "service.down.fix": "Lancez-le : sudo systemctl start hearth-dns (pourquoi il s'est arrêté : journalctl -u "
                        "hearth-dns).",
    "service.down.fix.local": "Lancez-le avec « hearth dns ».",
    "service.up": "Le filtre DNS tourne.",
    "unit.failed": "Le service {unit} est en échec.",
    "unit.failed.fix": "Pourquoi : journalctl -u {unit} -n 50 ; puis : sudo systemctl restart {unit}",
    "admin.down": "L'administration web ne répond pas sur {listen}.",
    "admin.down.fix": "Lancez-la : sudo systemctl start hearth-admin (pourquoi : journalctl -u hearth-admin).",
    "upstreams.none": "Aucun serveur DNS amont ne répond : internet semble coupé.",
    "upstreams.none.fix": "Vérifiez le câble réseau ou le Wi-Fi du Pi et l'internet de la box ; si tout marche, "
                          "vérifiez dns.upstreams dans la configuration (un pare-feu bloque peut-être les ports 53 "
                          "ou 853 vers internet).",
    "upstreams.some": "Certains serveurs DNS amont ne répondent pas : {names}",
    "upstreams.some.fix": "Hearth utilise les autres. Si cela dure, remplacez-les dans dns.upstreams.",
    "upstreams.ok": "Les serveurs DNS amont répondent.",
    "log.dropped": "{n} entrées du journal ont été perdues (disque lent ou plein).",
    "log.dropped.fix": "Libérez de la place sur le disque, ou gardez moins de jours de journal "
                       "(query_log.keep_days).",
    "log.ok": "Le journal suit ({n} entrées écrites).",
    "reload.refused": "La dernière modification a été refusée : {why}",
    "reload.refused.fix": "Corrigez la configuration (hearth check-config dit où) ; en attendant, le filtre garde "
                          "les règles qu'il avait.",
    "disk": "Disque : {free} Go libres sur {total} Go.",
    "disk.fix": "Libérez de la place : supprimez de vieux fichiers, ou gardez moins de jours de journal "
                "(query_log.keep_days).",
    "wear.big": "Le journal des requêtes occupe {size} Go sur la carte.",
    "wear.big.fix": "Gardez moins de jours de journal (query_log.keep_days), ou seulement les requêtes bloquées "
                    "(query_log.log_allowed: false).",
    "wear.busy": "Le journal écrit environ {n} lignes par heure : une carte SD s'use plus vite.",
    "wear.busy.fix": "N'enregistrez que les requêtes bloquées (query_log.log_allowed: false), ou mettez "
                     "/var/lib/hearth sur un SSD USB.",
    "wear.ok": "Le journal des requêtes occupe {size} Mo.",
    "wear.memory": "Le journal des requêtes est gardé en mémoire seulement (query_log.storage: memory) : la carte "
                   "SD est épargnée, et le journal repart vide à chaque redémarrage ou coupure de courant.",
    "wear.card": "Le disque des données de Hearth reçoit environ {size} Mo d'écritures par heure : une carte SD "
                 "s'use à force d'écritures.",
    "wear.card.fix": "Voyez ce qui écrit (sudo iotop -ao) ; gardez moins de jours de journal ou seulement les "
                     "requêtes bloquées (query_log.log_allowed: false), ou mettez /var/lib/hearth sur un SSD USB.",
    "wear.card.ok": "Le disque reçoit environ {size} Mo d'écritures par heure.",
    "clock.wrong": "L'horloge indique {when}, ce qui ne peut pas être juste : les horaires et les pauses "
                   "s'appliquent au mauvais moment.",
    "clock.wrong.fix": "Connectez le Pi à internet pour qu'il règle son horloge (vérifiez : timedatectl) ; si elle "
                       "reste fausse : sudo timedatectl set-ntp true. Un Pi n'a pas d'horloge à pile : il lui faut "
                       "le réseau à chaque démarrage.",
    "clock.unsynced": "L'horloge n'est pas synchronisée : les horaires peuvent démarrer au mauvais moment.",
    "clock.unsynced.fix": "Vérifiez l'heure avec timedatectl ; activez l'heure réseau avec : sudo timedatectl "
                          "set-ntp true",
    "clock.ok": "L'horloge est synchronisée.",
    "lists.failed": "Ces listes n'ont pas pu se mettre à jour et gardent leur dernière version correcte : {names}",
    "lists.failed.fix": "Voyez pourquoi avec : hearth lists status ; vérifiez l'internet du Pi et l'adresse de "
                        "chaque liste.",
    "lists.stale": "Ces listes n'ont pas été téléchargées depuis des jours (ou jamais) : {names}",
    "lists.stale.fix": "Mettez-les à jour : hearth lists update (le filtre DNS le fait aussi chaque nuit).",
    "lists.ok": "Vos listes sont à jour.",
    "lists.uncompiled": "Vos listes les plus récentes ne sont pas appliquées : {why}",
    "lists.uncompiled.fix": "Retirez la plus grande liste de lists.sources (ou prenez-en une version plus petite), "
                            "puis : sudo systemctl reload hearth-dns.",
    "clients.none": "Aucune requête n'est arrivée à Hearth depuis une heure.",
    "clients.none.fix": "Indiquez l'adresse de Hearth comme serveur DNS dans les réglages DHCP de votre box, puis "
                        "relancez le Wi-Fi d'un téléphone.",
    "clients.router": "Les requêtes viennent d'une seule adresse ({ip}) : sans doute la box, qui cache qui demande. "
                      "Les règles par enfant ne peuvent pas fonctionner ainsi.",
    "clients.router.fix": "Faites donner par la box l'adresse de Hearth comme serveur DNS aux appareils, ou, si la "
                          "box transmet l'adresse de l'appareil en EDNS, indiquez-la dans dns.trusted_forwarders.",
    "clients.ok": "{n} appareils ont interrogé Hearth depuis une heure.",
    "ipv6": "Ce réseau a l'IPv6 mais aucun appareil n'interroge Hearth en IPv6 : ils utilisent peut-être le DNS "
            "IPv6 de la box et contournent Hearth.",
    "ipv6.fix": "Dans les réglages IPv6 de la box, mettez l'adresse IPv6 de Hearth comme serveur DNS, ou coupez le "
                "DNS IPv6 de la box.",
    "device": "{device} ({child}) est sur le réseau mais n'a rien demandé à Hearth depuis des heures : il utilise "
              "peut-être son propre DNS.",
    "device.fix": "Vérifiez ses réglages Wi-Fi (DNS manuel), ou bloquez les ports 53 et 853 vers internet sur la "
                  "box pour cet appareil.",
}
_TABLES = {"en": _EN, "fr": _FR}
# Port advice comes from appliance.ports (English); French keeps the commands, which are the same in any language.


def _number(n: float, lang: str) -> str:
    s = f"{n:,.0f}"
    return s.replace(",", "\u202f") if lang == "fr" else s


def _decimal(x: float, lang: str) -> str:
    s = f"{x:.1f}"
    return s.replace(".", ",") if lang == "fr" else s


# --- diagnose: pure -------------------------------------------------------------------------------------------

def diagnose(cfg: Config, facts: Facts, *, lang: str = "en", systemd: bool | None = None) -> list[Finding]:
    """Every finding, the most urgent kinds first (the filter, the network, the clock, then the home's setup)."""
    words = _TABLES.get(lang, _EN)

    def f(check: str, state: str, key: str, fix: str | None = None, **kw) -> Finding:
        kw = {k: (_number(v, lang) if isinstance(v, int) and not isinstance(v, bool) else v) for k, v in kw.items()}
        return Finding(check, state, words[key].format(**kw), words[fix].format(**kw) if fix else "")

    systemd = bool(facts.units) if systemd is None else systemd
    out: list[Finding] = []
    running = facts.stats is not None and bool(facts.stats.get("ok", True))
    if running:
        out.append(f("service", "ok", "service.up"))
    else:
        out.append(f("service", "bad", "service.down", "service.down.fix" if systemd else "service.down.fix.local"))
        for port, who in sorted(facts.holders.items()):
            if who is not None and not who.name.startswith("hearth"):
                out.append(Finding("port", "bad", words["port.taken"].format(port=port, name=who.name, pid=who.pid),
                                   who.advice))
    for unit, state in sorted(facts.units.items()):
        if state == "failed":
            out.append(f("service", "bad", "unit.failed", "unit.failed.fix", unit=unit))
    if facts.admin_up is False and cfg.admin is not None and cfg.admin.listen is not None:
        out.append(f("admin", "warn", "admin.down", "admin.down.fix", listen=str(cfg.admin.listen)))
    out.extend(_upstreams(facts, f))
    if running:
        dropped = int(facts.stats.get("log_dropped", 0) or 0)
        if dropped:
            out.append(f("log", "warn", "log.dropped", "log.dropped.fix", n=dropped))
        else:
            out.append(f("log", "ok", "log.ok", n=int(facts.stats.get("log_written", 0) or 0)))
        last = facts.stats.get("last_reload") or {}
        if last and not last.get("ok"):
            out.append(f("reload", "bad", "reload.refused", "reload.refused.fix",
                         why="; ".join(last.get("errors", []))))
    out.extend(_clock(cfg, facts, f, lang))
    out.extend(_disk(facts, f, lang))
    if getattr(cfg.query_log, "storage", "disk") == "memory":     # what that choice costs, said where it is seen
        out.append(f("wear", "ok", "wear.memory"))
    out.extend(_lists(cfg, facts, f))
    out.extend(_clients(cfg, facts, f))
    return out


def _upstreams(facts: Facts, f) -> list[Finding]:
    if facts.stats is not None:
        health = facts.stats.get("upstreams") or {}
        sick = [u for u, h in health.items() if _upstream_sick(h)]
        names = list(health)
    elif facts.probes is not None:
        sick = [u for u, answered in facts.probes.items() if not answered]
        names = list(facts.probes)
    else:
        return []
    if not names:
        return []
    if len(sick) == len(names):
        return [f("upstreams", "bad", "upstreams.none", "upstreams.none.fix")]
    if sick:
        return [f("upstreams", "warn", "upstreams.some", "upstreams.some.fix", names=", ".join(sick))]
    return [f("upstreams", "ok", "upstreams.ok")]


def _upstream_sick(h) -> bool:
    """The daemon's word for an upstream ("ok", "failing", "down"); a bare score from an older daemon."""
    if isinstance(h, dict):
        return h.get("state") == "down"
    return isinstance(h, (int, float)) and h >= 0.5


def _clock(cfg: Config, facts: Facts, f, lang: str) -> list[Finding]:
    floor = max(CLOCK_FLOOR, facts.newest_write or 0)
    # A minute's grace: the database's time comes from the same clock a moment ago.
    if facts.now < floor - 60:
        when = datetime.fromtimestamp(facts.now, cfg.tz).strftime("%Y-%m-%d %H:%M")
        return [f("clock", "bad", "clock.wrong", "clock.wrong.fix", when=when)]
    if facts.clock_synced is True:
        return [f("clock", "ok", "clock.ok")]
    if facts.clock_synced is False:
        return [f("clock", "bad", "clock.unsynced", "clock.unsynced.fix")]
    return []


def _disk(facts: Facts, f, lang: str) -> list[Finding]:
    out = []
    if facts.disk is not None:
        free, total = facts.disk
        share = free / total if total else 1
        state = "ok" if share > 0.1 else ("warn" if share > 0.03 else "bad")
        out.append(f("disk", state, "disk", "disk.fix" if state != "ok" else None,
                     free=_decimal(free / 1e9, lang), total=_decimal(total / 1e9, lang)))
    if facts.db_bytes >= LOG_BIG:
        out.append(f("wear", "warn", "wear.big", "wear.big.fix", size=_decimal(facts.db_bytes / 1024 ** 3, lang)))
    else:
        out.append(f("wear", "ok", "wear.ok", size=_decimal(facts.db_bytes / 1024 ** 2, lang)))
    if facts.disk_writes is not None:
        mb = facts.disk_writes / 1e6
        if facts.disk_writes > CARD_HIGH:
            out.append(f("wear", "warn", "wear.card", "wear.card.fix", size=_number(round(mb), lang)))
        else:
            out.append(f("wear", "ok", "wear.card.ok", size=_number(round(mb), lang)))
    if facts.stats is not None:
        up = float(facts.stats.get("uptime", 0) or 0)
        written = int(facts.stats.get("log_written", 0) or 0)
        # Only over an hour or more: a start's first burst (every device asking at once) is not a rate.
        if up >= 3600 and written * 3600 / up > WRITES_HIGH:
            out.append(f("wear", "warn", "wear.busy", "wear.busy.fix", n=int(written * 3600 / up)))
    return out


def _lists(cfg: Config, facts: Facts, f) -> list[Finding]:
    """The parent's own downloaded lists: the last download failed, none succeeded for three days, or they could
    not be compiled (older ones, or Hearth's own alone, are blocking)."""
    why = (facts.stats or {}).get("index_stale")
    uncompiled = [f("lists", "warn", "lists.uncompiled", "lists.uncompiled.fix", why=why)] if why else []
    urls = [s.name for s in cfg.lists.sources if s.url]
    if not urls:
        return uncompiled
    stale, failed = [], []
    for name in urls:
        ok_at, error = facts.lists.get(name, (None, None))
        if not ok_at:
            stale.append(name)
            continue
        try:
            age = facts.now - datetime.fromisoformat(ok_at).timestamp()
        except ValueError:
            age = 0
        if error:
            failed.append(name)
        elif age > LIST_STALE:
            stale.append(name)
    out = uncompiled
    if failed:
        out.append(f("lists", "warn", "lists.failed", "lists.failed.fix", names=", ".join(failed)))
    if stale:
        out.append(f("lists", "warn", "lists.stale", "lists.stale.fix", names=", ".join(stale)))
    return out or [f("lists", "ok", "lists.ok")]


def _clients(cfg: Config, facts: Facts, f) -> list[Finding]:
    """Whether the home's devices ask Hearth one by one, over IPv4 and IPv6, and the children's devices at all."""
    out = []
    recent = [s for s in facts.seen if facts.now - s.last_seen < RECENT]
    if not recent:
        out.append(f("clients", "bad", "clients.none", "clients.none.fix"))
    else:
        addresses = {s.ip for s in recent}
        local = {"127.0.0.1", "::1"}
        if len(addresses - local) <= 1 or (facts.gateway and addresses <= {facts.gateway} | local):
            out.append(f("clients", "warn", "clients.router", "clients.router.fix",
                         ip=", ".join(sorted(addresses))))
        else:
            out.append(f("clients", "ok", "clients.ok", n=len(addresses)))
        if facts.global_ipv6 and not any(":" in s.ip for s in recent):
            out.append(f("ipv6", "warn", "ipv6", "ipv6.fix"))
    for p in cfg.children():
        if not p.child:
            continue
        for dev in p.devices:
            s = next((s for s in facts.seen if s.device == dev), None)
            if s is not None and facts.now - s.last_seen > SILENT and s.ip in facts.online:
                out.append(f("device", "warn", "device", "device.fix", device=dev, child=p.name))
    return out


# --- gather: the machine --------------------------------------------------------------------------------------

def gather(cfg: Config, *, now: float | None = None, neighbours=None, route_file: str = "/proc/net/route",
           probe_timeout: float = 1.5) -> Facts:
    """Look at this machine. ``neighbours``: something with ``mac_for(ip)`` (the policy's NeighbourTable);
    ``probe_timeout`` 0: do not ask the upstreams directly when the daemon is down (the dashboard renders fast)."""
    now = time.time() if now is None else now
    try:
        stats = control.request(cfg.data_dir, "stats", timeout=3)
    except (OSError, ValueError):
        stats = None
    if stats is not None and not stats.get("ok", True):
        stats = None
    holders, probes = {}, None
    if stats is None:
        holders = {ep.port: ports.holder(ep.port) for ep in cfg.dns.listen}
        if probe_timeout > 0:
            probes = _probe_all(cfg.dns.upstreams, probe_timeout)
    seen = tuple(_seen(cfg))
    if neighbours is None:
        from appliance.policy.clients import NeighbourTable
        neighbours = NeighbourTable(ipv6=False)
    online = frozenset(s.ip for s in seen if s.ip and neighbours.mac_for(s.ip) is not None)
    return Facts(
        now=now, stats=stats, holders=holders, probes=probes, clock_synced=clock_synchronised(),
        newest_write=_newest_write(cfg), disk=_disk_usage(cfg.data_dir), db_bytes=_log_bytes(cfg),
        disk_writes=disk_writes_per_hour(cfg.data_dir),
        lists=_list_status(cfg), seen=seen, gateway=gateway(route_file), global_ipv6=has_global_ipv6(),
        # The units' states only when the daemon is down (a failed unit says why); a running daemon is answer
        # enough, and the dashboard renders without forking systemctl.
        online=online, units=_units() if stats is None else {}, admin_up=_admin_up(cfg))


def run(cfg: Config, *, lang: str = "en", neighbours=None) -> list[Finding]:
    return diagnose(cfg, gather(cfg, neighbours=neighbours), lang=lang)


def _probe_all(upstreams, timeout: float) -> dict[str, bool]:
    """All at once, so a dead network costs one timeout, not one per upstream."""
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(upstreams)))) as pool:
        answers = list(pool.map(lambda u: _probe(u, timeout), upstreams))
    return {str(u): ok for u, ok in zip(upstreams, answers)}


def _probe(u, timeout: float) -> bool:
    """One question to an upstream: an answer of any kind counts. DNS over TLS: the TCP connection is enough here
    (the daemon's own health says more once it runs)."""
    try:
        family = socket.AF_INET6 if ":" in u.host else socket.AF_INET
        if u.tls:
            with socket.create_connection((u.host, u.port), timeout=timeout):
                return True
        # A query for the root's NS: id 0x4865, recursion desired.
        q = bytes.fromhex("486501000001000000000000") + b"\x00\x00\x02\x00\x01"
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.settimeout(timeout)
            s.connect((u.host, u.port))     # connected: a closed port answers "refused" at once, not a timeout
            s.send(q)
            data = s.recv(4096)
            return data[:2] == q[:2]
    except OSError:
        return False


def _seen(cfg: Config) -> Iterable[Seen]:
    from appliance.state import db
    from appliance.state.reports import Reports
    path = db.log_path(cfg)
    if not path.exists():
        return []
    try:
        reports = Reports(path)
        try:
            return [Seen(d.ip, d.last_seen.timestamp(), d.device, d.mac) for d in reports.devices()]
        finally:
            reports.close()
    except Exception:       # an unreadable log: the other checks still run (disk and service say why)
        return []


def _newest_write(cfg: Config) -> float | None:
    from appliance.state import db
    path = db.db_path(cfg.data_dir)
    times = []
    for p in (path, path.with_name(path.name + "-wal")):
        try:
            times.append(p.stat().st_mtime)
        except OSError:
            pass
    return max(times) if times else None


def _disk_usage(path) -> tuple[int, int] | None:
    p = Path(path)
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        du = shutil.disk_usage(p)
    except OSError:
        return None
    return du.free, du.total


def disk_writes_per_hour(path, sys_root: str = "/sys/dev/block", uptime_file: str = "/proc/uptime") -> float | None:
    """Bytes written to the disk (the partition) holding ``path``, per hour since boot, from the kernel's counters:
    the 7th field of its stat file counts 512-byte sectors written."""
    p = Path(path)
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        dev = p.stat().st_dev
        fields = Path(sys_root, f"{os.major(dev)}:{os.minor(dev)}", "stat").read_text().split()
        up = float(Path(uptime_file).read_text().split()[0])
        return int(fields[6]) * 512 / up * 3600 if up > 0 else None
    except (OSError, ValueError, IndexError):
        return None             # a disk the kernel keeps no counters for (tmpfs, overlay): say nothing


def _log_bytes(cfg: Config) -> int:
    """The query log's file and its WAL: the database on disk, or the RAM file with ``storage: memory``."""
    from appliance.state import db
    path = db.log_path(cfg)
    total = 0
    for p in (path, path.with_name(path.name + "-wal")):
        try:
            total += p.stat().st_size
        except OSError:
            pass
    return total


def _list_status(cfg: Config) -> dict[str, tuple[str | None, str | None]]:
    from appliance.lists.sources import read_status
    return {name: (st.last_success, st.last_error) for name, st in read_status(cfg).items()}


def _units() -> dict[str, str]:
    """Hearth's systemd units and their state, when systemd runs this machine."""
    if not Path("/run/systemd/system").is_dir() or shutil.which("systemctl") is None:
        return {}
    import subprocess
    out = {}
    for unit in ("hearth-dns", "hearth-admin", "hearth-proxy"):
        try:
            r = subprocess.run(["systemctl", "is-active", unit], capture_output=True, text=True, timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            continue
        state = r.stdout.strip()
        if state and state != "inactive" or Path(f"/etc/systemd/system/{unit}.service").exists():
            out[unit] = state or "unknown"
    return out


def _admin_up(cfg: Config) -> bool | None:
    if cfg.admin is None or cfg.admin.listen is None:
        return None
    host = cfg.admin.listen.host
    host = "127.0.0.1" if host in ("0.0.0.0", "") else ("::1" if host == "::" else host)
    try:
        with socket.create_connection((host, cfg.admin.listen.port), timeout=1):
            return True
    except OSError:
        return False


def clock_synchronised() -> bool | None:
    """systemd-timesyncd's flag file, else the kernel's unsynchronised bit via adjtimex (refused under the units'
    ProtectClock=: then timedated's word over D-Bus); None when nothing can tell."""
    if Path("/run/systemd/timesync/synchronized").exists():
        return True
    try:
        import ctypes
        import ctypes.util
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        buf = ctypes.create_string_buffer(512)       # struct timex; modes = 0 only reads
        state = libc.adjtimex(buf)
        if state >= 0:
            return state != 5                        # TIME_ERROR: the clock is not synchronised
    except (OSError, AttributeError):
        pass
    if shutil.which("timedatectl") and Path("/run/systemd/system").is_dir():
        import subprocess
        try:
            r = subprocess.run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"], capture_output=True,
                               text=True, timeout=3)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return {"yes": True, "no": False}.get(r.stdout.strip())
    return None


def gateway(route_file: str = "/proc/net/route") -> str | None:
    """The IPv4 default gateway: the home router."""
    import ipaddress
    try:
        for line in Path(route_file).read_text().splitlines()[1:]:
            parts = line.split()
            if len(parts) > 2 and parts[1] == "00000000":
                return str(ipaddress.IPv4Address(bytes.fromhex(parts[2])[::-1]))
    except (OSError, ValueError):
        pass
    return None


def has_global_ipv6(path: str = "/proc/net/if_inet6") -> bool:
    try:
        for line in Path(path).read_text().splitlines():
            parts = line.split()
            if len(parts) >= 4 and parts[3] == "00" and not parts[0].startswith(("fd", "fc")):
                return True
    except OSError:
        pass
    return False


def exit_code(findings: Iterable[Finding]) -> int:
    """1 when anything is bad (children unprotected, or rules at the wrong time); warnings alone exit 0."""
    return 1 if any(x.state == "bad" for x in findings) else 0

