"""The stream of decisions: every front end that decides (DNS, the proxy) puts what it decided here, and the
sinks (the query log, the alerts, the budgets) take it from here. A front end never knows who listens.

A sink has these methods, all of which must return at once and never raise (DNS never waits on a sink):
- ``put(entry)``: one decision, an ``Entry`` (appliance/state/querylog.py) carrying the whole Decision;
- ``repeats(batch)``: repeats answered from the DNS hot cache, counted: a list of ``[n, second, client, hot]``
  (``hot`` has .qname, .qtype, .decision, .rcode), one per second, device and answer, in the order first asked;
- ``seen(client, now)``: a client was identified (the sink knows whether it is the first time);
- optionally ``bind(stream)``: the sink calls ``stream.drain(final)`` before it takes a batch, on the thread that
  calls ``put``, so that the repeats counted so far are in its batch (``stream.depth`` says how many wait);
- optionally ``wake()``: repeats are waiting (a writer that sleeps while it has nothing to write starts its beat).

Repeats are most of a home's queries (phones ask the same names over and over), so the stream counts them itself,
one dict update per query whatever the number of sinks. A drain hands the counts of every second but the one still
counting to every sink: flushing that one now would split its count over two rows. ``final`` (at shutdown) hands
everything.
"""
from __future__ import annotations

import time
from typing import Iterable, Protocol

from .model import Client

MAX_COUNTS = 50_000     # distinct (second, device, answer) held between two drains; past it they go out at once
STILL = 1.5             # seconds (ours) after which the newest second is no longer counting, whatever its clock


def fit(batch: list[list], room: int) -> tuple[list[list], int]:
    """The first ``room`` repeats of a batch a sink keeps, and how many queries the rest counted (its bound)."""
    if len(batch) <= room:
        return batch, 0
    room = max(room, 0)
    return batch[:room], sum(r[0] for r in batch[room:])


class Sink(Protocol):
    def put(self, entry) -> None: ...

    def repeats(self, batch: list[list]) -> None: ...

    def seen(self, client: Client, now: float) -> None: ...


class Stream:
    """Fans each event out to every sink, in order. The sinks' bound methods are gathered once."""

    def __init__(self, sinks: Iterable[Sink] = (), max_counts: int = MAX_COUNTS):
        self.sinks: tuple[Sink, ...] = ()
        self.max_counts = max_counts
        self._puts = self._batches = self._seens = self._wakes = ()
        self._counts: dict[tuple[int, int, int], list] = {}   # (second, id(client), id(hot)) -> [n, second, c, hot]
        # The counts of the seconds that are over, one dict each as it was when its second ended: a drain then
        # hands them over without looking at each count on the event loop (a busy second holds thousands).
        self._done: list[dict] = []
        self._done_n = 0
        # The resolver's clock is its own (an injected one in tests): ours only says when its newest second began.
        self._newest, self._newest_at = 0, 0.0
        for s in sinks:
            self.add(s)

    def add(self, sink: Sink) -> None:
        self.sinks += (sink,)
        self._puts = tuple(s.put for s in self.sinks)
        self._batches = tuple(s.repeats for s in self.sinks)
        self._seens = tuple(s.seen for s in self.sinks)
        self._wakes = tuple(s.wake for s in self.sinks if hasattr(s, "wake"))
        bind = getattr(sink, "bind", None)
        if bind is not None:
            bind(self)

    def put(self, entry) -> None:
        for f in self._puts:
            f(entry)

    def repeat(self, second: int, client: Client, hot) -> None:
        """One query answered from the hot cache."""
        if not self._batches:
            return
        key = (second, id(client), id(hot))
        r = self._counts.get(key)
        if r is not None:
            r[0] += 1
            return
        if second < self._newest:       # asked late (a clock stepped back): its second may be over but not drained
            for d in self._done:
                r = d.get(key)
                if r is not None:
                    r[0] += 1
                    return
        if second > self._newest or not (self._counts or self._done):   # a second is over, or the first since a drain
            if second > self._newest:
                self._newest, self._newest_at = second, time.monotonic()
                self._close_second()
            for w in self._wakes:
                w()
        elif len(self._counts) + self._done_n >= self.max_counts:
            self.drain(final=True)
        self._counts[key] = [1, second, client, hot]     # the references keep both ids unique until the drain

    def _close_second(self) -> None:
        if self._counts:
            self._done.append(self._counts)
            self._done_n += len(self._counts)
            self._counts = {}

    def drain(self, final: bool = False) -> None:
        """Hand every sink the repeats of the seconds that are over (all of them if ``final``).

        The second still counting is the newest one's dict (with the odd count of an older second asked late,
        which goes out with it): it stays unless ``final`` or our clock says it has not counted for STILL."""
        if self._counts and (final or time.monotonic() - self._newest_at > STILL):
            self._close_second()
        if not self._done:
            return
        done, self._done, self._done_n = self._done, [], 0
        batch = list(done[0].values()) if len(done) == 1 else [r for d in done for r in d.values()]
        for f in self._batches:
            f(batch)

    @property
    def depth(self) -> int:
        """Distinct repeats counted and not yet handed over."""
        return len(self._counts) + self._done_n

    def seen(self, client: Client, now: float) -> None:
        for f in self._seens:
            f(client, now)
