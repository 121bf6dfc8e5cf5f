"""List updates against a real HTTP server on 127.0.0.1: every way a download goes wrong keeps the last good list."""
from __future__ import annotations

import gzip
import time
from datetime import datetime, timezone

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from appliance.config import ListSource
from appliance.lists.parse import parse_file
from appliance.lists.sources import (JOB_ID, UpdateResult, read_status, schedule_updates, status_path,
                                     update_all, update_source)
from appliance.lists.store import source_path

from .conftest import domains_text, send

NOW = datetime(2026, 11, 2, 4, 13, tzinfo=timezone.utc)
GOOD = domains_text(100)


@pytest.fixture
def src(host):
    return ListSource("kids", "adult", url=host.url("/list.txt"))


@pytest.fixture
def config(make_config, src):
    return make_config(src, max_bytes=64 * 1024, timeout=1.0)


def serve(host, body=GOOD, etag='"v1"', headers=None):
    def route(h):
        if etag and h.headers.get("If-None-Match") == etag:
            h.send_response(304)
            h.send_header("ETag", etag)
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        send(h, body, headers={**({"ETag": etag} if etag else {}), **(headers or {})})
    host.routes["/list.txt"] = route


def good_copy(config, src, host, body=GOOD):
    serve(host, body)
    result = update_source(config, src, now=NOW)
    assert result == UpdateResult("kids", True, body.count(b"\n"), None)
    return source_path(config, src).read_bytes()


def test_first_download(config, src, host):
    serve(host)
    assert update_source(config, src, now=NOW) == UpdateResult("kids", True, 100)
    assert parse_file(source_path(config, src)).domains[:2] == ("d0.example.com", "d1.example.com")
    st = read_status(config)["kids"]
    assert (st.entries, st.last_success, st.last_changed, st.etag, st.last_error) == (
        100, "2026-11-02T04:13:00+00:00", "2026-11-02T04:13:00+00:00", '"v1"', None)
    assert host.requests[0][1]["User-Agent"].startswith("Hearth/")
    assert "If-None-Match" not in host.requests[0][1]


def test_304_with_etag_keeps_copy_and_counts_as_success(config, src, host):
    before = good_copy(config, src, host)
    later = datetime(2026, 11, 3, 4, 0, tzinfo=timezone.utc)
    assert update_source(config, src, now=later) == UpdateResult("kids", False, 100)
    assert host.requests[-1][1]["If-None-Match"] == '"v1"'
    assert source_path(config, src).read_bytes() == before
    st = read_status(config)["kids"]
    assert st.last_success == "2026-11-03T04:00:00+00:00" and st.last_changed == "2026-11-02T04:13:00+00:00"


def test_same_content_is_not_rewritten(config, src, host):
    good_copy(config, src, host)
    serve(host, etag=None)
    mtime = source_path(config, src).stat().st_mtime_ns
    assert update_source(config, src, now=NOW) == UpdateResult("kids", False, 100)
    assert source_path(config, src).stat().st_mtime_ns == mtime


def test_gzip_body(config, src, host):
    serve(host, gzip.compress(GOOD), headers={"Content-Encoding": "gzip"})
    assert update_source(config, src, now=NOW).entries == 100


def slow_drip(h):
    h.send_response(200)
    h.send_header("Content-Length", "6000")
    h.end_headers()
    for _ in range(100):
        h.wfile.write(b"x.com\n")
        h.wfile.flush()
        time.sleep(0.1)


def silent(h):
    h.send_response(200)
    h.send_header("Content-Length", "1000")
    h.end_headers()
    h.wfile.flush()
    time.sleep(3)


def truncated(h):
    h.send_response(200)
    h.send_header("Content-Length", str(len(GOOD) * 2))
    h.send_header("Connection", "close")
    h.end_headers()
    h.wfile.write(GOOD)
    h.close_connection = True


def chunked_huge(h):
    h.send_response(200)
    h.send_header("Transfer-Encoding", "chunked")
    h.end_headers()
    chunk = domains_text(2000)
    for _ in range(10):
        h.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    h.wfile.write(b"0\r\n\r\n")


@pytest.mark.parametrize("route,error", [
    (lambda h: send(h, b"<!DOCTYPE html><html><body>Site blocked by your ISP</body></html>",
                    headers={"Content-Type": "text/html"}), "HTML instead of a list"),
    (lambda h: send(h, b"\n  <html><head><title>Login</title></head></html>"), "HTML instead of a list"),
    (lambda h: send(h, b""), "empty body"),
    (lambda h: send(h, b"\n\n  \n"), "empty body"),
    (lambda h: send(h, b"# only comments\n! and more\n##.cosmetic\n"), "no valid domains in 3 lines"),
    (truncated, "truncated"),
    (slow_drip, "timed out after 1 s"),
    (silent, "timed out after 1 s"),
    (lambda h: send(h, domains_text(5000)), "over the 65,536 byte limit"),
    (chunked_huge, "over the 65,536 byte limit"),
    (lambda h: send(h, domains_text(49)), "shrank from 100 to 49 entries"),
    (lambda h: h.send_error(500, "Internal Server Error"), "HTTP 500 Internal Server Error"),
    (lambda h: h.send_error(404), "HTTP 404"),
    (lambda h: send(h, gzip.compress(GOOD)[:-20], headers={"Content-Encoding": "gzip"}), "truncated"),
])
def test_a_bad_download_keeps_the_last_good_copy(config, src, host, route, error):
    before = good_copy(config, src, host)
    host.routes["/list.txt"] = route
    later = datetime(2026, 11, 3, 4, 0, tzinfo=timezone.utc)
    started = time.monotonic()
    result = update_source(config, src, now=later)
    assert time.monotonic() - started < config.lists.timeout + 1.0       # a slow server cannot hang the update
    assert result.name == "kids" and not result.changed and result.entries == 100
    assert error in result.error
    assert source_path(config, src).read_bytes() == before
    st = read_status(config)["kids"]
    assert error in st.last_error
    assert st.last_error_at == "2026-11-03T04:00:00+00:00"
    assert st.last_success == "2026-11-02T04:13:00+00:00" and st.entries == 100 and st.etag == '"v1"'
    assert [p.name for p in source_path(config, src).parent.iterdir()] == ["kids.txt", "status.json"]


