"""The alerts' and budgets' sinks sleep while nothing is queued, and the first entry wakes their writer: real
event loop, real SQLite file (the doorbell itself: tests/state/test_doorbell.py)."""
from __future__ import annotations

import asyncio

from appliance.model import Client
from appliance.state.alerts import Alerts, AlertSink
from appliance.stream import Stream
from tests.state.test_doorbell import settle

from .conftest import EMMA, Clock, blocked, entry


def test_an_idle_alert_sink_waits_for_a_blocked_attempt_then_raises_it(make_config, db_path):
    clock = Clock("2026-12-01 15:00:00")
    sink = AlertSink(make_config(), db_path, clock=clock)
    stream = Stream([sink])

    async def main():
        task = asyncio.create_task(sink.run(every=0.05))
        await settle(lambda: sink._bell.armed)         # nothing queued: the writer waits on the bell
        stream.put(entry(clock(), EMMA, "tinder.com", blocked("emma", "dating", "tinder.com")))
        await settle(lambda: Alerts(db_path).list())
        await settle(lambda: sink._bell.armed)         # and sleeps again
        stream.seen(Client("192.168.1.99", "aa:bb:cc:00:00:99", None, "default"), clock())
        await settle(lambda: len(Alerts(db_path).list()) == 2)      # a new device wakes it too
        task.cancel()

    asyncio.run(main())
    assert "tinder.com" in [a.domain for a in Alerts(db_path).list()]
