"""Over real sockets: a real daemon, a stub upstream, a fake neighbour table. Quarantine of an unknown device,
lifted by assigning it; a budget counted from real queries and spent."""
from __future__ import annotations

import sqlite3
import time

import dns.message
import dns.query
import pytest

from tests.support.hearth_proc import HearthServer
from tests.support.stub_upstream import StubUpstream

from .conftest import write_tree

ZONE = {"example.com": [("A", "93.184.216.34")], "www.tube.example": [("A", "198.51.100.20")],
        "tubecdn.example": [("A", "198.51.100.21")],
        "connectivitycheck.gstatic.com": [("A", "142.250.0.1")]}
ARP = ("127.0.0.5        0x1         0x2         aa:bb:cc:dd:ee:01     *        eth0\n"
       "127.0.0.9        0x1         0x2         aa:bb:cc:dd:ee:99     *        eth0\n")


@pytest.fixture
def upstream():
    with StubUpstream(ZONE) as up:
        yield up


@pytest.fixture
def family(tmp_path, upstream):
    tree = write_tree(tmp_path / "bl")
    made = []

    def make(**top):
        cfg = {"blocklists_dir": str(tree), "timezone": "Europe/Paris",
               "dns": {"upstreams": [upstream.address], "upstream_timeout": 0.5},
               "devices": [{"name": "emma-phone", "mac": "aa:bb:cc:dd:ee:01"}],
               "profiles": {"emma": {"devices": ["emma-phone"]}}, **top}
        h = HearthServer(tmp_path, cfg, arp=ARP).start()
        made.append(h)
        return h
    yield make
    for h in made:
        h.stop()


def a(h, name, source):
    r = dns.query.udp(dns.message.make_query(name, "A"), "127.0.0.1", port=h.port, timeout=3, source=source)
    return sorted(rd.to_text() for rrset in r.answer for rd in rrset if rrset.rdtype == 1)


def last_reason(h, qname, want=None):
    """The reason and profile of the newest log row for ``qname`` (waiting a little for ``want``: the resolver
    puts its entry on the stream after it has sent the answer)."""
    deadline = time.monotonic() + 3
    while True:
        h.flush_log()
        con = sqlite3.connect(h.tmp / "var" / "hearth.db")
        rows = con.execute("SELECT reason, profile FROM query_log WHERE qname = ? ORDER BY id DESC",
                           (qname,)).fetchall()
        con.close()
        # repeats answered from the hot cache are written as counted rows later: not in time order by id
        if want is None or want in [tuple(r) for r in rows] or time.monotonic() > deadline:
            return want if want in [tuple(r) for r in rows] else (tuple(rows[0]) if rows else None)
        time.sleep(0.1)


def test_quarantine_holds_an_unknown_device_until_a_parent_assigns_it(family):
    h = family(unknown_devices={"profile": "quarantine"})
    assert a(h, "example.com", "127.0.0.9") == ["0.0.0.0"]                  # the new phone: held
    assert last_reason(h, "example.com", ("QUARANTINE", "default")) == ("QUARANTINE", "default")
    assert a(h, "connectivitycheck.gstatic.com", "127.0.0.9") == ["142.250.0.1"]    # the essentials get through
    assert a(h, "example.com", "127.0.0.5") == ["93.184.216.34"]            # Emma's own phone is not held
    # the parent assigns it: the config names it and gives it to Emma, then reloads
    cfg = dict(h.config)
    cfg["devices"] = cfg["devices"] + [{"name": "emma-new-phone", "mac": "aa:bb:cc:dd:ee:99"}]
    cfg["profiles"] = {"emma": {"devices": ["emma-phone", "emma-new-phone"]}}
    h.write_config(cfg)
    assert h.reload()["ok"]
    assert a(h, "example.com", "127.0.0.9") == ["93.184.216.34"]
    assert last_reason(h, "example.com", ("NONE", "emma")) == ("NONE", "emma")


def test_without_quarantine_an_unknown_device_gets_the_default_profile(family):
    h = family()
    assert a(h, "example.com", "127.0.0.9") == ["93.184.216.34"]
    assert last_reason(h, "example.com", ("NONE", "default")) == ("NONE", "default")


def test_a_budget_counted_from_real_queries_blocks_when_spent(family):
    h = family(profiles={"emma": {"devices": ["emma-phone"],
                                  "budgets": [{"name": "videos", "apps": ["tube"], "minutes": 1}]}})
    assert a(h, "tubecdn.example", "127.0.0.5") == ["198.51.100.21"]
    assert a(h, "www.tube.example", "127.0.0.5") == ["198.51.100.20"]      # same minute: still one minute
    h.call(h.daemon.budgets.flush)          # the sink's batch (every 2 s by itself)
    deadline = time.monotonic() + 5
    while a(h, "www.tube.example", "127.0.0.5") != ["0.0.0.0"]:             # the override poll swaps it in
        assert time.monotonic() < deadline, "the spent budget never reached the resolver"
        time.sleep(0.2)
    assert last_reason(h, "www.tube.example", ("BUDGET", "emma")) == ("BUDGET", "emma")
    assert a(h, "example.com", "127.0.0.5") == ["93.184.216.34"]           # only the budget's apps
