"""The alert sink over a real SQLite file and a fixed clock: what raises an alert, deduplication, severity,
new devices, and the store's API."""
from __future__ import annotations

import sqlite3
from datetime import time

import pytest

from appliance.dns.cache import HotEntry
from appliance.model import Action, Client, Decision, Reason
from appliance.state.alerts import AlertNotFound, Alerts, AlertSink, in_window
from appliance.stream import Stream

from .conftest import EMMA, LEO, TZ, Clock, blocked, entry


def sink_for(cfg, db_path, clock, **kw) -> AlertSink:
    return AlertSink(cfg, db_path, clock=clock, **kw)


def feed(sink: AlertSink, *entries) -> None:
    for e in entries:
        sink.put(e)
    sink.flush_now()


def test_three_attempts_in_a_minute_make_one_alert_with_count_3(make_config, db_path):
    clock = Clock("2026-12-01 16:00:00")
    sink = sink_for(make_config(), db_path, clock)
    d = blocked("emma", "random-chat", "omegle.com")
    t = clock()
    feed(sink, entry(t, EMMA, "www.omegle.com", d))
    feed(sink, entry(t + 20, EMMA, "www.omegle.com", d), entry(t + 50, EMMA, "omegle.com", d))
    alerts = Alerts(db_path, tz=TZ).list()
    assert len(alerts) == 1
    a = alerts[0]
    assert (a.child, a.device, a.domain, a.list, a.count, a.status) == \
        ("emma", "emma-phone", "omegle.com", "random-chat", 3, "new")
    assert a.first.timestamp() == t and a.last.timestamp() == t + 50
    assert a.reason == "CATEGORY" and a.severity == "high"
    assert a.words.startswith("blocked") and "omegle.com" in a.words


# Each case: attempts as (seconds after the first, child, domain, list); the alerts expected as (domain, count).
DEDUP = [
    ("same domain within the hour", [(0, "emma", "omegle.com", "random-chat"), (1800, "emma", "omegle.com",
                                     "random-chat"), (3540, "emma", "omegle.com", "random-chat")],
     [("omegle.com", 3)]),
    ("same domain after the hour", [(0, "emma", "omegle.com", "random-chat"), (3660, "emma", "omegle.com",
                                    "random-chat")], [("omegle.com", 1), ("omegle.com", 1)]),
    ("a burst on one list", [(0, "emma", "omegle.com", "random-chat"), (30, "emma", "ome.tv", "random-chat"),
                             (90, "emma", "chatroulette.com", "random-chat")], [("omegle.com", 3)]),
    ("two domains of a list far apart", [(0, "emma", "omegle.com", "random-chat"),
                                         (900, "emma", "ome.tv", "random-chat")],
     [("omegle.com", 1), ("ome.tv", 1)]),
    ("two lists at once", [(0, "emma", "omegle.com", "random-chat"), (5, "emma", "tinder.com", "dating")],
     [("omegle.com", 1), ("tinder.com", 1)]),
    ("two children, one domain", [(0, "emma", "omegle.com", "random-chat"), (5, "leo", "omegle.com",
                                  "random-chat")], [("omegle.com", 1), ("omegle.com", 1)]),
]


@pytest.mark.parametrize("attempts, expected", [c[1:] for c in DEDUP], ids=[c[0] for c in DEDUP])
@pytest.mark.parametrize("one_batch", [True, False], ids=["one batch", "a batch each"])
def test_deduplication(make_config, db_path, attempts, expected, one_batch):
    clock = Clock("2026-12-01 15:00:00")
    sink = sink_for(make_config(), db_path, clock)
    t0 = clock()
    clients = {"emma": EMMA, "leo": LEO}
    entries = [entry(t0 + dt, clients[child], "www." + dom, blocked(child, lst, dom)) for dt, child, dom, lst in
               attempts]
    if one_batch:
        feed(sink, *entries)
    else:
        for e in entries:
            feed(sink, e)
    got = sorted((a.domain, a.count) for a in Alerts(db_path).list())
    assert got == sorted(expected)


def test_a_dismissed_alert_is_closed_a_later_attempt_opens_a_new_one(make_config, db_path):
    clock = Clock("2026-12-01 15:00:00")
    sink = sink_for(make_config(), db_path, clock)
    d = blocked("emma", "dating", "tinder.com")
    feed(sink, entry(clock(), EMMA, "tinder.com", d))
    store = Alerts(db_path)
    first = store.list()[0]
    assert store.dismiss(first.id).status == "dismissed"
    feed(sink, entry(clock() + 60, EMMA, "tinder.com", d))
    assert [a.count for a in store.list()] == [1]
    assert store.list()[0].id != first.id
    assert len(store.list(include_dismissed=True)) == 2


