"""The rule files: loaded once, and every mistake in them reported plainly with its file and rule."""
from __future__ import annotations

import textwrap

import pytest

from appliance.textscan.rules import CATEGORIES, PatternError, RulesError, compile_pattern, load_dir, load_file
from appliance.textscan.scanner import RULES_DIR, Scanner, scanner_for

GOOD_RULE = """
  - id: secret
    category: grooming
    description: Asks the child to keep a secret from their parents
    match: ["(do not|never) tell {parents}"]
"""


def write(tmp_path, body, name="en.yaml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(body))
    return p


def errors_of(path) -> list[str]:
    with pytest.raises(RulesError) as e:
        load_file(path)
    return e.value.errors


def test_the_shipped_rules_load_and_cover_every_category_in_both_languages():
    sets = {rs.language: rs for rs in load_dir(RULES_DIR)}
    assert set(sets) == {"en", "fr"}
    for rs in sets.values():
        assert {r.category for r in rs.rules} == set(CATEGORIES)


def test_every_shipped_rule_has_a_comment_saying_what_it_catches():
    for path in RULES_DIR.glob("*.yaml"):
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            if line.strip().startswith("- id:"):
                assert lines[i - 1].strip().startswith("#"), f"{path.name}: {line.strip()} has no comment above it"


@pytest.mark.parametrize("body, expected", [
    ("language: en\nrules: []\n", "en.yaml: rules must be a list with at least one rule"),
    ("language: english\nterms: {parents: \"(mom|dad)\"}\nrules:" + GOOD_RULE,
     'en.yaml: language must be a two-letter code such as "en" or "fr"'),
    ("language: en\nterms: {parents: \"(mom|dad)\"}\nrulez: []\nrules:" + GOOD_RULE,
     'en.yaml: unknown key "rulez" (did you mean "rules"?)'),
    ("language: en\nterms: {parents: \"(mom|dad)\"}\nrules:" + GOOD_RULE.replace("grooming", "groming"),
     'en.yaml: rules[0] (secret): unknown category "groming" (did you mean "grooming"?); one of grooming, '
     'self-harm, drugs, bullying, threats'),
    ("language: en\nrules:" + GOOD_RULE,
     'en.yaml: rules[0] (secret): match[0]: "(do not|never) tell {parents}": unknown term {parents}'),
    ("language: en\nterms: {parent: \"(mom|dad)\"}\nrules:" + GOOD_RULE,
     'en.yaml: rules[0] (secret): match[0]: "(do not|never) tell {parents}": unknown term {parents} '
     '(did you mean {parent}?)'),
    ("language: en\nterms: {parents: \"(mom|dad\"}\nrules:" + GOOD_RULE,
     'en.yaml: parents: "(mom|dad": a "(" is never closed'),
    ("language: en\nterms: {parents: \"(mom|dad)\"}\nrules:" + GOOD_RULE.replace("    match:", "    matches:"),
     'en.yaml: rules[0] (secret): unknown key "matches" (did you mean "match"?)'),
    ("language: en\nterms: {parents: \"(mom|dad)\"}\nrules:" + GOOD_RULE.replace("    match:", "    matches:"),
     "en.yaml: rules[0] (secret): match is missing (the phrases the rule looks for)"),
    ("language: en\nterms: {parents: \"(mom|dad)\"}\nrules:" + GOOD_RULE.replace("id: secret", "id: Secret Rule"),
     'en.yaml: rules[0] (Secret Rule): id must be lower-case words joined by "-", such as "secret-from-parents"'),
    ("language: en\nterms: {parents: \"(mom|dad)\"}\nrules:" + GOOD_RULE + GOOD_RULE,
     "en.yaml: rules[1] (secret): the id is used by another rule of this file"),
    ("language: en\nterms: {parents: \"(mom|dad)\"}\nrules:" + GOOD_RULE.replace(
        "    description: Asks the child to keep a secret from their parents\n", ""),
     "en.yaml: rules[0] (secret): description must say in words what the rule catches, for parents"),
    ("language: en\nterms: {parents: \"(mom|dad)\"}\nrules:" + GOOD_RULE + "    window: 0\n",
     "en.yaml: rules[0] (secret): window must be a number of words from 1 to 200"),
    ("language: en\nterms: {parents: \"(mom|dad)\"}\nrules:" + GOOD_RULE + "    unless: []\n",
     "en.yaml: rules[0] (secret): unless: must be a list of patterns in quotes"),
    ("language: en\nterms: {parents: \"(mom|dad)\"}\nrules:" + GOOD_RULE + "    near: [\"a | b\"]\n",
     'en.yaml: rules[0] (secret): near[0]: "a | b": "|" only goes inside parentheses'),
    ("language: en\nrules: [\"just words\"]\n",
     "en.yaml: rules[0]: a rule has id, category, description and match"),
    ("- just\n- a list\n", "en.yaml: the file must hold language, terms, contexts and rules"),
])
def test_a_bad_file_is_refused_with_a_plain_error(tmp_path, body, expected):
    assert expected in errors_of(write(tmp_path, body))


def test_every_error_of_a_file_is_reported_at_once(tmp_path):
    body = "language: en\nterms: {parents: \"(mom|dad)\"}\nrules:" + GOOD_RULE.replace("grooming", "sad") \
        + GOOD_RULE.replace("id: secret", "id: other").replace("{parents}", "{folks}")
    errs = errors_of(write(tmp_path, body))
    assert len(errs) == 2
    assert errs[0].startswith("en.yaml: rules[0] (secret): unknown category")
    assert errs[1].startswith("en.yaml: rules[1] (other): match[0]")


def test_yaml_syntax_error_names_the_line(tmp_path):
    errs = errors_of(write(tmp_path, "language: en\nrules:\n  - id: [unclosed\n"))
    assert len(errs) == 1 and errs[0].startswith("en.yaml: is not valid YAML at line")


def test_a_missing_file_is_an_error_not_a_traceback(tmp_path):
    errs = errors_of(tmp_path / "fr.yaml")
    assert errs[0].startswith("fr.yaml: cannot be read")


def test_a_directory_reports_every_file_and_refuses_two_files_for_one_language(tmp_path):
    good = "language: en\nterms: {parents: \"(mom|dad)\"}\nrules:" + GOOD_RULE
    write(tmp_path, good, "a.yaml")
    write(tmp_path, good, "b.yaml")
    write(tmp_path, "language: fr\nrules: 3\n", "c.yaml")
    with pytest.raises(RulesError) as e:
        load_dir(tmp_path)
    assert e.value.errors == ["b.yaml: language en is already given by a.yaml",
                              "c.yaml: rules must be a list with at least one rule"]


def test_an_empty_directory_is_an_error(tmp_path):
    with pytest.raises(RulesError) as e:
        load_dir(tmp_path)
    assert "no rule files" in e.value.errors[0]


@pytest.mark.parametrize("pattern, text, matches", [
    ("don't tell", "dont tell", True),                 # the rule's words are normalised like the message
    ("don't tell", "do not tell", True),
    ("don't tell", "d0nt t3ll", True),
    ("kill*", "killing", True),
    ("kill*", "skill", False),                         # whole words only
    ("(a|b c) d", "b c d", True),
    ("(a|b c) d", "c d", False),
    ("really? sad", "sad", True),
    ("i ... sad", "i am very sad", True),
    ("i ... sad", "i am really very very sad", False),  # "..." is up to three words
    ("{x} now", "come now", True),
    ("^ die $", "die!!", True),                        # the whole message
    ("^ die $", "i could die", False),
    ("^ die $", "die of laughter", False),
])
def test_pattern_syntax(pattern, text, matches):
    import re
    from appliance.textscan.normalize import words
    rx = re.compile("(?<= )(?:" + compile_pattern(pattern, {"x": "(go|come)"}) + ")")
    assert bool(rx.search(" " + " ".join(words(text)) + " ")) is matches


@pytest.mark.parametrize("pattern, message", [
    ("", "a pattern must be some words in quotes"),
    ("(a|b", 'a "(" is never closed'),
    ("a)", 'a ")" closes nothing'),
    ("? a", '"?" must follow a word or a group'),
    ("{loop}", "terms refer to each other in a loop"),
])
def test_pattern_errors(pattern, message):
    with pytest.raises(PatternError, match=message.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")):
        compile_pattern(pattern, {"loop": "{loop}"})


def test_rules_are_compiled_once_and_no_scan_reads_the_disk(tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    write(rules, "language: en\nterms: {parents: \"(mom|dad)\"}\nrules:" + GOOD_RULE)
    sc = scanner_for(rules)
    assert scanner_for(rules) is sc                    # cached
    (rules / "en.yaml").unlink()
    rules.rmdir()                                      # nothing left to read: scanning still works
    hits = sc.scan("never tell mom")
    assert [h.rule for h in hits] == ["en.secret"]
    assert isinstance(sc, Scanner)


def test_a_rule_that_can_start_with_any_word_is_searched_everywhere(tmp_path):
    # "kill*" and "..." give no first word to look for: the scanner falls back to searching the whole message
    write(tmp_path, """
language: en
rules:
  - id: any-start
    category: bullying
    description: Tells someone to kill themselves
    match: ["kill* yourself", "... gone forever"]
""")
    sc = Scanner(load_dir(tmp_path))
    assert sc.rulesets["en"].rules[0].firsts is None
    assert [h.rule for h in sc.scan("ok killing yourself now")] == ["en.any-start"]
    assert [h.rule for h in sc.scan("you will be gone forever")] == ["en.any-start"]
    assert sc.scan("skill yourself up") == ()
