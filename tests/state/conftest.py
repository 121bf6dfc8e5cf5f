"""Helpers for the query log tests: entries as the resolver builds them, written through the real writer."""
from __future__ import annotations

import asyncio
from pathlib import Path

from appliance.model import Action, Client, Decision, Reason
from appliance.state.querylog import Entry, QueryLog

T0 = 1_796_000_000.0      # 2026-11-30 01:33:20 UTC: a fixed clock for every test that does not need the real one

DEVICES = {
    "emma-phone": Client("192.168.1.10", "02:00:00:00:00:01", "emma-phone", "emma"),
    "emma-laptop": Client("192.168.1.11", "02:00:00:00:00:02", "emma-laptop", "emma"),
    "leo-tablet": Client("192.168.1.20", "02:00:00:00:00:03", "leo-tablet", "leo"),
    "tv": Client("192.168.1.30", None, None, "default"),
}


def decision(profile: str, action: str = "allow", reason: str = "NONE", **kw) -> Decision:
    return Decision(Action(action), Reason(reason), profile, **kw)


def entry(ts: float, device: str = "emma-phone", qname: str = "example.com", d: Decision | None = None, *,
          count: int = 1, source: str = "dns", client: Client | None = None, qtype: int = 1) -> Entry:
    c = client or DEVICES[device]
    d = d or decision(c.profile)
    return Entry(ts, c, qname, qtype, d, 0, count > 1, None if count > 1 else "9.9.9.9:53",
                 None if count > 1 else 12.345, count, source)


def write(path: Path, entries, log: QueryLog | None = None, **kw) -> QueryLog:
    """Put the entries on a writer and commit them (one flush), as the daemon's loop would."""
    log = log or QueryLog(path, maxsize=kw.pop("maxsize", 1_000_000), **kw)
    for e in entries:
        log.put(e)
    asyncio.run(log.flush())
    return log
