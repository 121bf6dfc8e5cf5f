"""Resolver.full_soon, the UDP listener's way through the full chain without a task per query, against the
coroutine Resolver.full: the same replies byte for byte, one upstream exchange for a question asked many times at
once, and a SERVFAIL (never silence, never NXDOMAIN) when the upstream says nothing. A real stub upstream on
loopback, the resolver in this process (tests/support/inprocess.py)."""
from __future__ import annotations

import asyncio

import dns.flags
import dns.message
import dns.rcode
import pytest

from appliance.dns.server import PENDING
from tests.dns.conftest import ZONE
from tests.support.inprocess import InProcess
from tests.support.stub_upstream import StubUpstream


def _config(blocklists, upstream: StubUpstream, timeout: float = 2.0) -> dict:
    return {"blocklists_dir": str(blocklists), "dns": {"upstreams": [upstream.address], "upstream_timeout": timeout},
            "default_profile": {"block": ["random-chat"], "safe_search": True}}


def _soon(r: InProcess, wires: list[bytes]) -> list[tuple]:
    """Every query through full_soon at once, then the loop until each has its reply: [(reply, error, pending)]."""
    async def go():
        loop = asyncio.get_running_loop()
        futs, out = [], []
        for w in wires:
            fut = loop.create_future()
            got = r.resolver.full_soon(w, "127.0.0.1", False, lambda rep, err, f=fut: f.set_result((rep, err)))
            if got is PENDING:
                futs.append(fut)
                out.append(fut)
            else:
                out.append((got, None))
        await asyncio.wait_for(asyncio.gather(*futs), 10)
        return [(*(o.result() if isinstance(o, asyncio.Future) else o), isinstance(o, asyncio.Future)) for o in out]
    return r.loop.run_until_complete(go())


@pytest.mark.parametrize("name, rdtype, rcode, waits", [
    ("example.com", "A", dns.rcode.NOERROR, True),                  # an upstream answer
    ("example.com", "AAAA", dns.rcode.NOERROR, True),
    ("no-such-name.example.com", "A", dns.rcode.NXDOMAIN, True),    # NXDOMAIN passed through
    ("www.omegle.com", "A", dns.rcode.NOERROR, False),             # blocked: answered in the call, 0.0.0.0
    ("cloak.example.net", "A", dns.rcode.NOERROR, True),           # a CNAME into a blocked name: blocked
    ("www.google.com", "A", dns.rcode.NOERROR, True),              # safe search: the rewrite's target asked
    ("big.example.com", "TXT", dns.rcode.NOERROR, True),           # over 512 bytes: cut down for a plain client
])
def test_full_soon_answers_as_full_does(tmp_path, blocklists, name, rdtype, rcode, waits):
    with StubUpstream(ZONE) as up:
        (tmp_path / "soon").mkdir()
        (tmp_path / "full").mkdir()
        soon = InProcess(tmp_path / "soon", _config(blocklists, up))
        full = InProcess(tmp_path / "full", _config(blocklists, up))
        try:
            wire = dns.message.make_query(name, rdtype, use_edns=False).to_wire()
            [(reply, error, pending)] = _soon(soon, [wire])
            want = full.loop.run_until_complete(full.resolver.full(wire, "127.0.0.1", False))
        finally:
            soon.close()
            full.close()
    assert error is None and pending is waits
    assert bytes(reply) == bytes(want)
    assert dns.message.from_wire(reply).rcode() == rcode


def test_one_question_asked_at_once_is_one_upstream_exchange(tmp_path, blocklists):
    with StubUpstream(ZONE) as up:
        r = InProcess(tmp_path, _config(blocklists, up))
        try:
            wires = [dns.message.make_query("www.example.com", "A", id=i + 1).to_wire() for i in range(6)]
            results = _soon(r, wires)
            asked = up.count("www.example.com")
            again = _soon(r, [dns.message.make_query("www.example.com", "A", id=99).to_wire()])
        finally:
            r.close()
    for i, (reply, error, pending) in enumerate(results):
        m = dns.message.from_wire(reply)
        assert error is None and pending and m.id == i + 1 and m.answer[0].to_text().endswith("93.184.216.34")
    assert asked == 1
    [(reply, error, pending)] = again                  # now in the answer cache: answered in the call
    assert not pending and dns.message.from_wire(reply).id == 99


def test_a_silent_upstream_gets_servfail_at_its_timeout(tmp_path, blocklists):
    with StubUpstream(ZONE) as up:
        up.silent = True
        r = InProcess(tmp_path, _config(blocklists, up, timeout=0.3))
        try:
            [(reply, error, pending)] = _soon(r, [dns.message.make_query("example.com", "A").to_wire()])
            inflight = dict(r.resolver.upstreams._inflight)
        finally:
            r.close()
    m = dns.message.from_wire(reply)
    assert error is None and pending and m.rcode() == dns.rcode.SERVFAIL and m.flags & dns.flags.QR
    assert inflight == {}                               # nothing left waiting once it has failed
