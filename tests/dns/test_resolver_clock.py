"""The resolver on an injected clock: TTL ageing, stale answers and the snapshot fence, without sleeping."""
from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import dns.message
import dns.rcode
import pytest

from tests.support.inprocess import InProcess

from .test_resolver import _ttl_free_wire, addrs


@pytest.fixture
def resolver(tmp_path, blocklists, upstream):
    made = []

    def make(extra: dict | None = None) -> InProcess:
        extra = dict(extra or {})
        dns_cfg = {"upstreams": [upstream.address], "upstream_timeout": 0.3, **extra.pop("dns", {})}
        r = InProcess(tmp_path, {"blocklists_dir": str(blocklists), "dns": dns_cfg,
                                 "default_profile": {"block": ["random-chat"]}, **extra})
        made.append(r)
        return r
    yield make
    for r in made:
        r.close()


def test_stale_answer_when_all_upstreams_die(resolver, upstream):
    r = resolver({"dns": {"max_cache_ttl": 1, "stale_ttl": 30}})
    assert addrs(r.ask("example.com")) == ["93.184.216.34"]
    upstream.silent = True
    r.clock.advance(2.2)               # past the (clamped) TTL: the cache entry is stale now
    reply = r.ask("example.com")
    assert reply.rcode() == dns.rcode.NOERROR and addrs(reply) == ["93.184.216.34"]
    assert reply.answer[0].ttl <= 30
    assert r.resolver.stats["stale"] == 1


def test_stale_answers_carry_the_stale_ttl_floor(resolver, upstream):
    r = resolver({"dns": {"max_cache_ttl": 1, "stale_ttl": 7}})
    r.ask("example.com")
    upstream.silent = True
    r.clock.advance(5)
    assert r.ask("example.com").answer[0].ttl == 7    # neither 0 (aged out) nor the original TTL


def test_hot_path_ages_ttls(resolver):
    r = resolver()
    first = r.ask("example.com")
    r.clock.advance(2.1)
    second = r.ask("example.com")
    assert r.resolver.stats["hot"] >= 1
    assert first.answer[0].ttl - second.answer[0].ttl >= 2


def test_hot_entry_expires_at_its_ttl(resolver, upstream):
    r = resolver({"dns": {"max_cache_ttl": 5}})
    r.ask("example.com")
    r.clock.advance(4)
    r.ask("example.com")
    assert r.resolver.stats["hot"] == 1
    r.clock.advance(2)                 # past the TTL: the full chain asks upstream again
    before = upstream.count("example.com")
    r.ask("example.com")
    assert upstream.count("example.com") == before + 1


def test_a_pause_swapped_in_mid_query_is_not_undone(resolver, upstream):
    """A query decided before a pause, answered after it, must not put its allowed reply into the hot cache
    that the pause cleared (it would be served while the child is paused)."""
    r = resolver({"dns": {"upstream_timeout": 2}})
    upstream.delay = 0.2
    wire = dns.message.make_query("www.example.com", "A").to_wire()

    async def in_flight():
        task = asyncio.ensure_future(r.resolver.full(wire, "127.0.0.1", False))
        deadline = time.monotonic() + 5
        while upstream.count("www.example.com") == 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)                       # the query is at the upstream now
        r.store.add_pause("default", r.clock.now(r.config.tz), duration=timedelta(minutes=30))
        assert r.engine.refresh_overrides()                 # swapped in while the query waits
        return await task

    first = dns.message.from_wire(bytes(r.loop.run_until_complete(in_flight())))
    assert addrs(first) == ["93.184.216.34"]                # decided before the pause: answered as it was
    assert r.resolver.stats["late_writes"] == 1
    upstream.delay = 0
    second = r.ask("www.example.com")
    assert addrs(second) == ["0.0.0.0"]                     # not the late allowed answer from the hot cache
    third = r.ask("www.example.com")                        # and the hot path agrees with the full chain
    assert r.resolver.stats["hot"] == 1 and _ttl_free_wire(third) == _ttl_free_wire(second)


