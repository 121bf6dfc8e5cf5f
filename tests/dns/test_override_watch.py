"""A parent's change reaches DNS without the daemon asking the database every second: written by another
process (as the admin does), it is heard through the database watch; written by `hearth pause`, it is in force
when the command returns. A real daemon on loopback, real SQLite, real subprocesses."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import dns.message
import dns.query

from appliance.state import db
from appliance.state.watch import DbWatch

KID = {"devices": [{"name": "kid-laptop", "ip": "127.0.0.1"}],
       "profiles": {"kid": {"devices": ["kid-laptop"], "block": ["random-chat"]}}}

ADMIN_PAUSE = """\
import sys
from datetime import datetime, timedelta, timezone
from appliance.state.overrides import OverrideStore
with OverrideStore(sys.argv[1]) as s:
    s.add_pause("kid", datetime.now(timezone.utc), duration=timedelta(minutes=30))
"""


def answer(h, name="example.com") -> list[str]:
    r = dns.query.udp(dns.message.make_query(name, "A"), "127.0.0.1", port=h.port, timeout=3)
    return [rd.to_text() for rrset in r.answer for rd in rrset if rrset.rdtype == 1]


def wait_for(fn, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while not fn():
        if time.monotonic() > end:
            return False
        time.sleep(0.05)
    return True


def test_a_pause_written_by_another_process_is_heard_not_polled(hearth):
    h = hearth(KID)
    assert answer(h) == ["93.184.216.34"]
    assert isinstance(h.daemon.watch, DbWatch)      # the kernel tells; no once-a-second poll is running
    subprocess.run([sys.executable, "-c", ADMIN_PAUSE, str(db.db_path(h.daemon.engine.snapshot.config.data_dir))],
                   check=True, timeout=60)
    # the periodic full read is a minute away: only the watch can make this happen within seconds
    assert wait_for(lambda: answer(h) == ["0.0.0.0"], 3.0), "the pause was not heard"


def test_a_pause_from_the_cli_is_in_force_when_the_command_returns(hearth):
    h = hearth(KID)
    assert answer(h) == ["93.184.216.34"]
    env = dict(os.environ, HEARTH_CONFIG=str(h.config_path))
    r = subprocess.run([sys.executable, "-m", "appliance.cli", "pause", "kid", "30m"], capture_output=True,
                       text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "not running" not in r.stdout
    assert answer(h) == ["0.0.0.0"]                  # at once: the CLI asked the daemon to read it before returning
    r = subprocess.run([sys.executable, "-m", "appliance.cli", "resume", "kid"], capture_output=True, text=True,
                       env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert answer(h) == ["93.184.216.34"]
