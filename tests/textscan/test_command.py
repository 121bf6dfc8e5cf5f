"""`hearth scan` run for real, as a parent or a script would run it."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEARTH = str(Path(sys.executable).parent / "hearth")        # .venv/bin/hearth


def hearth_scan(*args, stdin: bytes | None = None, timeout=60):
    return subprocess.run([HEARTH, "scan", *args], input=stdin, capture_output=True, timeout=timeout)


def test_a_worrying_message_is_explained_in_words():
    r = hearth_scan("dont tell ur mom about us. Also i know where you live")
    out = r.stdout.decode()
    assert r.returncode == 0, r.stderr
    assert "2 worrying thing(s) found:" in out
    assert "grooming: Asks the child to hide the conversation from their parents" in out
    assert "“dont tell ur mom about us.”  (rule en.hide-from-parents)" in out
    assert "threats: Threatens to hurt or kill someone" in out


def test_a_harmless_message_says_so():
    r = hearth_scan("this homework is killing me")
    assert r.returncode == 0 and r.stdout.decode() == "nothing worrying found\n"


def test_several_words_are_one_message():
    r = hearth_scan("je", "vais", "te", "tuer")
    assert "threats:" in r.stdout.decode()


def test_json_prints_one_object_per_input_line_even_empty_and_very_long_ones():
    long_line = ("blah " * 40_000) + "kys"            # 200 kB on one line
    lines = ["hello there", "", "je vais te tuer demain", "   ", long_line, "we learned about drugs in class"]
    r = hearth_scan("--json", "-", stdin=("\n".join(lines) + "\n").encode())
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode().splitlines()
    assert len(out) == len(lines)
    objs = [json.loads(line) for line in out]
    assert [o["text"] for o in objs] == lines
    for o in objs:
        assert set(o) == {"text", "hits"}
        for h in o["hits"]:
            assert set(h) == {"category", "rule", "excerpt"}
    assert [[h["category"] for h in o["hits"]] for o in objs] == [[], [], ["threats"], [], ["bullying"], []]
    assert objs[2]["hits"][0] == {"category": "threats", "rule": "fr.menace-violence",
                                  "excerpt": "je vais te tuer demain"}
    assert len(objs[4]["hits"][0]["excerpt"]) <= 202      # the sentence around the hit, never the line


def test_json_without_a_final_newline_and_with_windows_line_ends():
    r = hearth_scan("--json", "-", stdin=b"kys\r\nhello")
    out = [json.loads(line) for line in r.stdout.decode().splitlines()]
    assert [o["text"] for o in out] == ["kys", "hello"]
    assert out[0]["hits"][0]["category"] == "bullying" and out[1]["hits"] == []


def test_bytes_that_are_not_utf8_do_not_stop_the_stream():
    r = hearth_scan("--json", "-", stdin=b"\xff\xfe kys\nhello\n")
    assert r.returncode == 0, r.stderr
    out = [json.loads(line) for line in r.stdout.decode().splitlines()]
    assert len(out) == 2 and out[0]["hits"][0]["category"] == "bullying"


def test_empty_input_prints_nothing():
    r = hearth_scan("--json", "-", stdin=b"")
    assert r.returncode == 0 and r.stdout == b""


def test_json_of_one_message_given_as_an_argument():
    r = hearth_scan("--json", "kys")
    (o,) = [json.loads(line) for line in r.stdout.decode().splitlines()]
    assert o["text"] == "kys" and o["hits"][0]["rule"] == "en.tells-to-self-harm"


@pytest.mark.parametrize("lang, hits", [("en", 0), ("fr", 1)])
def test_lang_limits_the_rules(lang, hits):
    r = hearth_scan("--json", "--lang", lang, "je vais te tuer")
    assert len(json.loads(r.stdout)["hits"]) == hits


def test_no_text_is_a_usage_error():
    r = hearth_scan()
    assert r.returncode == 2 and b"usage:" in r.stderr
