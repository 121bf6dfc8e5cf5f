"""A sink's writer sleeps while nothing is queued and the first entry wakes it (state/doorbell.py), on a real event
loop, with the producer on the loop's thread or another one."""
from __future__ import annotations

import asyncio
import threading

import pytest

from appliance.state.doorbell import Doorbell, beat


async def settle(check, tries: int = 200) -> None:
    """Let the loop run until ``check()`` holds (a bounded wait, not a timing assertion)."""
    for _ in range(tries):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("never happened")


class Writer:
    """A queue and a writer loop on a doorbell, as the alerts' and budgets' sinks have."""

    def __init__(self, every: float = 0.02):
        self.queue: list = []
        self.batches: list[list] = []
        self.bell = Doorbell()
        self.every = every

    def put(self, item) -> None:
        self.queue.append(item)
        if self.bell.armed:
            self.bell.ring()

    async def flush(self) -> None:
        batch, self.queue = self.queue, []
        if batch:
            self.batches.append(batch)

    def run(self):
        return beat(self.bell, lambda: not self.queue, self.flush, self.every)


@pytest.mark.parametrize("from_thread", [False, True], ids=["loop thread", "another thread"])
def test_an_idle_writer_sleeps_on_its_bell_and_the_first_entry_wakes_it(from_thread):
    async def main():
        w = Writer()
        task = asyncio.create_task(w.run())
        await settle(lambda: w.bell.armed)             # nothing queued: waiting on the bell, not on a timer
        await asyncio.sleep(5 * w.every)
        assert w.batches == [] and w.bell.armed        # five beats went by with no flush
        if from_thread:
            t = threading.Thread(target=w.put, args=("tinder.com",))
            t.start()
            t.join()
        else:
            w.put("tinder.com")
        await settle(lambda: w.batches)
        assert w.batches == [["tinder.com"]]
        await settle(lambda: w.bell.armed)             # asleep again once the queue is empty
        w.put("omegle.com")
        w.put("chatroulette.com")
        await settle(lambda: len(w.batches) == 2)
        task.cancel()
        return w.batches

    assert asyncio.run(main()) == [["tinder.com"], ["omegle.com", "chatroulette.com"]]


def test_an_entry_queued_before_the_writer_first_waits_is_written_without_a_ring():
    async def main():
        w = Writer()
        w.queue.append("queued at start")          # before the bell exists: put() could not ring
        task = asyncio.create_task(w.run())
        await settle(lambda: w.batches)
        task.cancel()
        return w.batches

    assert asyncio.run(main()) == [["queued at start"]]


def test_a_busy_writer_keeps_one_batch_per_beat():
    """Entries arriving faster than the beat are batched together, as with the timer before."""
    async def main():
        w = Writer(every=0.2)
        task = asyncio.create_task(w.run())
        await settle(lambda: w.bell.armed)
        for i in range(5):                   # 5 entries within one beat
            w.put(i)
        await settle(lambda: w.batches)
        task.cancel()
        return w.batches

    assert asyncio.run(main()) == [[0, 1, 2, 3, 4]]


def test_an_entry_after_the_writer_stopped_never_raises():
    """At shutdown the writer is cancelled while it waits; a late entry finds nobody to wake, and says nothing."""
    w = Writer()

    async def main():
        task = asyncio.create_task(w.run())
        await settle(lambda: w.bell.armed)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(main())
    assert not w.bell.armed
    w.bell.armed = True          # as if the cancel had come between arming and waiting
    w.put("late")                # the loop is closed: ringing it must not raise
    assert w.queue == ["late"]
