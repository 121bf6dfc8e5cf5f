"""The whole way: real DNS packets through the real resolver chain (decide, hot cache), the alert sink on its
stream beside the query log, the lists' own lookup, and an e-mail to a real SMTP server on loopback."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import dns.message
import dns.rcode
import yaml

from appliance import config as configmod
from appliance.dns.server import Resolver
from appliance.dns.upstream import Upstreams
from appliance.notify import Notifier
from appliance.policy.clients import NeighbourTable
from appliance.policy.engine import Engine
from appliance.state.alerts import Alerts, AlertSink, follow
from appliance.state.querylog import QueryLog
from appliance.stream import Stream
from tests.support.stub_upstream import StubUpstream

from .test_notify import Smtp

ARP = ("IP address       HW type     Flags       HW address            Mask     Device\n"
       "127.0.0.1        0x1         0x2         aa:bb:cc:00:00:01     *        eth0\n"
       "127.0.0.2        0x1         0x2         de:ad:be:ef:00:09     *        eth0\n")


def setup(tmp_path, profile: dict, notify: list[str], upstream: StubUpstream):
    (tmp_path / "arp").write_text(ARP)
    data = {"timezone": "Europe/Paris", "data_dir": str(tmp_path / "var"),
            "dns": {"upstreams": [f"127.0.0.1:{upstream.port}"], "upstream_timeout": 0.5,
                    "allow_networks": ["127.0.0.0/8"]},
            "devices": [{"name": "emma-phone", "mac": "aa:bb:cc:00:00:01"}],
            "profiles": {"emma": {"devices": ["emma-phone"], **profile}},
            "alerts": {"notify": notify}}
    path = tmp_path / "hearth.yaml"
    path.write_text(yaml.safe_dump(data))
    cfg = configmod.load(path)
    engine = Engine.build(cfg)
    db = tmp_path / "var" / "hearth.db"
    log = QueryLog(db)
    sink = follow(AlertSink(cfg, db), engine)          # as the daemon wires it
    resolver = Resolver(engine, Upstreams(cfg.dns), Stream([log, sink]),
                        NeighbourTable(str(tmp_path / "arp"), ipv6=False))
    return cfg, db, log, sink, resolver


def ask(resolver, name: str, ip: str = "127.0.0.1") -> int:
    wire = dns.message.make_query(name, "A").to_wire()

    async def go():
        reply = resolver.fast(wire, ip, False)
        if reply is None:
            reply = await resolver.full(wire, ip, False)
        return reply
    return dns.message.from_wire(bytes(asyncio.run(go()))).rcode()


def test_a_child_on_a_random_chat_site_raises_one_high_alert_and_one_email(tmp_path):
    with StubUpstream({"wikipedia.org": [("A", "198.51.100.9")]}) as up, Smtp() as smtp:
        cfg, db, log, sink, resolver = setup(tmp_path, {"block": ["random-chat", "adult"]}, [smtp.url], up)
        for _ in range(3):                   # the first through the chain, the others from the hot cache
            assert ask(resolver, "www.omegle.com") == dns.rcode.NOERROR     # null IP answer
        assert ask(resolver, "wikipedia.org") == dns.rcode.NOERROR
        assert resolver.stats["hot"] == 2
        sink.flush_now()
        asyncio.run(log.flush())
        [a] = Alerts(db).list()
        assert (a.child, a.device, a.domain, a.list, a.count, a.severity, a.reason) == \
            ("emma", "emma-phone", "omegle.com", "random-chat", 3, "high", "CATEGORY")
        Notifier(cfg, db).tick()
        assert len(smtp.messages) == 1 and "omegle.com" in smtp.messages[0]["Subject"]


def test_bedtime_blocking_everything_still_alerts_on_what_the_name_is(tmp_path):
    now = datetime.now(configmod.load_text("timezone: Europe/Paris", tmp_path / "x.yaml").tz)
    window = {"name": "bedtime", "days": "mon-sun", "from": (now - timedelta(hours=2)).strftime("%H:%M"),
              "to": (now + timedelta(hours=2)).strftime("%H:%M"), "block": "everything"}
    with StubUpstream({}) as up:
        cfg, db, log, sink, resolver = setup(tmp_path, {"block": ["adult"], "schedules": [window]}, [], up)
        ask(resolver, "www.omegle.com")
        ask(resolver, "wikipedia.org")
        sink.flush_now()
        [a] = Alerts(db).list()
        assert (a.domain, a.list, a.reason) == ("omegle.com", "random-chat", "SCHEDULE")
        assert "bedtime" in a.words


def test_an_unknown_device_joining_raises_one_new_device_alert(tmp_path):
    with StubUpstream({"wikipedia.org": [("A", "198.51.100.9")]}) as up:
        cfg, db, log, sink, resolver = setup(tmp_path, {"block": ["adult"]}, [], up)
        ask(resolver, "wikipedia.org", ip="127.0.0.1")
        for _ in range(3):
            ask(resolver, "wikipedia.org", ip="127.0.0.2")
        sink.flush_now()
        [a] = Alerts(db).list()
        assert (a.reason, a.device, a.child) == ("NEW_DEVICE", "127.0.0.2", None)
