"""`hearth CMD` builds only CMD's parser (a faster start); what argparse says and parses is the same as with all."""
from __future__ import annotations

import contextlib
import io

import pytest

from appliance import cli


def outcome(parser, argv):
    """What a parser makes of argv: (exit code or None, stdout, stderr, the parsed arguments)."""
    out, err = io.StringIO(), io.StringIO()
    code, parsed = None, None
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            ns = parser.parse_args(argv)
            parsed = {k: getattr(v, "__qualname__", v) for k, v in vars(ns).items()}
        except SystemExit as e:
            code = e.code
    return code, out.getvalue(), err.getvalue(), parsed


@pytest.mark.parametrize("argv, named", [
    (["pause", "emma", "30m"], "pause"),
    (["--config", "x.yaml", "pause", "emma"], "pause"),
    (["--config=x.yaml", "explain", "a.com", "--ip", "1.2.3.4"], "explain"),
    (["explain", "--help"], "explain"),
    (["log", "--limit", "5"], "log"),
    (["pause", "--config", "x.yaml", "emma"], "pause"),
    ([], None),
    (["--help"], None),
    (["-h", "pause"], None),
    (["--conf", "x.yaml", "pause", "emma"], None),      # an abbreviation argparse accepts: the full parser reads it
    (["--config"], None),
    (["pase", "emma"], None),
    (["emma", "pause"], None),
])
def test_the_command_is_found_only_where_argparse_finds_it(argv, named):
    assert cli.command_named(argv) == named


ARGVS = [
    ["pause", "emma", "30m"], ["pause", "emma", "--until", "21:30"], ["pause"], ["pause", "a", "b", "c"],
    ["pause", "--help"], ["--config", "f.yaml", "resume", "emma"], ["resume", "emma", "--config", "g.yaml"],
    ["explain", "www.omegle.com", "--ip", "192.168.1.23"], ["explain", "x.com"],
    ["explain", "x.com", "--ip", "1.2.3.4", "--device", "d"], ["explain", "x.com", "--profile", "emma", "--json"],
    ["allow", "emma", "youtube", "30m"], ["later", "emma", "bedtime", "30m"], ["end", "emma", "bedtime"],
    ["cancel", "seven"], ["cancel", "7"], ["now", "emma"], ["overrides", "--json"], ["status"], ["reload"],
    ["lists", "update", "adult", "--accept-shrink"], ["lists", "wrong"], ["log", "--child", "emma", "--blocked"],
    ["devices"], ["alerts"], ["notify", "--help"], ["budget", "--help"], ["budgets"], ["token", "list"],
    ["passwd", "--help"], ["admin", "--help"], ["doctor", "--json", "--lang", "fr"], ["backup", "b.tar.gz"],
    ["restore", "b.tar.gz", "--check"], ["proxy", "--", "--set", "x=1"], ["approve", "3", "--for", "30m"],
    ["scan", "hello"], ["check-config", "other.yaml"], ["dns"], ["serve"], ["pause", "emma", "--bogus"],
    ["--config", "f.yaml", "--config", "g.yaml", "now", "emma"],
]


@pytest.mark.parametrize("argv", ARGVS, ids=" ".join)
def test_one_commands_parser_says_what_the_whole_parser_says(argv):
    name = cli.command_named(argv)
    assert name is not None
    assert outcome(cli.build_parser(name), argv) == outcome(cli.build_parser(), argv)


def test_every_command_is_listed_in_order():
    """COMMANDS is what `hearth --help` lists, and each builder adds the command it is filed under."""
    sub = next(a for a in cli.build_parser()._actions if a.dest == "command")
    assert list(sub.choices) == list(cli.COMMANDS)
    for name in cli.COMMANDS:
        one = next(a for a in cli.build_parser(name)._actions if a.dest == "command")
        assert list(one.choices) == [name]
