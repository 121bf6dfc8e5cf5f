"""Notifications against real local receivers: an SMTP server (aiosmtpd) and HTTP endpoints on loopback, a fixed
clock for quiet hours, digests and backoff, and a new process sending what an old one left pending."""
from __future__ import annotations

import email
import email.policy
import subprocess
import sys
import textwrap
import time

import pytest

from appliance.model import Client, Reason
from appliance.notify import Notifier, _domain, check_url, display_url
from appliance.state.alerts import AlertSink
from tests.support.hearth_proc import free_port

from .conftest import EMMA, LEO, Clock, Receiver, blocked, entry


class Smtp:
    """aiosmtpd on loopback, keeping every message it is handed."""

    def __init__(self):
        from aiosmtpd.controller import Controller
        self.messages: list[email.message.EmailMessage] = []
        self.port = free_port()
        outer = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                outer.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
                return "250 OK"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return f"mailto://127.0.0.1:{self.port}?from=hearth@home.lan&to=parent@home.lan"

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()


def raise_alerts(cfg, db_path, clock, *entries):
    sink = AlertSink(cfg, db_path, clock=clock)
    for e in entries:
        sink.put(e)
    sink.flush_now()
    sink.close()


def omegle(ts, client=EMMA, profile="emma"):
    return entry(ts, client, "www.omegle.com", blocked(profile, "random-chat", "omegle.com"))


def tinder(ts, client=EMMA, profile="emma"):
    return entry(ts, client, "tinder.com", blocked(profile, "dating", "tinder.com"))


def test_a_high_alert_goes_out_at_once_by_email(make_config, db_path):
    with Smtp() as smtp:
        cfg = make_config({"notify": [smtp.url]})
        clock = Clock("2026-12-01 23:04:00")        # quiet hours: high alerts still go
        raise_alerts(cfg, db_path, clock, omegle(clock()), omegle(clock() + 10), omegle(clock() + 20))
        n = Notifier(cfg, db_path, clock=clock)
        n.tick()
        assert len(smtp.messages) == 1
        msg = smtp.messages[0]
        assert msg["Subject"] == "Hearth: Emma tried to reach omegle.com"
        body = msg.get_body(preferencelist=("plain", "html")).get_content()
        assert "23:04 Emma (emma-phone): omegle.com" in body and "(3 tries)" in body
        assert "talk with Emma" in body
        assert "www.omegle.com" not in body and "://" not in body     # the domain, never a URL
        n.tick()
        clock.advance(3600)
        n.tick()
        assert len(smtp.messages) == 1                  # told once
        assert n.pending() == [] and n.sent == 1


def test_a_burst_of_high_alerts_is_one_message(make_config, db_path, receiver):
    cfg = make_config({"notify": [receiver.url]})
    clock = Clock("2026-12-01 16:00:00")
    raise_alerts(cfg, db_path, clock, omegle(clock()), omegle(clock() + 5, LEO, "leo"),
                 entry(clock() + 9, EMMA, "porn.example", blocked("emma", "adult", "porn.example")))
    Notifier(cfg, db_path, clock=clock).tick()
    assert len(receiver.accepted) == 1
    msg = receiver.accepted[0]
    assert msg["title"] == "Hearth: 3 alerts"
    assert "Emma (emma-phone): omegle.com" in msg["message"] and "Leo (leo-tablet): omegle.com" in msg["message"]


def test_a_failing_channel_is_retried_with_backoff_and_the_alert_arrives_once(make_config, db_path):
    with Receiver(failures=2) as http:
        cfg = make_config({"notify": [http.url]})
        clock = Clock("2026-12-01 16:00:00")
        raise_alerts(cfg, db_path, clock, omegle(clock()))
        n = Notifier(cfg, db_path, clock=clock)
        n.tick()
        assert len(http.requests) == 1 and http.accepted == []
        [row] = n.pending()
        assert row["attempts"] == 1 and row["next_try"] == clock() + 30
        assert "HTTP 500" in row["error"] and "127.0.0.1" in row["error"]
        clock.advance(10)
        n.tick()
        assert len(http.requests) == 1                  # not due yet
        clock.advance(20)
        n.tick()
        assert len(http.requests) == 2 and n.pending()[0]["next_try"] == clock() + 60
        clock.advance(60)
        n.tick()
        clock.advance(600)
        n.tick()
        assert len(http.requests) == 3 and len(http.accepted) == 1
        assert n.pending() == [] and n.failed == 2