def test_a_reload_swapped_in_mid_query_is_not_undone(resolver, upstream):
    r = resolver({"dns": {"upstream_timeout": 2}})
    upstream.delay = 0.2
    wire = dns.message.make_query("notomegle.com", "A").to_wire()
    stricter = r.config_path.read_text().replace("random-chat", "random-chat\n  - dating")
    from appliance import config as configmod

    async def in_flight():
        task = asyncio.ensure_future(r.resolver.full(wire, "127.0.0.1", False))
        deadline = time.monotonic() + 5
        while upstream.count("notomegle.com") == 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        r.config_path.write_text(stricter)
        r.engine.reload(configmod.load(r.config_path))
        return await task

    r.loop.run_until_complete(in_flight())
    assert r.resolver.stats["late_writes"] == 1
    assert len(r.resolver.hot) == 0


def test_ttl_clamp_for_a_default_profile_with_schedules(resolver):
    """Devices nobody assigned keep upstream TTLs, unless their profile has windows: then a window's start
    must reach them within max_ttl too."""
    plain = resolver()
    assert plain.ask("example.com").answer[0].ttl > 60
    plain.close()
    timed = resolver({"default_profile": {"block": ["random-chat"], "schedules": [
        {"name": "night", "days": "daily", "from": "23:00", "to": "06:00", "block": "everything"}]}})
    assert timed.ask("example.com").answer[0].ttl <= 60


def test_ttl_clamp_for_safe_search_rewrites(resolver):
    r = resolver({"devices": [{"name": "tab", "ip": "127.0.0.5"}],
                  "profiles": {"kid": {"devices": ["tab"], "safe_search": True}}})
    reply = r.ask("www.google.com", source="127.0.0.5")
    assert [rr.rdtype for rr in reply.answer][0] == 5                   # the CNAME to the safe host
    assert reply.answer and all(rr.ttl <= 60 for rr in reply.answer)


def test_a_flood_of_sources_never_frees_a_limited_client(resolver, monkeypatch):
    """Issue 16: past the table's size the rate limiter forgot everyone, and a client over its limit was
    answered again inside its window. Sources that asked once go first; a limited one stays limited."""
    from appliance.dns import server
    monkeypatch.setattr(server, "MAX_SOURCES", 200)
    r = resolver({"dns": {"rate_limit": {"queries": 5, "seconds": 60}, "allow_networks": ["127.0.0.0/8"]}})
    codes = [r.ask("example.com", source="127.0.0.2").rcode() for _ in range(8)]
    assert codes[5:] == [dns.rcode.REFUSED] * 3
    for i in range(600):                                   # three times the table: a spoofed flood
        r.ask("example.com", source=f"127.1.{i // 250}.{i % 250 + 1}")
    assert len(r.resolver._rate) <= 200 and len(r.resolver._clients) <= 200
    assert r.ask("example.com", source="127.0.0.2").rcode() == dns.rcode.REFUSED   # still inside its window
    r.clock.advance(61)
    assert r.ask("example.com", source="127.0.0.2").rcode() == dns.rcode.NOERROR   # a new window


def test_a_flood_of_one_shot_sources_leaves_the_house_familiar(monkeypatch, resolver):
    """Issue 16: the client table made room by forgetting its oldest half, the house's devices first, and a
    reload forgot everyone; the listener would then queue the house behind a spoofed flood (appliance/dns/listener).
    Addresses that asked once go first, and a reload re-identifies the house without making it strangers."""
    from appliance.dns import server
    monkeypatch.setattr(server, "MAX_SOURCES", 200)
    r = resolver({"dns": {"allow_networks": ["127.0.0.0/8"]}})
    for _ in range(2):
        r.ask("example.com", source="127.0.0.2")           # a device of the house: it asks again
    for i in range(600):                                   # three times the table, each address once
        r.ask("example.com", source=f"127.1.{i // 250}.{i % 250 + 1}")
    assert len(r.resolver._clients) <= 200
    assert r.resolver.familiar("127.0.0.2") and not r.resolver.familiar("127.1.0.1")
    r.engine.reload(r.config)                               # a reload: everyone is identified again...
    assert r.resolver.familiar("127.0.0.2")                 # ... yet the house is still familiar
    before = r.resolver.stats["full_chain"]
    assert r.ask("example.com", source="127.0.0.2").rcode() == dns.rcode.NOERROR
    assert r.resolver.stats["full_chain"] == before + 1     # identified afresh under the new snapshot
