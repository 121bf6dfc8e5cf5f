"""query_log.storage: memory: the log lives in a RAM file of its own, the database on disk holds none of it, and
every reader finds it from the config (a real daemon on loopback, the real CLI)."""
from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys

import dns.message
import dns.query
import pytest

from appliance import config as configmod
from appliance.state import db
from tests.support.hearth_proc import HearthServer
from tests.support.stub_upstream import StubUpstream


def test_the_log_in_memory_is_written_read_and_kept_off_the_disk(tmp_path):
    with StubUpstream({"example.com": [("A", "192.0.2.7")]}) as up:
        h = HearthServer(tmp_path, {"dns": {"upstreams": [up.address]}, "query_log": {"storage": "memory"},
                                    "default_profile": {"block": ["random-chat"]}}).start()
        ram = db.log_path(configmod.load(h.config_path))
        try:
            assert str(ram).startswith(("/dev/shm/", "/run/hearth/"))
            for name in ("example.com", "omegle.com"):
                dns.query.udp(dns.message.make_query(name, "A"), "127.0.0.1", port=h.port, timeout=3)
            h.flush_log()
            r = subprocess.run([sys.executable, "-m", "appliance.cli", "log", "--json", "--config",
                                str(h.config_path)], capture_output=True, text=True, timeout=60)
            assert r.returncode == 0, r.stderr
            assert sorted(e["qname"] for e in json.loads(r.stdout)) == ["example.com", "omegle.com"]
            assert (ram.stat().st_mode & 0o777) == 0o640
        finally:
            h.stop()
        disk = sqlite3.connect(db.db_path(tmp_path / "var"))
        try:
            has_table = disk.execute("SELECT count(*) FROM sqlite_master WHERE name = 'queries'").fetchone()[0]
            rows = disk.execute("SELECT count(*) FROM queries").fetchone()[0] if has_table else 0
        finally:
            disk.close()
        assert rows == 0          # nothing of the log on the SD card
        if str(ram).startswith("/dev/shm/"):
            shutil.rmtree(ram.parent, ignore_errors=True)


@pytest.mark.parametrize("storage, ok", [("disk", True), ("memory", True), ("cloud", False), (5, False)])
def test_storage_is_disk_or_memory(tmp_path, storage, ok):
    p = tmp_path / "h.yaml"
    p.write_text(json.dumps({"data_dir": str(tmp_path / "var"), "query_log": {"storage": storage}}))
    if ok:
        assert configmod.load(p).query_log.storage == storage
    else:
        with pytest.raises(configmod.ConfigError) as e:
            configmod.load(p)
        assert "query_log.storage" in str(e.value)