def test_a_channel_that_is_up_is_not_sent_twice_while_another_is_down(make_config, db_path, receiver):
    down_port = free_port()
    cfg = make_config({"notify": [receiver.url, f"json://127.0.0.1:{down_port}/hook"]})
    clock = Clock("2026-12-01 16:00:00")
    raise_alerts(cfg, db_path, clock, omegle(clock()))
    n = Notifier(cfg, db_path, clock=clock)
    n.tick()
    assert len(receiver.accepted) == 1
    assert "refused the connection" in n.pending()[0]["error"]
    with Receiver(port=down_port) as second:     # the channel comes back
        clock.advance(31)
        n.tick()
        assert len(second.accepted) == 1
    assert len(receiver.accepted) == 1 and n.pending() == []


def test_pending_messages_survive_a_restart_and_a_new_process_sends_them(make_config, db_path, tmp_path):
    port = free_port()
    cfg = make_config({"notify": [f"json://127.0.0.1:{port}/hook"]})
    clock = Clock("2026-12-01 16:00:00")
    clock.t = time.time() - 120                         # so that the retry is due for the next process
    raise_alerts(cfg, db_path, clock, omegle(clock()))
    n = Notifier(cfg, db_path, clock=clock)
    n.tick()                                            # the channel is down
    assert len(n.pending()) == 1
    n.close()
    r = Receiver(port=port)                            # the channel is back, after the restart
    script = textwrap.dedent(f"""
        from appliance import config as configmod
        from appliance.notify import Notifier
        n = Notifier(configmod.load({str(cfg.source)!r}), {str(db_path)!r})
        n.tick()
        n.tick()
        print(len(n.pending()), n.sent)
    """)
    with r:
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["0", "1"]
    assert len(r.accepted) == 1 and "omegle.com" in r.accepted[0]["message"]


def test_quiet_hours_hold_normal_alerts_when_there_is_no_digest(make_config, db_path, receiver):
    cfg = make_config({"notify": [receiver.url], "digest": "off", "quiet": "22:00-07:00"})
    clock = Clock("2026-12-01 23:10:00")
    raise_alerts(cfg, db_path, clock, tinder(clock()))
    n = Notifier(cfg, db_path, clock=clock)
    n.tick()
    assert receiver.requests == []
    clock.set("2026-12-02 06:59:00")
    n.tick()
    assert receiver.requests == []
    clock.set("2026-12-02 07:00:00")
    n.tick()
    assert len(receiver.accepted) == 1 and "tinder.com" in receiver.accepted[0]["title"]


def test_normal_alerts_wait_for_the_digest(make_config, db_path, receiver):
    cfg = make_config({"notify": [receiver.url], "digest": "19:30"})
    clock = Clock("2026-12-01 15:00:00")
    sink = AlertSink(cfg, db_path, clock=clock)   # before the first digest: the store is "installed" now
    sink.close()
    clock.set("2026-12-01 16:00:00")
    bedtime = blocked("emma", None, None, Reason.SCHEDULE, schedule="bedtime")
    raise_alerts(cfg, db_path, clock, tinder(clock()), tinder(clock() + 10),
                 entry(clock() + 20, EMMA, "tiktok.com", blocked("emma", "app:tiktok", "tiktok.com", Reason.APP)),
                 entry(clock() + 30, EMMA, "wikipedia.org", bedtime),
                 entry(clock() + 40, LEO, "porn.example", blocked("leo", "adult", "porn.example")))
    n = Notifier(cfg, db_path, clock=clock)
    n.tick()
    assert [m["title"] for m in receiver.accepted] == ["Hearth: Leo tried to reach porn.example"]   # high: now
    clock.set("2026-12-01 19:29:00")
    n.tick()
    assert len(receiver.accepted) == 1
    clock.set("2026-12-01 19:30:00")
    n.tick()
    digests = {m["title"]: m["message"] for m in receiver.accepted[1:]}
    assert set(digests) == {"Hearth: what Emma's devices tried today", "Hearth: what Leo's devices tried today"}
    emma = digests["Hearth: what Emma's devices tried today"]
    assert emma.startswith("4 blocked: Dating and hook-up 2, TikTok 1, bedtime window 1.")
    assert "Alerts: tinder.com (Dating and hook-up) 2× at 16:00." in emma
    assert "porn.example" in digests["Hearth: what Leo's devices tried today"]
    clock.advance(600)
    n.tick()
    assert len(receiver.accepted) == 3          # each digest once


