"""The writer: what it keeps (log_allowed, per profile), repeats, sources, and retention pruning."""
from __future__ import annotations

import asyncio
import sqlite3
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from appliance import config as configmod
from appliance.state.querylog import MAX_DEVICES_SEEN, QueryLog
from appliance.state.reports import LogFilter, Reports
from appliance.stream import Stream
from tests.state.conftest import DEVICES, T0, decision, entry, write


def config(tmp_path: Path, query_log: str = "", emma: str = "", leo: str = ""):
    p = tmp_path / "hearth.yaml"
    p.write_text(f"""
timezone: Europe/Paris
data_dir: {tmp_path / 'var'}
devices:
  - {{name: emma-phone, mac: "02:00:00:00:00:01"}}
  - {{name: leo-tablet, mac: "02:00:00:00:00:03"}}
profiles:
  emma: {{devices: [emma-phone], block: [random-chat]{emma}}}
  leo: {{devices: [leo-tablet]{leo}}}
query_log: {{{query_log}}}
""")
    return configmod.load(p)


def names(path: Path, **f) -> list[tuple[str, str]]:
    with Reports(path) as r:
        return sorted((e.profile, e.action) for e in r.search(LogFilter(**f), limit=1000).entries)


ALL = [("emma", "allow"), ("emma", "block"), ("emma", "rewrite"), ("leo", "allow"), ("leo", "block")]


@pytest.mark.parametrize("query_log, emma, leo, kept", [
    ("", "", "", ALL),
    ("log_allowed: false", "", "", [("emma", "block"), ("emma", "rewrite"), ("leo", "block")]),
    ("", ", log_allowed: false", "", [("emma", "block"), ("emma", "rewrite"), ("leo", "allow"), ("leo", "block")]),
    ("log_allowed: false", "", ", log_allowed: true", [("emma", "block"), ("emma", "rewrite"), ("leo", "allow"),
                                                       ("leo", "block")]),
    ("enabled: false", "", "", []),
], ids=["all", "house-blocks-only", "emma-blocks-only", "leo-overrides-house", "disabled"])
def test_log_allowed_keeps_blocks_always_and_allowed_as_configured(tmp_path, query_log, emma, leo, kept):
    cfg = config(tmp_path, query_log, emma, leo)
    log = QueryLog(tmp_path / "hearth.db")
    log.configure(cfg)
    es = [entry(T0, "emma-phone", "a.example", decision("emma")),
          entry(T0 + 1, "emma-phone", "omegle.com", decision("emma", "block", "CATEGORY", list="random-chat")),
          entry(T0 + 2, "emma-phone", "www.google.com", decision("emma", "rewrite", "SAFE_SEARCH", list="google")),
          entry(T0 + 3, "leo-tablet", "b.example", decision("leo")),
          entry(T0 + 4, "leo-tablet", "c.example", decision("leo", "block", "SCHEDULE", schedule="bedtime"))]
    write(tmp_path / "hearth.db", es, log)
    # hot-cache repeats follow the same rule
    hot = type("Hot", (), {})()
    hot.qname, hot.qtype, hot.decision, hot.rcode = "a.example", 1, decision("emma"), 0
    Stream([log]).repeat(int(T0) + 9, DEVICES["emma-phone"], hot)
    asyncio.run(log.flush())
    got = names(tmp_path / "hearth.db") if (tmp_path / "hearth.db").exists() else []
    expect = list(kept)
    if ("emma", "allow") in kept:
        expect.append(("emma", "allow"))
    assert got == sorted(expect)
    assert log.dropped == 0


def test_repeats_in_one_second_are_one_row_with_their_count(tmp_path):
    db = tmp_path / "hearth.db"
    log = QueryLog(db)
    hot = type("Hot", (), {})()
    hot.qname, hot.qtype, hot.decision, hot.rcode = "i.ytimg.com", 1, decision("emma"), 0
    stream = Stream([log])
    for _ in range(7):
        stream.repeat(int(T0), DEVICES["emma-phone"], hot)
    stream.repeat(int(T0) + 1, DEVICES["emma-phone"], hot)
    asyncio.run(log.flush())
    with Reports(db) as r:
        rows = [(e.ts.timestamp(), e.count, e.cached) for e in r.search(LogFilter()).entries]
    assert rows == [(int(T0) + 1, 1, True), (int(T0), 7, True)]
    assert log.written == 8


