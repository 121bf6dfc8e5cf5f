"""Who is asking: source addresses in 127.0.0.0/8 stand in for home devices, a fake neighbour table gives MACs."""
from __future__ import annotations

import json
import os
import sqlite3

import dns.edns
import dns.message
import dns.query
import pytest

from appliance.policy.clients import parse_arp, parse_ip_neigh

ARP = """127.0.0.5        0x1         0x2         aa:bb:cc:dd:ee:ff     *        eth0
127.0.0.6        0x1         0x0         00:00:00:00:00:00     *        eth0
"""

FAMILY = {
    "devices": [{"name": "emma-phone", "mac": "aa:bb:cc:dd:ee:ff"},
                {"name": "leo-tablet", "ip": "127.0.0.7"},
                {"name": "kids-net", "cidr": "127.0.1.0/24"},
                {"name": "guest", "cidr": "127.0.0.0/16"}],
    "profiles": {"emma": {"devices": ["emma-phone"], "block": ["dating"]},
                 "leo": {"devices": ["leo-tablet", "kids-net"], "block": ["social"]}},
    "default_profile": {"block": ["random-chat"]},
}


def a(h, name, source):
    r = dns.query.udp(dns.message.make_query(name, "A"), "127.0.0.1", port=h.port, timeout=3, source=source)
    return sorted(rd.to_text() for rrset in r.answer for rd in rrset if rrset.rdtype == 1)


def test_parse_arp_skips_incomplete_entries():
    assert parse_arp("header\n" + ARP) == {"127.0.0.5": "aa:bb:cc:dd:ee:ff"}


def test_parse_ip_neigh():
    text = ("fe80::1 dev eth0 lladdr AA:BB:CC:00:11:22 router REACHABLE\n"
            "2001:db8::5 dev eth0 lladdr aa:bb:cc:00:11:33 STALE\n"
            "fd00::9 dev eth0 FAILED\n")
    assert parse_ip_neigh(text) == {"fe80::1": "aa:bb:cc:00:11:22", "2001:db8::5": "aa:bb:cc:00:11:33"}


@pytest.mark.parametrize("source,device,profile,blocked", [
    ("127.0.0.5", "emma-phone", "emma", "tinder.com"),          # MAC from the neighbour table
    ("127.0.0.7", "leo-tablet", "leo", "tiktok.com"),           # fixed IP
    ("127.0.1.9", "kids-net", "leo", "tiktok.com"),             # most specific CIDR wins over the /16
    ("127.0.2.9", "guest", "default", "omegle.com"),
    ("127.0.0.6", "guest", "default", "omegle.com"),            # incomplete ARP entry: no MAC
])
def test_identification_picks_the_profile(hearth, source, device, profile, blocked):
    h = hearth(FAMILY, arp=ARP)
    assert a(h, blocked, source) == ["0.0.0.0"]
    others = {"tinder.com", "tiktok.com", "omegle.com"} - {blocked}
    h.flush_log()
    con = sqlite3.connect(h.tmp / "var" / "hearth.db")
    row = con.execute("SELECT device, profile, mac FROM query_log ORDER BY id DESC LIMIT 1").fetchone()
    assert row[:2] == (device, profile)
    seen = con.execute("SELECT device, profile FROM devices_seen WHERE ip = ?", (source,)).fetchone()
    assert seen == (device, profile)
    con.close()
    for other in others:
        assert a(h, other, source) != ["0.0.0.0"], other


def test_unknown_device_gets_default_and_is_seen(hearth):
    h = hearth({"dns": {"allow_networks": ["127.0.0.0/8"]}}, arp="127.0.0.9        0x1   0x2   "
                                                                  "02:00:00:00:00:09     *        eth0\n")
    assert a(h, "www.omegle.com", "127.0.0.9") == ["0.0.0.0"]
    h.flush_log()
    con = sqlite3.connect(h.tmp / "var" / "hearth.db")
    rows = con.execute("SELECT key, mac, ip, device, profile, first_seen <= last_seen FROM devices_seen").fetchall()
    assert rows == [("02:00:00:00:00:09", "02:00:00:00:00:09", "127.0.0.9", None, "default", 1)]


def _forwarded(name, subnet=None, mac=None):
    opts = []
    if subnet:
        opts.append(dns.edns.ECSOption(subnet, 32))
    if mac:
        opts.append(dns.edns.GenericOption(65001, bytes.fromhex(mac.replace(":", ""))))
    return dns.message.make_query(name, "A", use_edns=0, options=opts)


def test_trusted_forwarder_options_name_the_device(hearth):
    cfg = dict(FAMILY, dns={"trusted_forwarders": ["127.0.0.1/32"]})
    h = hearth(cfg)
    # dnsmasq's add-mac names emma's phone behind the router at 127.0.0.1.
    r = dns.query.udp(_forwarded("tinder.com", mac="aa:bb:cc:dd:ee:ff"), "127.0.0.1", port=h.port, timeout=3)
    assert [rd.to_text() for rrset in r.answer for rd in rrset] == ["0.0.0.0"]
    # Client subnet names leo's tablet.
    r = dns.query.udp(_forwarded("tiktok.com", subnet="127.0.0.7"), "127.0.0.1", port=h.port, timeout=3)
    assert [rd.to_text() for rrset in r.answer for rd in rrset] == ["0.0.0.0"]
    r = dns.query.udp(_forwarded("tinder.com", subnet="127.0.0.7"), "127.0.0.1", port=h.port, timeout=3)
    assert [rd.to_text() for rrset in r.answer for rd in rrset] != ["0.0.0.0"]


