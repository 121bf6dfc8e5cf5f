"""The query log's writer sleeps while nothing is queued, and the first entry, device or hot-cache repeat wakes
it: real event loop, real SQLite file."""
from __future__ import annotations

import asyncio
import sqlite3
from types import SimpleNamespace

from appliance.state.querylog import QueryLog
from appliance.stream import Stream
from tests.state.test_doorbell import settle

from .conftest import DEVICES, T0, decision, entry


def rows(db) -> list[tuple]:
    try:
        con = sqlite3.connect(db)
        try:
            return con.execute("SELECT qname, count FROM query_log ORDER BY id").fetchall()
        finally:
            con.close()
    except sqlite3.Error:
        return []


def test_an_idle_writer_waits_then_writes_what_wakes_it(tmp_path):
    db = tmp_path / "hearth.db"
    log = QueryLog(db, interval=0.05)
    stream = Stream([log])
    hot = SimpleNamespace(qname="i.ytimg.com", qtype=1, decision=decision("emma"), rcode=0)

    async def main():
        task = asyncio.create_task(log.run())
        await settle(lambda: log._bell.armed)              # nothing queued: asleep on the bell
        stream.put(entry(T0, qname="a.example"))
        await settle(lambda: rows(db) == [("a.example", 1)])
        await settle(lambda: log._bell.armed)              # and asleep again
        for _ in range(3):
            stream.repeat(int(T0) + 5, DEVICES["emma-phone"], hot)     # only repeats: the stream wakes it
        # the second still counting is held for STILL seconds of ours, then written
        await settle(lambda: rows(db)[-1:] == [("i.ytimg.com", 3)], tries=1000)
        await settle(lambda: log._bell.armed)
        task.cancel()

    asyncio.run(main())
    assert log.dropped == 0 and log.written == 4


def test_a_burst_that_wakes_the_writer_goes_out_in_one_commit(tmp_path):
    """A commit costs the SD card a page per index however few rows it holds: the first name of a web page's burst
    waits for the rest (at most the interval a crash may lose), instead of going out alone."""
    db = tmp_path / "hearth.db"
    log = QueryLog(db, interval=0.9)

    async def main():
        task = asyncio.create_task(log.run())
        log.put(entry(T0, qname="first.example"))
        await settle(lambda: len(rows(db)) == 1, tries=300)
        await settle(lambda: log._bell.armed)
        await asyncio.sleep(1.0)                 # quiet for longer than the interval
        for i in range(20):                      # then a page's names over 0.2 s
            log.put(entry(T0 + 60 + i / 100, qname=f"n{i}.example"))
            await asyncio.sleep(0.01)
        await settle(lambda: len(rows(db)) == 21, tries=300)
        await settle(lambda: log._bell.armed)
        task.cancel()

    asyncio.run(main())
    assert log.commits == 2 and log.written == 21
