"""The budget sink's cost: what the DNS path pays per query (``put``: memory only), what a batch
costs in the worker thread, and what the daemon's poll pays to re-read what is spent.

A trace of a family evening: 3 children with 2 budgets each over the shipped catalog, each child's devices asking
a mix of names every second (about one in five a foreground host), for an hour. Prints per-call costs and one
batch's time; nothing is asserted (numbers, not tests).
"""
from __future__ import annotations

import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from appliance import config as configmod                     # noqa: E402
from appliance.model import Action, Client, Decision, Reason  # noqa: E402
from appliance.state import db                                # noqa: E402
from appliance.state.budgets import BudgetSink, BudgetStore   # noqa: E402
from appliance.state.querylog import Entry                    # noqa: E402

NAMES = ["rr3---sn-abc.googlevideo.com", "www.youtube.com", "youtubei.googleapis.com", "i.ytimg.com",
         "v16-webapp.tiktokcdn.com", "api16-normal-c-useast1a.tiktokv.com", "gamejoin.roblox.com",
         "apis.roblox.com", "www.wikipedia.org", "fonts.gstatic.com", "www.google.com", "graph.facebook.com",
         "clients4.google.com", "weather.example.com", "mail.example.net"]


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        kids = ("emma", "leo", "zoe")
        data = {"timezone": "Europe/Paris", "data_dir": tmp,
                "devices": [{"name": f"{k}-{i}", "mac": f"aa:bb:cc:dd:{n:02x}:{i:02x}"}
                            for n, k in enumerate(kids) for i in range(2)],
                "profiles": {k: {"devices": [f"{k}-0", f"{k}-1"],
                                 "budgets": [{"name": "videos", "apps": ["youtube", "tiktok"], "minutes": 600},
                                             {"name": "games", "block": ["games"], "minutes": 600}]}
                             for k in kids}}
        config = configmod.parse(data, catalog=configmod.catalog_names(configmod.SHIPPED_BLOCKLISTS),
                                 base_dir=Path(tmp))
        path = db.db_path(tmp)
        sink = BudgetSink(config, path)
        clients = [Client("192.168.1.%d" % i, None, f"{k}-{j}", k) for i, (k, j) in
                   enumerate((k, j) for k in kids for j in range(2))]
        rnd = random.Random(7)
        t0 = 1764600000.0
        entries = [Entry(t0 + s, c, rnd.choice(NAMES), 1, Decision(Action.ALLOW, Reason.NONE, c.profile), 0, False,
                         None, None, 1) for s in range(3600) for c in clients]
        start = time.perf_counter()
        batch_s = 0.0
        batches = 0
        for i, e in enumerate(entries):
            sink.put(e)
            if i % (2 * len(clients)) == 0:         # one batch every 2 s of trace, as the daemon does
                b0 = time.perf_counter()
                sink.flush_now()
                batch_s += time.perf_counter() - b0
                batches += 1
        total = time.perf_counter() - start - batch_s
        print(f"put: {total / len(entries) * 1e9:.0f} ns per query ({len(entries)} queries)")
        other = Entry(t0, Client("192.168.1.200", None, None, "default"), "www.youtube.com", 1,
                      Decision(Action.ALLOW, Reason.NONE, "default"), 0, False, None, None, 1)
        n = 200_000
        p0 = time.perf_counter()
        for _ in range(n):
            sink.put(other)
        print(f"put, a profile without budgets: {(time.perf_counter() - p0) / n * 1e9:.0f} ns per query")
        print(f"batch (2 s of 6 devices, off the DNS path): {batch_s / batches * 1e3:.2f} ms mean over {batches}")
        with BudgetStore(path) as s:
            r0 = time.perf_counter()
            for _ in range(1000):
                s.stamp()
            print(f"poll: stamp read {(time.perf_counter() - r0) / 1000 * 1e6:.1f} us")
            from datetime import datetime
            day = datetime.fromtimestamp(t0, config.tz).date()
            r0 = time.perf_counter()
            for _ in range(100):
                spent = s.spent(config, day)
            print(f"re-read what is spent (6 budgets, an hour of minutes): {(time.perf_counter() - r0) / 100 * 1e3:.2f} ms")
            used = {(u.profile, u.budget): u.used for u in s.usage(config, day)}
            print(f"minutes counted in the hour: {used} (spent: {spent})")
        sink.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