def test_a_digest_due_in_quiet_hours_waits_for_them_to_end(make_config, db_path, receiver):
    cfg = make_config({"notify": [receiver.url], "digest": "22:30", "quiet": "22:00-07:00"})
    clock = Clock("2026-12-01 15:00:00")
    raise_alerts(cfg, db_path, clock, tinder(clock()))
    n = Notifier(cfg, db_path, clock=clock)
    clock.set("2026-12-01 22:45:00")
    n.tick()
    assert receiver.requests == []
    clock.set("2026-12-02 07:01:00")
    n.tick()
    assert [m["title"] for m in receiver.accepted] == ["Hearth: what Emma's devices tried today"]


def test_new_devices_are_in_the_household_digest(make_config, db_path, receiver):
    cfg = make_config({"notify": [receiver.url], "digest": "19:30"})
    clock = Clock("2026-12-01 12:00:00")
    sink = AlertSink(cfg, db_path, clock=clock)
    sink.seen(Client("192.168.1.77", "de:ad:be:ef:00:01", None, "default"), clock())
    sink.flush_now()
    n = Notifier(cfg, db_path, clock=clock)
    n.tick()
    assert receiver.requests == []
    clock.set("2026-12-01 19:31:00")
    n.tick()
    [m] = receiver.accepted
    assert m["title"] == "Hearth: new devices on your network"
    assert "192.168.1.77 (de:ad:be:ef:00:01)" in m["message"] and "Wi-Fi password" in m["message"]


def test_messages_in_french(make_config, db_path, receiver):
    cfg = make_config({"notify": [receiver.url], "language": "fr"})
    clock = Clock("2026-12-01 16:00:00")
    raise_alerts(cfg, db_path, clock, omegle(clock()))
    Notifier(cfg, db_path, clock=clock).tick()
    [m] = receiver.accepted
    assert m["title"] == "Hearth : Emma a essayé d'aller sur omegle.com"
    assert "parlez-en avec Emma" in m["message"]


def test_no_channel_means_nothing_is_queued_and_alerts_wait(make_config, db_path):
    cfg = make_config()
    clock = Clock("2026-12-01 16:00:00")
    raise_alerts(cfg, db_path, clock, omegle(clock()))
    n = Notifier(cfg, db_path, clock=clock)
    assert n.plan() == 0 and n.pending() == []


@pytest.mark.parametrize("text, shown", [
    ("omegle.com", "omegle.com"),
    ("https://omegle.com/chat/room?id=42", "omegle.com"),
    ("omegle.com/some/page text", "omegle.com"),
    (None, "?"),
])
def test_messages_carry_names_only(text, shown):
    assert _domain(text) == shown


@pytest.mark.parametrize("url, ok", [
    ("mailtos://user:secret@example.com", True),
    ("ntfy://my-family-topic", True),
    ("json://127.0.0.1:8080/hook", True),
    ("nosuchscheme://x", False),
    ("just words", False),
])
def test_check_url(url, ok):
    assert (check_url(url) is None) is ok


def test_display_url_hides_passwords():
    shown = display_url("mailtos://user:secret@example.com?to=parent@example.com")
    assert "secret" not in shown and "example.com" in shown