def test_hot_path_behind_a_router_keeps_devices_apart(hearth):
    cfg = dict(FAMILY, dns={"trusted_forwarders": ["127.0.0.1/32"]})
    h = hearth(cfg)
    ask = lambda **kw: [rd.to_text() for rrset in dns.query.udp(_forwarded("tinder.com", **kw), "127.0.0.1",
                                                               port=h.port, timeout=3).answer for rd in rrset]
    for _ in range(3):      # the first round fills the hot cache, the next two are answered from it
        assert ask(mac="aa:bb:cc:dd:ee:ff") == ["0.0.0.0"]          # emma: dating blocked
        assert ask(subnet="127.0.0.7") != ["0.0.0.0"]              # leo: dating allowed
    assert h.daemon.resolver.stats["hot"] == 4
    h.flush_log()
    con = sqlite3.connect(h.tmp / "var" / "hearth.db")
    by_device = dict(con.execute("SELECT device, sum(count) FROM query_log WHERE qname = 'tinder.com' "
                                 "GROUP BY device").fetchall())
    assert by_device == {"emma-phone": 3, "leo-tablet": 3}


def test_options_from_an_untrusted_source_are_ignored(hearth):
    h = hearth(FAMILY)     # no trusted forwarders: 127.0.0.2 claims to be emma's phone
    r = dns.query.udp(_forwarded("tinder.com", mac="aa:bb:cc:dd:ee:ff"), "127.0.0.1", port=h.port, timeout=3,
                      source="127.0.0.2")
    assert [rd.to_text() for rrset in r.answer for rd in rrset] != ["0.0.0.0"]


def test_netlink_reads_the_same_table_as_the_ip_tool():
    """In a network namespace of our own: a veth with known neighbours, read over rtnetlink and by `ip neigh`."""
    import shutil
    import subprocess
    import sys
    import uuid
    if os.geteuid() != 0 or not shutil.which("ip"):
        pytest.skip("needs root and iproute2 to make a network namespace")
    ns = f"hearth-{uuid.uuid4().hex[:8]}"
    if subprocess.run(["ip", "netns", "add", ns], capture_output=True).returncode != 0:
        pytest.skip("network namespaces are not available here")
    try:
        setup = ("ip link add h0 type veth peer name h1 && ip link set h0 up && ip link set h1 up && "
                 "ip -6 neigh add fd00::99 lladdr aa:bb:cc:00:00:99 dev h0 nud permanent && "
                 "ip neigh add 10.9.9.9 lladdr aa:bb:cc:00:00:98 dev h0 nud permanent")
        subprocess.run(["ip", "netns", "exec", ns, "sh", "-c", setup], check=True)
        probe = ("import json, socket, subprocess; from appliance.policy.clients import read_netlink_neighbours, "
                 "parse_ip_neigh; print(json.dumps([read_netlink_neighbours(socket.AF_INET6), "
                 "read_netlink_neighbours(socket.AF_INET), parse_ip_neigh(subprocess.run(['ip', '-6', 'neigh'], "
                 "capture_output=True, text=True).stdout)]))")
        out = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", probe], check=True,
                             capture_output=True, text=True).stdout
        v6, v4, by_ip_tool = json.loads(out)
        assert v6 == {"fd00::99": "aa:bb:cc:00:00:99"} == by_ip_tool
        assert v4 == {"10.9.9.9": "aa:bb:cc:00:00:98"}
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def test_the_ip_tool_fallback_never_runs_on_the_callers_thread(monkeypatch):
    """Without netlink the IPv6 table comes from forking `ip`, which can take seconds: not on the event loop."""
    import threading

    from appliance.policy import clients

    def no_netlink(family):
        raise OSError("no netlink here")
    ran_on = []
    release, done = threading.Event(), threading.Event()

    def slow_fork():
        ran_on.append(threading.get_ident())
        release.wait(5)                                    # as slow as the test wants
        done.set()
        return {"2001:db8::5": "aa:bb:cc:dd:ee:05"}
    monkeypatch.setattr(clients, "read_netlink_neighbours", no_netlink)
    monkeypatch.setattr(clients, "_ip6_neigh_by_fork", slow_fork)
    table = clients.NeighbourTable("/nonexistent")
    assert table.mac_for("2001:db8::5") is None           # answered at once, from the table as it was (empty)
    release.set()
    assert done.wait(5) and ran_on[0] != threading.get_ident()
    for _ in range(100):
        if not table._v6_forking:
            break
        threading.Event().wait(0.02)
    assert table.mac_for("2001:db8::5") == "aa:bb:cc:dd:ee:05"   # the next query sees the forked read
