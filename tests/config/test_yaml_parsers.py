"""The config is read with libyaml's parser when PyYAML has it, and refused in the pure-Python parser's words:
both give the same data, or the same errors, on a table of ordinary and awkward files."""
from __future__ import annotations

import importlib
from datetime import date

import pytest
import yaml

from appliance.config import ConfigError
from appliance.config.load import read_yaml

loadmod = importlib.import_module("appliance.config.load")     # the module (the package's ``load`` is the function)

pytestmark = pytest.mark.skipif(not getattr(yaml, "__with_libyaml__", False), reason="PyYAML without libyaml")

TEXTS = [
    "", "# only a comment\n", "timezone: Europe/Paris\n", "\ufefftimezone: UTC\n",
    "a: 7:00\nb: 7\nc: 0o17\nd: 0x1F\ne: 1_000\nf: 1e3\ng: .inf\nh: ~\n",
    "days: [yes, no, on, off, true, False]\n", "when: 2026-12-01\n", "name: 'Émilie's phone'\n",
    "name: \"Émilie\\u00e9\"\n", "a: &x [1, 2]\nb: *x\n", "a: {b: {c: [1, {d: e}]}}\n",
    "multi: |\n  line one\n  line two\n", "folded: >\n  one\n  two\n", "? complex\n: key\n",
    "a: 1\na: 2\n", "a: {b: 1, b: 2}\n",                      # a key twice: our constructor refuses it
    "a:\n\t- b\n", "a: b\tc\n", "\tx: 1\n",                        # tabs
    "a: [1, 2\n", "a: 'open\n", "a: \"open\n", "a: b: c\n", "- a\nb: c\n", "a: 1\n---\nb: 2\n",
    "a: !!python/object:os.system ls\n", "a: !custom x\n", "a: \x07\n", "&a a: *b\n", "a: *missing\n",
    "x: &a [*a]\n", "a: \x85b\n", "a: \u2028b\n", "a: b\r\nc: d\r\n", "%YAML 1.2\n---\na: 1\n", "%YAML 2.0\n---\na: 1\n",
    "%TAG !e! tag:example.org,2000:\n---\na: !e!foo b\n", "k" * 2000 + ": v\n", "a: b #c\n", "a: 'it''s'\n",
    "a: [-1, +1, 0b101, 1:30:00, 190:20:30, 0.5, -.inf, .NaN, 12e03]\n", "key with spaces: v\n", "a: [a, b,]\n",
    "a: {b}\n", "a: ?b\n", "- - a\n  - b\n", "a: |+\n  x\n\n", "a: >-\n  x\n", "a: !!str 7:00\n",
    "a: !!int '7'\n", "a: !!binary aGVsbG8=\n", "a: !!set {x, y}\n", "a: !!omap [b: 1]\n", "<<: {a: 1}\nb: 2\n",
    "a: &x {b: 1}\nc: {<<: *x, d: 2}\n", "a: 2026-12-01T07:00:00Z\n", "a: \"\\x07\"\n", "a: \"\\ud83d\"\n",
    "...\n", "---\n", "--- a\n", "a: b\n...\n", " a: 1\n b: 2\n", "a:\n  - 1\n - 2\n",
    "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
    "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n",
]


def pure(text: str):
    return loadmod._read_with(loadmod._loaders()[1], text, "hearth.yaml")


def outcome(read, text):
    try:
        data = read(text)
    except ConfigError as e:
        return "error", e.errors
    return "data", repr(data)         # repr: the types too, and a self-referring list ([[...]]) compares


def test_libyaml_is_the_parser_when_pyyaml_has_it():
    fast, slow = loadmod._loaders()
    assert fast is not None and issubclass(fast, yaml.CSafeLoader) and issubclass(slow, yaml.SafeLoader)


@pytest.mark.parametrize("text", TEXTS)
def test_both_parsers_read_a_file_alike(text):
    assert outcome(lambda t: read_yaml(t.encode("utf-8"), "hearth.yaml"), text) == outcome(pure, text)


def test_what_the_loader_keeps_from_a_file():
    data = read_yaml(b"to: 7:00\nat: 7\nwhen: 2026-12-01\n", "x")
    assert data == {"to": 420, "at": 7, "when": date(2026, 12, 1)}
    assert (data["to"].text, data["at"].text) == ("7:00", "7")      # base 60 told from a plain number


@pytest.mark.parametrize("text, expected", [
    ("a:\n\t- b\n", "a tab character: indent with spaces, not tabs"),
    ("a: 1\na: 2\n", "the key 'a' is written twice in the same place"),
    ("a: [1, 2\n", "not valid YAML"),
    ("a: b\nc: \x07\n", "line 2: not valid YAML: an invisible control character (U+0007)"),
])
def test_refusals_are_in_the_pure_parsers_words(text, expected):
    with pytest.raises(ConfigError) as e:
        read_yaml(text.encode(), "hearth.yaml")
    assert expected in e.value.errors[0]
