"""What `hearth backup` and `hearth restore` cost on a family's log: time, file size and peak memory.

    .venv/bin/python bench/backup.py [--db /tmp/hearth-bench/querylog-5000000-v1.db]

Uses a query log built by bench/querylog.py (the largest one under /tmp/hearth-bench/ by default; build one with
`bench/querylog.py --rows 5000000` first). Each step runs the real command in a child process, so its peak memory
(ru_maxrss) is its own. Prints one line per step. Target: a 90-day log backs up in well under a minute on a Pi and
never holds the database in memory (peak far below the file's size).
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEARTH = [sys.executable, "-m", "appliance.cli"]


def step(name: str, args: list[str], env: dict) -> None:
    t0 = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    r = subprocess.run([*HEARTH, *args], capture_output=True, text=True, env=env, cwd=ROOT)
    took = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if r.returncode != 0:
        raise SystemExit(f"{name} failed: {r.stdout}{r.stderr}")
    # ru_maxrss of children is the largest child so far: a step that used less shows the earlier peak ("<=").
    mark = "" if peak > before else "<="
    print(f"{name:<28} {took:7.2f} s   peak memory {mark}{peak / 1024:6.0f} MB")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", type=Path)
    args = ap.parse_args()
    db = args.db or max(Path("/tmp/hearth-bench").glob("querylog-*-v*.db"), key=lambda p: p.stat().st_size,
                        default=None)
    if db is None or not db.exists():
        raise SystemExit("no query log to back up: run bench/querylog.py first (or give --db)")
    with tempfile.TemporaryDirectory(dir=Path.home()) as tmp:
        tmp = Path(tmp)
        data = tmp / "var"
        data.mkdir()
        src = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        dst = sqlite3.connect(data / "hearth.db")
        src.backup(dst)
        dst.close()
        src.close()
        rows = sqlite3.connect(data / "hearth.db").execute("SELECT count(*) FROM queries").fetchone()[0]
        cfg = tmp / "hearth.yaml"
        cfg.write_text(f"timezone: Europe/Paris\ndata_dir: {data}\n")
        env = {**os.environ, "HEARTH_LOG": "WARNING"}
        size = (data / "hearth.db").stat().st_size
        print(f"query log: {rows:,} rows, {size / 1e6:.0f} MB ({db.name})")
        step("backup (with the log)", ["backup", str(tmp / "full.tar.gz"), "--config", str(cfg)], env)
        print(f"{'':<28} file {(tmp / 'full.tar.gz').stat().st_size / 1e6:.0f} MB")
        step("backup --no-log", ["backup", str(tmp / "small.tar.gz"), "--no-log", "--config", str(cfg)], env)
        print(f"{'':<28} file {(tmp / 'small.tar.gz').stat().st_size / 1e6:.2f} MB")
        step("restore --check", ["restore", str(tmp / "full.tar.gz"), "--check", "--config", str(cfg)], env)
        step("restore (with the log)", ["restore", str(tmp / "full.tar.gz"), "--config", str(cfg)], env)
        shutil.rmtree(tmp / "var")


if __name__ == "__main__":
    main()
