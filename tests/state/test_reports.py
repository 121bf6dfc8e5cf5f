"""The reader: every filter against a brute-force reading of the same rows, both search strategies, keyset pages
stable while rows are written, day summaries across a DST change, devices, totals, and a read-only user."""
from __future__ import annotations

import asyncio
import os
import random
import shutil
import sqlite3
import subprocess
import tempfile
import threading
from dataclasses import replace
from datetime import date, datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from appliance.state import reports as reportsmod
from appliance.state.querylog import QueryLog
from appliance.state.reports import BadFilter, LogFilter, Reports
from tests.state.conftest import DEVICES, T0, decision, entry, write

UTC = timezone.utc
NAMES = ["www.tiktok.com", "api.tiktokv.com", "omegle.com", "www.example.com", "i.ytimg.com", "_dmarc.example",
         "khanacademy.org", "100%.example"]
DECISIONS = {
    "emma": [decision("emma"), decision("emma", "block", "APP", list="app:tiktok", rule="tiktok.com"),
             decision("emma", "block", "SCHEDULE", schedule="bedtime"),
             decision("emma", "block", "CATEGORY", list="random-chat", rule="omegle.com"),
             decision("emma", "allow", "ALLOW_LIST", list="allow", rule="khanacademy.org")],
    "leo": [decision("leo"), decision("leo", "block", "DENY_LIST", list="deny", rule="example.com"),
            decision("leo", "rewrite", "SAFE_SEARCH", list="google", target="forcesafesearch.google.com")],
    "default": [decision("default"), decision("default", "block", "CATEGORY", list="random-chat", rule="omegle.com")],
}


@pytest.fixture(scope="module")
def logdb(tmp_path_factory):
    """12,000 entries over about three days (three blocks of the name index), in batches of 500, with every kind of
    field; one name only in the first hundred."""
    db = tmp_path_factory.mktemp("reports") / "hearth.db"
    rng = random.Random(8)
    log = QueryLog(db)
    es = []
    for i in range(12_000):
        dev = rng.choice(list(DEVICES))
        c = DEVICES[dev]
        name = "early-only.example" if i < 100 and i % 10 == 0 else rng.choice(NAMES)
        es.append(entry(T0 + i * 20 + rng.random(), dev, name, rng.choice(DECISIONS[c.profile]),
                        count=rng.choice([1, 1, 1, 4]), source="proxy" if rng.random() < 0.1 else "dns"))
        if len(es) == 500:
            write(db, es, log)
            es = []
    return db


@pytest.fixture(scope="module")
def truths(logdb):
    return truth(logdb)


def truth(db: Path) -> list[dict]:
    c = sqlite3.connect(db)
    c.row_factory = sqlite3.Row
    rows = [dict(r) for r in c.execute("SELECT * FROM query_log ORDER BY id DESC")]
    c.close()
    return rows


def at(days: float) -> datetime:
    return datetime.fromtimestamp(T0 + days * 86400, UTC)


