"""Device names from dnsmasq leases and the router's reverse DNS: a real UDP responder on loopback, one that never
answers, and one that answers garbage first."""
from __future__ import annotations

import socket
import threading
import time

import pytest
from dnslib import PTR, QTYPE, RR, DNSRecord

from web_admin import hostnames


class Router:
    """Answers PTR for the names it was given; silent for the rest (as a router that does not know)."""

    def __init__(self, names: dict[str, str], garbage_first: bool = False):
        self.names = names
        self.garbage_first = garbage_first
        self.asked: list[str] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                data, addr = self.sock.recvfrom(4096)
            except OSError:
                return
            q = DNSRecord.parse(data)
            name = str(q.q.qname).rstrip(".")
            self.asked.append(name)
            if self.garbage_first:
                self.sock.sendto(b"\x00\x01garbage", addr)
            if name in self.names:
                r = q.reply()
                r.add_answer(RR(name, QTYPE.PTR, rdata=PTR(self.names[name] + "."), ttl=60))
                self.sock.sendto(r.pack(), addr)

    def close(self):
        self.sock.close()


@pytest.fixture(autouse=True)
def fresh_cache():
    hostnames._cache.clear()


@pytest.mark.parametrize("garbage", [False, True])
def test_reverse_names_from_the_router(garbage):
    router = Router({"5.1.168.192.in-addr.arpa": "Emmas-iPhone.home", "6.1.168.192.in-addr.arpa": "leo-pc.lan"},
                    garbage_first=garbage)
    try:
        ips = ["192.168.1.5", "192.168.1.6", "192.168.1.7", "8.8.8.8", "127.0.0.1"]
        t0 = time.monotonic()
        got = hostnames.reverse_names(ips, "127.0.0.1", router.port, wait=0.5)
        assert got == {"192.168.1.5": "Emmas-iPhone", "192.168.1.6": "leo-pc"}
        assert time.monotonic() - t0 < 1.0                      # one wait for all, not one per device
        assert len(router.asked) == 3                           # private addresses only
        assert hostnames.reverse_names(ips, "127.0.0.1", router.port) == got
        assert len(router.asked) == 3                           # cached, the unknown one too
    finally:
        router.close()


def test_a_router_that_never_answers_costs_one_short_wait():
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    try:
        t0 = time.monotonic()
        got = hostnames.reverse_names([f"10.0.0.{i}" for i in range(1, 40)], "127.0.0.1", silent.getsockname()[1],
                                      wait=0.3)
        assert got == {} and time.monotonic() - t0 < 0.8
    finally:
        silent.close()


def test_dnsmasq_leases(tmp_path):
    f = tmp_path / "dnsmasq.leases"
    f.write_text("1767225600 3c:22:fb:12:34:56 192.168.1.5 Emmas-iPhone 01:3c:22:fb:12:34:56\n"
                 "1767225600 aa:bb:cc:dd:ee:ff 192.168.1.9 * *\n")
    assert hostnames.read_leases([str(f), str(tmp_path / "missing")]) == {"192.168.1.5": "Emmas-iPhone"}


def test_gateway_from_the_route_table(tmp_path):
    f = tmp_path / "route"
    f.write_text("Iface\tDestination\tGateway \tFlags\n"
                 "eth0\t0001A8C0\t00000000\t0001\n"
                 "eth0\t00000000\t0101A8C0\t0003\n")
    assert hostnames.gateway(str(f)) == "192.168.1.1"
