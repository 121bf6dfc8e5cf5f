"""Family policy end to end: the shipped lists, a real daemon, the real CLI in a subprocess, a real SQLite file."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import dns.message
import dns.query
import dns.rcode
import pytest

from tests.support.hearth_proc import HearthServer
from tests.support.stub_upstream import StubUpstream

ZONE = {
    "www.tiktok.com": [("A", "198.51.100.10")],
    "www.homework.example.net": [("A", "198.51.100.11")],
    "example.com": [("A", "93.184.216.34")],
    "forcesafesearch.google.com": [("A", "216.239.38.120")],
    "restrictmoderate.youtube.com": [("A", "216.239.38.119")],
    "restrict.youtube.com": [("A", "216.239.38.120")],
    "mask.icloud.com": [("A", "17.0.0.1")],
    "connectivitycheck.gstatic.com": [("A", "142.250.0.1")],
}
EMMA_IP, LEO_IP = "127.0.0.5", "127.0.0.6"


def family(window: dict | None = None) -> dict:
    emma = {"devices": ["emma-phone"], "block": ["random-chat", "dating"], "block_apps": ["tiktok"],
            "allow": ["homework.example.net"], "youtube": "moderate"}
    if window:
        emma["schedules"] = [window]
    return {"devices": [{"name": "emma-phone", "ip": EMMA_IP}, {"name": "leo-tablet", "ip": LEO_IP}],
            "profiles": {"emma": emma, "leo": {"devices": ["leo-tablet"], "youtube": "strict"}},
            "default_profile": {}}


@pytest.fixture
def upstream():
    with StubUpstream(ZONE) as up:
        yield up


@pytest.fixture
def start(tmp_path, upstream):
    made = []

    def make(cfg: dict) -> HearthServer:
        cfg = {"dns": {"upstreams": [upstream.address], "upstream_timeout": 0.5}, **cfg}
        h = HearthServer(tmp_path, cfg).start()
        made.append(h)
        return h

    yield make
    for h in made:
        h.stop()


def ask(h, name, source=EMMA_IP, rdtype="A"):
    return dns.query.udp(dns.message.make_query(name, rdtype), "127.0.0.1", port=h.port, timeout=3, source=source)


def ips(r) -> list[str]:
    return [rd.to_text() for rrset in r.answer for rd in rrset if rrset.rdtype == 1]


def hearth_cli(h, *args) -> subprocess.CompletedProcess:
    env = dict(os.environ, HEARTH_CONFIG=str(h.config_path))
    return subprocess.run([sys.executable, "-m", "appliance.cli", *args], capture_output=True, text=True, env=env,
                          timeout=60)


def wait_for(fn, timeout=5.0):
    end = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() > end:
            return v
        time.sleep(0.1)


def window_covering_now(**extra) -> dict:
    now = datetime.now(ZoneInfo("UTC"))
    start, end = now - timedelta(hours=1), now + timedelta(hours=1)
    return {"name": "bedtime", "days": "daily", "from": f"{start:%H:%M}", "to": f"{end:%H:%M}", **extra}


def test_child_answers_carry_a_short_ttl(start):
    h = start(family())
    r = ask(h, "example.com")
    assert ips(r) == ["93.184.216.34"] and r.answer[0].ttl <= 60
    r = ask(h, "example.com", source="127.0.0.9")        # an unassigned device keeps the upstream TTL
    assert r.answer[0].ttl > 60


def test_a_schedule_covering_now_blocks_and_reaches_the_device_within_the_ttl(start):
    h = start(family())
    r = ask(h, "example.com")
    assert ips(r) == ["93.184.216.34"] and r.answer[0].ttl <= 60
    h.write_config({**h.config, **family(window_covering_now(block="everything", allow=["example.org"]))})
    assert h.reload()["ok"]
    r = ask(h, "example.com")
    assert ips(r) == ["0.0.0.0"]
    assert ips(ask(h, "connectivitycheck.gstatic.com")) == ["142.250.0.1"]      # essentials stay up at bedtime
    assert ips(ask(h, "example.com", source=LEO_IP)) == ["93.184.216.34"]       # only emma goes to bed
    # The cached decision expires at the window's end, not later.
    entry = next(e for k, e in h.daemon.resolver.hot._d.items() if e.qname == "example.com" and k[0] == "emma")
    now = datetime.now(ZoneInfo("UTC"))
    end = now.replace(second=0, microsecond=0) + timedelta(hours=1)
    assert entry.expires - time.monotonic() <= (end - now).total_seconds() + 1


def test_explain_names_the_window(start):
    window = window_covering_now(block=["social"])
    h = start(family(window))
    now = datetime.now(ZoneInfo("UTC"))
    r = hearth_cli(h, "explain", "www.tiktok.com", "--device", "emma-phone", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert (d["action"], d["reason"], d["list"], d["profile"]) == ("block", "APP", "app:tiktok", "emma")
    r = hearth_cli(h, "explain", "www.instagram.com", "--ip", EMMA_IP, "--json")
    d = json.loads(r.stdout)
    assert (d["action"], d["reason"], d["schedule"], d["list"]) == ("block", "SCHEDULE", "bedtime", "social")
    later = (now + timedelta(hours=3)).strftime("%Y-%m-%d %H:%M")
    d = json.loads(hearth_cli(h, "explain", "www.instagram.com", "--ip", EMMA_IP, "--at", later, "--json").stdout)
    assert (d["action"], d["reason"]) == ("allow", "NONE")
    d = json.loads(hearth_cli(h, "explain", "www.omegle.com", "--ip", EMMA_IP, "--type", "https", "--json").stdout)
    assert (d["type"], d["action"], d["list"]) == ("HTTPS", "block", "random-chat")
    r = hearth_cli(h, "explain", "www.omegle.com", "--ip", EMMA_IP, "--type", "BOGUS")
    assert r.returncode == 2 and "unknown query type 'BOGUS'" in r.stderr
    text = hearth_cli(h, "explain", "www.omegle.com", "--device", "emma-phone").stdout
    assert "BLOCK" in text and "CATEGORY" in text and "random-chat" in text


def test_pause_from_the_cli_takes_effect_and_ends_by_itself(start):
    h = start(family())
    assert ips(ask(h, "example.com")) == ["93.184.216.34"]
    r = hearth_cli(h, "pause", "emma", "4s")
    assert r.returncode == 0, r.stderr
    assert wait_for(lambda: ips(ask(h, "example.com")) == ["0.0.0.0"], 3), "pause not applied within 3 s"
    assert ips(ask(h, "example.com", source=LEO_IP)) == ["93.184.216.34"]
    assert ips(ask(h, "connectivitycheck.gstatic.com")) == ["142.250.0.1"]
    assert wait_for(lambda: ips(ask(h, "example.com")) == ["93.184.216.34"], 8), "pause did not end by itself"


def test_resume_ends_a_pause(start):
    h = start(family())
    assert hearth_cli(h, "pause", "emma", "1h").returncode == 0
    assert wait_for(lambda: ips(ask(h, "example.com")) == ["0.0.0.0"], 3)
    assert "resumed" in hearth_cli(h, "resume", "emma").stdout
    assert wait_for(lambda: ips(ask(h, "example.com")) == ["93.184.216.34"], 3)


def test_timed_allow_of_an_app_then_blocks_again(start):
    h = start(family())
    assert ips(ask(h, "www.tiktok.com")) == ["0.0.0.0"]
    r = hearth_cli(h, "allow", "emma", "tiktok", "4s")
    assert r.returncode == 0, r.stderr
    assert wait_for(lambda: ips(ask(h, "www.tiktok.com")) == ["198.51.100.10"], 3)
    assert wait_for(lambda: ips(ask(h, "www.tiktok.com")) == ["0.0.0.0"], 8), "the reward did not end by itself"


def test_allow_list_beats_a_category_but_not_an_everything_window(start):
    h = start(family(window_covering_now(block="everything")))
    assert ips(ask(h, "www.homework.example.net")) == ["0.0.0.0"]
    h2_cfg = {**h.config, **family(window_covering_now(block=["social"]))}
    h.write_config(h2_cfg)
    assert h.reload()["ok"]
    assert ips(ask(h, "www.homework.example.net")) == ["198.51.100.11"]


@pytest.mark.parametrize("name,source,target", [
    ("www.google.com", EMMA_IP, "forcesafesearch.google.com"),
    ("www.google.fr", EMMA_IP, "forcesafesearch.google.com"),
    ("www.youtube.com", EMMA_IP, "restrictmoderate.youtube.com"),
    ("m.youtube.com", LEO_IP, "restrict.youtube.com"),
])
def test_safe_search_answers_carry_the_cname(start, name, source, target):
    h = start(family())
    r = ask(h, name, source=source)
    assert r.rcode() == dns.rcode.NOERROR
    cname = [rrset for rrset in r.answer if rrset.rdtype == 5]
    assert cname and cname[0][0].target.to_text() == target + "."
    assert ips(r) == [ZONE[target][0][1]]


def test_icloud_private_relay_gets_nxdomain(start):
    h = start(family())
    for name in ("mask.icloud.com", "mask-h2.icloud.com"):
        assert ask(h, name).rcode() == dns.rcode.NXDOMAIN
    assert ask(h, "mask.icloud.com", source="127.0.0.9").rcode() == dns.rcode.NOERROR   # bypass is for children


def test_later_moves_tonights_window(start):
    now = datetime.now(ZoneInfo("UTC"))
    soon = now + timedelta(minutes=30)
    w = {"name": "bedtime", "days": "daily", "from": f"{soon:%H:%M}", "to": f"{soon + timedelta(hours=1):%H:%M}",
         "block": "everything"}
    h = start(family(w))
    r = hearth_cli(h, "later", "emma", "bedtime", "30m")
    assert r.returncode == 0, r.stderr
    r = hearth_cli(h, "later", "emma", "homework", "30m")
    assert r.returncode != 0 and "homework" in (r.stderr + r.stdout)
    assert "bedtime" in hearth_cli(h, "overrides").stdout


def test_cli_refuses_unknown_profiles_and_targets(start):
    h = start(family())
    r = hearth_cli(h, "pause", "zoe", "10m")
    assert r.returncode != 0 and "unknown profile 'zoe'" in r.stderr
    r = hearth_cli(h, "allow", "emma", "tiktokk", "10m")
    assert r.returncode != 0 and "not an app, a category or a domain" in r.stderr
    r = hearth_cli(h, "pause", "emma", "ten minutes")
    assert r.returncode != 0 and "duration" in r.stderr


def test_status_and_reload_through_the_control_socket(start):
    h = start(family())
    ask(h, "example.com")
    ask(h, "example.com")
    ask(h, "www.omegle.com")                              # emma's profile blocks random-chat
    h.flush_log()
    r = hearth_cli(h, "status")
    assert r.returncode == 0, r.stderr
    assert "today: 3 questions, 1 blocked (blocked per child: emma 1" in r.stdout, r.stdout
    assert "3 questions" in r.stdout and "1 answered from memory" in r.stdout.replace(",", "")
    assert "upstream 127.0.0.1" in r.stdout and ": answering" in r.stdout
    st = json.loads(hearth_cli(h, "status", "--json").stdout)
    assert st["hot"] == 1 and st["full_chain"] == 2 and st["upstreams"][next(iter(st["upstreams"]))]["state"] == "ok"
    assert {"blocked", "refused", "servfail", "stale", "log_written", "log_dropped"} <= set(st)
    assert hearth_cli(h, "reload").stdout.startswith("reloaded")
    h.config_path.write_text(h.config_path.read_text().replace("random-chat", "random-chatt"))
    r = hearth_cli(h, "reload")
    assert r.returncode == 1 and 'unknown category "random-chatt"' in r.stderr
    assert "last reload refused" in hearth_cli(h, "status").stdout


def test_ending_a_window_early_lets_the_child_back_until_the_next_one(start):
    h = start(family(window_covering_now(block="everything")))
    assert ips(ask(h, "example.com")) == ["0.0.0.0"]
    r = hearth_cli(h, "end", "emma", "bedtime")
    assert r.returncode == 0, r.stderr
    assert wait_for(lambda: ips(ask(h, "example.com")) == ["93.184.216.34"], 3), "the window did not end"
    d = json.loads(hearth_cli(h, "explain", "example.com", "--device", "emma-phone", "--json").stdout)
    assert (d["action"], d["reason"]) == ("allow", "NONE")


def test_a_typo_in_the_file_does_not_lock_the_parent_out(start):
    """The daemon keeps the last good config; live commands use it while the file has errors (issue 11)."""
    h = start(family())
    h.config_path.write_text(h.config_path.read_text().replace("random-chat", "random-chatt"))
    r = hearth_cli(h, "pause", "emma", "10m")
    assert r.returncode == 0, r.stderr
    assert "has 1 error(s)" in r.stderr and "uses the config the DNS daemon runs" in r.stderr
    assert wait_for(lambda: ips(ask(h, "example.com")) == ["0.0.0.0"], 3)
    r = hearth_cli(h, "explain", "www.omegle.com", "--device", "emma-phone", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["action"] == "block"
    assert hearth_cli(h, "check-config").returncode == 1      # the file itself is still reported as broken


def test_a_control_request_over_64_kb_is_refused_and_the_daemon_goes_on(start):
    import socket as socketmod
    from appliance import control
    h = start(family())
    path = control.socket_path(h.tmp / "var")
    with socketmod.socket(socketmod.AF_UNIX, socketmod.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(str(path))
        s.sendall(b'{"command": "' + b"x" * 200_000 + b'"}\n')
        reply = json.loads(s.makefile("rb").readline())
    assert reply["ok"] is False and "bad request" in reply["error"]
    assert control.request(h.tmp / "var", "ping")["ok"]
    assert ips(ask(h, "example.com")) == ["93.184.216.34"]
