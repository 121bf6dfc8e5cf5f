"""The writer when things go wrong: a full queue, a locked database, a full disk (a size-limited file and a real
tiny filesystem under a running daemon), and a kill -9 in the middle of a batch. DNS never waits; every loss is
counted and said in words."""
from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import dns.message
import dns.query
import pytest

from appliance.state.querylog import QueryLog, open_db
from appliance.state.reports import LogFilter, Reports
from tests.dns.conftest import ZONE, write_blocklists
from tests.state.conftest import T0, entry, write
from tests.support.hearth_proc import HearthServer
from tests.support.stub_upstream import StubUpstream

ROOT = Path(__file__).resolve().parents[2]


def test_a_locked_database_keeps_the_batch_for_one_more_try_then_counts_it(tmp_path):
    db = tmp_path / "hearth.db"
    log = write(db, [entry(T0, qname="before.example")])
    log.busy_ms = 200
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")            # another program holds a long write transaction
    holder.execute("INSERT INTO overrides (profile, kind, created, expires) VALUES ('emma', 'pause', 0, 1)")
    write(db, [entry(T0 + 1, qname="first.example")], log)
    assert log.dropped == 0 and log.depth == 1          # kept for one more try
    assert "another program held the database" in log.last_error and "to be tried again" in log.last_error
    write(db, [entry(T0 + 2, qname="second.example")], log)
    assert log.dropped == 1 and log.depth == 1          # the retried one is lost, the new one waits
    holder.execute("COMMIT")
    holder.close()
    write(db, [entry(T0 + 3, qname="third.example")], log)
    assert log.depth == 0 and log.dropped == 1
    with Reports(db) as r:
        assert [e.qname for e in r.search(LogFilter()).entries] == ["third.example", "second.example",
                                                                    "before.example"]


def test_a_size_limited_file_is_a_full_disk_counted_and_said(tmp_path):
    db = tmp_path / "hearth.db"
    write(db, [entry(T0, qname="kept.example")]).close()
    log = QueryLog(db, max_bytes=os.path.getsize(db))
    write(db, [entry(T0 + i, qname=f"name-{i}-" + "x" * 40 + ".example") for i in range(3000)], log)
    assert log.dropped == 3000 and log.written == 0
    assert "the disk is full" in log.last_error and "3,000 queries not saved" in log.last_error
    log.max_bytes = None                  # room again (a prune, a bigger card): the next batch goes through
    log.close()
    write(db, [entry(T0 + 5000, qname="after.example")], log)
    assert log.written == 1
    c = sqlite3.connect(db)
    assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with Reports(db) as r:
        assert [e.qname for e in r.search(LogFilter()).entries] == ["after.example", "kept.example"]


@pytest.fixture
def tiny_fs(tmp_path):
    """A 3 MB tmpfs: a real filesystem that fills up. Needs root (CI and this machine run as root)."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _fill(path: Path) -> Path:
    filler = path / "filler"
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    return filler


def test_dns_keeps_answering_on_a_full_disk_and_the_loss_is_counted(tmp_path, tiny_fs):
    with StubUpstream(ZONE) as up:
        cfg = {"data_dir": str(tiny_fs), "blocklists_dir": str(write_blocklists(tmp_path / "bl")),
               "dns": {"upstreams": [up.address], "upstream_timeout": 0.5},
               "default_profile": {"block": ["random-chat"]}}
        with HearthServer(tmp_path, cfg) as h:
            def ask(name):
                return dns.query.udp(dns.message.make_query(name, "A"), "127.0.0.1", port=h.port, timeout=3)
            assert ask("example.com").answer
            h.flush_log()
            assert h.daemon.querylog.written >= 1
            filler = _fill(tiny_fs)
            answered = 0
            for i in range(200):      # distinct names: each a full-chain answer and a row to write
                r = ask("www.omegle.com" if i % 2 else "example.com")
                answered += bool(r.answer) or r.rcode() == 3
                if i % 50 == 0:
                    h.flush_log()
            h.flush_log()
            assert answered == 200
            log = h.daemon.querylog
            assert log.dropped > 0 and "the disk is full" in log.last_error
            filler.unlink()
            before = log.written
            ask("example.com")
            h.flush_log()
            assert log.written > before          # room again: writing resumes by itself


CHILD = textwrap.dedent("""
    import asyncio, sys, time
    sys.path.insert(0, {root!r})
    from appliance.model import Action, Client, Decision, Reason
    from appliance.state.querylog import Entry, QueryLog

    class Traced(QueryLog):
        def _write(self, rows, seen, *repeats):
            print("begin", len(rows), flush=True)
            n = super()._write(rows, seen, *repeats)
            print("end", flush=True)
            return n

    async def main():
        log = Traced({db!r}, maxsize=10 ** 7)
        asyncio.get_running_loop().create_task(log.run())
        c = Client("192.168.1.10", "02:00:00:00:00:01", "emma-phone", "emma")
        d = Decision(Action.ALLOW, Reason.NONE, "emma")
        seq = 0
        while True:            # about 8,000 entries a second, in steps of 5 ms
            for _ in range(40):
                log.put(Entry(time.time(), c, f"q{{seq}}.example", 1, d, 0, False, "9.9.9.9:53", 1.0, 1))
                seq += 1
            await asyncio.sleep(0.005)
    asyncio.run(main())
""")


@pytest.mark.parametrize("kill_at", [3, 6, 9])
def test_kill_9_in_the_middle_of_a_batch_loses_at_most_a_second_and_never_the_file(tmp_path, kill_at):
    db = tmp_path / "hearth.db"
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(root=str(ROOT), db=str(db)))
    p = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        begins = 0
        for line in p.stdout:
            if line.startswith("begin"):
                begins += 1
                if begins == kill_at:          # the writer is inside a transaction right now
                    killed_at = time.time()
                    os.kill(p.pid, signal.SIGKILL)
                    break
        else:
            pytest.fail(f"the writer stopped before its batch {kill_at}")
    finally:
        p.kill()
        p.wait()
    conn = open_db(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    n, newest = conn.execute("SELECT count(*), max(at) FROM queries").fetchone()
    names = {r[0] for r in conn.execute("SELECT n.name FROM queries q JOIN names n ON n.id = q.name_id")}
    conn.close()
    assert names == {f"q{i}.example" for i in range(n)}          # nothing missing before the last commit
    assert killed_at - newest / 1000 <= 1.0, f"lost {killed_at - newest / 1000:.2f} s of entries"


def test_put_never_waits_for_a_slow_or_locked_disk(tmp_path):
    """With the writer stuck behind another program's lock, the DNS side still queues and counts."""
    db = tmp_path / "hearth.db"
    log = write(db, [entry(T0)], maxsize=1000)
    log.busy_ms = 2000
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")

    async def go():
        loop = asyncio.get_running_loop()
        log.put(entry(T0 + 1))
        writing = asyncio.ensure_future(log.flush(loop))      # stuck in the worker thread for up to 2 s
        await asyncio.sleep(0.1)
        for i in range(1500):             # the event loop is free: puts go on, past maxsize they count
            log.put(entry(T0 + 2 + i))
        assert log.depth == 1000 and log.dropped == 500
        holder.execute("COMMIT")
        await writing
    asyncio.run(go())
    holder.close()
