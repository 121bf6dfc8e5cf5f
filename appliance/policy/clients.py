"""Who is asking: source address → MAC (the kernel's neighbour table) → device → child profile.

MAC first, because phones change IPv6 privacy addresses and DHCP moves IPv4 ones; then a fixed IP; then the
most specific CIDR. Behind a router that forwards DNS, the router's EDNS client-subnet and dnsmasq MAC options
say who the real device is — believed from trusted forwarders only, since anyone can put them in a packet.
"""
from __future__ import annotations

import ipaddress
import socket
import struct
import subprocess
import threading
import time
from dataclasses import dataclass

from appliance.config import DEFAULT_PROFILE, Config
from appliance.model import Client

ARP_TABLE = "/proc/net/arp"
NEIGH_TTL = 10.0          # seconds a neighbour-table read is trusted
_INCOMPLETE = "00:00:00:00:00:00"


class NeighbourTable:
    """IP → MAC from /proc/net/arp (IPv4) and `ip -6 neigh` (IPv6), re-read at most every NEIGH_TTL seconds."""

    def __init__(self, arp_path: str = ARP_TABLE, ipv6: bool = True):
        self.arp_path = arp_path
        self.ipv6 = ipv6
        self._v4: dict[str, str] = {}
        self._v6: dict[str, str] = {}
        self._v4_read = self._v6_read = -NEIGH_TTL
        self._v6_forking = False

    def mac_for(self, ip: str) -> str | None:
        now = time.monotonic()
        if ":" in ip:
            if not self.ipv6 or ip == "::1":
                return None
            if now - self._v6_read >= NEIGH_TTL:
                self._v6_read = now
                self._refresh_v6()
            return self._v6.get(ip)
        if now - self._v4_read >= NEIGH_TTL:
            self._v4, self._v4_read = parse_arp(_read(self.arp_path)), now
        return self._v4.get(ip)


    def _refresh_v6(self) -> None:
        try:
            self._v6 = read_netlink_neighbours(socket.AF_INET6)
        except OSError:
            # No netlink (a container without it): the ip tool, a fork that can take seconds. Never on the
            # caller's thread (the event loop): this query uses the last table; the next ones get the new one.
            if not self._v6_forking:
                self._v6_forking = True
                threading.Thread(target=self._fork_ip6_neigh, name="ip-neigh", daemon=True).start()

    def _fork_ip6_neigh(self) -> None:
        try:
            self._v6 = _ip6_neigh_by_fork()
        finally:
            self._v6_forking = False


