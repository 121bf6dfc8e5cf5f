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
    """Fans each event out to every sink, in order."""

    def __init__(self, sinks: Iterable[Sink] = ()):
        self.sinks: tuple[Sink, ...] = tuple(sinks)

    def add(self, sink: Sink) -> None:
        self.sinks += (sink,)

    def put(self, entry) -> None:
        for s in self.sinks:
            s.put(entry)

    def repeat(self, second: int, client: Client, hot) -> None:
        for s in self.sinks:
            s.repeat(second, client, hot)

    def seen(self, client: Client, now: float) -> None:
        for s in self.sinks:
            s.seen(client, now)