def test_the_timer_leaves_the_second_still_counting_for_the_next_commit(tmp_path):
    db = tmp_path / "hearth.db"
    log = QueryLog(db)
    hot = type("Hot", (), {})()
    hot.qname, hot.qtype, hot.decision, hot.rcode = "i.ytimg.com", 1, decision("emma"), 0

    stream = Stream([log])

    async def go():
        stream.repeat(100, DEVICES["emma-phone"], hot)
        stream.repeat(101, DEVICES["emma-phone"], hot)
        await log.flush(final=False)       # second 101 is still counting: it waits
        stream.repeat(101, DEVICES["emma-phone"], hot)
        await log.flush()                  # shutting down: everything goes
    asyncio.run(go())
    with Reports(db) as r:
        assert [(e.ts.timestamp(), e.count) for e in r.search(LogFilter()).entries] == [(101, 2), (100, 1)]


def test_each_row_keeps_its_source(tmp_path):
    db = tmp_path / "hearth.db"
    write(db, [entry(T0, qname="a.example"), entry(T0 + 1, qname="b.example", source="proxy")])
    with Reports(db) as r:
        assert [(e.qname, e.source) for e in r.search(LogFilter()).entries] == [("b.example", "proxy"),
                                                                                 ("a.example", "dns")]
        assert [e.qname for e in r.search(LogFilter(source="dns")).entries] == ["a.example"]


def test_a_full_queue_counts_drops_and_the_rest_is_written(tmp_path):
    db = tmp_path / "hearth.db"
    log = QueryLog(db, maxsize=5)
    for i in range(8):
        log.put(entry(T0 + i, qname=f"n{i}.example"))
    assert log.dropped == 3 and log.depth == 5
    asyncio.run(log.flush())
    assert log.written == 5 and log.dropped == 3 and log.last_error is None


# --- retention ----------------------------------------------------------------------------------------------------

DAY = 86400


def test_prune_keeps_blocks_for_keep_days_and_allowed_for_keep_allowed_days(tmp_path):
    db = tmp_path / "hearth.db"
    now = T0 + 100 * DAY
    allow, block = decision("emma"), decision("emma", "block", "APP", list="app:tiktok", rule="tiktok.com")
    ages = [95, 91, 89, 31, 29, 1]
    es = []
    for age in ages:
        es.append(entry(now - age * DAY, qname=f"allowed-{age}.example", d=allow))
        es.append(entry(now - age * DAY + 1, qname=f"blocked-{age}.example", d=block))
    log = write(db, es)
    log.configure(config(tmp_path, "keep_days: 90, keep_allowed_days: 30"))
    pruned = log.prune(now=now, chunk=2, pause=0)          # tiny chunks: the loop runs many times
    assert (pruned.queries, pruned.allowed) == (4, 2)
    with Reports(db) as r:
        left = sorted(e.qname for e in r.search(LogFilter(), limit=100).entries)
    assert left == sorted(["allowed-29.example", "allowed-1.example", "blocked-89.example", "blocked-31.example",
                           "blocked-29.example", "blocked-1.example"])
    assert pruned.names == 6           # the names no row uses any more went too


def test_prune_forgets_clients_and_devices_nobody_has_seen_for_keep_days(tmp_path):
    db = tmp_path / "hearth.db"
    now = T0 + 100 * DAY
    log = QueryLog(db)
    old_client = replace(DEVICES["tv"], address="2a01::dead")
    log.seen(old_client, now - 95 * DAY)
    log.seen(DEVICES["leo-tablet"], now - DAY)
    write(db, [entry(now - 95 * DAY, client=old_client), entry(now - DAY, "leo-tablet")], log)
    pruned = log.prune(90, 30, now=now, pause=0)
    assert (pruned.devices, pruned.clients) == (1, 1)
    with Reports(db) as r:
        assert [d.key for d in r.devices()] == ["02:00:00:00:00:03"]


