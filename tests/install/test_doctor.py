"""`hearth doctor`: every finding from a table of staged facts, and the real command against a staged broken home
(port 53 taken, the clock in 1970, no upstream, only the router seen), each problem with its fix."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys

import pytest
import yaml

from appliance import config as configmod
from appliance import doctor
from appliance.doctor import Facts, Seen
from appliance.ports import Holder

NOW = 1_790_000_000.0       # 2026-09-21, after the clock floor
CONFIG = {"timezone": "Europe/Paris", "data_dir": "var",
          "devices": [{"name": "emma-phone", "mac": "aa:bb:cc:dd:ee:01"}],
          "profiles": {"emma": {"devices": ["emma-phone"]}},
          "lists": {"sources": [{"name": "nsfw", "url": "https://example.org/l.txt", "category": "adult"}]}}
RUNNING = {"ok": True, "uptime": 7200, "log_written": 500, "log_dropped": 0,
           "upstreams": {"9.9.9.9:53": {"state": "ok"}, "149.112.112.112:53": {"state": "ok"}}}
FRESH = {"nsfw": ("2026-09-21T00:00:00+00:00", None)}
TWO = (Seen("192.168.1.20", NOW - 60, "emma-phone"), Seen("192.168.1.21", NOW - 120))
HEALTHY = dict(now=NOW, stats=RUNNING, clock_synced=True, disk=(20 * 10**9, 32 * 10**9), db_bytes=50 * 2**20,
               lists=FRESH, seen=TWO, gateway="192.168.1.1")


@pytest.fixture(scope="module")
def cfg(tmp_path_factory):
    path = tmp_path_factory.mktemp("doctor") / "hearth.yaml"
    path.write_text(yaml.safe_dump(CONFIG))
    return configmod.load(path)


def _by_check(findings):
    out = {}
    for x in findings:
        out.setdefault(x.check, []).append(x)
    return out


def test_a_healthy_home_has_no_problem(cfg):
    findings = doctor.diagnose(cfg, Facts(**HEALTHY))
    assert [x for x in findings if x.state != "ok"] == []
    assert doctor.exit_code(findings) == 0
    assert {"service", "upstreams", "log", "clock", "disk", "wear", "lists", "clients"} <= set(_by_check(findings))


@pytest.mark.parametrize("change, check, state, says, fix", [
    # The filter itself
    ({"stats": None}, "service", "bad", "not running", "hearth dns"),
    ({"stats": None, "units": {"hearth-dns": "failed"}}, "service", "bad", "not running", "systemctl start"),
    ({"units": {"hearth-dns": "failed"}}, "service", "bad", "hearth-dns has failed", "journalctl -u hearth-dns"),
    ({"stats": None, "holders": {53: Holder(612, "systemd-resolve")}}, "port", "bad", "systemd-resolve",
     "DNSStubListener=no"),
    ({"stats": None, "holders": {53: Holder(700, "dnsmasq")}}, "port", "bad", "process 700", "disable --now dnsmasq"),
    ({"stats": None, "holders": {53: Holder(701, "pihole-FTL")}}, "port", "bad", "pihole-FTL", "one DNS filter"),
    ({"stats": None, "holders": {53: Holder(702, "AdGuardHome")}}, "port", "bad", "AdGuardHome", "AdGuardHome"),
    ({"stats": None, "holders": {53: Holder(703, "named")}}, "port", "bad", "named", "bind9"),
    # The internet
    ({"stats": {**RUNNING, "upstreams": {"9.9.9.9:53": {"state": "down"}, "1.1.1.1:53": {"state": "down"}}}},
     "upstreams", "bad", "No upstream", "internet"),
    ({"stats": {**RUNNING, "upstreams": {"9.9.9.9:53": {"state": "down"}, "1.1.1.1:53": {"state": "ok"}}}},
     "upstreams", "warn", "9.9.9.9:53", "dns.upstreams"),
    ({"stats": None, "probes": {"127.0.0.1:9": False}}, "upstreams", "bad", "No upstream", "dns.upstreams"),
    # What the daemon says of itself
    ({"stats": {**RUNNING, "log_dropped": 1234}}, "log", "warn", "1,234 log entries", "keep_days"),
    ({"stats": {**RUNNING, "last_reload": {"ok": False, "errors": ["profiles.emma: no such app"]}}},
     "reload", "bad", "no such app", "hearth check-config"),
    ({"stats": {**RUNNING, "uptime": 7200, "log_written": 100_000}}, "wear", "warn", "50,000 rows an hour",
     "log_allowed"),
    # The clock: a Pi boots in 1970 (or at fake-hwclock's last save) until NTP answers
    ({"now": 86400.0}, "clock", "bad", "1970-01-02", "timedatectl"),
    ({"newest_write": NOW + 86400 * 30}, "clock", "bad", "cannot be right", "set-ntp true"),
    ({"clock_synced": False}, "clock", "bad", "not synchronised", "set-ntp true"),
    # The disk
    ({"disk": (2 * 10**9, 32 * 10**9)}, "disk", "warn", "2.0 GB free of 32.0", "Free some space"),
    ({"disk": (5 * 10**8, 32 * 10**9)}, "disk", "bad", "0.5 GB free", "keep_days"),
    ({"db_bytes": 3 * 2**30}, "wear", "warn", "3.0 GB", "keep_days"),
    ({"disk_writes": 900e6}, "wear", "warn", "900 MB of writes an hour", "USB SSD"),
    # The lists
    ({"lists": {}}, "lists", "warn", "nsfw", "hearth lists update"),
    ({"lists": {"nsfw": ("2026-09-01T00:00:00+00:00", None)}}, "lists", "warn", "for days", "lists update"),
    ({"lists": {"nsfw": ("2026-09-21T00:00:00+00:00", "HTTP 404")}}, "lists", "warn", "failed", "hearth lists status"),
    ({"stats": {**RUNNING, "index_stale": "they need more than the 192 MB a compile may use; still blocking with the "
                                          "lists as compiled on 2026-11-30 03:30"}},
     "lists", "warn", "not in force: they need more than the 192 MB", "Remove the biggest list"),
    # The home's devices
    ({"seen": ()}, "clients", "bad", "No request", "DHCP"),
    ({"seen": (Seen("192.168.1.1", NOW - 10),)}, "clients", "warn", "192.168.1.1", "trusted_forwarders"),
    ({"seen": (Seen("192.168.1.1", NOW - 10), Seen("127.0.0.1", NOW - 5))}, "clients", "warn", "router",
     "DNS server"),
    ({"global_ipv6": True}, "ipv6", "warn", "IPv6", "IPv6 settings"),
    ({"seen": (Seen("192.168.1.20", NOW - 7 * 3600, "emma-phone"), *TWO[1:], Seen("192.168.1.22", NOW)),
      "online": frozenset({"192.168.1.20"})}, "device", "warn", "emma-phone (emma)", "port 53 and 853"),
])
def test_each_problem_says_what_to_do(cfg, change, check, state, says, fix):
    findings = doctor.diagnose(cfg, Facts(**{**HEALTHY, **change}))
    mine = [x for x in _by_check(findings).get(check, []) if x.state == state]
    assert mine, f"no {state} {check} finding in {findings}"
    assert any(says in x.text and fix in x.fix for x in mine), mine
    assert doctor.exit_code(findings) == (1 if state == "bad" else 0)


@pytest.mark.parametrize("facts", [
    {},
    {"stats": None, "holders": {53: Holder(612, "systemd-resolve")}, "probes": {"9.9.9.9:53": False}},
    {"now": 86400.0, "clock_synced": False, "seen": (), "lists": {}, "global_ipv6": True},
])
def test_french_says_the_same_findings(cfg, facts):
    """Same checks and states in both languages, every sentence translated (no English left but commands)."""
    en = doctor.diagnose(cfg, Facts(**{**HEALTHY, **facts}), lang="en")
    fr = doctor.diagnose(cfg, Facts(**{**HEALTHY, **facts}), lang="fr")
    assert [(x.check, x.state) for x in en] == [(x.check, x.state) for x in fr]
    for a, b in zip(en, fr):
        assert a.text != b.text
        assert a.check == "port" or (a.fix == "") == (b.fix == "")


def test_every_message_has_both_languages():
    assert set(doctor._EN) == set(doctor._FR)


def test_disk_writes_from_the_kernels_counters(tmp_path):
    """The stat file of the disk holding the data: sectors written since boot, per hour of uptime."""
    dev = os.stat(tmp_path).st_dev
    blk = tmp_path / "sys" / f"{os.major(dev)}:{os.minor(dev)}"
    blk.mkdir(parents=True)
    (blk / "stat").write_text("  1000 0 8000 50   2000 0 720000 900 0 1000 950\n")    # 720,000 sectors written
    (tmp_path / "uptime").write_text("7200.00 14000.00\n")                             # in two hours
    rate = doctor.disk_writes_per_hour(tmp_path, str(tmp_path / "sys"), str(tmp_path / "uptime"))
    assert rate == 720_000 * 512 / 2
    assert doctor.disk_writes_per_hour(tmp_path, str(tmp_path / "nowhere"), str(tmp_path / "uptime")) is None


def test_a_sick_device_silent_but_offline_is_not_reported(cfg):
    seen = (Seen("192.168.1.20", NOW - 7 * 3600, "emma-phone"), *TWO[1:], Seen("192.168.1.22", NOW))
    assert "device" not in _by_check(doctor.diagnose(cfg, Facts(**{**HEALTHY, "seen": seen})))


# --- the real command against a staged broken home --------------------------------------------------------------

def _hearth(config_path, *args, faketime: str | None = None):
    cmd = [sys.executable, "-m", "appliance.cli", "doctor", "--config", str(config_path), *args]
    if faketime:
        cmd = ["faketime", faketime, *cmd]
    env = {**os.environ, "HEARTH_LOG": "WARNING"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)


@pytest.fixture
def broken_home(tmp_path):
    """A home where Hearth ran once (queries only from the router's address), then: its port was taken by another
    program and its upstream died."""
    from tests.support.hearth_proc import HearthServer
    from tests.support.stub_upstream import StubUpstream
    import dns.message
    import dns.query
    up = StubUpstream({"www.example.org": [("A", "93.184.215.14")]}).start()
    h = HearthServer(tmp_path, {"dns": {"upstreams": [up.address]}, "devices": [], "profiles": {}}).start()
    try:
        for _ in range(3):
            dns.query.udp(dns.message.make_query("www.example.org", "A"), "127.0.0.1", port=h.port, timeout=5)
        h.flush_log()
    finally:
        h.stop()
        up.stop()
    # Another program takes the DNS port (a dnsmasq, say): this test process holds it.
    taker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    taker.bind(("127.0.0.1", h.port))
    yield h, taker
    taker.close()


def test_doctor_reports_a_broken_home_with_fixes(broken_home):
    h, _taker = broken_home
    r = _hearth(h.config_path)
    assert r.returncode == 1, r.stdout + r.stderr
    out = r.stdout
    assert "The DNS filter is not running" in out
    assert f"Port {h.port} is held by" in out and f"(process {os.getpid()})" in out
    assert "give Hearth another port in dns.listen" in out          # the fix for a program it does not know
    assert "No upstream DNS server answers" in out and "check dns.upstreams" in out
    assert "Requests come from one address only (127.0.0.1)" in out and "trusted_forwarders" in out
    r = _hearth(h.config_path, "--json")
    data = json.loads(r.stdout)
    assert r.returncode == 1 and data["ok"] is False
    checks = {(x["check"], x["state"]) for x in data["findings"]}
    assert {("service", "bad"), ("port", "bad"), ("upstreams", "bad"), ("clients", "warn")} <= checks
    assert all(x["fix"] for x in data["findings"] if x["state"] != "ok")


@pytest.mark.skipif(shutil.which("faketime") is None, reason="needs faketime (apt install faketime)")
def test_doctor_warns_loudly_of_a_clock_in_1970(broken_home):
    h, _taker = broken_home
    r = _hearth(h.config_path, "--json", "--lang", "fr", faketime="1970-01-01 00:05:00")
    data = json.loads(r.stdout)
    clock = [x for x in data["findings"] if x["check"] == "clock"]
    assert r.returncode == 1 and clock and clock[0]["state"] == "bad", r.stdout + r.stderr
    assert "1970-01-01" in clock[0]["text"] and "timedatectl" in clock[0]["fix"]
    assert "L'horloge indique" in clock[0]["text"]
