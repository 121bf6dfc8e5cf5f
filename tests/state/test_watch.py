"""The database watch (state/watch.py): a commit by another process is heard, silence and other files are not,
on a real SQLite file in a real directory."""
from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from appliance.state import db
from appliance.state.overrides import OverrideStore
from appliance.state.watch import DbWatch, Poll

PAUSE = """\
import sys
from datetime import datetime, timedelta, timezone
from appliance.state.overrides import OverrideStore
with OverrideStore(sys.argv[1]) as s:
    s.add_pause("emma", datetime.now(timezone.utc), duration=timedelta(minutes=30))
"""


@pytest.fixture
def dbfile(tmp_path):
    path = db.db_path(tmp_path / "var")
    OverrideStore(path).close()       # the file and its table exist, as when the daemon runs
    return path


def watching(dbfile, during):
    """Open a watch, run ``during()`` (in a thread: it may block), and say what a wait of half a second heard."""
    async def main():
        watch = DbWatch.open(dbfile)
        try:
            assert isinstance(watch, DbWatch), "inotify is available on Linux"
            await asyncio.get_running_loop().run_in_executor(None, during)
            return await watch.wait(0.5)
        finally:
            watch.close()
    return asyncio.run(main())


@pytest.mark.parametrize("writer, heard", [
    ("another process adds a pause", True),
    ("this process adds a pause", True),
    ("nothing is written", False),
    ("another file in the directory is written", False),
])
def test_what_the_watch_hears(dbfile, writer, heard):
    def during():
        if writer == "another process adds a pause":
            subprocess.run([sys.executable, "-c", PAUSE, str(dbfile)], check=True, timeout=60)
        elif writer == "this process adds a pause":
            with OverrideStore(dbfile) as s:
                s.add_pause("emma", datetime.now(timezone.utc), duration=timedelta(minutes=30))
        elif writer == "another file in the directory is written":
            (dbfile.parent / "running-config.yaml").write_text("timezone: UTC\n")
    assert watching(dbfile, during) is heard


def test_what_was_heard_is_readable_when_the_wait_returns(dbfile):
    """The wait returns once the commit is whole: the store sees the new row at once."""
    store = OverrideStore(dbfile)
    store.live(datetime.now(timezone.utc))
    try:
        assert watching(dbfile, lambda: subprocess.run([sys.executable, "-c", PAUSE, str(dbfile)], check=True,
                                                       timeout=60))
        assert store.changed()
        assert [o.profile for o in store.live(datetime.now(timezone.utc))] == ["emma"]
    finally:
        store.close()


def test_without_inotify_the_poll_says_look_every_second():
    async def main():
        poll = Poll(every=0.01)
        return [await poll.wait(60.0) for _ in range(3)], poll.notifies
    assert asyncio.run(main()) == ([True, True, True], False)
