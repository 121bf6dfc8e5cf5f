"""The stream counts hot-cache repeats itself and hands every sink the counts when any sink takes a batch."""
from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from appliance.model import Action, Client, Decision, Reason
from appliance.state.querylog import QueryLog
from appliance.stream import Stream

EMMA = Client("192.168.1.20", "aa:bb:cc:00:00:01", "emma-phone", "emma")
LEO = Client("192.168.1.21", None, "leo-tablet", "leo")


class Recorder:
    """A sink that keeps what it was given, and takes batches as the real sinks do (drain first)."""

    def __init__(self):
        self.got, self.puts, self.seens = [], [], []
        self._stream = None
        self.wakes = 0

    def put(self, entry):
        self.puts.append(entry)

    def repeats(self, batch):
        self.got += [(second, client.device, hot.qname, n) for n, second, client, hot in batch]

    def seen(self, client, now):
        self.seens.append(client.device)

    def bind(self, stream):
        self._stream = stream

    def wake(self):
        self.wakes += 1

    def take(self, final=True):
        self._stream.drain(final)
        out, self.got = self.got, []
        return out


def hot(name):
    return SimpleNamespace(qname=name, qtype=1, decision=Decision(Action.ALLOW, Reason.NONE, "emma"), rcode=0)


@pytest.mark.parametrize("asks, expected", [
    ([], []),
    ([(100, EMMA, "a")] * 3, [(100, "emma-phone", "a", 3)]),
    ([(100, EMMA, "a"), (100, LEO, "a"), (101, EMMA, "a"), (100, EMMA, "b"), (100, EMMA, "a")],
     [(100, "emma-phone", "a", 2), (100, "leo-tablet", "a", 1), (101, "emma-phone", "a", 1),
      (100, "emma-phone", "b", 1)]),
])
def test_repeats_reach_every_sink_counted_per_second_device_and_answer(asks, expected):
    answers = {n: hot(n) for n in "ab"}
    a, b = Recorder(), Recorder()
    s = Stream([a, b])
    for second, client, name in asks:
        s.repeat(second, client, answers[name])
    assert a.got == b.got == []          # nothing is handed over per query
    assert a.take() == expected                 # one sink's batch drains for all
    assert b.take() == expected
    assert a.take() == b.take() == []


def test_past_the_bound_the_counts_go_out_at_once_and_nothing_is_lost():
    a = Recorder()
    s = Stream([a], max_counts=10)
    answers = [hot(f"n{i}.example") for i in range(25)]
    for h in answers:
        s.repeat(100, EMMA, h)
        s.repeat(100, EMMA, h)
    assert len(a.got) == 20          # two drains of ten happened on the way
    got = a.take()
    assert sorted(x[2] for x in got) == sorted(h.qname for h in answers) and {x[3] for x in got} == {2}


def test_a_drain_holds_the_second_still_counting_until_it_is_over():
    a = Recorder()
    s = Stream([a])
    h = hot("a")
    s.repeat(100, EMMA, h)
    s.repeat(101, EMMA, h)
    assert a.take(final=False) == [(100, "emma-phone", "a", 1)]     # 101 may still be counting
    s.repeat(101, EMMA, h)
    assert a.take(final=False) == []
    s.repeat(102, EMMA, h)                                          # 101 is over
    assert a.take(final=False) == [(101, "emma-phone", "a", 2)]
    assert a.take(final=True) == [(102, "emma-phone", "a", 1)]      # the last batch takes all


def test_a_sink_is_woken_by_the_first_repeat_after_a_drain_and_by_each_new_second():
    a = Recorder()
    s = Stream([a])
    h, g = hot("a"), hot("b")
    s.repeat(100, EMMA, h)
    s.repeat(100, EMMA, g)
    s.repeat(100, EMMA, h)
    assert a.wakes == 1
    s.repeat(101, EMMA, h)
    assert a.wakes == 2 and s.depth == 3
    a.take(final=True)
    s.repeat(101, EMMA, h)
    assert a.wakes == 3


def test_puts_and_seens_fan_out_in_order():
    a, b = Recorder(), Recorder()
    s = Stream([a])
    s.add(b)
    s.put("e1")
    s.seen(EMMA, 1.0)
    assert a.puts == b.puts == ["e1"] and a.seens == b.seens == ["emma-phone"]


def test_the_query_log_writes_the_streams_counts_as_one_row(tmp_path):
    log = QueryLog(tmp_path / "hearth.db")
    s = Stream([log])
    h = hot("www.example.com")
    for _ in range(7):
        s.repeat(1_780_000_000, EMMA, h)
    asyncio.run(log.flush())
    log.close()
    import sqlite3
    con = sqlite3.connect(tmp_path / "hearth.db")
    assert con.execute("SELECT qname, count, cached FROM query_log").fetchall() == [("www.example.com", 7, 1)]