# (list, local time, quiet hours in the config, severity)
SEVERITY = [
    ("random-chat", "14:00", None, "high"),
    ("adult", "09:00", None, "high"),
    ("app:omegle-clones", "14:00", None, "high"),      # an app counts for its category: random-chat
    ("dating", "23:30", None, "normal"),
    ("risky-social", "23:30", None, "normal"),
    ("bypass", "23:30", None, "high"),                 # at night (no quiet hours set: 22:00-07:00)
    ("bypass", "06:59", None, "high"),
    ("bypass", "07:00", None, "normal"),
    ("bypass", "14:00", None, "normal"),
    ("bypass", "21:30", "21:00-06:00", "high"),        # at night = the quiet hours when set
    ("bypass", "22:30", "08:00-12:00", "normal"),
    ("bypass", "10:00", "08:00-12:00", "high"),
]


@pytest.mark.parametrize("lst, at, quiet, severity", SEVERITY)
def test_severity(make_config, db_path, lst, at, quiet, severity):
    alerts = {"categories": ["random-chat", "dating", "risky-social", "adult", "bypass"]}
    if quiet:
        alerts["quiet"] = quiet
    else:
        alerts["quiet"] = "off"
    cfg = make_config(alerts)
    clock = Clock(f"2026-12-01 {at}:00")
    sink = sink_for(cfg, db_path, clock)
    reason = Reason.BYPASS if lst == "bypass" else Reason.APP if lst.startswith("app:") else Reason.CATEGORY
    feed(sink, entry(clock(), EMMA, "x.example", blocked("emma", lst, "x.example", reason)))
    [a] = Alerts(db_path).list()
    assert a.severity == severity


@pytest.mark.parametrize("t, window, inside", [
    (time(23, 0), (time(22), time(7)), True), (time(6, 59), (time(22), time(7)), True),
    (time(7, 0), (time(22), time(7)), False), (time(21, 59), (time(22), time(7)), False),
    (time(10, 0), (time(8), time(12)), True), (time(12, 0), (time(8), time(12)), False),
    (time(10, 0), None, False),
])
def test_in_window(t, window, inside):
    assert in_window(t, window) is inside


# What raises an alert: (decision, qname, config alerts, lookup result, alerts expected as (list, domain))
RAISES = [
    ("a blocked listed category", blocked("emma", "dating", "tinder.com"), "tinder.com", None, None,
     [("dating", "tinder.com")]),
    ("a category not listed", blocked("emma", "gambling", "bet.example"), "bet.example", None, None, []),
    ("an allowed name", Decision(Action.ALLOW, Reason.NONE, "emma"), "omegle.com", None,
     [("random-chat", "omegle.com")], []),
    ("a parent's timed allow", Decision(Action.ALLOW, Reason.OVERRIDE, "emma", list="random-chat",
                                        rule="omegle.com"), "omegle.com", None, None, []),
    ("the default profile", blocked("default", "adult", "porn.example"), "porn.example", None, None, []),
    ("an app the parent listed", blocked("emma", "app:tiktok", "tiktok.com", Reason.APP), "tiktok.com",
     {"apps": ["tiktok"]}, None, [("app:tiktok", "tiktok.com")]),
    ("an app not listed", blocked("emma", "app:tiktok", "tiktok.com", Reason.APP), "tiktok.com", None, None, []),
    ("bedtime blocked a random-chat site first", blocked("emma", None, None, Reason.SCHEDULE, schedule="bedtime"),
     "www.omegle.com", None, [("random-chat", "omegle.com")], [("random-chat", "omegle.com")]),
    ("bedtime blocked an ordinary site", blocked("emma", None, None, Reason.SCHEDULE, schedule="bedtime"),
     "wikipedia.org", None, [], []),
    ("a pause blocked an adult site", blocked("emma", None, None, Reason.PAUSED), "porn.example", None,
     [("adult", "porn.example")], [("adult", "porn.example")]),
    ("a blocked bypass", blocked("emma", "bypass", "dns.google", Reason.BYPASS, nxdomain=True), "dns.google", None,
     None, [("bypass", "dns.google")]),
    ("a CNAME into a listed category", blocked("emma", "adult", "porn.example", Reason.CNAME,
                                              target="cdn.porn.example"), "innocent.example", None, None,
     [("adult", "porn.example")]),
    ("categories turned off", blocked("emma", "dating", "tinder.com"), "tinder.com", {"categories": []}, None, []),
    ("rate limited", Decision(Action.BLOCK, Reason.RATE_LIMIT, "emma", rule="1000 queries per 60 s"), "a.example",
     None, [("adult", "a.example")], []),
]


