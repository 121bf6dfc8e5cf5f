"""The config file: the issue's example works as written; every error names its YAML path."""
from __future__ import annotations

import ipaddress
import subprocess
import sys
from datetime import time
from pathlib import Path

import pytest
import yaml

from appliance import config as configmod
from appliance.config import ConfigError, Endpoint, Upstream

EXAMPLE = """
timezone: Europe/Paris
data_dir: ./var                      # on the Pi: /var/lib/hearth
dns:
  listen: ["127.0.0.1:5353"]          # on the Pi: ["0.0.0.0:53", "[::]:53"]
  upstreams: ["9.9.9.9", "149.112.112.112"]  # host[:port]; tls://host[:port] for DNS over TLS
  block_answer: null_ip                # null_ip (0.0.0.0 / ::) or nxdomain
  allow_networks: ["192.168.0.0/16", "10.0.0.0/8", "172.16.0.0/12", "fd00::/8", "127.0.0.0/8"]
devices:
  - {name: emma-phone, mac: "aa:bb:cc:dd:ee:ff"}
  - {name: emma-laptop, mac: "AA-BB-CC-DD-EE-01"}
  - {name: leo-tablet, ip: 192.168.1.23}
  - {name: guest-wifi, cidr: 192.168.50.0/24}
profiles:
  emma:
    devices: [emma-phone, emma-laptop]
    block: [random-chat, dating, adult, bypass]
    block_apps: [tiktok, snapchat]
    allow: [khanacademy.org, pronote.net]
    safe_search: true
    youtube: moderate
    schedules:
      - {name: bedtime, days: sun-thu, from: "21:00", to: "07:00", block: everything}
      - {name: homework, days: mon-fri, from: "16:30", to: "18:00", block: [social, games, video]}
default_profile: {block: [random-chat]}   # devices nobody has assigned yet
"""


def load_text(tmp_path: Path, text: str):
    p = tmp_path / "hearth.yaml"
    p.write_text(text)
    return configmod.load(p)


