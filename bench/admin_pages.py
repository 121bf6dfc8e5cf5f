"""The admin's pages over a big query log: median time to answer each page (Flask in process: the reader's
queries plus the rendering), the issue's target being under 300 ms at 5M rows.

Uses the log that bench/querylog.py builds and keeps under /tmp/hearth-bench/ (run that first; --db names another
file). The log is copied into a temporary data dir first: the admin's other stores (alerts) add their tables to
hearth.db, and the bench must leave the cached file as it found it.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def newest_bench_db() -> Path | None:
    found = sorted(Path("/tmp/hearth-bench").glob("querylog-*.db"), key=lambda p: p.stat().st_size)
    return found[-1] if found else None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", type=Path, default=None, help="a hearth.db (default: the largest bench/querylog.py one)")
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    path = args.db or newest_bench_db()
    if path is None or not path.exists():
        print("no log to read: run bench/querylog.py first (or give --db)", file=sys.stderr)
        return 1
    from appliance.state.admin import AdminStore
    from appliance.state.reports import LogFilter, Reports
    from web_admin import create_app

    with Reports(path) as r:       # the family, as the log names it (the bench writes no devices_seen rows)
        recent = r.search(LogFilter(), limit=500).entries
    last = recent[0].ts
    kids: dict[str, list[str]] = {}
    macs: dict[str, str] = {}
    for e in recent:
        if e.device and e.profile != "default" and e.mac and e.device not in macs:
            macs[e.device] = e.mac
            kids.setdefault(e.profile, []).append(e.device)
    named = list(macs)
    tmp = Path(tempfile.mkdtemp(prefix="hearth-admin-bench-"))
    (tmp / "var").mkdir()
    shutil.copyfile(path, tmp / "var" / "hearth.db")
    cfg = {"timezone": "Europe/Paris", "data_dir": str(tmp / "var"), "admin": {"listen": "127.0.0.1:8099"},
           "devices": [{"name": n, "mac": macs[n]} for n in named],
           "profiles": {p: {"devices": ds} for p, ds in kids.items()}}
    (tmp / "hearth.yaml").write_text(yaml.safe_dump(cfg))
    app = create_app(tmp / "hearth.yaml", {"HEARTH_NOW": last + timedelta(minutes=1), "NOTIFY_DAEMON": False})
    store = AdminStore.in_dir(tmp / "var")
    store.setup_password("bench password")
    store.close()
    app.config["WTF_CSRF_ENABLED"] = False          # the bench logs in without reading a form first
    c = app.test_client()
    assert c.post("/login", data={"password": "bench password"}).status_code == 302
    child = next(iter(kids), None)
    pages = [("log: blocked, last 24 h", "/log/"), ("log: everything, last 24 h", "/log/?show=all"),
             (f"log: {child}, 30 days", f"/log/?child={child}&span=30d"),
             ("log: domain contains 'tiktok', all kept", "/log/?domain=tiktok&span=all"),
             ("log: reason SCHEDULE, 7 days", "/log/?reason=SCHEDULE&span=7d"),
             ("dashboard (every child's day)", "/"), ("devices", "/devices/"),
             ("api: log page of 50", "/api/v1/log?show=all&span=all")]
    with Reports(path) as r:
        cursor = None
        for _ in range(20):
            cursor = r.search(LogFilter(), limit=50, cursor=cursor).next_cursor
    pages.append(("log: page 21, all kept", f"/log/?show=all&span=all&cursor={cursor}"))
    print(f"log: {path} ({path.stat().st_size / 1e6:,.0f} MB); {len(kids)} children; median of {args.runs}")
    worst = 0.0
    for label, url in pages:
        times = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            resp = c.get(url)
            times.append(time.perf_counter() - t0)
            assert resp.status_code == 200, (url, resp.status_code, resp.get_data(as_text=True)[:300])
        med = statistics.median(times) * 1000
        worst = max(worst, med)
        print(f"  {label:<42} {med:8.1f} ms")
    print(f"slowest page: {worst:.1f} ms (target: under 300 ms)")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
