#!/usr/bin/env python3
"""How long the query log's writer holds up the event loop that answers DNS: the loop's lateness, in one process.

The loop wakes 2,000 times a second (as it would for 2,000 queries), each time counting a hot-cache repeat on the
real stream the way the resolver does (half blocked names, half allowed, 6,000 names: about 1,900 rows a second
for the writer, as bench/dns_peers.py's hot mix gives), and records how late it woke. The writer is the real one, on
a real file in /var/tmp. Its Python work (building rows) holds the interpreter lock; each time the loop releases it
(every epoll_wait, every socket call) it may have to wait for the writer to give it back. The lateness percentiles,
with the log off and on, for each interpreter switch interval, in interleaved rounds:

    .venv/bin/python bench/log_stall.py [--seconds 5] [--rounds 3] [--switch 0.005,0.001,0.0005]
"""
from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from appliance.model import Action, Client, Decision, Reason  # noqa: E402
from appliance.state.querylog import QueryLog  # noqa: E402
from appliance.stream import Stream  # noqa: E402

RATE = 2000


def hot_entries(n: int) -> list[SimpleNamespace]:
    rng = random.Random(3)
    out = []
    for i in range(n):
        if i % 2:
            d = Decision(Action.BLOCK, Reason.CATEGORY, "leo", "bench-list", f"blocked{i}.example")
            out.append(SimpleNamespace(qname=f"www.blocked{i}.example", qtype=1, decision=d, rcode=0, source="dns"))
        else:
            d = Decision(Action.ALLOW, Reason.NONE, "leo")
            out.append(SimpleNamespace(qname=f"site{i}.allowed.example", qtype=1, decision=d, rcode=0, source="dns"))
    rng.shuffle(out)
    return out


async def measure(log: QueryLog | None, seconds: float, hot: list) -> list[float]:
    """Lateness of each wake-up, in ms."""
    loop = asyncio.get_running_loop()
    stream = Stream([log] if log else [])
    task = asyncio.create_task(log.run()) if log else None
    client = Client("127.0.0.1", None, "bench-laptop", "leo")
    late, step, i = [], 1 / RATE, 0
    start = loop.time()
    end = start + seconds
    due = start
    while due < end:
        due += step
        await asyncio.sleep(max(0.0, due - loop.time()))
        now = loop.time()
        late.append((now - due) * 1000)
        stream.repeat(int(time.time()), client, hot[i % len(hot)])
        i += 1
    if task:
        await log.flush()
        task.cancel()
    return late


def pct(v: list[float], p: float) -> float:
    v = sorted(v)
    return v[min(len(v) - 1, int(p / 100 * len(v)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--switch", default="0.005,0.001,0.0005", help="sys.setswitchinterval values (seconds)")
    args = ap.parse_args()
    hot = hot_entries(6000)
    tmp = Path(tempfile.mkdtemp(prefix="hearth-stall-", dir="/var/tmp"))
    cases = [("log off", None)] + [(f"log on, switch {float(s) * 1000:g} ms", float(s))
                                   for s in args.switch.split(",")]
    res: dict[str, dict[str, list]] = {c: {} for c, _ in cases}
    try:
        for r in range(args.rounds):
            for k, (label, switch) in enumerate(cases):
                sys.setswitchinterval(switch or 0.005)
                log = QueryLog(tmp / f"{k}-{r}.db") if switch is not None else None
                late = asyncio.run(measure(log, args.seconds, hot))
                for key, q in (("p50", 50), ("p99", 99), ("p999", 99.9)):
                    res[label].setdefault(key, []).append(pct(late, q))
                res[label].setdefault("max", []).append(max(late))
                if log:
                    res[label].setdefault("rows", []).append(log.written / args.seconds)
                    log.close()
    finally:
        sys.setswitchinterval(0.005)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"the loop's lateness at {RATE:,} wake-ups a second, ms (median of {args.rounds} rounds of "
          f"{args.seconds:g} s; every round in brackets)")
    print(f"{'':<28}{'p50':>8}{'p99':>22}{'p99.9':>26}{'max':>10}{'rows/s':>9}")
    for label, _ in cases:
        m = res[label]
        line = f"{label:<28}{statistics.median(m['p50']):>8.3f}"
        for key in ("p99", "p999"):
            line += f"{statistics.median(m[key]):>8.2f} [{' '.join(f'{x:.1f}' for x in m[key])}]".rjust(
                22 if key == "p99" else 26)
        line += f"{statistics.median(m['max']):>10.1f}"
        line += f"{statistics.median(m['rows']):>9,.0f}" if "rows" in m else ""
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
