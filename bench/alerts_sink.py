"""What the alert sink costs the DNS path, beside the query log's own sink, measured in the same run.

    .venv/bin/python bench/alerts_sink.py [--calls 500000] [--batch 2000]

Prints the nanoseconds per ``put`` (what the DNS thread pays) for the alert sink and for the query log, per
repeat for the stream with both sinks and with the query log alone, their ratios, and the off-path cost of raising
one batch (a family's mix: 90% allowed, 8% blocked on lists that do not alert, 2% on random-chat/dating/adult; a
fifth of the allowed ones asked upstream) in rows per second, with the metrics observer (every row) and without it
(blocked rows only, as with metrics off).
"""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from appliance import config as configmod  # noqa: E402
from appliance.dns.cache import HotEntry  # noqa: E402
from appliance.metrics import Metrics  # noqa: E402
from appliance.model import Action, Client, Decision, Reason  # noqa: E402
from appliance.state.alerts import AlertSink  # noqa: E402
from appliance.state.querylog import Entry, QueryLog  # noqa: E402
from appliance.stream import Stream  # noqa: E402


def per_call(fn, args_list, rounds=3) -> float:
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for a in args_list:
            fn(*a)
        best = min(best, (time.perf_counter() - t0) / len(args_list))
    return best * 1e9


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=500_000)
    ap.add_argument("--batch", type=int, default=2000)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="hearth-bench-alerts-"))
    cfg = configmod.parse({"timezone": "UTC", "data_dir": str(tmp),
                           "profiles": {"emma": {"block": ["random-chat", "dating", "adult", "games"]}}},
                          catalog=configmod.catalog_names(configmod.SHIPPED_BLOCKLISTS))
    db = tmp / "hearth.db"
    clients = [Client(f"192.168.1.{i}", f"aa:bb:cc:00:00:{i:02x}", f"dev{i}", "emma") for i in range(12)]
    allow = Decision(Action.ALLOW, Reason.NONE, "emma")
    games = Decision(Action.BLOCK, Reason.CATEGORY, "emma", list="games", rule="roblox.com")
    chat = Decision(Action.BLOCK, Reason.CATEGORY, "emma", list="random-chat", rule="omegle.com")
    rng = random.Random(7)

    def make_entry(t):
        r = rng.random()
        d, name = (chat, "omegle.com") if r < 0.02 else (games, "roblox.com") if r < 0.10 else \
            (allow, f"site{rng.randrange(3000)}.example")
        up = "9.9.9.9:53" if d is allow and rng.random() < 0.2 else "cache" if d is allow else None
        return Entry(t, rng.choice(clients), name, 1, d, 0, False, up, 12.0, 1)

    now = time.time()
    entries = [(make_entry(now + i / 1000),) for i in range(args.calls)]
    hots = [HotEntry(b"", (), 0.0, 1e9, f"site{i}.example", 1, 0, allow) for i in range(200)]
    repeats = [(int(now) + i // 1000, clients[i % 12], hots[i % 200]) for i in range(args.calls)]

    sink = AlertSink(cfg, db, maxsize=args.calls + 1)
    qlog = QueryLog(tmp / "log.db", maxsize=args.calls + 1)
    put_alerts = per_call(sink.put, entries)
    sink._q.clear()
    put_log = per_call(qlog.put, entries)
    qlog._q.clear()
    # Repeats are counted by the stream and handed to the sinks in batches: per query, the stream with the query
    # log alone against the stream with both (its drains, and so the sinks' per-batch work, included).
    both, alone = Stream([qlog, sink]), Stream([qlog])
    rep_alerts = per_call(both.repeat, repeats)
    both.drain(final=True)
    qlog._q.clear()
    rep_log = per_call(alone.repeat, repeats)
    alone.drain(final=True)
    qlog._q.clear()
    print(f"put:    alerts {put_alerts:6.0f} ns   query log {put_log:6.0f} ns   ratio {put_alerts / put_log:.2f}")
    print(f"repeat: log and alerts {rep_alerts:6.0f} ns   log alone {rep_log:6.0f} ns   "
          f"ratio {rep_alerts / rep_log:.2f}")

    sink._repeats.clear()
    batches = [[e for (e,) in entries[i:i + args.batch]] for i in range(0, min(len(entries), 100 * args.batch),
                                                                        args.batch)]
    rows = sum(len(b) for b in batches)
    for label in ("metrics off", "metrics on"):
        if label == "metrics on":
            sink.add_observer(Metrics().observe)
        t0 = time.perf_counter()
        for b in batches:
            for e in b:
                sink.put(e)
            sink.flush_now()
        dt = time.perf_counter() - t0
        print(f"raising, {label}: {rows:,} rows in {len(batches)} batches: {dt / rows * 1e6:.2f} µs a row, put "
              f"included ({dt / len(batches) * 1000:.1f} ms a batch of {args.batch})")
    alerts = sink.conn.execute("SELECT count(*), sum(count) FROM alerts").fetchone()
    print(f"{alerts[0]} alert(s) holding {alerts[1]:,} attempts")


if __name__ == "__main__":
    main()
