"""The resolver in this process, on an injected clock: what the DNS daemon does for one query, without its
sockets, so tests of ageing, expiry and stale answers move the clock instead of sleeping. The upstream is still a
real stub server on loopback, and the log a real SQLite file."""
from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from pathlib import Path

import dns.message
import yaml

from appliance import config as configmod
from appliance.clock import Clock
from appliance.dns.server import Resolver
from appliance.dns.upstream import Upstreams
from appliance.policy.clients import NeighbourTable
from appliance.policy.engine import Engine
from appliance.state import db
from appliance.state.overrides import OverrideStore
from appliance.state.querylog import QueryLog
from appliance.stream import Stream


class FakeClock(Clock):
    """Wall time and monotonic time that move only when a test says so."""

    def __init__(self, start: datetime = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)):
        self.wall = start.timestamp()
        self.mono = 1000.0

    def monotonic(self) -> float:
        return self.mono

    def time(self) -> float:
        return self.wall

    def advance(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds


class InProcess:
    def __init__(self, tmp: Path, config: dict, clock: FakeClock | None = None):
        self.tmp = tmp
        self.clock = clock or FakeClock()
        self.config_path = tmp / "hearth.yaml"
        self.config_path.write_text(yaml.safe_dump({"timezone": "UTC", "data_dir": str(tmp / "var"), **config}))
        self.config = configmod.load(self.config_path)
        self.store = OverrideStore(db.db_path(self.config.data_dir))
        self.querylog = QueryLog(db.db_path(self.config.data_dir))
        (tmp / "arp").write_text("IP address       HW type     Flags       HW address            Mask     Device\n")
        self.engine = Engine.build(self.config, overrides=self.store, clock=self.clock.now)
        self.resolver = Resolver(self.engine, Upstreams(self.config.dns), Stream([self.querylog]),
                                 NeighbourTable(str(tmp / "arp"), ipv6=False), self.clock)
        self.loop = asyncio.new_event_loop()

    def wire(self, data: bytes, source: str = "127.0.0.1", tcp: bool = False) -> bytes:
        out = self.resolver.fast(data, source, tcp)
        if out is None:
            out = self.loop.run_until_complete(self.resolver.full(data, source, tcp))
        return bytes(out)

    def ask(self, name: str, rdtype: str = "A", source: str = "127.0.0.1", **kw) -> dns.message.Message:
        q = dns.message.make_query(name, rdtype, **kw)
        return dns.message.from_wire(self.wire(q.to_wire(), source))

    def close(self) -> None:
        if self.loop.is_closed():
            return
        self.resolver.upstreams.close()
        self.loop.run_until_complete(self.querylog.flush())
        self.querylog.close()
        self.store.close()
        self.loop.close()