def errors_of(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as e:
        load_text(tmp_path, text)
    return e.value.errors


def test_the_issue_example_loads_as_written(tmp_path):
    c = load_text(tmp_path, EXAMPLE)
    assert c.timezone == "Europe/Paris" and c.data_dir == tmp_path / "var"
    assert c.dns.listen == (Endpoint("127.0.0.1", 5353),)
    assert c.dns.upstreams == (Upstream("9.9.9.9", 53), Upstream("149.112.112.112", 53))
    assert ipaddress.ip_network("fd00::/8") in c.dns.allow_networks
    assert [d.mac for d in c.devices[:2]] == ["aa:bb:cc:dd:ee:ff", "aa:bb:cc:dd:ee:01"]
    emma = c.profiles["emma"]
    assert emma.block == ("random-chat", "dating", "adult", "bypass") and emma.block_apps == ("tiktok", "snapchat")
    bedtime, homework = emma.schedules
    assert bedtime.everything and bedtime.days == frozenset({6, 0, 1, 2, 3}) and bedtime.start == time(21)
    assert homework.block == ("social", "games", "video") and homework.days == frozenset(range(5))
    assert c.default_profile.block == ("random-chat",) and not c.default_profile.bypass
    assert emma.bypass and emma.safe_search     # children are protected by default


def test_unquoted_times_read_as_sexagesimal_still_work(tmp_path):
    c = load_text(tmp_path, EXAMPLE.replace('"21:00"', "21:00").replace('"07:00"', "07:00"))
    assert c.profiles["emma"].schedules[0].start == time(21) and c.profiles["emma"].schedules[0].end == time(7)


@pytest.mark.parametrize("old,new,expected", [
    ("block: [random-chat, dating, adult, bypass]", "block: [random-chat, datng]",
     'profiles.emma.block[1]: unknown category "datng" (did you mean "dating"?'),
    ("block_apps: [tiktok, snapchat]", "block_apps: [tiktok, snapchatt]",
     'profiles.emma.block_apps[1]: unknown app "snapchatt"'),
    ("days: sun-thu", "days: sun-thru", "profiles.emma.schedules[0].days: unknown day in 'sun-thru'"),
    ('from: "16:30"', 'from: "16:70"', "profiles.emma.schedules[1].from: expected a time HH:MM"),
    ('to: "18:00"', 'to: "16:30"', "profiles.emma.schedules[1]: from and to are both 16:30"),
    ("block: [social, games, video]", "block: [social, gamez]",
     'profiles.emma.schedules[1].block[1]: unknown category or app "gamez"'),
    ("devices: [emma-phone, emma-laptop]", "devices: [emma-phone, emma-tablet]",
     'profiles.emma.devices[1]: unknown device "emma-tablet"'),
    ('mac: "aa:bb:cc:dd:ee:ff"', 'mac: "aa:bb:cc:dd:ee"', "devices[0].mac: expected a MAC"),
    ("ip: 192.168.1.23", "ip: 192.168.1.300", "devices[2].ip: not an IP address"),
    ("timezone: Europe/Paris", "timezone: Europe/Pariss", "timezone: unknown time zone 'Europe/Pariss'"),
    ('upstreams: ["9.9.9.9"', 'upstreams: ["dns.quad9.net"', "dns.upstreams[0]: a plain upstream must be an IP"),
    ("block_answer: null_ip", "block_answer: refuse", "dns.block_answer: expected one of null_ip, nxdomain"),
    ('"10.0.0.0/8"', '"10.0.0.0/33"', "dns.allow_networks[1]: not an IP network"),
    ("youtube: moderate", "youtube: loose", "profiles.emma.youtube: expected one of off, moderate, strict"),
    ("safe_search: true", "safe_search: sometimes", "profiles.emma.safe_search: expected true or false"),
    ("allow: [khanacademy.org, pronote.net]", "allow: [khanacademy.org, 'bad domain']",
     "profiles.emma.allow[1]: not a valid domain name"),
    ("allow: [khanacademy.org, pronote.net]", "allow: [khanacademy.org, pronote-.net]",
     "profiles.emma.allow[1]: not a valid domain name"),
    ("  emma:\n", "  emma:\n    colour: blue\n", "profiles.emma.colour: unknown key"),
])
def test_errors_name_their_yaml_path(tmp_path, old, new, expected):
    assert old in EXAMPLE
    errs = errors_of(tmp_path, EXAMPLE.replace(old, new, 1))
    assert any(e.startswith(expected) for e in errs), errs


def test_every_error_is_reported_at_once(tmp_path):
    text = EXAMPLE.replace("datng", "").replace("dating", "datng").replace("Europe/Paris", "Mars/Olympus") \
        .replace('"21:00"', '"99:00"')
    errs = errors_of(tmp_path, text)
    assert len(errs) == 3
    assert {e.split(":")[0] for e in errs} == {"timezone", "profiles.emma.block[1]", "profiles.emma.schedules[0].from"}


def test_a_device_in_two_profiles_is_an_error(tmp_path):
    text = EXAMPLE.replace("default_profile:", "  leo: {devices: [emma-phone]}\ndefault_profile:")
    errs = errors_of(tmp_path, text)
    assert any(e.startswith("profiles.leo.devices[0]: device 'emma-phone' already belongs to profile 'emma'")
               for e in errs), errs


def test_yaml_syntax_error_names_the_line(tmp_path):
    errs = errors_of(tmp_path, "timezone: UTC\ndns: {listen: [\n")
    assert errs[0].startswith("line ") and "not valid YAML" in errs[0]


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError) as e:
        configmod.load(tmp_path / "nope.yaml")
    assert "cannot read" in str(e.value)


def test_empty_file_gives_safe_defaults(tmp_path):
    c = load_text(tmp_path, "")
    assert c.dns.listen == (Endpoint("127.0.0.1", 5353),)
    assert ipaddress.ip_network("192.168.0.0/16") in c.dns.allow_networks
    assert ipaddress.ip_network("0.0.0.0/0") not in c.dns.allow_networks   # never an open resolver
    assert c.default_profile.name == "default"


def test_tls_upstream_forms(tmp_path):
    c = load_text(tmp_path, 'dns: {upstreams: ["tls://9.9.9.9#dns.quad9.net", "tls://[2620:fe::fe]:853", '
                            '"[2620:fe::9]:5353", "1.1.1.1:53"]}')
    assert c.dns.upstreams == (Upstream("9.9.9.9", 853, True, "dns.quad9.net"), Upstream("2620:fe::fe", 853, True),
                               Upstream("2620:fe::9", 5353), Upstream("1.1.1.1", 53))


def test_resolve_path_order(monkeypatch):
    monkeypatch.delenv("HEARTH_CONFIG", raising=False)
    assert configmod.resolve_path(None) == "/etc/hearth/hearth.yaml"
    monkeypatch.setenv("HEARTH_CONFIG", "/tmp/x.yaml")
    assert configmod.resolve_path(None) == "/tmp/x.yaml"
    assert configmod.resolve_path("/a.yaml") == "/a.yaml"


