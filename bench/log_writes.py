#!/usr/bin/env python3
"""What the query log writes to the disk (the SD card's wear): bytes the kernel was asked to write per commit and
per row, for a few commit sizes, page sizes and WAL checkpoint sizes, on a real SQLite file in /var/tmp (a disk,
not RAM), and which tables and indexes the pages of a commit belong to (read from the WAL's frame headers).

12 devices of 4 children asking from a set of known names; each commit is what the writer does once a batch is due
(querylog.INTERVAL). Read with ``query_log: {storage: memory}`` in mind: that setting writes none of this to the card.

    .venv/bin/python bench/log_writes.py [--commits 1000] [--names 300] [--page-sizes 4096,1024]
"""
from __future__ import annotations

import argparse
import collections
import random
import shutil
import sqlite3
import struct
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from appliance.model import Action, Client, Decision, Reason  # noqa: E402
from appliance.state import db  # noqa: E402
from appliance.state.querylog import INTERVAL, WAL_BYTES, Entry, QueryLog  # noqa: E402

T0 = 1.78e9


def written() -> int:
    for line in open("/proc/self/io"):
        if line.startswith("write_bytes"):
            return int(line.split()[1])
    return 0


class Family:
    """The bench's home: its devices, decisions, names, and a seeded stream of rows."""

    def __init__(self, names: int):
        self.clients = [Client(f"192.168.1.{i}", None, f"dev{i}", f"child{i % 4}") for i in range(12)]
        self.allow = {c.profile: Decision(Action.ALLOW, Reason.NONE, c.profile) for c in self.clients}
        self.pool = [f"www.site{i}.example" for i in range(names)]
        self.rng = random.Random(1)

    def known(self) -> list[Entry]:
        return [Entry(T0, self.clients[0], n, 1, self.allow["child0"], 0, False, None, None, 1) for n in self.pool]

    def batch(self, b: int, rows: int) -> list[Entry]:
        out = []
        for j in range(rows):
            c = self.rng.choice(self.clients)
            out.append(Entry(T0 + 1 + b * INTERVAL + j / 1000, c, self.rng.choice(self.pool), 1,
                             self.allow[c.profile], 0, False, None, None, 1))
        return out


def new_log(tmp: str, page_size: int) -> QueryLog:
    path = Path(tmp) / "hearth.db"
    saved, db.PAGE_SIZE = db.PAGE_SIZE, page_size      # the size a new file gets (db.connect)
    try:
        log = QueryLog(path)
        log._open()
    finally:
        db.PAGE_SIZE = saved
    return log


def run(commits: int, rows: int, names: int, checkpoint: int, page_size: int) -> tuple[float, float]:
    """(bytes per commit, bytes per row)."""
    tmp = tempfile.mkdtemp(prefix="hearth-writes-", dir="/var/tmp")
    try:
        log = new_log(tmp, page_size)
        log._open().execute(f"PRAGMA wal_autocheckpoint={checkpoint}")     # the writer's own: WAL_BYTES
        home = Family(names)
        log._write(home.known(), [])
        before = written()
        for b in range(commits):
            log._write(home.batch(b, rows), [])
        log.close()
        total = written() - before
        return total / commits, total / (commits * rows)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def pages(commits: int, rows: int, names: int, page_size: int, history: int = 20_000) -> tuple[float, dict]:
    """Frames a commit appends to the WAL, and how many belong to each table and index, after ``history`` rows.
    The WAL is read before any checkpoint (autocheckpoint off), so every frame of these commits is in it."""
    tmp = tempfile.mkdtemp(prefix="hearth-pages-", dir="/var/tmp")
    try:
        log = new_log(tmp, page_size)
        conn = log._open()
        conn.execute("PRAGMA wal_autocheckpoint=0")
        home = Family(names)
        log._write(home.known(), [])
        for b in range(history // 100):
            log._write(home.batch(b, 100), [])
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        for b in range(commits):
            log._write(home.batch(history // 100 + b, rows), [])
        owner = dict(conn.execute("SELECT pageno, name FROM dbstat"))
        wal = (Path(tmp) / "hearth.db-wal").read_bytes()
        log.close()
        size = struct.unpack(">I", wal[8:12])[0]
        per: collections.Counter = collections.Counter()
        frames, off = 0, 32                         # the WAL header, then (24-byte header + page) per frame
        while off + 24 + size <= len(wal):
            per[owner.get(struct.unpack(">I", wal[off:off + 4])[0], "(free)")] += 1
            frames += 1
            off += 24 + size
        return frames / commits, {k: n / commits for k, n in per.most_common()}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--commits", type=int, default=1000)
    ap.add_argument("--names", type=int, default=300)
    ap.add_argument("--page-sizes", default=f"4096,{db.PAGE_SIZE}" if db.PAGE_SIZE != 4096 else "4096")
    ap.add_argument("--rows", default="1,10,100", help="rows a commit, comma-separated")
    ap.add_argument("--checkpoints", help="wal_autocheckpoint values, pages (default: SQLite's 1000 and the writer's)")
    args = ap.parse_args()
    sizes = [int(x) for x in args.page_sizes.split(",")]
    counts = [int(x) for x in args.rows.split(",")]
    rate = 1 / INTERVAL
    print(f"{args.commits:,} commits over {args.names} known names; kernel write_bytes of this process; "
          f"the writer commits at most {rate:.2f} times a second (querylog.INTERVAL {INTERVAL} s)")
    print(f"{'page size':>9} {'rows a commit':>14} {'wal_autocheckpoint':>19} {'KB a commit':>12} {'bytes a row':>12} "
          f"{'GB a day at 2 commits/s':>24} {f'GB a day at {rate:.2f}/s':>20}")
    for size in sizes:
        for rows in counts:
            mine = WAL_BYTES // size
            for checkpoint in [int(x) for x in args.checkpoints.split(",")] if args.checkpoints else (1000, mine):
                per_commit, per_row = run(args.commits, rows, args.names, checkpoint, size)
                print(f"{size:>9} {rows:>14} {checkpoint:>19} {per_commit / 1024:>12.1f} {per_row:>12,.0f} "
                      f"{per_commit * 2 * 86400 / 1e9:>24.2f} {per_commit * rate * 86400 / 1e9:>20.2f}")
    print("\npages a commit appends to the WAL, by table and index (200 commits after 20,000 rows of history)")
    for size in sizes:
        for rows in counts:
            frames, per = pages(200, rows, args.names, size)
            print(f"{size:>6} B pages, {rows:>3} rows: {frames:5.1f} frames ({frames * (size + 24) / 1024:6.1f} KB): "
                  + ", ".join(f"{k} {n:.1f}" for k, n in per.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
