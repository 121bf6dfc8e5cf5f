"""The stream of decisions: every front end that decides (DNS, the proxy) puts what it decided here, and the
sinks (the query log, the alerts, the budgets) take it from here. A front end never knows who listens.

A sink has these methods, all of which must return at once and never raise (DNS never waits on a sink):
- ``put(entry)``: one decision, an ``Entry`` (appliance/state/querylog.py) carrying the whole Decision;
- ``repeat(second, client, hot, n=1)``: ``n`` repeats in that second answered from the DNS hot cache (``hot`` has
  .qname, .qtype, .decision, .rcode);
- ``seen(client, now)``: a client was identified (the sink knows whether it is the first time);
- optionally ``bind(drain)``: the sink calls ``drain()`` before it takes a batch, on the thread that calls ``put``.

Repeats are most of a home's queries (phones ask the same names over and over), so the stream counts them itself,
one dict update per query whatever the number of sinks, and hands each sink the counts when any sink takes a
batch: a sink sees a repeat per second, device and answer, not per query.
"""
from __future__ import annotations

from typing import Iterable, Protocol

from .model import Client

MAX_COUNTS = 50_000     # distinct (second, device, answer) held between two batches; past it they go out at once


class Sink(Protocol):
    def put(self, entry) -> None: ...

    def repeat(self, second: int, client: Client, hot, n: int = 1) -> None: ...

    def seen(self, client: Client, now: float) -> None: ...


class Stream:
    """Fans each event out to every sink, in order. The sinks' bound methods are gathered once."""

    def __init__(self, sinks: Iterable[Sink] = (), max_counts: int = MAX_COUNTS):
        self.sinks: tuple[Sink, ...] = ()
        self.max_counts = max_counts
        self._puts = self._repeats = self._seens = ()
        self._counts: dict[tuple[int, int, int], list] = {}   # (second, id(client), id(hot)) -> [n, second, c, hot]
        for s in sinks:
            self.add(s)

    def add(self, sink: Sink) -> None:
        self.sinks += (sink,)
        self._puts = tuple(s.put for s in self.sinks)
        self._repeats = tuple(s.repeat for s in self.sinks)
        self._seens = tuple(s.seen for s in self.sinks)
        bind = getattr(sink, "bind", None)
        if bind is not None:
            bind(self.drain)

    def put(self, entry) -> None:
        for f in self._puts:
            f(entry)

    def repeat(self, second: int, client: Client, hot) -> None:
        key = (second, id(client), id(hot))
        r = self._counts.get(key)
        if r is not None:
            r[0] += 1
            return
        if len(self._counts) >= self.max_counts:
            self.drain()
        self._counts[key] = [1, second, client, hot]     # the references keep both ids unique until the drain

    def drain(self) -> None:
        """Hand the repeats counted so far to every sink."""
        if not self._counts:
            return
        counts, self._counts = self._counts, {}
        for f in self._repeats:
            for n, second, client, hot in counts.values():
                f(second, client, hot, n)

    def seen(self, client: Client, now: float) -> None:
        for f in self._seens:
            f(client, now)