def test_a_shrink_to_just_over_half_is_accepted(config, src, host):
    good_copy(config, src, host)
    serve(host, domains_text(50), etag='"v2"')
    assert update_source(config, src, now=NOW) == UpdateResult("kids", True, 50)


def test_an_error_is_cleared_by_the_next_success(config, src, host):
    good_copy(config, src, host)
    host.routes["/list.txt"] = lambda h: h.send_error(503)
    assert update_source(config, src, now=NOW).error == "HTTP 503 Service Unavailable"
    serve(host, domains_text(120), etag='"v2"')
    assert update_source(config, src, now=NOW) == UpdateResult("kids", True, 120)
    assert read_status(config)["kids"].last_error is None


def test_first_download_failing_leaves_no_copy(config, src, host):
    host.routes["/list.txt"] = lambda h: send(h, b"<html></html>")
    result = update_source(config, src, now=NOW)
    assert result == UpdateResult("kids", False, 0, "HTML instead of a list", had_copy=False)
    assert not source_path(config, src).exists()
    assert read_status(config)["kids"].last_error == "HTML instead of a list"


def test_unreachable_host(make_config):
    src = ListSource("dead", "adult", url="http://127.0.0.1:9/list.txt")
    result = update_source(make_config(src, timeout=1.0), src, now=NOW)
    assert result.error.startswith("cannot reach the list")


def test_a_lost_status_file_still_protects_against_a_shrink(config, src, host):
    good_copy(config, src, host)
    status_path(config).unlink()
    serve(host, domains_text(10), etag='"v2"')
    error = update_source(config, src, now=NOW).error
    assert error.startswith("shrank from 100 to 10 entries") and "hearth lists update kids --accept-shrink" in error


def test_a_damaged_status_file_reads_as_empty(config):
    status_path(config).parent.mkdir(parents=True)
    status_path(config).write_text("{not json")
    assert read_status(config) == {}


def test_update_all_reports_progress_for_url_sources_only(make_config, host, tmp_path):
    host.routes["/a"] = lambda h: send(h, domains_text(3))
    host.routes["/b"] = lambda h: send(h, b"<html>")
    config = make_config(ListSource("a", "adult", url=host.url("/a")),
                         ListSource("local", "adult", path=str(tmp_path / "x.txt")),
                         ListSource("b", "adult", url=host.url("/b")))
    seen = []
    results = update_all(config, lambda i, n, s, r: seen.append((i, n, s.name, r.error)))
    assert [r.name for r in results] == ["a", "b"]
    assert seen == [(1, 2, "a", None), (2, 2, "b", "HTML instead of a list")]


def test_schedule_updates_adds_a_jittered_daily_job(config, src, host):
    serve(host)
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.start(paused=True)                                      # replace_existing needs a started one
    changes = []
    job = schedule_updates(scheduler, config, lambda: changes.append(1))
    assert job.id == JOB_ID and job.next_run_time.hour in (4, 5)          # 04:00 + up to 60 min jitter
    fields = {f.name: str(f) for f in job.trigger.fields}
    assert (fields["hour"], fields["minute"]) == ("4", "0")
    assert job.trigger.jitter == 3600
    assert str(job.trigger.timezone) == "UTC"
    schedule_updates(scheduler, config, lambda: None)                 # a config reload replaces, not adds
    assert [j.id for j in scheduler.get_jobs()].count(JOB_ID) == 1
    # never downloaded yet: one first download now, not at 04:00 (the starter config's adult list on a new Pi)
    assert [j.id for j in scheduler.get_jobs()].count(JOB_ID + "-first") == 1
    job.func()                                                        # what the scheduler runs at 04:00
    assert changes == [1]
    job.func()                                                        # 304: nothing changed, no reload
    assert changes == [1]
    scheduler.shutdown(wait=False)


@pytest.fixture
def small_disk(tmp_path):
    """A 32 KB tmpfs: room for a small list and its status, not for a bigger download. Needs root."""
    import os
    import subprocess
    mnt = tmp_path / "small"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32k", "tmpfs", str(mnt)],
                                           capture_output=True).returncode != 0:
        pytest.skip("needs to mount a small tmpfs (root)")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_a_download_that_does_not_fit_on_the_disk_keeps_the_last_good_copy(make_config, src, host, small_disk):
    from dataclasses import replace
    config = replace(make_config(src, max_bytes=1024 * 1024, timeout=5.0), data_dir=small_disk)
    before = good_copy(config, src, host)
    serve(host, domains_text(5000, "bigger"), etag='"v2"')          # ~90 KB: more than the disk holds
    result = update_source(config, src, now=NOW)
    assert result.error.startswith("cannot save the download in ") and "No space left on device" in result.error
    assert result.had_copy and source_path(config, src).read_bytes() == before
    assert read_status(config)["kids"].last_error == result.error
    assert sorted(p.name for p in source_path(config, src).parent.iterdir()) == ["kids.txt", "status.json"]
