"""The stream of decisions: every front end that decides (DNS, the proxy) puts what it decided here, and the
sinks (the query log, the alerts) take it from here. A front end never knows who listens.

A sink has three methods, all of which must return at once and never raise (DNS never waits on a sink):
- ``put(entry)``: one decision, an ``Entry`` (appliance/state/querylog.py) carrying the whole Decision;
- ``repeat(second, client, hot)``: a repeat answered from the DNS hot cache (``hot`` has .qname, .qtype,
  .decision, .rcode), counted rather than queued;
- ``seen(client, now)``: a client was identified (the sink knows whether it is the first time).
"""
from __future__ import annotations

from typing import Iterable, Protocol

from .model import Client


class Sink(Protocol):
    def put(self, entry) -> None: ...

    def repeat(self, second: int, client: Client, hot) -> None: ...

    def seen(self, client: Client, now: float) -> None: ...


class Stream:
    """Fans each event out to every sink, in order. The sinks' bound methods are gathered once (the hot path
    calls ``repeat`` for every repeated query)."""

    def __init__(self, sinks: Iterable[Sink] = ()):
        self.sinks: tuple[Sink, ...] = ()
        self._puts = self._repeats = self._seens = ()
        for s in sinks:
            self.add(s)

    def add(self, sink: Sink) -> None:
        self.sinks += (sink,)
        self._puts = tuple(s.put for s in self.sinks)
        self._repeats = tuple(s.repeat for s in self.sinks)
        self._seens = tuple(s.seen for s in self.sinks)

    def put(self, entry) -> None:
        for f in self._puts:
            f(entry)

    def repeat(self, second: int, client: Client, hot) -> None:
        for f in self._repeats:
            f(second, client, hot)

    def seen(self, client: Client, now: float) -> None:
        for f in self._seens:
            f(client, now)