@pytest.mark.parametrize("decision, qname, alerts, lookup, expected", [c[1:] for c in RAISES],
                         ids=[c[0] for c in RAISES])
def test_what_raises_an_alert(make_config, db_path, decision, qname, alerts, lookup, expected):
    clock = Clock("2026-12-01 15:00:00")
    client = EMMA if decision.profile == "emma" else Client("192.168.1.99", None, None, decision.profile)
    sink = sink_for(make_config(alerts), db_path, clock,
                    lookup=(lambda name: lookup) if lookup is not None else None)
    feed(sink, entry(clock(), client, qname, decision))
    assert [(a.list, a.domain) for a in Alerts(db_path).list() if a.reason != "NEW_DEVICE"] == expected


def test_hot_cache_repeats_count_as_attempts(make_config, db_path):
    clock = Clock("2026-12-01 15:00:00")
    sink = sink_for(make_config(), db_path, clock)
    d = blocked("emma", "adult", "porn.example")
    feed(sink, entry(clock(), EMMA, "porn.example", d))
    hot = HotEntry(b"", (), 0.0, 10.0, "porn.example", 1, 0, d, client=EMMA)
    second = int(clock())
    stream = Stream([sink])
    for i in range(5):
        stream.repeat(second + i, EMMA, hot)
    sink.flush_now()
    [a] = Alerts(db_path).list()
    assert a.count == 6 and a.last.timestamp() == second + 4


def test_a_full_queue_keeps_the_repeats_that_may_alert_and_counts_the_rest_dropped(make_config, db_path):
    """The stream's batches are kept whole for the writer thread; past the bound, only blocks a child asked
    for are kept, and what still does not fit is counted as dropped."""
    clock = Clock("2026-12-01 15:00:00")
    sink = sink_for(make_config(), db_path, clock, maxsize=4)
    second = int(clock())
    allowed = HotEntry(b"", (), 0.0, 10.0, "wikipedia.org", 1, 0, Decision(Action.ALLOW, Reason.NONE, "emma"))
    adult = HotEntry(b"", (), 0.0, 10.0, "porn.example", 1, 0, blocked("emma", "adult", "porn.example"))
    sink.repeats([[3, second, EMMA, allowed], [2, second, EMMA, adult]])             # fits: kept as it is
    sink.repeats([[5, second + 1, EMMA, allowed], [4, second + 1, EMMA, adult],
                  [7, second + 1, LEO, adult]])                                      # 2 places left: the blocks
    sink.repeats([[1, second + 2, EMMA, adult]])                                     # no room
    assert sink.dropped == 1
    sink.flush_now()
    [a] = Alerts(db_path).list()
    assert (a.domain, a.count) == ("porn.example", 2 + 4 + 7)


def test_new_unknown_device_alerts_once_even_across_a_restart(make_config, db_path):
    cfg = make_config()
    clock = Clock("2026-12-01 15:00:00")
    stranger = Client("192.168.1.77", "de:ad:be:ef:00:01", None, "default")
    sink = sink_for(cfg, db_path, clock)
    for _ in range(3):
        sink.seen(stranger, clock())
        sink.seen(EMMA, clock())                       # configured: never "new"
    sink.flush_now()
    sink.seen(stranger, clock() + 60)
    sink.flush_now()
    sink.close()
    again = sink_for(cfg, db_path, clock)             # the daemon restarted
    again.seen(Client("192.168.1.78", "de:ad:be:ef:00:01", None, "default"), clock() + 120)  # new address, same MAC
    again.flush_now()
    alerts = Alerts(db_path).list()
    assert [(a.reason, a.device, a.child, a.severity) for a in alerts] == \
        [("NEW_DEVICE", "192.168.1.77", None, "normal")]
    assert "de:ad:be:ef:00:01" in alerts[0].words


def test_devices_the_log_saw_before_the_first_start_are_not_new(make_config, db_path):
    from appliance.state.querylog import QueryLog
    log = QueryLog(db_path)
    old = Client("192.168.1.50", "11:22:33:44:55:66", None, "default")
    log.seen(old, 1_000.0)
    import asyncio
    asyncio.run(log.flush())
    log.close()
    clock = Clock("2026-12-01 15:00:00")
    sink = sink_for(make_config(), db_path, clock)
    sink.seen(old, clock())
    sink.seen(Client("192.168.1.51", "11:22:33:44:55:77", None, "default"), clock())
    sink.flush_now()
    assert [a.device for a in Alerts(db_path).list()] == ["192.168.1.51"]


