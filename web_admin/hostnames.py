"""Names for the devices a parent sees: from DHCP leases on the Pi (dnsmasq's file, when the Pi hands out
addresses), else from the router's reverse DNS (home routers answer PTR queries for the names their DHCP gave).

Bounded: one UDP socket, every question sent at once, half a second for all the answers, and names kept ten
minutes, so a router that does not answer costs the devices page half a second once, not a second per device.
"""
from __future__ import annotations

import ipaddress
import select
import socket
import threading
import time
from pathlib import Path

from appliance.doctor import gateway     # the home router: one reading of the route table, the doctor's

LEASE_FILES = ("/var/lib/misc/dnsmasq.leases", "/var/lib/dnsmasq/dnsmasq.leases")
TTL = 600.0
WAIT = 0.5
MAX_QUESTIONS = 64

_cache: dict[str, tuple[float, str | None]] = {}
_lock = threading.Lock()


def read_leases(paths=LEASE_FILES) -> dict[str, str]:
    """IP → host name from dnsmasq lease files ("expiry mac ip name client-id"); "*" is no name."""
    out: dict[str, str] = {}
    for p in paths:
        try:
            text = Path(p).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            parts = line.split()
            if len(parts) >= 4 and parts[3] != "*":
                out[parts[2]] = parts[3]
    return out


def reverse_names(ips, server: str | None, port: int = 53, wait: float = WAIT) -> dict[str, str]:
    """IP → name by PTR queries to ``server`` (the router), for private addresses only; cached."""
    from dnslib import QTYPE, DNSRecord
    now = time.monotonic()
    out: dict[str, str] = {}
    ask: list[str] = []
    with _lock:
        for ip in dict.fromkeys(ips):
            hit = _cache.get(ip)
            if hit is not None and now - hit[0] < TTL:
                if hit[1]:
                    out[ip] = hit[1]
            elif _private(ip) and len(ask) < MAX_QUESTIONS:
                ask.append(ip)
    if not ask or not server:
        return out
    family = socket.AF_INET6 if ":" in server else socket.AF_INET
    pending: dict[int, str] = {}
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.setblocking(False)
        for i, ip in enumerate(ask):
            q = DNSRecord.question(ipaddress.ip_address(ip).reverse_pointer, "PTR")
            q.header.id = (i * 7919 + 1) & 0xFFFF
            pending[q.header.id] = ip
            try:
                s.sendto(q.pack(), (server, port))
            except OSError:
                return out
        names: dict[str, str | None] = {ip: None for ip in ask}
        end = time.monotonic() + wait
        while pending and (left := end - time.monotonic()) > 0:
            if not select.select([s], [], [], left)[0]:
                break
            try:
                data = s.recv(4096)
                r = DNSRecord.parse(data)
            except Exception:       # a stray or broken packet: keep waiting for the others
                continue
            ip = pending.pop(r.header.id, None)
            if ip is None:
                continue
            ptr = next((str(rr.rdata).rstrip(".") for rr in r.rr if rr.rtype == QTYPE.PTR), None)
            names[ip] = ptr.split(".")[0] if ptr and ptr.split(".")[0] else ptr
    with _lock:
        for ip, name in names.items():
            _cache[ip] = (time.monotonic(), name)
            if name:
                out[ip] = name
    return out


def names_for(ips) -> dict[str, str]:
    ips = [ip for ip in ips if ip]
    leases = read_leases()
    found = {ip: leases[ip] for ip in ips if ip in leases}
    rest = [ip for ip in ips if ip not in found]
    if rest:
        found.update(reverse_names(rest, gateway()))
    return found


def _private(ip: str) -> bool:
    try:
        a = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return a.is_private and not a.is_loopback
