#!/usr/bin/env python3
"""What the query log writes to the disk (the SD card's wear): bytes the kernel was asked to write per commit and
per row, for a few commit sizes and WAL checkpoint sizes, on a real SQLite file in /var/tmp (a disk, not RAM).

12 devices of 4 children asking from a set of known names; each commit is what the writer does every half second.
Read with ``query_log: {storage: memory}`` in mind: that setting writes none of this to the card.

    .venv/bin/python bench/log_writes.py [--commits 1000] [--names 300]
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from appliance.model import Action, Client, Decision, Reason  # noqa: E402
from appliance.state.querylog import Entry, QueryLog  # noqa: E402


def written() -> int:
    for line in open("/proc/self/io"):
        if line.startswith("write_bytes"):
            return int(line.split()[1])
    return 0


def run(commits: int, rows: int, names: int, checkpoint: int) -> tuple[float, float]:
    """(bytes per commit, bytes per row)."""
    tmp = tempfile.mkdtemp(prefix="hearth-writes-", dir="/var/tmp")
    try:
        log = QueryLog(Path(tmp) / "hearth.db")
        log._open().execute(f"PRAGMA wal_autocheckpoint={checkpoint}")
        clients = [Client(f"192.168.1.{i}", None, f"dev{i}", f"child{i % 4}") for i in range(12)]
        allow = {c.profile: Decision(Action.ALLOW, Reason.NONE, c.profile) for c in clients}
        pool = [f"www.site{i}.example" for i in range(names)]
        rng = random.Random(1)
        t0 = 1.78e9
        log._write([Entry(t0, clients[0], n, 1, allow["child0"], 0, False, None, None, 1) for n in pool], [])
        before = written()
        for b in range(commits):
            batch = []
            for j in range(rows):
                c = rng.choice(clients)
                batch.append(Entry(t0 + 1 + b * 0.5 + j / 1000, c, rng.choice(pool), 1, allow[c.profile], 0, False,
                                   None, None, 1))
            log._write(batch, [])
        log.close()
        total = written() - before
        return total / commits, total / (commits * rows)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--commits", type=int, default=1000)
    ap.add_argument("--names", type=int, default=300)
    args = ap.parse_args()
    print(f"{args.commits:,} commits over {args.names} known names; kernel write_bytes of this process")
    print(f"{'rows a commit':>14} {'wal_autocheckpoint':>19} {'KB a commit':>12} {'bytes a row':>12} "
          f"{'GB a day at 2 commits/s':>24}")
    for rows in (1, 10, 100):
        for checkpoint in (1000, 10000):
            per_commit, per_row = run(args.commits, rows, args.names, checkpoint)
            print(f"{rows:>14} {checkpoint:>19} {per_commit / 1024:>12.0f} {per_row:>12,.0f} "
                  f"{per_commit * 2 * 86400 / 1e9:>24.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
