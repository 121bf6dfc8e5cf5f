"""`hearth alerts` in a subprocess, over a real store."""
from __future__ import annotations

import json
import subprocess
import sys

from appliance.state.alerts import AlertSink

from .conftest import EMMA, LEO, Clock, blocked, entry


def hearth(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "appliance.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


def seeded(make_config, db_path):
    cfg = make_config()
    clock = Clock("2026-12-01 23:04:00")
    sink = AlertSink(cfg, db_path, clock=clock)
    for i in range(3):
        sink.put(entry(clock() + i * 20, EMMA, "www.omegle.com", blocked("emma", "random-chat", "omegle.com")))
    sink.put(entry(clock() + 90, LEO, "tinder.com", blocked("leo", "dating", "tinder.com")))
    sink.flush_now()
    sink.close()
    return cfg


def test_alerts_json_shape_and_statuses(make_config, db_path):
    cfg = seeded(make_config, db_path)
    conf = ["--config", str(cfg.source)]
    r = hearth("alerts", "--json", *conf)
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert [list(row) for row in rows] == [["id", "child", "device", "domain", "list", "reason", "count", "first",
                                            "last", "severity", "status"]] * 2
    leo, emma = rows
    assert (emma["child"], emma["device"], emma["domain"], emma["list"], emma["count"], emma["severity"],
            emma["status"]) == ("emma", "emma-phone", "omegle.com", "random-chat", 3, "high", "new")
    assert emma["first"] == "2026-12-01T23:04:00+01:00" and emma["last"] == "2026-12-01T23:04:40+01:00"
    assert leo["severity"] == "normal"

    r = hearth("alerts", "seen", str(emma["id"]), *conf)
    assert r.returncode == 0 and r.stdout.strip() == f"alert {emma['id']} is now seen"
    r = hearth("alerts", "dismiss", str(leo["id"]), *conf)
    assert r.returncode == 0
    assert [a["id"] for a in json.loads(hearth("alerts", "--json", *conf).stdout)] == [emma["id"]]
    assert len(json.loads(hearth("alerts", "--json", "--all", *conf).stdout)) == 2
    text = hearth("alerts", *conf).stdout
    assert f"#{emma['id']}" in text and "emma (emma-phone)  omegle.com ×3" in text
    assert "2026-12-01 23:04" in text and "blocked:" in text
    assert [a["child"] for a in json.loads(hearth("alerts", "--json", "--child", "emma", *conf).stdout)] == ["emma"]
    r = hearth("alerts", "--child", "zoe", *conf)
    assert r.returncode == 2 and "unknown child 'zoe' (known: emma, leo)" in r.stderr


def test_alerts_errors_are_plain(make_config, db_path):
    cfg = seeded(make_config, db_path)
    conf = ["--config", str(cfg.source)]
    r = hearth("alerts", "dismiss", "999", *conf)
    assert r.returncode == 1 and "there is no alert 999" in r.stderr
    r = hearth("alerts", "seen", *conf)
    assert r.returncode == 2 and "give the alert's number" in r.stderr
    r = hearth("alerts", "seen", "abc", *conf)
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_no_alerts(make_config):
    cfg = make_config()
    r = hearth("alerts", "--config", str(cfg.source))
    assert r.returncode == 0 and r.stdout.startswith("no alerts")
