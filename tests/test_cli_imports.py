"""A parent's command starts fast because it loads only what it uses: which packages each `hearth` command imports.

A structure test, not a timing one (bench/cli_start.py measures the time): each command runs in a fresh Python,
and the packages left in ``sys.modules`` are compared with what that command needs.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from appliance import cli

# Packages the daemons need and a parent's command does not: each costs a CLI start from 10 to 100 ms.
DAEMON_ONLY = {"asyncio", "uvloop", "ssl", "dnslib", "flask", "werkzeug", "jinja2", "waitress", "cheroot",
               "apscheduler", "apprise", "prometheus_client", "argon2", "multiprocessing"}

CONFIG = """\
timezone: Europe/Paris
data_dir: {data}
devices:
  - {{name: emma-phone, ip: 192.168.1.23}}
profiles:
  emma:
    devices: [emma-phone]
    block: [random-chat, dating]
    schedules:
      - {{name: bedtime, days: sun-thu, from: "21:00", to: "07:00", block: everything}}
"""

RUN = """\
import json, sys
from appliance import cli
try:
    code = cli.main(sys.argv[1:])
except SystemExit as e:
    code = e.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
"""


def imported_modules(tmp_path, *argv) -> tuple[int, set[str]]:
    """The exit code of `hearth ARGV`, and every module it loaded (dotted names)."""
    cfg = tmp_path / "hearth.yaml"
    if not cfg.exists():
        cfg.write_text(CONFIG.format(data=tmp_path / "var"))
    r = subprocess.run([sys.executable, "-c", RUN, "--config", str(cfg), *argv], capture_output=True, text=True,
                       timeout=60)
    report = json.loads(r.stderr.strip().splitlines()[-1])
    return report["code"], set(report["modules"])


def imported(tmp_path, *argv) -> tuple[int, set[str]]:
    """The exit code, and the top-level packages loaded."""
    code, modules = imported_modules(tmp_path, *argv)
    return code, {m.split(".")[0] for m in modules}


@pytest.mark.parametrize("argv, allowed", [
    (["--help"], set()),
    (["pause", "--help"], set()),
    (["check-config"], set()),
    (["pause", "emma", "30m"], set()),
    (["resume", "emma"], set()),
    (["allow", "emma", "youtube", "30m"], set()),
    (["later", "emma", "bedtime", "30m"], set()),
    (["now", "emma"], set()),
    (["overrides"], set()),
    (["status"], set()),                               # no daemon here: it says so
    (["alerts"], set()),
    (["budgets"], set()),
    (["lists", "status"], set()),
    (["token", "list"], set()),
    (["log", "--limit", "5"], set()),
    (["devices"], set()),
    (["explain", "www.omegle.com", "--ip", "192.168.1.23"], set()),     # query types named by dns/qtypes.py
    (["explain", "www.omegle.com", "--ip", "192.168.1.23", "--type", "HTTPS"], set()),
])
def test_a_parents_command_loads_no_daemon_package(tmp_path, argv, allowed):
    code, modules = imported(tmp_path, *argv)
    assert code in (0, 1), code          # status: 1, no daemon running
    assert modules & DAEMON_ONLY <= allowed, sorted(modules & DAEMON_ONLY - allowed)


@pytest.mark.parametrize("argv", [["pause", "emma", "30m"], ["resume", "emma"], ["allow", "emma", "youtube", "30m"],
                                  ["now", "emma"], ["overrides"]])
def test_only_explain_loads_the_lists_and_the_decision_chain(tmp_path, argv):
    """A pause writes one row: the compiled lists (marisa_trie) and decide() are for `hearth explain`."""
    code, modules = imported_modules(tmp_path, *argv)
    assert code == 0
    assert not modules & {"marisa_trie", "appliance.policy.engine", "appliance.policy.decide"}


# What a command reads its config with: PyYAML and the catalog's modules load only when the file (or the catalog)
# changed since the last command read it (appliance/config/cache.py); the policy's modules for explain alone.
PARSER_ONLY = {"appliance.logcmd", "appliance.alertcmd", "appliance.budgetcmd", "appliance.admincmd",
               "appliance.textscan.command"}


@pytest.mark.parametrize("argv", [["pause", "emma", "30m"], ["resume", "emma"], ["allow", "emma", "youtube", "30m"],
                                  ["now", "emma"], ["overrides"], ["check-config"]])
def test_a_config_read_before_is_not_parsed_again(tmp_path, argv):
    code, first = imported_modules(tmp_path, *argv)
    assert code == 0 and "yaml" in first                 # the first reading parses the file and reads the catalog
    code, again = imported_modules(tmp_path, *argv)
    assert code == 0
    assert not {m.split(".")[0] for m in again} & {"yaml"}, sorted(m for m in again if m.startswith("yaml"))
    assert not again & ({"appliance.lists.catalog", "appliance.dns.codec"} | PARSER_ONLY)
    (tmp_path / "hearth.yaml").write_text(CONFIG.format(data=tmp_path / "var") + "essentials: [example.org]\n")
    code, changed = imported_modules(tmp_path, *argv)
    assert code == 0 and "yaml" in changed                # a changed file is read again


QUIET_RUNS = {"check-config": [], "pause": ["emma", "30m"], "allow": ["emma", "youtube", "30m"], "resume": ["emma"],
              "later": ["emma", "bedtime", "30m"], "end": ["emma", "bedtime"], "overrides": [], "cancel": ["1"],
              "now": ["emma"]}


@pytest.mark.parametrize("command", sorted(cli.QUIET))
def test_a_quiet_command_really_logs_nothing(tmp_path, command):
    """The commands that start without configuring logging must not load it: a module of theirs that came to log
    would log unconfigured. If this fails, take the command out of cli.QUIET."""
    code, modules = imported_modules(tmp_path, command, *QUIET_RUNS[command])
    assert code in (0, 1, 2)
    assert "logging" not in modules


def test_the_other_commands_configure_logging(tmp_path):
    code, modules = imported_modules(tmp_path, "log", "--limit", "1")
    assert code == 0 and "logging" in modules          # the query log reader logs: logging was configured


def test_explain_loads_the_policy_but_not_dnslib(tmp_path):
    """The checks above can fail: explain really loads what it needs when it runs (marisa_trie, decide). Once the
    config, the catalog and the safe-search file were read, not PyYAML either."""
    code, first = imported_modules(tmp_path, "explain", "www.omegle.com", "--ip", "192.168.1.23")
    assert code == 0 and "yaml" in first
    code, modules = imported_modules(tmp_path, "explain", "www.omegle.com", "--ip", "192.168.1.23")
    assert code == 0
    assert {"marisa_trie", "appliance.policy.decide", "appliance.policy.engine"} <= modules
    assert not modules & ({"dnslib", "appliance.dns.codec", "yaml"} | PARSER_ONLY)
    code, modules = imported(tmp_path, "scan", "hello")
    assert code == 0 and "appliance" in modules


@pytest.mark.parametrize("argv, expected", [
    (["explain", "www.omegle.com", "--ip", "192.168.1.23"], "BLOCK"),
    (["scan", "send me a pic, don't tell your parents"], "worrying"),
    (["pause", "--help"], "pause a child's internet"),
])
def test_commands_still_work_after_their_imports_moved(tmp_path, argv, expected):
    cfg = tmp_path / "hearth.yaml"
    cfg.write_text(CONFIG.format(data=tmp_path / "var"))
    r = subprocess.run([sys.executable, "-m", "appliance.cli", "--config", str(cfg), *argv], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert expected in r.stdout