def test_ipv6_privacy_addresses_without_a_mac_are_not_new_devices(make_config, db_path):
    clock = Clock("2026-12-01 15:00:00")
    sink = sink_for(make_config(), db_path, clock)
    for i in range(3):
        sink.seen(Client(f"2001:db8::{i + 1:x}", None, None, "default"), clock())
    sink.seen(Client("2001:db8::99", "de:ad:be:ef:00:02", None, "default"), clock())
    sink.flush_now()
    assert [a.device for a in Alerts(db_path).list()] == ["2001:db8::99"]


def test_new_device_alerts_can_be_turned_off(make_config, db_path):
    clock = Clock("2026-12-01 15:00:00")
    sink = sink_for(make_config({"new_devices": False}), db_path, clock)
    sink.seen(Client("192.168.1.77", "de:ad:be:ef:00:01", None, "default"), clock())
    sink.flush_now()
    assert Alerts(db_path).list() == []


def test_the_sink_never_raises_and_counts_what_it_drops(make_config, db_path, tmp_path):
    clock = Clock("2026-12-01 15:00:00")
    sink = sink_for(make_config(), db_path, clock, maxsize=2)
    d = blocked("emma", "adult", "porn.example")
    for i in range(5):
        sink.put(entry(clock() + i, EMMA, "porn.example", d))
    assert sink.dropped == 3
    sink.flush_now()
    assert Alerts(db_path).list()[0].count == 2
    # A database that cannot be written (here: locked by a writer that holds it) loses the batch, not the sink.
    holder = sqlite3.connect(db_path, timeout=0)
    holder.execute("BEGIN EXCLUSIVE")
    sink.conn.execute("PRAGMA busy_timeout=50")
    sink.put(entry(clock() + 10, EMMA, "porn.example", d))
    sink.flush_now()
    holder.rollback()
    holder.close()
    assert sink.failed_batches == 1 and sink.dropped == 4
    sink.put(entry(clock() + 20, EMMA, "porn.example", d))
    sink.flush_now()
    assert Alerts(db_path).list()[0].count == 3


def test_words_follow_the_configured_language(make_config, db_path):
    clock = Clock("2026-12-01 15:00:00")
    sink = sink_for(make_config({"language": "fr"}), db_path, clock)
    feed(sink, entry(clock(), EMMA, "tinder.com", blocked("emma", "dating", "tinder.com")))
    [a] = Alerts(db_path).list()
    assert a.words.startswith("bloqué") and "tinder.com" in a.words


def test_store_api(make_config, db_path):
    clock = Clock("2026-12-01 15:00:00")
    sink = sink_for(make_config(), db_path, clock)
    feed(sink, entry(clock(), EMMA, "tinder.com", blocked("emma", "dating", "tinder.com")),
         entry(clock() + 5, LEO, "omegle.com", blocked("leo", "random-chat", "omegle.com")))
    store = Alerts(db_path, tz=TZ)
    newest, older = store.list()
    assert (newest.child, older.child) == ("leo", "emma")
    assert store.counts() == {"new": 2, "new_high": 1}
    assert [a.child for a in store.list(child="emma")] == ["emma"]
    assert store.mark_seen(older.id).status == "seen"
    assert [a.id for a in store.list(status="seen")] == [older.id]
    assert store.dismiss(newest.id).status == "dismissed"
    assert store.mark_seen(newest.id).status == "dismissed"     # seen does not bring a dismissed alert back
    assert [a.id for a in store.list()] == [older.id]
    assert store.get(older.id).first.tzinfo is not None
    with pytest.raises(AlertNotFound, match="there is no alert 999"):
        store.dismiss(999)
    with pytest.raises(ValueError, match="unknown alert status"):
        store.list(status="read")
    d = older.as_dict()
    assert set(d) >= {"id", "child", "device", "domain", "list", "reason", "count", "first", "last", "severity",
                      "status"}


def test_flush_from_an_event_loop_raises_the_batch_in_a_worker_thread(make_config, db_path):
    import asyncio
    import threading
    clock = Clock("2026-12-01 15:00:00")
    threads = []
    sink = sink_for(make_config(), db_path, clock,
                    observers=[lambda entries, repeats: threads.append(threading.get_ident())])

    async def main():
        sink.put(entry(clock(), EMMA, "tinder.com", blocked("emma", "dating", "tinder.com")))
        task = asyncio.create_task(sink.run(every=0.05))
        for _ in range(100):
            await asyncio.sleep(0.05)
            if threads:
                break
        task.cancel()
        return threading.get_ident()

    loop_thread = asyncio.run(main())
    assert threads and threads[0] != loop_thread
    assert [a.domain for a in Alerts(db_path).list()] == ["tinder.com"]