def test_check_config_cli(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(EXAMPLE)
    bad = tmp_path / "bad.yaml"
    bad.write_text(EXAMPLE.replace("dating", "datng"))
    run = lambda *a: subprocess.run([sys.executable, "-m", "appliance.cli", *a], capture_output=True, text=True)
    ok = run("check-config", str(good))
    assert ok.returncode == 0 and "OK" in ok.stdout
    r = run("check-config", str(bad))
    assert r.returncode == 1
    assert 'profiles.emma.block[1]: unknown category "datng"' in r.stdout
    r = run("--config", str(bad), "check-config")
    assert r.returncode == 1
    assert run("check-config", "--config", str(good)).returncode == 0


def test_the_starter_config_of_install_sh_is_valid(tmp_path):
    """install.sh writes a config for a new user; it must load."""
    script = (Path(__file__).parent.parent / "install.sh").read_text()
    body = script.split("cat > \"$1\" <<EOF\n", 1)[1].split("\nEOF\n", 1)[0]
    body = body.replace("$(cat /etc/timezone 2>/dev/null || echo UTC)", "UTC").replace("$1", "x") \
        .replace("$2", "./var").replace("$3", '["127.0.0.1:5353"]').replace("$4", "127.0.0.1:8080")
    c = load_text(tmp_path, body)
    assert c.default_profile.block == ("random-chat", "adult")
    yaml.safe_load(body)


def test_the_readme_config_example_is_valid(tmp_path):
    """The example a parent copies from the README must load as written."""
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    block = readme.split("```yaml\n", 1)[1].split("```", 1)[0]
    c = load_text(tmp_path, block.replace("/var/lib/hearth", str(tmp_path / "var")))
    assert c.profiles["emma"].schedules[0].name == "bedtime"
    assert c.lists.sources[0].category == "adult" and c.query_log.keep_days == 90


def test_config_domains_are_spelled_as_the_lists_spell_them(tmp_path):
    from appliance.lists.names import to_ascii
    c = load_text(tmp_path, EXAMPLE.replace("allow: [khanacademy.org, pronote.net]",
                                            "allow: [KhanAcademy.org., école.example]"))
    assert c.profiles["emma"].allow == ("khanacademy.org", "xn--cole-9oa.example")
    assert c.profiles["emma"].allow[1] == to_ascii("école.example")


def test_a_window_with_apps_in_block_and_block_apps(tmp_path):
    c = load_text(tmp_path, EXAMPLE.replace("block: [social, games, video]",
                                            "block: [social, tiktok], block_apps: [tiktok, discord]"))
    homework = c.profiles["emma"].schedules[1]
    assert homework.block == ("social",) and homework.block_apps == ("tiktok", "discord")
    # A bad app name is reported even when the window has other errors.
    errs = errors_of(tmp_path, EXAMPLE.replace("block: [social, games, video]", "block_apps: [tiktokk]")
                     .replace('from: "16:30"', 'from: "16:99"'))
    assert any(e.startswith('profiles.emma.schedules[1].block_apps[0]: unknown app "tiktokk"') for e in errs)


def test_check_config_warns_about_rules_that_apply_to_nobody(tmp_path):
    from appliance.config.advice import warnings
    c = load_text(tmp_path, EXAMPLE.replace("default_profile:", "  leo: {block: [dating], deny: [captive.apple.com]}"
                                            "\ndefault_profile:")
                  .replace("{name: guest-wifi, cidr: 192.168.50.0/24}", "{name: guest-wifi, ip: 192.168.1.23}"))
    w = warnings(c)
    assert any(x.startswith("profiles.leo: no devices") for x in w), w
    assert any("leo-tablet, guest-wifi share the address 192.168.1.23" in x for x in w), w
    assert any(x.startswith("devices: guest-wifi is in no profile") for x in w), w
    assert any(x.startswith("profiles.leo.deny: captive.apple.com cannot be blocked") for x in w), w
    p = tmp_path / "w.yaml"
    p.write_text(EXAMPLE)
    r = subprocess.run([sys.executable, "-m", "appliance.cli", "check-config", str(p)], capture_output=True,
                       text=True)
    assert r.returncode == 0 and "warning: devices: leo-tablet is in no profile" in r.stdout
