"""A Prometheus endpoint (text format) on ``metrics.listen``; off unless the config sets it.

Two sources, both read off the DNS path:
- the daemon's own numbers, asked at each scrape through the callable it passes in (the dict the control socket's
  ``stats`` command returns): queries by path, refusals, SERVFAILs, caches, the log writer, lists, upstreams;
- what we count ourselves from the alert sink's batches (``Metrics.observe`` is one of its observers): decisions
  by action, reason and profile, where answers came from (hot cache, cache, upstream, stale, failed), and the
  time answers took when an upstream was asked, by upstream. The DNS path pays nothing more for these.
Plus the alerts raised and dropped, and the notifications sent, failed and dropped.

Profiles and upstreams are label values: a home has a handful of each, so the series stay few.
"""
from __future__ import annotations

import bisect
import collections
import logging
import threading
import time
from datetime import datetime
from typing import Callable

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

log = logging.getLogger("hearth.metrics")

# Seconds: a LAN upstream answers in a millisecond, Quad9 in 10-40 ms, a struggling DoT link in a second or more.
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_NOT_UPSTREAMS = frozenset({None, "cache", "stale", "failed"})
try:
    from appliance.state.querylog import Entry as _Entry
    _HAS_SOURCE = "source" in _Entry._fields        # the proxy's entries say source="proxy"
except ImportError:
    _HAS_SOURCE = False


