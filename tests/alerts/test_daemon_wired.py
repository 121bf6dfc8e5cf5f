"""The daemon with the alerts wired in: a real daemon on loopback, real DNS packets, the metrics endpoint scraped
over HTTP, and the alert delivered to an HTTP receiver."""
from __future__ import annotations

import time
import urllib.request

import dns.message
import dns.query

from appliance.state.alerts import Alerts
from tests.support.hearth_proc import HearthServer, free_port

from .conftest import Receiver


def test_the_daemon_raises_counts_and_sends(tmp_path):
    mport = free_port()
    with Receiver() as rx:
        cfg = {"devices": [{"name": "emma-phone", "mac": "aa:bb:cc:00:00:01"}],
               "profiles": {"emma": {"devices": ["emma-phone"], "block": ["random-chat"]}},
               "dns": {"upstreams": ["127.0.0.1:9"], "allow_networks": ["127.0.0.0/8"]},
               "alerts": {"notify": [rx.url]}, "metrics": {"listen": f"127.0.0.1:{mport}"}}
        arp = "127.0.0.1        0x1         0x2         aa:bb:cc:00:00:01     *        eth0\n"
        with HearthServer(tmp_path, cfg, arp=arp) as h:
            for _ in range(3):
                dns.query.udp(dns.message.make_query("www.omegle.com", "A"), "127.0.0.1", port=h.port, timeout=2)
            deadline = time.monotonic() + 10
            while not Alerts(tmp_path / "var" / "hearth.db").list() and time.monotonic() < deadline:
                time.sleep(0.2)
            text = urllib.request.urlopen(f"http://127.0.0.1:{mport}/metrics", timeout=5).read().decode()
            h.daemon.notifier.tick()
            stats = h.daemon.stats()
        [a] = Alerts(tmp_path / "var" / "hearth.db").list()
        assert (a.child, a.domain, a.count, a.severity) == ("emma", "omegle.com", 3, "high")
        assert 'hearth_blocks_total{profile="emma",reason="CATEGORY"} 3.0' in text
        assert 'hearth_queries_total{path="hot"} 2.0' in text
        assert stats["alerts_raised"] == 1
        assert len(rx.accepted) == 1 and "omegle.com" in rx.accepted[0]["title"]