def _read(path: str) -> str:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def parse_arp(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 4 and parts[3] != _INCOMPLETE and parts[2] != "0x0":
            out[parts[0]] = parts[3].lower()
    return out


def parse_ip_neigh(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if "lladdr" in parts and parts[-1] not in ("FAILED", "INCOMPLETE"):
            out[str(ipaddress.ip_address(parts[0].split("%")[0]))] = parts[parts.index("lladdr") + 1].lower()
    return out


def _ip6_neigh_by_fork() -> dict[str, str]:
    try:
        r = subprocess.run(["ip", "-6", "neigh", "show"], capture_output=True, text=True, timeout=2)
    except (OSError, subprocess.SubprocessError):
        return {}
    return parse_ip_neigh(r.stdout)


# rtnetlink (linux/rtnetlink.h, linux/neighbour.h): one dump request, no process to start on the event loop.
_RTM_NEWNEIGH, _RTM_GETNEIGH, _NLMSG_DONE, _NLMSG_ERROR = 28, 30, 3, 2
_NLM_F_REQUEST_DUMP = 0x1 | 0x300
_NDA_DST, _NDA_LLADDR = 1, 2
# REACHABLE, STALE, DELAY, PROBE, PERMANENT: a MAC the kernel has seen answer (not NOARP multicast/loopback)
_NUD_KNOWN = 0x02 | 0x04 | 0x08 | 0x10 | 0x80


def read_netlink_neighbours(family: int) -> dict[str, str]:
    """IP → MAC from the kernel's neighbour table over rtnetlink (what `ip neigh` reads)."""
    out: dict[str, str] = {}
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE) as s:
        s.settimeout(1.0)
        body = struct.pack("=BBHiHBB", family, 0, 0, 0, 0, 0, 0)          # struct ndmsg
        s.send(struct.pack("=IHHII", 16 + len(body), _RTM_GETNEIGH, _NLM_F_REQUEST_DUMP, 1, 0) + body)
        while True:
            data = s.recv(65536)
            i = 0
            while i + 16 <= len(data):
                length, mtype, _flags, _seq, _pid = struct.unpack_from("=IHHII", data, i)
                if mtype == _NLMSG_DONE or length < 16:
                    return out
                if mtype == _NLMSG_ERROR:
                    raise OSError("netlink neighbour dump refused")
                if mtype == _RTM_NEWNEIGH:
                    fam, _p1, _p2, _ifindex, state, _fl, _type = struct.unpack_from("=BBHiHBB", data, i + 16)
                    if state & _NUD_KNOWN:
                        dst, mac = _neigh_attrs(data, i + 28, i + length)
                        if dst and mac and mac != _INCOMPLETE:
                            out[str(ipaddress.ip_address(dst))] = mac
                i += (length + 3) & ~3


def _neigh_attrs(data: bytes, i: int, end: int) -> tuple[bytes | None, str | None]:
    dst = mac = None
    while i + 4 <= end:
        alen, atype = struct.unpack_from("=HH", data, i)
        if alen < 4:
            break
        value = data[i + 4:i + alen]
        if atype == _NDA_DST and len(value) in (4, 16):
            dst = value
        elif atype == _NDA_LLADDR and len(value) == 6:
            mac = ":".join(f"{b:02x}" for b in value)
        i += (alen + 3) & ~3
    return dst, mac


@dataclass(frozen=True)
class Directory:
    """The config's devices compiled for lookup. Built once per config; ``identify`` is pure given a MAC."""

    by_mac: dict
    by_ip: dict
    by_cidr: tuple            # (network, device name), most specific first
    profile_of: dict          # device name -> profile name
    allow_networks: tuple
    trusted_forwarders: tuple

    @classmethod
    def from_config(cls, config: Config) -> Directory:
        devs = config.devices
        return cls(
            by_mac={d.mac: d.name for d in devs if d.mac},
            by_ip={d.ip: d.name for d in devs if d.ip},
            by_cidr=tuple(sorted(((d.cidr, d.name) for d in devs if d.cidr), key=lambda x: -x[0].prefixlen)),
            profile_of={dev: p.name for p in config.profiles.values() for dev in p.devices},
            allow_networks=config.dns.allow_networks,
            trusted_forwarders=config.dns.trusted_forwarders,
        )

    def allowed(self, ip: str) -> bool:
        addr = ipaddress.ip_address(ip)
        if addr.version == 6 and addr.ipv4_mapped:
            addr = addr.ipv4_mapped
        return any(addr in n for n in self.allow_networks)

    def is_forwarder(self, ip: str) -> bool:
        if not self.trusted_forwarders:
            return False
        addr = ipaddress.ip_address(ip)
        return any(addr in n for n in self.trusted_forwarders)

    def identify(self, ip: str, mac: str | None) -> Client:
        device = self.by_mac.get(mac) if mac else None
        if device is None:
            device = self.by_ip.get(ip)
        if device is None and self.by_cidr:
            addr = ipaddress.ip_address(ip)
            device = next((name for net, name in self.by_cidr if addr.version == net.version and addr in net), None)
        profile = self.profile_of.get(device, DEFAULT_PROFILE) if device else DEFAULT_PROFILE
        return Client(ip, mac, device, profile)


def identify(directory: Directory, neighbours: NeighbourTable, source_ip: str, subnet: str | None = None,
             option_mac: str | None = None, *, forwarder: bool = False) -> Client:
    """The client behind a query: a trusted forwarder's options name the device; otherwise the source does.
    ``forwarder`` is ``directory.is_forwarder(source_ip)``, which the caller has already asked."""
    if forwarder and (subnet or option_mac):
        ip = subnet or source_ip
        return directory.identify(ip, option_mac or neighbours.mac_for(ip))
    return directory.identify(source_ip, neighbours.mac_for(source_ip))
