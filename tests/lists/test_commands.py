"""``hearth lists update`` and ``hearth lists status`` output, against a real list host."""
from __future__ import annotations

import io
from dataclasses import replace

from appliance.config import ListSource
from appliance.lists.commands import run_update, status_lines

from .conftest import domains_text, send, write


def test_update_prints_one_line_a_list_and_fails_if_any_failed(make_config, host, tmp_path):
    host.routes["/good"] = lambda h: send(h, domains_text(1234))
    host.routes["/html"] = lambda h: send(h, b"<!doctype html><p>nope</p>", headers={"Content-Type": "text/html"})
    config = make_config(ListSource("good-list", "adult", url=host.url("/good")),
                         ListSource("mine", "games", path=str(write(tmp_path / "mine.txt", "a.com\n"))),
                         ListSource("broken", "adult", url=host.url("/html")))
    out = io.StringIO()
    assert run_update(config, out) == 1
    assert out.getvalue().splitlines() == [
        "[1/2] good-list: 1,234 entries (changed)",
        "[2/2] broken: not downloaded: HTML instead of a list",     # there was no good copy to keep (issue 11)
    ]
    host.routes["/html"] = lambda h: send(h, domains_text(5))
    out = io.StringIO()
    assert run_update(config, out) == 0
    assert out.getvalue().splitlines() == ["[1/2] good-list: 1,234 entries (unchanged)",
                                           "[2/2] broken: 5 entries (changed)"]


def test_update_without_urls(make_config):
    out = io.StringIO()
    assert run_update(make_config(), out) == 0
    assert "no list URLs configured" in out.getvalue()


def test_status_table(make_config, host, tmp_path):
    host.routes["/good"] = lambda h: send(h, domains_text(1234))
    host.routes["/bad"] = lambda h: h.send_error(502)
    config = make_config(ListSource("good-list", "adult", url=host.url("/good")),
                         ListSource("bad-list", "adult", url=host.url("/bad")),
                         ListSource("mine", "games", path=str(write(tmp_path / "mine.txt", "a.com\n/regex/\n"))),
                         ListSource("gone", "games", path=str(tmp_path / "gone.txt")))
    run_update(config, io.StringIO())
    config = replace(config, lists=replace(config.lists, sources=config.lists.sources + (
        ListSource("never", "adult", url=host.url("/never")),)))                  # added since the update
    lines = status_lines(config)
    assert lines[0].split() == ["LIST", "CATEGORY", "ENTRIES", "LAST", "SUCCESS", "LAST", "ERROR"]
    by_name = {line.split()[0]: line for line in lines[1:]}
    assert "1,234" in by_name["good-list"] and by_name["good-list"].endswith("  -")
    assert "HTTP 502 Bad Gateway" in by_name["bad-list"] and "never" in by_name["bad-list"]
    assert "not downloaded yet" in by_name["never"]
    assert "1 unsupported lines" in by_name["mine"] and " 1 " in by_name["mine"]
    assert "cannot read" in by_name["gone"]
    assert "2 +2 app" in by_name["dating"] or "1 +2 app" in by_name["dating"]
    assert "2" in by_name["random-chat"] and "(curated)" in by_name["random-chat"]
    # columns line up: every row's category starts in the same column
    col = lines[0].index("CATEGORY")
    table, summary = lines[:-1], lines[-1]          # the table, then the entries per category (issue 11)
    assert all(line[col - 2:col] == "  " and line[col] != " " for line in table)
    assert summary.startswith("entries protecting each category") and "adult 1,234" in summary


def test_update_one_list_and_accept_a_real_shrink(make_config, host):
    host.routes["/big"] = lambda h: send(h, domains_text(1000))
    config = make_config(ListSource("big", "adult", url=host.url("/big")))
    assert run_update(config, io.StringIO()) == 0
    host.routes["/big"] = lambda h: send(h, domains_text(100))
    out = io.StringIO()
    assert run_update(config, out) == 1
    assert out.getvalue().splitlines() == [
        "[1/1] big: kept last good copy: shrank from 1,000 to 100 entries (if the list really got smaller, accept it "
        "with: hearth lists update big --accept-shrink)"]
    out = io.StringIO()
    assert run_update(config, out, only="big", accept_shrink=True) == 0
    assert out.getvalue().splitlines() == ["[1/1] big: 100 entries (changed)"]
    assert run_update(config, io.StringIO(), only="nope") == 2


def test_status_says_how_many_entries_protect_each_category(make_config, tmp_path):
    from appliance.lists.commands import status_lines
    config = make_config(ListSource("mine", "adult", path=str(write(tmp_path / "mine.txt", "a.com\nb.com\n"))))
    last = status_lines(config)[-1]
    assert last.startswith("entries protecting each category")
    assert "adult " in last and "random-chat " in last