FILTERS = [
    (LogFilter(), lambda r: True),
    (LogFilter(profile="emma"), lambda r: r["profile"] == "emma"),
    (LogFilter(device="emma-phone"), lambda r: r["device"] == "emma-phone"),
    (LogFilter(device="02:00:00:00:00:03"), lambda r: r["mac"] == "02:00:00:00:00:03"),
    (LogFilter(device="192.168.1.30"), lambda r: r["client"] == "192.168.1.30"),
    (LogFilter(domain="tik"), lambda r: "tik" in r["qname"]),
    (LogFilter(domain="TikTok.com."), lambda r: "tiktok.com" in r["qname"]),
    (LogFilter(domain="_"), lambda r: "_" in r["qname"]),                 # LIKE's wildcards are plain letters
    (LogFilter(domain="%"), lambda r: "%" in r["qname"]),
    (LogFilter(action="block"), lambda r: r["action"] == "block"),
    (LogFilter(blocked_only=True), lambda r: r["action"] == "block"),
    (LogFilter(action="allow", blocked_only=True), lambda r: False),
    (LogFilter(reason="schedule"), lambda r: r["reason"] == "SCHEDULE"),
    (LogFilter(reason="deny-list"), lambda r: r["reason"] == "DENY_LIST"),
    (LogFilter(list="tiktok"), lambda r: r["list"] == "app:tiktok"),
    (LogFilter(list="random-chat", profile="default"), lambda r: r["list"] == "random-chat"
     and r["profile"] == "default"),
    (LogFilter(source="proxy"), lambda r: r["source"] == "proxy"),
    (LogFilter(since=at(1)), lambda r: r["ts"] >= T0 + 86400),
    (LogFilter(until=at(1.5)), lambda r: r["ts"] < T0 + 1.5 * 86400),
    (LogFilter(since=at(0.5), until=at(0.75)), lambda r: T0 + 43200 <= r["ts"] < T0 + 64800),
    (LogFilter(profile="emma", blocked_only=True, since=at(1)), lambda r: r["profile"] == "emma"
     and r["action"] == "block" and r["ts"] >= T0 + 86400),
    (LogFilter(domain="omegle", device="tv"), lambda r: False),                # "tv" is no device name here
    (LogFilter(domain="omegle", device="192.168.1.30", source="dns"), lambda r: "omegle" in r["qname"]
     and r["client"] == "192.168.1.30" and r["source"] == "dns"),
    (LogFilter(domain="nothing-like-this"), lambda r: False),
    (LogFilter(domain="early-only"), lambda r: r["qname"] == "early-only.example"),
    (LogFilter(domain="early-only", until=at(0.01)), lambda r: r["qname"] == "early-only.example"
     and r["ts"] < T0 + 864),
    (LogFilter(domain="khan", profile="emma", since=at(1), until=at(2)), lambda r: "khan" in r["qname"]
     and r["profile"] == "emma" and T0 + 86400 <= r["ts"] < T0 + 2 * 86400),
]


