"""The Prometheus endpoint, scraped over HTTP from a real server on loopback."""
from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from appliance.config import Endpoint
from appliance.dns.cache import HotEntry
from appliance.metrics import Metrics
from appliance.model import Action, Decision, Reason
from appliance.notify import Notifier
from appliance.state.alerts import AlertSink
from appliance.stream import Stream

from .conftest import EMMA, LEO, Clock, blocked, entry

STATS = {"ok": True, "uptime": 125.0, "full_chain": 40, "hot": 160, "refused": 2, "rate_limited": 1,
         "servfail": 3, "stale": 1, "hot_entries": 55, "cache_entries": 70, "log_dropped": 4, "log_written": 196,
         "log_queue": 12, "index_entries": 123456,
         "upstreams": {"9.9.9.9:53": {"state": "ok", "score": 0.021, "latency_ms": 21.0},
                       "149.112.112.112:53": {"state": "down", "score": 2.5, "latency_ms": 300.0}},
         "upstream_errors": {"9.9.9.9:53": 0, "149.112.112.112:53": 7},
         "lists": {"adult": {"entries": 100000, "age": 3600.0}}, "last_reload": {}}


def scrape(port: int) -> dict:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_metrics_scraped_over_http(make_config, db_path):
    cfg = make_config()
    clock = Clock("2026-12-01 16:00:00")
    metrics = Metrics(lambda: STATS)
    sink = AlertSink(cfg, db_path, clock=clock, observers=[metrics.observe])
    notifier = Notifier(cfg, db_path, clock=clock)
    metrics.sink, metrics.notifier = sink, notifier
    allowed = Decision(Action.ALLOW, Reason.NONE, "leo")
    sink.put(entry(clock(), EMMA, "www.omegle.com", blocked("emma", "random-chat", "omegle.com")))
    sink.put(entry(clock(), LEO, "wikipedia.org", allowed, upstream="9.9.9.9:53", ms=30.0))
    sink.put(entry(clock(), LEO, "wikipedia.org", allowed, upstream="cache", ms=0.1))
    sink.put(entry(clock(), LEO, "example.org", allowed, upstream="failed", ms=2000.0))
    hot = HotEntry(b"", (), 0.0, 10.0, "wikipedia.org", 1, 0, allowed, client=LEO)
    stream = Stream([sink])
    for _ in range(4):
        stream.repeat(int(clock()), LEO, hot)
    sink.flush_now()
    metrics.start(Endpoint("127.0.0.1", 0))
    try:
        m = scrape(metrics.port)
    finally:
        metrics.stop()
    assert m[("hearth_decisions_total", (("action", "allow"), ("profile", "leo"), ("reason", "NONE"),
                                         ("source", "dns")))] == 7
    assert m[("hearth_blocks_total", (("profile", "emma"), ("reason", "CATEGORY")))] == 1
    assert m[("hearth_answers_total", (("source", "hot"),))] == 4
    assert m[("hearth_answers_total", (("source", "upstream"),))] == 1
    assert m[("hearth_cache_hit_ratio", ())] == 5 / 7        # hot 4 + cache 1, of hot, cache, upstream, failed
    assert m[("hearth_upstream_latency_seconds_count", (("upstream", "9.9.9.9:53"),))] == 1
    assert m[("hearth_upstream_latency_seconds_bucket", (("le", "0.05"), ("upstream", "9.9.9.9:53")))] == 1
    assert m[("hearth_upstream_latency_seconds_bucket", (("le", "0.025"), ("upstream", "9.9.9.9:53")))] == 0
    assert m[("hearth_alerts_raised_total", ())] == 1
    assert m[("hearth_notifications_failed_total", ())] == 0
    assert m[("hearth_queries_total", (("path", "hot"),))] == 160
    assert m[("hearth_hot_path_ratio", ())] == 0.8
    assert m[("hearth_dns_events_total", (("event", "servfail"),))] == 3
    assert m[("hearth_log_dropped_total", ())] == 4
    assert m[("hearth_log_queue_depth", ())] == 12
    assert m[("hearth_index_entries", ())] == 123456
    assert m[("hearth_list_entries", (("list", "adult"),))] == 100000
    assert m[("hearth_list_age_seconds", (("list", "adult"),))] == 3600
    assert m[("hearth_upstream_health_score", (("upstream", "149.112.112.112:53"),))] == 2.5
    assert m[("hearth_upstream_latency_average_seconds", (("upstream", "9.9.9.9:53"),))] == 0.021
    assert m[("hearth_upstream_state", (("state", "down"), ("upstream", "149.112.112.112:53")))] == 1
    assert m[("hearth_upstream_state", (("state", "ok"), ("upstream", "149.112.112.112:53")))] == 0
    assert m[("hearth_upstream_errors_total", (("upstream", "149.112.112.112:53"),))] == 7


