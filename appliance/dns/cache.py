"""Two caches.

``AnswerCache`` holds upstream answers as records (RFC 1035 TTLs, RFC 2308 negative caching, RFC 8767 stale
entries) and is shared by every profile. ``HotCache`` holds finished wire replies per (profile, query bytes):
a repeat costs a dict lookup, an ID patch and a TTL patch — the path most queries in a home take.
"""
from __future__ import annotations

import struct
from collections import OrderedDict
from dataclasses import dataclass
from typing import NamedTuple

from appliance.config import DnsConfig
from appliance.dns.codec import NOERROR, NXDOMAIN, Answer, hot_key
from appliance.model import Action, Client, Decision


class Cached(NamedTuple):
    answer: Answer
    stored: float      # monotonic time it arrived
    expires: float     # monotonic time it goes stale


_cached = tuple.__new__      # a Cached without the named tuple's Python-level __new__


class AnswerCache:
    def __init__(self, dns: DnsConfig):
        self.size = dns.cache_size
        self.min_ttl, self.max_ttl, self.neg_ttl = dns.min_cache_ttl, dns.max_cache_ttl, dns.negative_ttl
        self.stale_max_age = dns.stale_max_age if dns.serve_stale else 0
        self._d: OrderedDict[tuple, Cached] = OrderedDict()

    def __len__(self) -> int:
        return len(self._d)

    def put(self, key: tuple, answer: Answer, now: float) -> None:
        if answer.rcode not in (NOERROR, NXDOMAIN) or answer.truncated or self.size <= 0:
            return     # SERVFAIL and friends are not facts about the name: ask again next time
        negative = answer.rcode == NXDOMAIN or not answer.answer_count
        ttl = min(answer.ttl, self.neg_ttl) if negative else min(max(answer.ttl, self.min_ttl), self.max_ttl)
        if ttl <= 0:
            return
        d = self._d
        if key in d:
            d.move_to_end(key)
        d[key] = _cached(Cached, (answer, now, now + ttl))
        while len(self._d) > self.size:
            self._d.popitem(last=False)

    def get(self, key: tuple, now: float) -> Cached | None:
        """A fresh entry, or None."""
        c = self._d.get(key)
        if c is None or now >= c.expires:
            return None
        self._d.move_to_end(key)
        return c

    def get_stale(self, key: tuple, now: float) -> Cached | None:
        """An expired entry still within the stale window (RFC 8767), for when every upstream fails."""
        c = self._d.get(key)
        if c is None or now - c.expires > self.stale_max_age:
            return None
        return c

    def clear(self) -> None:
        self._d.clear()


@dataclass(slots=True)
class HotEntry:
    wire: bytes
    ttl_offsets: tuple[int, ...]   # TTL fields to age on each serve (empty: serve as built)
    built: float                   # monotonic time the wire was built
    expires: float                 # monotonic: the smaller of its TTL and the next schedule/override change
    qname: str
    qtype: int
    rcode: int
    decision: Decision
    client: Client | None = None   # who asked, for entries keyed by a forwarding router rather than a profile
    aged: bytes = b""              # the wire with TTLs aged by ``aged_by`` seconds: reused within that second
    aged_by: int = -1
    blocked: bool = False          # decision.action is BLOCK, read once (the hot path counts blocks)

    def __post_init__(self) -> None:
        self.blocked = self.decision.action is Action.BLOCK


HOT_CACHE_BYTES = 16 * 1024 * 1024     # replies and keys kept, whatever their number (a 1 GB Pi)


class HotCache:
    """Finished replies keyed by (profile, transport, codec.hot_key of the query).

    The key carries the question with the client's own letter case, the flags and the EDNS settings that change
    an answer, so a hit is exactly the reply the full chain would build. Bounded in entries and in bytes (a
    reply, its aged copy and its key). Cleared whole on any config, list or override change.
    """

    def __init__(self, size: int, max_bytes: int = HOT_CACHE_BYTES):
        self.size = size
        self.max_bytes = max_bytes
        self.bytes = 0
        # An OrderedDict, not a dict: evicting the oldest from a plain dict (next(iter(d))) walks past every slot
        # freed before it, so a stream of new names made each miss slower (10% of a miss in the profile).
        self._d: OrderedDict[tuple, HotEntry] = OrderedDict()
        # The last query ``lookup`` had to compute a hot key for, and that key: the full chain that follows a miss
        # asks for it again (``key_of``) instead of reading the query a third time.
        self._missed: tuple[bytes | None, bytes | None] = (None, None)

    def __len__(self) -> int:
        return len(self._d)

    def key_of(self, data: bytes) -> bytes | None:
        """The hot key ``lookup`` computed for these very bytes (the same object), else None."""
        missed = self._missed
        return missed[1] if missed[0] is data else None

    def get(self, key: tuple) -> HotEntry | None:
        return self._d.get(key)

    def lookup(self, who, tcp: bool, data: bytes) -> HotEntry | None:
        """The entry for a query: first by its raw bytes after the ID (the same client repeating itself costs one
        dict lookup), then by what its answer depends on (codec.hot_key: a fresh cookie or padding)."""
        d = self._d
        e = d.get((who, tcp, data[2:]))
        if e is None:
            k = hot_key(data)
            self._missed = (data, k)
            if k is not None:
                e = d.get((who, tcp, k))
        return e

    def remember(self, who, tcp: bool, wire: bytes, entry: HotEntry, key: bytes | None = None) -> None:
        """Keep ``entry`` for the query ``wire`` under its hot key (``key``, if already known), and under its raw
        bytes for the fast lookup."""
        k = key if key is not None else hot_key(wire)
        if k is None:                  # an unusual shape (compression, several records): not worth keeping
            return
        self.put((who, tcp, k), entry)
        self.put((who, tcp, wire[2:]), entry)

    def put(self, key: tuple, entry: HotEntry) -> None:
        if self.size <= 0 or key[2] is None:
            return
        d = self._d
        cost = _cost(key, entry)
        old = d.pop(key, None)
        if old is not None:
            self.bytes -= _cost(key, old)
        while d and (len(d) >= self.size or self.bytes + cost > self.max_bytes):
            k, gone = d.popitem(last=False)   # oldest first: cheap, and a busy entry comes straight back
            self.bytes -= _cost(k, gone)
        d[key] = entry
        self.bytes += cost

    def clear(self) -> None:
        self._d.clear()
        self.bytes = 0


def _cost(key: tuple, entry: HotEntry) -> int:
    # the wire twice (it and its aged copy), the key's bytes, and about 200 bytes of objects around them
    return 2 * len(entry.wire) + len(key[2]) + 200


def serve(entry: HotEntry, data: bytes, now: float) -> bytearray:
    """The cached reply with the client's ID, its TTLs aged by the whole seconds since it was built."""
    age = int(now - entry.built)
    if age != entry.aged_by:       # once a second at most: every other repeat only patches the ID
        entry.aged, entry.aged_by = _aged(entry, age), age
    buf = bytearray(entry.aged)
    buf[0] = data[0]
    buf[1] = data[1]
    return buf


def _aged(entry: HotEntry, age: int) -> bytes:
    if not age or not entry.ttl_offsets:
        return entry.wire
    buf = bytearray(entry.wire)
    for off in entry.ttl_offsets:
        ttl = struct.unpack_from("!I", buf, off)[0]
        struct.pack_into("!I", buf, off, ttl - age if ttl > age else 0)
    return bytes(buf)
