"""The policy engine: one immutable snapshot of everything a decision reads, swapped whole.

A ``Snapshot`` holds the config, the device directory, each profile compiled once, the list index and safe-search
data (``Rules``) and the live overrides. Every front end asks a snapshot: the DNS resolver per query, ``hearth
explain``, the admin, the proxy. Nothing in a snapshot changes; a reload or an override change builds a new one
(reusing what did not change) and the engine swaps it in with one assignment, so a query never sees half of an old
config and half of a new one.

Each snapshot has a ``generation``. A caller that derives something from a snapshot (the DNS hot cache) keeps the
generation it derived it under and drops a late write from an older one: a query decided before a pause was
swapped in must not put its allowed answer into the cache the pause cleared.

The engine is not tied to an event loop: ``reload`` and ``refresh_overrides`` are plain calls (the DNS daemon
runs them from a worker thread or its loop; the admin and the proxy from their own threads), and listeners hear of
each swap.
"""
from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, replace
from datetime import datetime
from types import MappingProxyType
from typing import Callable, Mapping
from zoneinfo import ZoneInfo

from ..config import DEFAULT_PROFILE, Config, Window
from ..lists import store as list_store
from ..model import Client, Decision
from ..state.budgets import BudgetStore
from ..state.overrides import OverrideStore
from .clients import Directory
from .decide import NO_BUDGETS, CompiledProfile, Rules, SpentBudgets, compile_profile, decide, next_change
from .overrides import NO_OVERRIDES, Overrides, snapshot as overrides_snapshot
from .safesearch import SafeSearch

__all__ = ["Snapshot", "Engine", "build_rules"]

COMPILE_IN_CHILD_OVER = 2 * 1024 * 1024    # bytes of parent-added lists: past this, compile in a child process


def build_rules(config: Config, *, child: bool = False) -> Rules:
    """The lists and safe-search data: blocking file reads and compiling, for a worker thread."""
    index = list_store.load_or_compile(config, child_over=COMPILE_IN_CHILD_OVER if child else None)
    return Rules(index=index, safesearch=SafeSearch.from_dir(config.blocklists_dir))


@dataclass(frozen=True)
class Snapshot:
    """Everything a decision reads, at one moment."""

    generation: int
    config: Config
    directory: Directory
    rules: Rules
    overrides: Overrides
    profiles: Mapping[str, CompiledProfile]     # every profile of the config, compiled once
    tz: ZoneInfo
    budgets: SpentBudgets = NO_BUDGETS          # the time budgets spent today

    def decide(self, profile: str, qname: str, qtype: int, now: datetime) -> Decision:
        return decide(self.profiles[profile], qname, qtype, now, self.overrides, self.rules, self.budgets)

    def next_change(self, profile: str, now: datetime) -> datetime | None:
        return next_change(self.profiles[profile], now, self.overrides, self.budgets)

    def active_windows(self, profile: str, now: datetime) -> tuple[Window, ...]:
        return self.profiles[profile].schedule.active(now, self.overrides.shifts(profile))

    def identify(self, ip: str, mac: str | None) -> Client:
        return self.directory.identify(ip, mac)

    def now(self) -> datetime:
        return datetime.now(self.tz)


def compile_snapshot(generation: int, config: Config, rules: Rules, overrides: Overrides,
                     budgets: SpentBudgets = NO_BUDGETS) -> Snapshot:
    quarantine = config.unknown_devices.profile == "quarantine"
    return Snapshot(generation, config, Directory.from_config(config), rules, overrides,
                    MappingProxyType({name: compile_profile(p, quarantine=quarantine and name == DEFAULT_PROFILE)
                                      for name, p in config.profiles.items()}),
                    config.tz, budgets)


class Engine:
    """Holds the current snapshot and swaps in new ones; thread-safe."""

    def __init__(self, config: Config, rules: Rules, *, overrides: OverrideStore | None = None,
                 budgets: BudgetStore | None = None, clock: Callable[[ZoneInfo], datetime] = datetime.now):
        self.store = overrides
        self.budget_store = budgets
        self._budget_stamp: int | None = None
        self._clock = clock
        self._generations = itertools.count(1)
        self._lock = threading.Lock()
        self._listeners: list[Callable[[Snapshot], None]] = []
        snap = overrides_snapshot(overrides, clock(config.tz)) if overrides is not None else NO_OVERRIDES
        self.snapshot = compile_snapshot(next(self._generations), config, rules, snap, self._read_budgets(config))

    @classmethod
    def build(cls, config: Config, *, overrides: OverrideStore | None = None, budgets: BudgetStore | None = None,
              child: bool = False, clock: Callable[[ZoneInfo], datetime] = datetime.now) -> "Engine":
        """An engine for ``config``: compiles (or loads the cached) list index. Blocking: call it off the loop."""
        return cls(config, build_rules(config, child=child), overrides=overrides, budgets=budgets, clock=clock)

    def on_swap(self, listener: Callable[[Snapshot], None]) -> None:
        """``listener(snapshot)`` is called after each swap, in the thread that swapped."""
        self._listeners.append(listener)

    def _swap(self, make: Callable[[int], Snapshot]) -> Snapshot:
        with self._lock:
            snap = make(next(self._generations))
            self.snapshot = snap
        for listener in self._listeners:
            listener(snap)
        return snap

    def reload(self, config: Config, *, rules: Rules | None = None, child: bool = False) -> Snapshot:
        """Swap in a new config (and lists: ``rules`` when the caller built them, else built here, blocking).
        Raises whatever building the lists raises, leaving the running snapshot in place."""
        rules = rules if rules is not None else build_rules(config, child=child)
        overrides = self._read_overrides(config) if self.store is not None else self.snapshot.overrides
        budgets = self._read_budgets(config)     # a reload may add, change or remove a budget
        return self._swap(lambda g: compile_snapshot(g, config, rules, overrides, budgets))

    def refresh_overrides(self, *, force: bool = False) -> bool:
        """Swap in the overrides table if it changed (one PRAGMA when it did not); True if a new snapshot.
        The file changing may also be a grant or a budget spent: the budgets are refreshed then too."""
        if self.store is None or not (force or self.store.changed()):
            return self.refresh_budgets(force=force) if self.store is None else False
        swapped = self.refresh_budgets(force=force)
        old = self.snapshot
        fresh = self._read_overrides(old.config)
        # data_version also moves when the query log commits: compare, do not assume.
        if fresh == old.overrides:
            return swapped
        self._swap(lambda g: replace(self.snapshot, generation=g, overrides=fresh))
        return True

    def refresh_budgets(self, *, force: bool = False) -> bool:
        """Swap in the budgets spent today if they changed: read when the store's stamp moved (a grant, a budget
        crossing 100%), or when forced (the minute poll: a new day, a grant made before a restart)."""
        if self.budget_store is None:
            return False
        config = self.snapshot.config
        if not force and self.budget_store.stamp() == self._budget_stamp:
            return False
        fresh = self._read_budgets(config)
        if fresh == self.snapshot.budgets:
            return False
        self._swap(lambda g: replace(self.snapshot, generation=g, budgets=fresh))
        return True

    def _read_overrides(self, config: Config) -> Overrides:
        return overrides_snapshot(self.store, self._clock(config.tz))

    def _read_budgets(self, config: Config) -> SpentBudgets:
        if self.budget_store is None or not any(p.budgets for p in config.profiles.values()):
            return NO_BUDGETS
        self._budget_stamp = self.budget_store.stamp()
        today = self._clock(config.tz).date()
        return SpentBudgets(today, MappingProxyType(self.budget_store.spent(config, today)))
