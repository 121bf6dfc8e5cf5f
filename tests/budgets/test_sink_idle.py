"""The budgets' sink sleeps while no minute is queued, and the first one wakes its writer: real event loop, real
SQLite file (the doorbell itself: tests/state/test_doorbell.py)."""
from __future__ import annotations

import asyncio
from datetime import date

from appliance.state import db
from appliance.state.budgets import BudgetSink, BudgetStore
from appliance.stream import Stream
from tests.state.test_doorbell import settle

from .conftest import at, entry, make_config


def test_an_idle_budget_sink_waits_for_a_minute_of_use_then_counts_it(tree, tmp_path):
    config = make_config(tree, tmp_path, [{"name": "videos", "apps": ["tube"], "minutes": 60}])
    sink = BudgetSink(config, db.db_path(config.data_dir), clock=lambda: at("2026-12-01 16:01"))
    stream = Stream([sink])

    def used() -> int:
        with BudgetStore(db.db_path(config.data_dir)) as s:
            return sum(u.used for u in s.usage(config, date(2026, 12, 1)))

    async def main():
        task = asyncio.create_task(sink.run(every=0.05))
        await settle(lambda: sink._bell.armed)         # nothing queued: the writer waits on the bell
        stream.put(entry(at("2026-12-01 16:00:05"), "emma-phone", "tubecdn.example"))
        await settle(lambda: sink.counted == 1)
        await settle(lambda: sink._bell.armed)         # and sleeps again
        task.cancel()

    asyncio.run(main())
    assert used() == 1
