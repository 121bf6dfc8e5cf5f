#!/usr/bin/env python3
"""What the query log, the alerts and the budgets cost each DNS query, in process, with their writers counted.

The mix of bench/dns_vs_dnsmasq.py (half blocked names, half allowed and cached, 100,000 blocked domains) goes
through the resolver's hot path at a simulated rate, with the daemon's three sinks and with a stream that has none.
Every simulated half second the query log's writer commits and the alert and budget sinks take their batch, in
this thread, so their CPU is in the figure. CPU time of the process (not wall time) is what is compared, in interleaved rounds, so
a noisy neighbour weighs on both alike; the ratio is the figure to read.

    .venv/bin/python bench/log_cost.py [--rate 30000] [--seconds 6] [--rounds 3]
"""
from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import dns.message
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from appliance import config as configmod  # noqa: E402
from appliance.dns.server import Resolver  # noqa: E402
from appliance.dns.upstream import Upstreams  # noqa: E402
from appliance.policy.clients import NeighbourTable  # noqa: E402
from appliance.policy.engine import Engine  # noqa: E402
from appliance.state import alerts, budgets  # noqa: E402
from appliance.state.querylog import QueryLog  # noqa: E402
from appliance.stream import Stream  # noqa: E402
from dns_vs_dnsmasq import domains  # noqa: E402
from tests.support.inprocess import FakeClock  # noqa: E402
from tests.support.stub_upstream import StubUpstream  # noqa: E402


class Setup:
    def __init__(self, tmp: Path, stub: StubUpstream, blocked: list[str], sinks: bool):
        cfg = {"timezone": "UTC", "data_dir": str(tmp),
               "dns": {"listen": ["127.0.0.1:5399"], "upstreams": [stub.address], "rate_limit": {"queries": 0}},
               "devices": [{"name": "bench-laptop", "ip": "127.0.0.1"}],
               "profiles": {"leo": {"devices": ["bench-laptop"], "block": ["bench-list", "random-chat"],
                                    "budgets": [{"name": "games", "apps": ["roblox"], "minutes": 60}]}},
               "lists": {"sources": [{"name": "bench", "path": str(tmp.parent / "list.txt"),
                                      "category": "bench-list"}]},
               "query_log": {"enabled": sinks}}
        (tmp / "hearth.yaml").write_text(yaml.safe_dump(cfg))
        config = configmod.load(tmp / "hearth.yaml")
        engine = Engine.build(config)
        db = tmp / "hearth.db"
        self.log = QueryLog(db, enabled=sinks)
        self.others = [alerts.AlertSink(config, db), budgets.BudgetSink(config, db)] if sinks else []
        self.clock = FakeClock()
        self.resolver = Resolver(engine, Upstreams(config.dns), Stream([self.log, *self.others] if sinks else []),
                                 NeighbourTable(str(tmp / "no-arp"), ipv6=False), self.clock)

    def commit(self) -> None:
        """What the daemon's timers do every half second, here in this thread."""
        rows, _ = self.log._take(False)
        seen, self.log._seen = self.log._seen, {}
        if rows or seen:
            self.written += self.log._write(rows, list(seen.values()))
        alerts_sink, budget_sink = self.others or (None, None)
        if alerts_sink is not None:      # as their timers do: the second still counting stays for the next batch
            alerts_sink.process(*alerts_sink.take())
            budget_sink.process(budget_sink.take())

    written = 0

    def close(self) -> None:
        self.resolver.upstreams.close()
        self.log.close()
        for s in self.others:
            s.close()


async def run(setup: Setup, wires: list[bytes], rate: int, seconds: int) -> float:
    """CPU seconds per query for ``seconds`` simulated seconds at ``rate`` queries a second."""
    res = setup.resolver
    n = 0
    t0 = time.process_time()
    for _ in range(seconds * 2):
        for _ in range(rate // 2):
            w = wires[n % len(wires)]
            n += 1
            if res.fast(w, "127.0.0.1", False) is None:
                await res.full(w, "127.0.0.1", False)
        setup.clock.advance(0.5)
        setup.commit()
    return (time.process_time() - t0) / n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rate", type=int, default=30_000, help="simulated queries a second (dnsperf's rate here)")
    ap.add_argument("--seconds", type=int, default=6)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    rng = random.Random(7)
    blocked = domains(100_000, rng)
    allowed = [f"site{i}.allowed.test" for i in range(1000)]
    mix = [f"www.{d}" for d in rng.sample(blocked, 5000)] + allowed * 5
    rng.shuffle(mix)
    wires = [dns.message.make_query(n, "A").to_wire() for n in mix]
    tmp = Path(tempfile.mkdtemp(prefix="hearth-logcost-"))
    (tmp / "list.txt").write_text("\n".join(blocked) + "\n")
    stub = StubUpstream({d: [("A", "192.0.2.1")] for d in allowed}).start()
    try:
        setups = {}
        for label, sinks in (("log, alerts, budgets", True), ("no sinks", False)):
            (tmp / label).mkdir()
            setups[label] = Setup(tmp / label, stub, blocked, sinks)

        async def warm():
            for s in setups.values():
                for w in wires:           # every name through the full chain once: the hot cache is filled
                    if s.resolver.fast(w, "127.0.0.1", False) is None:
                        await s.resolver.full(w, "127.0.0.1", False)
                s.commit()
        asyncio.run(warm())
        got: dict[str, list[float]] = {label: [] for label in setups}
        for _ in range(args.rounds):
            for label, s in setups.items():
                got[label].append(asyncio.run(run(s, wires, args.rate, args.seconds)))
        import sqlite3
        con = sqlite3.connect(tmp / "log, alerts, budgets" / "hearth.db")
        rows, logged = con.execute("SELECT count(*), sum(count) FROM queries").fetchone()
        con.close()
        for s in setups.values():
            s.close()
    finally:
        stub.stop()
    med = {label: statistics.median(v) * 1e6 for label, v in got.items()}
    print(f"\nhot path in process, {args.rate:,} simulated queries a second, {args.rounds} interleaved rounds of "
          f"{args.seconds} s (CPU per query, medians; each round in brackets)")
    for label, v in got.items():
        print(f"  {label:<22} {med[label]:6.2f} µs   [" + ", ".join(f"{x * 1e6:.2f}" for x in v) + "]")
    with_, without = med["log, alerts, budgets"], med["no sinks"]
    print(f"  the sinks and their writers add {with_ - without:.2f} µs a query ({with_ / without:.2f}x); the log "
          f"holds {logged:,} queries in {rows:,} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