def test_prune_drops_alerts_past_the_log_retention(make_config, db_path):
    clock = Clock("2026-12-01 15:00:00")
    cfg = make_config(query_log={"keep_days": 30})
    sink = sink_for(cfg, db_path, clock)
    feed(sink, entry(clock(), EMMA, "tinder.com", blocked("emma", "dating", "tinder.com")))
    clock.advance(29 * 86400)
    feed(sink, entry(clock(), EMMA, "omegle.com", blocked("emma", "random-chat", "omegle.com")))
    clock.advance(2 * 86400)
    sink.prune()
    assert [a.domain for a in Alerts(db_path).list()] == ["omegle.com"]
    days = [r[0] for r in sink.conn.execute("SELECT day FROM alert_tally")]
    assert days == ["2026-12-01", "2026-12-30"]        # tallies are kept 40 days
    clock.advance(60 * 86400)
    sink.prune()
    assert sink.conn.execute("SELECT count(*) FROM alert_tally").fetchone()[0] == 0


def test_a_new_device_under_quarantine_is_said_to_be_held(make_config, db_path):
    cfg = make_config(unknown_devices={"profile": "quarantine"})
    clock = Clock("2026-12-01 15:00:00")
    sink = sink_for(cfg, db_path, clock)
    sink.seen(Client("192.168.1.77", "de:ad:be:ef:00:02", None, "default"), clock())
    sink.flush_now()
    [a] = Alerts(db_path).list()
    assert "only essential services until you assign it" in a.words


def test_another_writer_holding_the_file_delays_an_alert_and_never_loses_it(make_config, db_path):
    """Seen in the benchmark under load: another writer held the file past the busy timeout and the alert batch
    was lost ("database is locked"). A batch now tries once more a second later."""
    import threading
    clock = Clock("2026-12-01 16:00:00")
    sink = sink_for(make_config(), db_path, clock)
    sink.flush_now()                                       # the tables exist
    sink.conn.execute("PRAGMA busy_timeout=300")           # the first try gives up before the other writer is done
    other = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")                       # another writer mid-transaction for 0.8 s
    threading.Timer(0.8, lambda: other.execute("COMMIT")).start()
    d = blocked("emma", "random-chat", "omegle.com")
    feed(sink, entry(clock(), EMMA, "www.omegle.com", d))
    assert [a.domain for a in Alerts(db_path, tz=TZ).list()] == ["omegle.com"]
    assert sink.dropped == 0


def test_a_flood_of_new_addresses_makes_ten_alerts_and_one_that_counts_the_rest(make_config, db_path):
    """Issue 16: a device spoofing 20,000 addresses queued as many new-device alerts (and messages to the parent's
    phone). Past NEW_DEVICES_PER_HOUR in an hour, one alert counts the others; the next hour starts afresh."""
    from appliance.state.alerts import NEW_DEVICES_PER_HOUR
    cfg = make_config()
    clock = Clock("2026-12-01 15:00:00")
    sink = sink_for(cfg, db_path, clock)
    for i in range(500):
        sink.seen(Client(f"192.168.{1 + i // 250}.{i % 250 + 2}", None, None, "default"), clock() + i / 100)
    sink.flush_now()
    alerts = Alerts(db_path).list(limit=1000)
    singles = [a for a in alerts if a.reason == "NEW_DEVICE"]
    [many] = [a for a in alerts if a.reason == "NEW_DEVICES"]
    assert len(singles) == NEW_DEVICES_PER_HOUR == len(alerts) - 1
    assert many.count == 500 - NEW_DEVICES_PER_HOUR and many.severity == "high"
    assert "pretending to be many" in many.words and "among them 192.168.1.12" in many.words
    with sqlite3.connect(db_path) as conn:      # the flood's addresses are not all remembered as known
        assert conn.execute("SELECT count(*) FROM alert_devices").fetchone()[0] < 50
    sink.seen(Client("192.168.3.9", None, None, "default"), clock() + 1800)    # more the same hour: counted
    sink.flush_now()
    assert [a.count for a in Alerts(db_path).list() if a.reason == "NEW_DEVICES"] == [many.count + 1]
    sink.seen(Client("192.168.3.10", None, None, "default"), clock() + 3700)   # an hour later: its own alert
    sink.flush_now()
    assert sum(a.reason == "NEW_DEVICE" for a in Alerts(db_path).list(limit=1000)) == NEW_DEVICES_PER_HOUR + 1