def test_a_failing_stats_callable_does_not_break_the_scrape(make_config):
    def broken():
        raise RuntimeError("the daemon is reloading")
    metrics = Metrics(broken)
    metrics.start(Endpoint("127.0.0.1", 0))
    try:
        m = scrape(metrics.port)
    finally:
        metrics.stop()
    assert ("hearth_uptime_seconds", ()) not in m
    assert not any(name.startswith("hearth_queries") for name, _ in m)


def test_stats_from_todays_daemon_without_the_newer_keys():
    old = {k: v for k, v in STATS.items() if k not in ("log_queue", "upstream_errors", "lists")}
    metrics = Metrics(lambda: old)
    metrics.start(Endpoint("127.0.0.1", 0))
    try:
        m = scrape(metrics.port)
    finally:
        metrics.stop()
    assert m[("hearth_uptime_seconds", ())] == 125.0
    assert ("hearth_log_queue_depth", ()) not in m


def test_upstreams_as_older_daemons_reported_them():
    metrics = Metrics(lambda: {"upstreams": {"9.9.9.9:53": 0.5}})
    metrics.start(Endpoint("127.0.0.1", 0))
    try:
        m = scrape(metrics.port)
    finally:
        metrics.stop()
    assert m[("hearth_upstream_health_score", (("upstream", "9.9.9.9:53"),))] == 0.5


def test_serve_is_off_by_default_and_survives_a_taken_port(make_config, db_path):
    import socket

    from appliance.metrics import serve
    assert serve(make_config(), lambda: STATS) is None
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cfg = make_config(metrics={"listen": f"127.0.0.1:{port}"})
        sink = AlertSink(cfg, db_path)
        assert serve(cfg, lambda: STATS, sink=sink) is None and sink.observers == ()
    from tests.support.hearth_proc import free_port
    port = free_port()
    cfg = make_config(metrics={"listen": f"127.0.0.1:{port}"})
    sink = AlertSink(cfg, db_path)
    m = serve(cfg, lambda: STATS, sink=sink)
    try:
        sink.put(entry(0.0, EMMA, "www.omegle.com", blocked("emma", "random-chat", "omegle.com")))
        sink.flush_now()
        got = scrape(port)
    finally:
        m.stop()
    assert got[("hearth_blocks_total", (("profile", "emma"), ("reason", "CATEGORY")))] == 1
    assert got[("hearth_uptime_seconds", ())] == 125.0


def test_downloaded_lists_sizes_and_ages(make_config, db_path):
    import json
    import time as _time
    from datetime import datetime, timezone

    from appliance.lists.sources import status_path
    cfg = make_config()
    path = status_path(cfg)
    path.parent.mkdir(parents=True, exist_ok=True)
    when = datetime.fromtimestamp(_time.time() - 7200, timezone.utc).isoformat()
    path.write_text(json.dumps({"family-extra": {"url": "https://lists.example/x.txt", "entries": 4242,
                                                 "last_success": when}}))
    sink = AlertSink(cfg, db_path)
    metrics = Metrics(lambda: {k: v for k, v in STATS.items() if k != "lists"}, sink=sink)
    metrics.start(Endpoint("127.0.0.1", 0))
    try:
        m = scrape(metrics.port)
    finally:
        metrics.stop()
    assert m[("hearth_list_entries", (("list", "family-extra"),))] == 4242
    assert 7190 < m[("hearth_list_age_seconds", (("list", "family-extra"),))] < 7300