class Metrics:
    """Counters fed from batches, and a collector that asks the daemon for its numbers at each scrape."""

    def __init__(self, stats: Callable[[], dict] | None = None, *, sink=None, notifier=None):
        self.stats = stats
        self.sink = sink
        self.notifier = notifier
        self.registry = CollectorRegistry(auto_describe=True)
        self._lock = threading.Lock()
        self._decisions: dict[tuple[str, str, str, str], int] = collections.defaultdict(int)
        self._answers: dict[str, int] = collections.defaultdict(int)
        # upstream -> [count per bucket (the last: over the largest), sum of seconds]; a Histogram's labels()
        # and observe() cost 1.5 µs a row, this a tenth of that
        self._latency: dict[str, list] = {}
        self.registry.register(_Collector(self))
        self._server = None
        self._thread = None
        self._lists: tuple[float, dict] | None = None

    # -- an observer of the alert sink's batches (a worker thread) --------------------------------------------

    def observe(self, entries, repeats) -> None:
        """Count one batch: ``entries`` as the stream carried them, ``repeats`` as [n, first, last, client, hot].
        Kept tight (it runs in the DNS process): keys are plain strings (an Enum's hash is Python code)."""
        decisions = self._decisions
        answers = self._answers
        latency = self._latency
        with self._lock:
            for e in entries:
                d = e.decision
                n = e.count
                k = (d.action._value_, d.reason._value_, d.profile, e.source if _HAS_SOURCE else "dns")
                decisions[k] += n
                up = e.upstream
                if e.cached:
                    answers["hot"] += n
                elif up in _NOT_UPSTREAMS:
                    answers[up or ("blocked" if k[0] == "block" else "none")] += n
                else:
                    answers["upstream"] += n
                    if e.ms is not None:
                        h = latency.get(up)
                        if h is None:
                            h = latency[up] = [[0] * (len(LATENCY_BUCKETS) + 1), 0.0]
                        seconds = e.ms / 1000.0
                        h[0][bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
                        h[1] += seconds
            for n, _first, _last, _client, h in repeats:
                d = h.decision
                decisions[(d.action._value_, d.reason._value_, d.profile, "dns")] += n
                answers["hot"] += n

    def list_stats(self) -> dict:
        """The parent's downloaded lists: entries and seconds since the last good download (read from the
        lists' status file at most once a minute)."""
        now = time.time()
        if self._lists is not None and now - self._lists[0] < 60:
            return self._lists[1]
        out: dict = {}
        config = getattr(self.sink, "config", None)
        try:
            from appliance.lists.sources import read_status
            for name, st in read_status(config).items() if config is not None else ():
                info = {"entries": st.entries}
                if st.last_success:
                    info["age"] = max(0.0, now - datetime.fromisoformat(st.last_success).timestamp())
                out[name] = info
        except Exception:
            log.exception("metrics: cannot read the lists' status")
        self._lists = (now, out)
        return out

    # -- the endpoint ------------------------------------------------------------------------------------------

    def start(self, listen) -> None:
        """Serve /metrics on ``listen`` (an Endpoint: host, port) from a thread of its own."""
        from prometheus_client import start_http_server
        self._server, self._thread = start_http_server(listen.port, addr=listen.host, registry=self.registry)
        log.info("metrics on http://%s/metrics", listen)

    @property
    def port(self) -> int | None:
        return self._server.server_port if self._server is not None else None

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def serve(config, stats: Callable[[], dict] | None, *, sink=None, notifier=None) -> Metrics | None:
    """Start the endpoint if ``metrics.listen`` is set; None when it is off or its port cannot be had (DNS must
    not fail for want of a metrics port: the reason goes to the system log)."""
    listen = getattr(getattr(config, "metrics", None), "listen", None)
    if listen is None:
        return None
    m = Metrics(stats, sink=sink, notifier=notifier)
    if sink is not None:
        sink.add_observer(m.observe)
    try:
        m.start(listen)
    except OSError as e:
        log.error("metrics: cannot listen on %s: %s; running without metrics", listen, e.strerror or e)
        if sink is not None:
            sink.remove_observer(m.observe)
        return None
    return m


class _Collector:
    """Turns the daemon's stats and our own counts into metric families at scrape time."""

    def __init__(self, m: Metrics):
        self.m = m

    def describe(self):
        return []      # families vary with what the daemon reports: let the registry not pre-describe them

    def collect(self):
        m = self.m
        with m._lock:
            decisions = dict(m._decisions)
            answers = dict(m._answers)
            latency = {u: (list(h[0]), h[1]) for u, h in m._latency.items()}
        fam = CounterMetricFamily("hearth_decisions", "Decisions by action, reason, profile and front end",
                                  labels=["action", "reason", "profile", "source"])
        for (action, reason, profile, source), n in sorted(decisions.items()):
            fam.add_metric([action, reason, profile, source], n)
        yield fam
        blocks = CounterMetricFamily("hearth_blocks", "Blocked decisions by reason and profile",
                                     labels=["reason", "profile"])
        by: dict[tuple[str, str], int] = collections.defaultdict(int)
        for (action, reason, profile, _), n in decisions.items():
            if action == "block":
                by[(reason, profile)] += n
        for (reason, profile), n in sorted(by.items()):
            blocks.add_metric([reason, profile], n)
        yield blocks
        fam = CounterMetricFamily("hearth_answers", "Where answers came from: hot (the hot cache), cache, upstream,"
                                  " stale, failed (SERVFAIL), blocked, none", labels=["source"])
        for src, n in sorted(answers.items()):
            fam.add_metric([src], n)
        yield fam
        fam = HistogramMetricFamily("hearth_upstream_latency_seconds", "Time to answer a query that was sent"
                                    " upstream (the whole chain), by upstream", labels=["upstream"])
        for upstream, (counts, total) in sorted(latency.items()):
            cumulative, running = [], 0
            for bound, c in zip((*map(str, LATENCY_BUCKETS), "+Inf"), counts):
                running += c
                cumulative.append((bound, running))
            fam.add_metric([upstream], cumulative, total)
        yield fam
        looked = sum(answers.get(k, 0) for k in ("hot", "cache", "upstream", "stale", "failed"))
        if looked:
            yield GaugeMetricFamily("hearth_cache_hit_ratio", "Answers needing data that came from a cache (hot or"
                                    " answer cache), since start", value=(answers.get("hot", 0) +
                                                                         answers.get("cache", 0)) / looked)
        yield from self._alerts()
        if m.stats is not None:
            try:
                st = dict(m.stats() or {})
            except Exception:
                log.exception("metrics: the daemon's stats failed")
                st = {}
            if "lists" not in st and m.sink is not None:
                st["lists"] = m.list_stats()
            yield from _from_stats(st)

    def _alerts(self):
        s, n = self.m.sink, self.m.notifier
        if s is not None:
            yield CounterMetricFamily("hearth_alerts_raised", "Alerts opened since start", value=s.raised)
            yield CounterMetricFamily("hearth_alerts_dropped", "Decisions the alert sink could not queue or store",
                                      value=s.dropped)
        if n is not None:
            yield CounterMetricFamily("hearth_notifications_sent", "Messages a channel took", value=n.sent)
            yield CounterMetricFamily("hearth_notifications_failed", "Sends to a channel that failed (retried)",
                                      value=n.failed)
            yield CounterMetricFamily("hearth_notifications_expired", "Messages given up after two days",
                                      value=n.expired)


def _from_stats(st: dict):
    """The control socket's ``stats`` reply as metric families; keys it lacks are skipped."""
    def num(key):
        v = st.get(key)
        return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None

    if num("uptime") is not None:
        yield GaugeMetricFamily("hearth_uptime_seconds", "Seconds since the DNS daemon started", value=st["uptime"])
    paths = [(k, num(k)) for k in ("hot", "full_chain")]
    if all(v is not None for _, v in paths):
        fam = CounterMetricFamily("hearth_queries", "DNS queries by path (hot cache or full chain)",
                                  labels=["path"])
        for k, v in paths:
            fam.add_metric([k], v)
        yield fam
        total = paths[0][1] + paths[1][1]
        if total:
            yield GaugeMetricFamily("hearth_hot_path_ratio", "Queries answered from the hot cache, since start",
                                    value=paths[0][1] / total)
    events = [(k, num(k)) for k in ("refused", "rate_limited", "servfail", "stale", "newcomers_dropped")]
    if any(v is not None for _, v in events):
        fam = CounterMetricFamily("hearth_dns_events", "Refused, rate-limited, SERVFAIL and stale answers, and "
                                  "queries from new addresses dropped in a flood of them",
                                  labels=["event"])
        for k, v in events:
            if v is not None:
                fam.add_metric([k], v)
        yield fam
    for key, name, kind, help_ in (
            ("hot_entries", "hearth_hot_cache_entries", "gauge", "Replies in the hot cache"),
            ("cache_entries", "hearth_answer_cache_entries", "gauge", "Upstream answers in the cache"),
            ("log_written", "hearth_log_written", "counter", "Query log rows written"),
            ("log_dropped", "hearth_log_dropped", "counter", "Query log entries dropped (queue full, disk)"),
            ("log_queue", "hearth_log_queue_depth", "gauge", "Query log entries waiting for the writer"),
            ("index_entries", "hearth_index_entries", "gauge", "Domains in the compiled lists, all lists together")):
        v = num(key)
        if v is not None:
            cls = GaugeMetricFamily if kind == "gauge" else CounterMetricFamily
            yield cls(name, help_, value=v)
    lists = st.get("lists")
    if isinstance(lists, dict) and lists:
        size = GaugeMetricFamily("hearth_list_entries", "Domains per list", labels=["list"])
        age = GaugeMetricFamily("hearth_list_age_seconds", "Seconds since a list was last updated",
                                labels=["list"])
        for name, info in sorted(lists.items()):
            info = info if isinstance(info, dict) else {"entries": info}
            if isinstance(info.get("entries"), (int, float)):
                size.add_metric([name], info["entries"])
            if isinstance(info.get("age"), (int, float)):
                age.add_metric([name], info["age"])
        yield size
        yield age
    ups = st.get("upstreams")
    if isinstance(ups, dict) and ups:
        score = GaugeMetricFamily("hearth_upstream_health_score", "Upstream health (lower is healthier: failures"
                                  " weigh 10, plus the latency in seconds)", labels=["upstream"])
        latency = GaugeMetricFamily("hearth_upstream_latency_average_seconds", "Upstream latency, moving average",
                                    labels=["upstream"])
        state = GaugeMetricFamily("hearth_upstream_state", "1 for the upstream's state: ok, failing or down",
                                  labels=["upstream", "state"])
        for name, h in sorted(ups.items()):
            h = h if isinstance(h, dict) else {"score": h}      # older daemons: the score alone
            if isinstance(h.get("score"), (int, float)):
                score.add_metric([name], h["score"])
            if isinstance(h.get("latency_ms"), (int, float)):
                latency.add_metric([name], h["latency_ms"] / 1000.0)
            if h.get("state") in ("ok", "failing", "down"):
                for st_name in ("ok", "failing", "down"):
                    state.add_metric([name, st_name], 1.0 if h["state"] == st_name else 0.0)
        yield score
        yield latency
        yield state
    errs = st.get("upstream_errors")
    if isinstance(errs, dict) and errs:
        fam = CounterMetricFamily("hearth_upstream_errors", "Failed exchanges per upstream (timeouts, errors,"
                                  " SERVFAIL or REFUSED answers)", labels=["upstream"])
        for name, n in sorted(errs.items()):
            fam.add_metric([name], n)
        yield fam
