"""Who already holds a port Hearth wants, and what a parent can do about it (port 53 on a Pi is often taken by
systemd-resolved, dnsmasq, Pi-hole or AdGuard Home). Read from /proc, so it needs no tool and no network."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_PROC_NET = ("udp", "udp6", "tcp", "tcp6")
_LISTEN = "0A"      # TCP_LISTEN in /proc/net/tcp*; UDP sockets are unconnected ("07") and bound

ADVICE = {
    "systemd-resolve": "systemd-resolved's stub listens on port 53: set DNSStubListener=no in "
                       "/etc/systemd/resolved.conf, then run: sudo systemctl restart systemd-resolved",
    "dnsmasq": "dnsmasq is already a DNS server here (a hotspot or an older filter): sudo systemctl disable --now "
               "dnsmasq",
    "pihole-FTL": "Pi-hole runs on this machine: keep one DNS filter (sudo systemctl disable --now pihole-FTL)",
    "AdGuardHome": "AdGuard Home runs on this machine: keep one DNS filter (sudo systemctl disable --now "
                   "AdGuardHome)",
    "named": "BIND is a DNS server here: sudo systemctl disable --now named (or bind9)",
    "unbound": "unbound is a DNS server here: sudo systemctl disable --now unbound, or move it to another port "
               "and list it in dns.upstreams",
    "hearth": "Hearth is already running (sudo systemctl status hearth-dns)",
}


@dataclass(frozen=True)
class Holder:
    pid: int
    name: str           # the program, as /proc/PID/comm names it

    @property
    def advice(self) -> str:
        for prefix, text in ADVICE.items():
            if self.name.startswith(prefix):
                return text
        return f"stop {self.name} (process {self.pid}) or give Hearth another port in dns.listen"


def holder(port: int) -> Holder | None:
    """The process holding ``port`` (UDP or a TCP listener), if this user may see it."""
    inodes = _socket_inodes(port)
    if not inodes:
        return None
    for pid_dir in Path("/proc").iterdir():
        if not pid_dir.name.isdigit():
            continue
        try:
            for fd in (pid_dir / "fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    name = (pid_dir / "comm").read_text().strip()
                    return Holder(int(pid_dir.name), name)
        except OSError:         # gone, or not ours to read
            continue
    return None


def _socket_inodes(port: int) -> set[str]:
    out: set[str] = set()
    want = f"{port:04X}"
    for table in _PROC_NET:
        try:
            lines = Path("/proc/net", table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) < 10:
                continue
            local, state, inode = parts[1], parts[3], parts[9]
            if local.rsplit(":", 1)[-1] == want and (table.startswith("udp") or state == _LISTEN) and inode != "0":
                out.add(inode)
    return out