def hearth(*args, timeout=90):
    return subprocess.run([sys.executable, "-m", "appliance.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_hearth_notify_test_says_which_channel_failed_and_why(make_config, receiver):
    with Smtp() as smtp:
        down = free_port()
        cfg = make_config({"notify": [receiver.url, smtp.url, f"json://127.0.0.1:{down}/hook"]})
        r = hearth("notify", "test", "--config", str(cfg.source))
    assert r.returncode == 1, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == f"sent:   json://127.0.0.1:{receiver.port}/hook"
    assert lines[1].startswith(f"sent:   mailto://127.0.0.1:{smtp.port}")
    assert lines[2] == (f"FAILED: json://127.0.0.1:{down}/hook: the server refused the connection "
                        "(is it running?)")
    assert lines[3].startswith("2 of 3 channel(s) took the test message")
    assert "Traceback" not in r.stderr
    assert receiver.accepted[0]["title"] == "Hearth: test message" and len(smtp.messages) == 1


def test_hearth_notify_test_without_channels(make_config):
    cfg = make_config()
    r = hearth("notify", "test", "--config", str(cfg.source))
    assert r.returncode == 1 and "no notification channels" in r.stdout


def test_a_long_burst_names_eight_alerts_and_counts_the_rest(make_config, db_path, receiver):
    cfg = make_config({"notify": [receiver.url]})
    clock = Clock("2026-12-01 16:00:00")
    raise_alerts(cfg, db_path, clock, *[entry(clock() + i * 200, EMMA, f"site{i}.example",
                                              blocked("emma", "adult", f"site{i}.example")) for i in range(11)])
    Notifier(cfg, db_path, clock=clock).tick()
    [m] = receiver.accepted
    assert m["title"] == "Hearth: 11 alerts" and "… and 3 more" in m["message"]
    assert m["message"].count("Emma (emma-phone)") == 8


def test_the_daemon_jobs_are_scheduled_and_prune(make_config, db_path, receiver):
    from apscheduler.schedulers.background import BackgroundScheduler

    from appliance import notify
    cfg = make_config({"notify": [receiver.url]})
    clock = Clock("2026-12-01 16:00:00")
    raise_alerts(cfg, db_path, clock, omegle(clock()))
    n = Notifier(cfg, db_path, clock=clock)
    sink = AlertSink(cfg, db_path, clock=clock)
    scheduler = BackgroundScheduler(timezone="Europe/Paris")
    notify.schedule(scheduler, n, sink)
    jobs = {j.id: j for j in scheduler.get_jobs()}
    assert set(jobs) == {"notify", "prune-alerts"}
    jobs["notify"].func()
    assert len(receiver.accepted) == 1
    clock.advance(31 * 86400)
    jobs["prune-alerts"].func()
    assert n.conn.execute("SELECT count(*) FROM notifications").fetchone()[0] == 0


def test_hearth_notify_pending_says_what_waits_and_why(make_config, db_path):
    down = free_port()
    cfg = make_config({"notify": [f"json://127.0.0.1:{down}/hook"]})
    clock = Clock("2026-12-01 16:00:00")
    r = hearth("notify", "pending", "--config", str(cfg.source))
    assert r.returncode == 0 and r.stdout.startswith("nothing waiting")
    raise_alerts(cfg, db_path, clock, omegle(clock()))
    Notifier(cfg, db_path, clock=clock).tick()
    r = hearth("notify", "pending", "--config", str(cfg.source))
    assert r.returncode == 0
    assert "2026-12-01 16:00  Hearth: Emma tried to reach omegle.com" in r.stdout
    assert "1 try so far, next at 16:00" in r.stdout and "refused the connection" in r.stdout


def test_a_channel_that_hangs_costs_a_timeout_not_the_worker(make_config, db_path, receiver, monkeypatch):
    import socket
    import threading
    from appliance import notify
    monkeypatch.setattr(notify, "SEND_TIMEOUT", 1)
    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(8)
    held = []
    threading.Thread(target=lambda: [held.append(hung.accept()) for _ in range(4)], daemon=True).start()
    try:
        cfg = make_config({"notify": [f"json://127.0.0.1:{hung.getsockname()[1]}/hook", receiver.url]})
        clock = Clock("2026-12-01 16:00:00")
        raise_alerts(cfg, db_path, clock, omegle(clock()))
        n = Notifier(cfg, db_path, clock=clock)
        t0 = time.monotonic()
        n.tick()
        assert time.monotonic() - t0 < 10
        assert len(receiver.accepted) == 1
        assert "did not answer in time" in n.pending()[0]["error"]
    finally:
        hung.close()


def test_a_flood_of_new_devices_is_one_message_that_says_what_it_may_be(make_config, db_path, receiver):
    cfg = make_config({"notify": [receiver.url]})
    clock = Clock("2026-12-01 12:00:00")
    sink = AlertSink(cfg, db_path, clock=clock)
    for i in range(300):
        sink.seen(Client(f"192.168.1.{i % 250 + 2}" if i < 250 else f"192.168.2.{i}", None, None, "default"),
                  clock())
    sink.flush_now()
    n = Notifier(cfg, db_path, clock=clock)
    n.tick()
    [m] = receiver.accepted                  # the summary is high: it does not wait for the digest
    assert m["title"] == "Hearth: many new devices joined your network"
    assert "more than 10 new devices within an hour (290 past that so far)" in m["message"]
    assert "pretending to be many" in m["message"] and "Wi-Fi password" in m["message"]
    clock.set("2026-12-01 19:31:00")
    n.tick()
    digest = receiver.accepted[-1]
    assert digest["title"] == "Hearth: new devices on your network"
    assert digest["message"].count("192.168.1.") == 10 and "290 more within an hour" in digest["message"]
