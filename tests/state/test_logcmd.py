"""`hearth log` and `hearth devices`, run as a parent runs them (the installed command, a real config file and a
real log written by the writer)."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from appliance.state.querylog import QueryLog
from tests.state.conftest import DEVICES, decision, entry, write

HEARTH = Path(sys.executable).with_name("hearth")
NOW = time.time()
HOUR = 3600


def hearth(*args):
    return subprocess.run([str(HEARTH), *args], capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("home")
    cfg = tmp / "hearth.yaml"
    cfg.write_text(f"""
timezone: Europe/Paris
data_dir: {tmp / 'var'}
devices:
  - {{name: emma-phone, mac: "02:00:00:00:00:01"}}
  - {{name: leo-tablet, mac: "02:00:00:00:00:03"}}
profiles:
  emma:
    devices: [emma-phone]
    block: [random-chat]
    block_apps: [tiktok]
    schedules:
      - {{name: bedtime, days: every day, from: "21:00", to: "07:00", block: everything}}
  leo: {{devices: [leo-tablet]}}
""")
    db = tmp / "var" / "hearth.db"
    log = QueryLog(db)
    for dev in ("emma-phone", "leo-tablet", "tv"):
        log.seen(DEVICES[dev], NOW - HOUR)
    write(db, [
        entry(NOW - 3 * 24 * HOUR, qname="old.example"),
        entry(NOW - 5 * HOUR, qname="www.tiktok.com", d=decision("emma", "block", "APP", list="app:tiktok",
                                                                  rule="tiktok.com"), count=3),
        entry(NOW - 4 * HOUR, qname="www.omegle.com", d=decision("emma", "block", "CATEGORY", list="random-chat",
                                                                  rule="omegle.com")),
        entry(NOW - 3 * HOUR, qname="khanacademy.org", d=decision("emma")),
        entry(NOW - 2 * HOUR, "leo-tablet", "minecraft.net", decision("leo")),
        entry(NOW - HOUR, qname="netflix.com", d=decision("emma", "block", "SCHEDULE", schedule="bedtime")),
        entry(NOW - 60, "tv", "www.omegle.com", decision("default", "block", "CATEGORY", list="random-chat",
                                                          rule="omegle.com"), source="proxy"),
    ], log)
    log.close()
    return cfg


def log_json(cfg, *args) -> list[dict]:
    r = hearth("log", "--config", str(cfg), "--json", *args)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.mark.parametrize("args, names", [
    ((), ["www.omegle.com", "netflix.com", "minecraft.net", "khanacademy.org", "www.omegle.com", "www.tiktok.com",
          "old.example"]),
    (("--child", "emma", "--blocked", "--since", "1d"), ["netflix.com", "www.omegle.com", "www.tiktok.com"]),
    (("--profile", "leo"), ["minecraft.net"]),
    (("--device", "emma-phone", "--since", "4h30m"), ["netflix.com", "khanacademy.org", "www.omegle.com"]),
    (("--domain", "omegle"), ["www.omegle.com", "www.omegle.com"]),
    (("--reason", "schedule"), ["netflix.com"]),
    (("--list", "tiktok"), ["www.tiktok.com"]),
    (("--source", "proxy"), ["www.omegle.com"]),
    (("--until", "2d"), ["old.example"]),
    (("--blocked", "--limit", "2"), ["www.omegle.com", "netflix.com"]),
])
def test_log_filters(home, args, names):
    assert [e["qname"] for e in log_json(home, *args)] == names


def test_log_json_carries_the_whole_decision(home):
    e = log_json(home, "--list", "tiktok")[0]
    assert {"action", "reason", "list", "rule", "schedule", "profile", "device", "qname", "count", "ts",
            "source"} <= set(e)
    assert (e["action"], e["reason"], e["list"], e["rule"], e["schedule"], e["profile"], e["device"], e["count"],
            e["source"]) == ("block", "APP", "app:tiktok", "tiktok.com", None, "emma", "emma-phone", 3, "dns")
    assert e["ts"].endswith("+00:00")
    assert e["why"] == "blocked: app TikTok"


def test_log_table_reads_as_sentences(home):
    r = hearth("log", "--config", str(home), "--child", "emma", "--blocked")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["time", "device", "name", "verdict", "why"]
    assert "blocked: Emma's bedtime window *bedtime* blocks everything" in lines[1]
    assert "emma-phone" in lines[1] and "netflix.com" in lines[1]
    assert "blocked ×3" in lines[3] and lines[3].endswith("blocked: app TikTok")


@pytest.mark.parametrize("args, message", [
    (("--child", "zoe"), "unknown child 'zoe' (known: emma, leo)"),
    (("--since", "yesterday"), "cannot read 'yesterday' as a time"),
    (("--reason", "because"), "unknown reason 'because'"),
    (("--limit", "0"), "--limit: between 1 and 10000"),
])
def test_log_refuses_bad_input_in_words(home, args, message):
    r = hearth("log", "--config", str(home), *args)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr


def test_log_without_a_log_yet(tmp_path):
    cfg = tmp_path / "hearth.yaml"
    cfg.write_text(f"data_dir: {tmp_path / 'var'}\n")
    r = hearth("log", "--config", str(cfg))
    assert r.returncode == 0 and "no log yet" in r.stdout
    assert hearth("log", "--config", str(cfg), "--json").stdout.strip() == "[]"
    assert not (tmp_path / "var" / "hearth.db").exists()


def test_devices(home):
    r = hearth("devices", "--config", str(home), "--json")
    assert r.returncode == 0, r.stderr
    got = {d["key"]: (d["device"], d["profile"], d["assigned"]) for d in json.loads(r.stdout)}
    assert got == {"02:00:00:00:00:01": ("emma-phone", "emma", True), "02:00:00:00:00:03": ("leo-tablet", "leo", True),
                   "192.168.1.30": (None, "default", False)}
    r = hearth("devices", "--config", str(home))
    assert r.stdout.splitlines()[0].split()[:2] == ["device", "profile"]
    assert "(not assigned)" in r.stdout and "1 device(s) not assigned" in r.stdout


def test_an_unreadable_log_is_said_plainly(tmp_path):
    cfg = tmp_path / "hearth.yaml"
    cfg.write_text(f"data_dir: {tmp_path / 'var'}\n")
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "hearth.db").write_bytes(b"this is not a database, it is a shopping list" * 100)
    r = hearth("log", "--config", str(cfg))
    assert r.returncode == 1 and "cannot be read" in r.stderr and "Traceback" not in r.stderr
    r = hearth("devices", "--config", str(cfg))
    assert r.returncode == 1 and "cannot be read" in r.stderr


def test_hearth_log_reads_what_a_running_daemon_decided(tmp_path):
    """The whole path: a real daemon on loopback answers, its writer commits, the command reads it back."""
    import dns.message
    import dns.query

    from tests.dns.conftest import ZONE, write_blocklists
    from tests.support.hearth_proc import HearthServer
    from tests.support.stub_upstream import StubUpstream

    with StubUpstream(ZONE) as up:
        cfg = {"blocklists_dir": str(write_blocklists(tmp_path / "bl")),
               "dns": {"upstreams": [up.address], "upstream_timeout": 0.5},
               "default_profile": {"block": ["random-chat"]}}
        with HearthServer(tmp_path, cfg) as h:
            for name in ("example.com", "www.omegle.com", "example.com"):
                dns.query.udp(dns.message.make_query(name, "A"), "127.0.0.1", port=h.port, timeout=3)
            h.flush_log()
            blocked = log_json(h.config_path, "--blocked")
            everything = log_json(h.config_path, "--domain", "example.com")
            devices = json.loads(hearth("devices", "--config", str(h.config_path), "--json").stdout)
    assert [(e["qname"], e["action"], e["reason"], e["list"], e["profile"], e["source"]) for e in blocked] == [
        ("www.omegle.com", "block", "CATEGORY", "random-chat", "default", "dns")]
    assert blocked[0]["why"] == "blocked: category random-chat (omegle.com)"
    assert sum(e["count"] for e in everything) == 2 and {e["action"] for e in everything} == {"allow"}
    assert [(d["ip"], d["assigned"]) for d in devices] == [("127.0.0.1", False)]