@pytest.mark.parametrize("strategy", ["narrow", "broad", "small-windows", "name-scan"])
@pytest.mark.parametrize("f, keep", FILTERS, ids=[str(i) for i in range(len(FILTERS))])
def test_search_pages_give_exactly_the_matching_rows_newest_first(logdb, truths, monkeypatch, strategy, f, keep):
    if strategy == "broad":
        monkeypatch.setattr(reportsmod, "NARROW", 0)          # every set walks the table
    elif strategy == "small-windows":
        monkeypatch.setattr(reportsmod, "WINDOWS", (3, 10, 40, None))
    elif strategy == "name-scan":                              # a domain's names scanned, not sought
        monkeypatch.setattr(reportsmod, "SEEK_NAMES", 0)
        monkeypatch.setattr(reportsmod, "WINDOWS", (5, 50, None))
    expected = [r["id"] for r in truths if keep(r)]
    limit = max(7, len(expected) // 12)          # a dozen pages or so, whatever the size
    got, cursor = [], None
    with Reports(logdb) as r:
        for _ in range(200):
            page = r.search(f, limit=limit, cursor=cursor)
            got += [e.id for e in page.entries]
            cursor = page.next_cursor
            if cursor is None:
                break
    assert got == expected


def test_entries_carry_the_whole_decision(logdb):
    row = next(r for r in truth(logdb) if r["reason"] == "APP")
    with Reports(logdb) as r:
        e = r.entry(row["id"])
    assert (e.qname, e.device, e.profile, e.action, e.reason, e.list, e.rule, e.count, e.source) == (
        row["qname"], row["device"], row["profile"], "block", "APP", "app:tiktok", "tiktok.com", row["count"],
        row["source"])
    assert e.decision == decision(e.profile, "block", "APP", list="app:tiktok", rule="tiktok.com")
    assert e.ts.tzinfo is not None and abs(e.ts.timestamp() - row["ts"]) < 0.001


@pytest.mark.parametrize("f, message", [
    (LogFilter(action="deny"), "unknown verdict"),
    (LogFilter(reason="because"), "unknown reason"),
    (LogFilter(source="mail"), "unknown source"),
])
def test_bad_filters_are_refused_in_words(logdb, f, message):
    with Reports(logdb) as r, pytest.raises(BadFilter, match=message):
        r.search(f)


def test_a_cursor_that_is_not_one_is_refused_in_words(logdb):
    with Reports(logdb) as r, pytest.raises(BadFilter, match="page link"):
        r.search(LogFilter(), cursor="not-a-cursor")


def test_pages_stay_stable_while_rows_are_written(tmp_path):
    db = tmp_path / "hearth.db"
    log = write(db, [entry(T0 + i, qname=f"n{i % 40}.example") for i in range(3000)])
    stop = threading.Event()

    def writer():
        async def go():
            i = 0
            while not stop.is_set():
                for _ in range(200):
                    log.put(entry(T0 + 10_000 + i, qname=f"n{i % 40}.example"))
                    i += 1
                await log.flush()
        asyncio.run(go())
    t = threading.Thread(target=writer)
    t.start()
    try:
        got, cursor = [], None
        with Reports(db) as r:
            while True:
                page = r.search(LogFilter(domain="n1"), limit=25, cursor=cursor)
                got += [e.id for e in page.entries]
                cursor = page.next_cursor
                if cursor is None:
                    break
    finally:
        stop.set()
        t.join()
    top = got[0]
    expected = [r["id"] for r in truth(db) if "n1" in r["qname"] and r["id"] <= top]
    assert got == expected and len(set(got)) == len(got)
    assert log.written > 3000          # the writer did write meanwhile


PARIS = ZoneInfo("Europe/Paris")


def test_day_summary_counts_repeats_and_a_dst_day_has_25_hours_in_24_slots(tmp_path):
    db = tmp_path / "hearth.db"
    day = date(2026, 10, 25)                    # clocks go back at 03:00: 02:00-03:00 happens twice
    start = datetime(2026, 10, 25, tzinfo=PARIS).timestamp()
    allow = decision("emma")
    tiktok = decision("emma", "block", "APP", list="app:tiktok", rule="tiktok.com")
    chat = decision("emma", "block", "CATEGORY", list="random-chat", rule="omegle.com")
    es = [entry(start + h * 3600 + 60, qname="www.example.com", d=allow) for h in range(25)]
    es += [entry(start + 20 * 3600, qname="www.tiktok.com", d=tiktok, count=5),
           entry(start + 20 * 3600 + 5, qname="api.tiktokv.com", d=tiktok),
           entry(start + 21 * 3600, qname="omegle.com", d=chat, count=2),
           entry(start - 60, qname="yesterday.example", d=tiktok),               # the day before, local time
           entry(start + 25 * 3600 + 60, qname="tomorrow.example", d=tiktok),     # the day after
           entry(start + 3600, "leo-tablet", "leo.example", decision("leo"))]
    write(db, sorted(es, key=lambda e: e.ts))
    with Reports(db) as r:
        s = r.day_summary("emma", day, PARIS)
        assert (s.queries, s.blocks) == (25 + 5 + 1 + 2, 8)
        assert s.top_domains == (("www.tiktok.com", 5), ("omegle.com", 2), ("api.tiktokv.com", 1))
        assert s.top_apps == (("tiktok", 6),) and s.top_categories == (("random-chat", 2),)
        assert len(s.by_hour) == 24 and sum(s.by_hour) == s.queries
        assert s.by_hour[2] == 2 and s.by_hour[1] == 1 and s.by_hour[3] == 1    # 02:xx twice
        # 20 hours after midnight on a 25-hour day is 19:00 on the clock
        assert s.blocks_by_hour[19] == 6 and s.blocks_by_hour[20] == 2 and sum(s.blocks_by_hour) == 8
        week = r.activity_by_hour("emma", datetime(2026, 10, 20, tzinfo=PARIS), datetime(2026, 10, 30, tzinfo=PARIS),
                                  PARIS)
        assert sum(week) == s.queries + 2
        t = r.totals(datetime(2026, 10, 25, tzinfo=PARIS), datetime(2026, 10, 26, tzinfo=PARIS))
        assert {p: (x.queries, x.blocks) for p, x in t.items()} == {"emma": (33, 8), "leo": (1, 0)}
        assert r.day_summary("nobody", day, PARIS).queries == 0


def test_the_rollup_keeps_one_row_per_list_not_per_rule_and_the_summary_still_adds_up(tmp_path):
    """A blocked category matches by many rules; its counts share a rollup row per quarter hour, across batches
    and across a restart of the writer (which may file the tally under another of its decisions)."""
    db = tmp_path / "hearth.db"
    day = date(2026, 3, 2)
    start = datetime(2026, 3, 2, tzinfo=UTC).timestamp() + 3600
    rules = [decision("emma", "block", "CATEGORY", list="random-chat", rule=f"chat{i}.example") for i in range(40)]
    tiktok = [decision("emma", "block", "APP", list="app:tiktok", rule=r) for r in ("tiktok.com", "tiktokv.com")]
    for batch in range(3):
        log = QueryLog(db)          # a new writer each time: nothing remembered
        es = [entry(start + batch * 60 + i, qname=f"www.chat{i}.example", d=list(reversed(rules))[i] if batch else
                    rules[i], count=2) for i in range(40)]
        es += [entry(start + batch * 60 + 50, qname="www.tiktok.com", d=tiktok[batch % 2]),
               entry(start + batch * 60 + 51, qname="www.example.com", d=decision("emma"))]
        write(db, es, log)
        log.close()
    con = sqlite3.connect(db)
    assert con.execute("SELECT count(*) FROM rollup").fetchone()[0] == 3      # random-chat, tiktok, allowed
    con.close()
    with Reports(db) as r:
        s = r.day_summary("emma", day, UTC)
        assert (s.queries, s.blocks) == (3 * (80 + 2), 3 * 81)
        assert s.top_categories == (("random-chat", 240),) and s.top_apps == (("tiktok", 3),)
        assert s.by_hour[1] == s.queries and s.blocks_by_hour[1] == s.blocks


def test_devices_seen_say_whether_a_parent_assigned_them(tmp_path):
    db = tmp_path / "hearth.db"
    log = QueryLog(db)
    log.seen(DEVICES["tv"], T0)
    log.seen(DEVICES["emma-phone"], T0 + 10)
    write(db, [], log)
    log.seen(replace(DEVICES["emma-phone"], address="192.168.1.99"), T0 + 20)    # same MAC, a new address
    write(db, [], log)
    with Reports(db) as r:
        seen = r.devices()
    assert [(d.key, d.ip, d.device, d.assigned) for d in seen] == [
        ("02:00:00:00:00:01", "192.168.1.99", "emma-phone", True), ("192.168.1.30", "192.168.1.30", None, False)]
    assert seen[0].first_seen == datetime.fromtimestamp(T0 + 10, UTC)
    assert seen[0].last_seen == datetime.fromtimestamp(T0 + 20, UTC)


READ = ("import sys; from appliance.state.reports import Reports, LogFilter; r = Reports(sys.argv[1]); "
        "print(len(r.search(LogFilter(), limit=1000).entries), len(r.devices()))")


SYSTEM_PY = "/usr/bin/python3"       # the venv's interpreter may live under /root, out of another user's reach


@pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists(SYSTEM_PY), reason="needs root and the system Python")
@pytest.mark.parametrize("daemon_running", [False, True])
def test_a_user_who_cannot_write_the_data_folder_reads_the_log(daemon_running):
    folder = Path(tempfile.mkdtemp(dir="/tmp"))
    try:
        folder.chmod(0o755)
        db = folder / "hearth.db"
        log = write(db, [entry(T0 + i) for i in range(5)])
        log.seen(DEVICES["tv"], T0)
        write(db, [entry(T0 + 9)], log)
        if not daemon_running:
            log.close()                     # a clean stop: no -wal, no -shm left for the reader
            assert not (folder / "hearth.db-shm").exists()
        for p in folder.iterdir():
            p.chmod(0o644)
        r = subprocess.run([SYSTEM_PY, "-c", READ, str(db)], user="nobody", capture_output=True, text=True,
                           cwd="/", env={"PYTHONPATH": str(Path(__file__).resolve().parents[2])})
        assert r.returncode == 0, r.stderr
        assert r.stdout.split() == ["6", "1"]
        assert not any(p.owner() == "nobody" for p in folder.iterdir())
        log.close()
    finally:
        shutil.rmtree(folder)


def test_summaries_of_an_empty_or_missing_log_are_zero(tmp_path):
    with Reports(tmp_path / "none.db") as r:
        s = r.day_summary("emma", date(2026, 11, 30), PARIS)
        assert (s.queries, s.blocks, s.by_hour) == (0, 0, (0,) * 24)
        assert r.totals(at(0), at(1)) == {} and r.activity_by_hour("emma", at(0), at(1), PARIS) == (0,) * 24