def test_devices_seen_are_capped_whatever_a_flood_writes(tmp_path):
    db = tmp_path / "hearth.db"
    log = QueryLog(db, maxsize=MAX_DEVICES_SEEN + 100)
    client = DEVICES["tv"]
    for i in range(MAX_DEVICES_SEEN + 50):
        log.seen(type(client)(f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", None, None, "default"), T0 + i)
    write(db, [], log)
    pruned = log.prune(now=T0 + MAX_DEVICES_SEEN + 60, pause=0)
    with Reports(db) as r:
        seen = r.devices()
    assert len(seen) == MAX_DEVICES_SEEN and pruned.devices == 50
    assert seen[-1].ip == "10.0.0.50"            # the least recently seen went first


def test_a_name_pruned_while_the_writer_remembers_its_id_is_written_again_whole(tmp_path):
    """The writer keeps ids of names, clients and decisions in memory; a prune that deletes those rows bumps a
    counter in the same transaction, and the writer forgets its ids before its next batch."""
    db = tmp_path / "hearth.db"
    now = T0 + 100 * DAY
    log = write(db, [entry(now - 95 * DAY, qname="again.example")])
    pruned = QueryLog(db).prune(now=now, pause=0)           # another connection, as the scheduler's thread
    assert pruned.names == 1 and pruned.clients == 1 and pruned.decisions == 1
    write(db, [entry(now, qname="again.example")], log)     # same writer, same objects, memos full of stale ids
    with Reports(db) as r:
        e, = r.search(LogFilter()).entries
    assert (e.qname, e.device, e.action) == ("again.example", "emma-phone", "allow")
    c = sqlite3.connect(db)
    assert c.execute("PRAGMA foreign_key_check").fetchall() == []


def test_prune_in_chunks_lets_the_writer_commit_in_between(tmp_path):
    """A prune of many rows runs as many short transactions: a writer committing meanwhile never fails."""
    db = tmp_path / "hearth.db"
    now = time.time()
    old = decision("emma", "block", "APP", list="app:tiktok")
    write(db, [entry(now - 95 * DAY + i / 1000, qname=f"old{i % 300}.example", d=old) for i in range(20_000)])
    log = QueryLog(db)
    log.busy_ms = 100        # a writer waiting longer than one chunk would fail: it must never have to

    async def run():
        loop = asyncio.get_running_loop()
        job = loop.run_in_executor(None, lambda: QueryLog(db).prune(now=now, chunk=500, pause=0.01))
        commits = 0
        while not job.done():
            log.put(entry(time.time(), qname="live.example"))
            await log.flush()
            commits += 1
            await asyncio.sleep(0.005)
        return await job, commits
    pruned, commits = asyncio.run(run())
    assert pruned.queries == 20_000 and commits > 1
    assert log.dropped == 0 and log.last_error is None


@pytest.mark.parametrize("made_by, page_size", [
    (None, 1024),             # a new file: 1 KB pages, a quarter of the bytes a commit writes to the SD card
    (4096, 4096),             # a file from an older Hearth keeps its 4 KB pages (changing them means a VACUUM)
])
def test_page_size_of_a_new_file_and_of_an_old_one(tmp_path, made_by, page_size):
    path = tmp_path / "hearth.db"
    if made_by:
        old = sqlite3.connect(path)
        old.execute(f"PRAGMA page_size = {made_by}")
        old.execute("PRAGMA journal_mode=WAL")
        old.execute("CREATE TABLE kept (x)")         # the file exists: its page size is fixed
        old.close()
    log = write(path, [entry(T0, qname=f"n{i}.example") for i in range(50)])
    log.close()
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA page_size").fetchone()[0] == page_size
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    assert len(names(path)) == 50


def _hot(name: str, d):
    return SimpleNamespace(qname=name, qtype=1, decision=d, rcode=0)


@pytest.mark.parametrize("maxsize, query_log, written, dropped", [
    (1000, "", 6, 0),                      # every repeat a row, counts kept
    (4, "", 4, 2 * 3),                     # the queue holds 4: the 2 rows past it (3 queries each) count as dropped
    (1000, "log_allowed: false", 3, 0),    # allowed repeats are not kept, and that is no loss
])
def test_repeats_are_made_into_rows_by_the_writer(tmp_path, maxsize, query_log, written, dropped):
    db = tmp_path / "hearth.db"
    log = QueryLog(db, maxsize=maxsize)
    log.configure(config(tmp_path, query_log))
    stream = Stream([log])
    answers = [_hot(f"a{i}.example", decision("emma")) for i in range(3)] + \
        [_hot(f"b{i}.example", decision("emma", "block", "CATEGORY", list="random-chat")) for i in range(3)]
    for h in answers:
        for _ in range(3):
            stream.repeat(100, DEVICES["emma-phone"], h)
    stream.drain(final=True)
    assert log.depth == min(6, maxsize)            # handed over as the stream's batch, not made into rows yet
    asyncio.run(log.flush())
    assert (log.written, log.dropped) == (written * 3, dropped)
    with Reports(db) as r:
        rows = r.search(LogFilter()).entries
    assert len(rows) == written and {(e.count, e.cached) for e in rows} == {(3, True)}


def test_repeats_refused_by_a_locked_file_are_tried_again(tmp_path):
    db = tmp_path / "hearth.db"
    log = write(db, [entry(T0, qname="before.example")])
    log.busy_ms = 200
    stream = Stream([log])
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    stream.repeat(int(T0) + 1, DEVICES["emma-phone"], _hot("r.example", decision("emma")))
    asyncio.run(log.flush())
    assert log.dropped == 0 and log.depth == 1        # made into a row, kept for one more try
    holder.execute("ROLLBACK")
    holder.close()
    asyncio.run(log.flush())
    assert log.depth == 0 and log.dropped == 0
    assert names(db) == [("emma", "allow"), ("emma", "allow")]
