"""`hearth dns`: the DNS process. Loads the config, compiles the lists off the event loop, listens, and keeps
running through bad reloads, full disks and dead upstreams.

Reload (SIGHUP or the control socket) builds a whole new State first and swaps it in with one assignment: a bad
config file or a list that fails to compile leaves the old state answering, and the reply says why.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import signal
import time
from datetime import datetime

from appliance import config as configmod
from appliance import control
from appliance.config import Config, ConfigError
from appliance.dns import listener
from appliance.dns.server import Resolver, State
from appliance.dns.upstream import Upstreams
from appliance.lists import sources, store
from appliance.policy.clients import Directory, NeighbourTable
from appliance.policy.decide import Rules
from appliance.policy.safesearch import SafeSearch
from appliance.state import db
from appliance.state.overrides import OverrideStore
from appliance.state.querylog import QueryLog

log = logging.getLogger("hearth.dns")

OVERRIDE_POLL = 1.0        # seconds: a pause from the admin reaches the resolver within this
OVERRIDE_REFRESH = 60.0    # seconds: re-read overrides anyway, dropping expired ones


COMPILE_IN_CHILD_OVER = 2 * 1024 * 1024    # bytes of parent-added lists: past this, compile in a child process


def build_rules(config: Config, *, child: bool = False) -> Rules:
    """The lists and safe-search data: blocking file reads and compiling, for a worker thread."""
    index = store.load_or_compile(config, child_over=COMPILE_IN_CHILD_OVER if child else None)
    return Rules(index=index, safesearch=SafeSearch.from_dir(config.blocklists_dir))


class Daemon:
    def __init__(self, config_path: str, *, neighbours: NeighbourTable | None = None):
        self.config_path = config_path
        self.neighbours = neighbours
        self.resolver: Resolver | None = None
        self.overrides: OverrideStore | None = None
        self.querylog: QueryLog | None = None
        self.started = time.time()
        self.last_reload: dict = {}
        self._stop = asyncio.Event()
        self._reload_lock = asyncio.Lock()

    # --- state ------------------------------------------------------------------------------------------------

    async def _build_state(self, config: Config) -> State:
        loop = asyncio.get_running_loop()
        rules = await loop.run_in_executor(None, functools.partial(build_rules, config, child=True))
        return State(config, Directory.from_config(config), rules,
                     self.overrides.snapshot(datetime.now(config.tz)), config.tz)

    async def reload(self) -> dict:
        """Re-read the config and lists; on any error keep what runs and say why."""
        async with self._reload_lock:
            try:
                config = configmod.load(self.config_path)
            except ConfigError as e:
                log.error("reload refused, keeping the running config: %s", "; ".join(e.errors))
                self.last_reload = {"ok": False, "errors": e.errors, "at": time.time()}
                return self.last_reload
            old = self.resolver.state.config
            try:
                state = await self._build_state(config)
            except Exception as e:
                log.exception("reload refused, keeping the running lists")
                self.last_reload = {"ok": False, "errors": [f"lists: {e}"], "at": time.time()}
                return self.last_reload
            self.resolver.swap(state)
            self.querylog.enabled = config.query_log.enabled
            notes = []
            if config.dns.listen != old.dns.listen or config.data_dir != old.data_dir:
                notes.append("listen addresses and data_dir take effect at the next restart")
            if config.dns.upstreams != old.dns.upstreams or config.dns.upstream_timeout != old.dns.upstream_timeout:
                self.resolver.upstreams.close()
                self.resolver.upstreams = Upstreams(config.dns)
            if config.lists != old.lists and self.scheduler is not None:
                self._schedule_list_updates(config)
            log.info("reloaded %s", self.config_path)
            self.last_reload = {"ok": True, "notes": notes, "at": time.time()}
            return self.last_reload

    def _lists_changed(self) -> None:
        """From the scheduler's worker thread: a list download changed something."""
        self._loop.call_soon_threadsafe(lambda: asyncio.ensure_future(self.reload()))

    async def _watch_overrides(self) -> None:
        last_refresh = time.monotonic()
        while True:
            await asyncio.sleep(OVERRIDE_POLL)
            try:
                changed = self.overrides.changed()
                if changed or time.monotonic() - last_refresh >= OVERRIDE_REFRESH:
                    last_refresh = time.monotonic()
                    st = self.resolver.state
                    snap = self.overrides.snapshot(datetime.now(st.tz))
                    # data_version also moves when the query log commits: compare, do not assume.
                    if snap != st.overrides:
                        self.resolver.swap(State(st.config, st.directory, st.rules, snap, st.tz))
            except Exception:       # a locked or damaged db must not stop DNS: try again next second
                log.exception("reading overrides failed")

    # --- control ----------------------------------------------------------------------------------------------

    async def _control(self, req: dict) -> dict:
        cmd = req.get("command")
        if cmd == "reload":
            return await self.reload()
        if cmd == "ping":
            return {"ok": True}
        if cmd == "stats":
            r = self.resolver
            return {"ok": True, "uptime": time.time() - self.started, **r.stats, "hot_entries": len(r.hot),
                    "cache_entries": len(r.cache), "log_dropped": self.querylog.dropped,
                    "log_written": self.querylog.written, "index_entries": len(r.state.rules.index),
                    "upstreams": {str(u): round(h.score, 4) for u, h in r.upstreams.health.items()},
                    "last_reload": self.last_reload}
        return {"ok": False, "error": f"unknown command {cmd!r} (known: reload, ping, stats)"}

    # --- running ----------------------------------------------------------------------------------------------

    async def run(self, ready: asyncio.Event | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        self.scheduler = None
        config = configmod.load(self.config_path)
        dbfile = db.db_path(config.data_dir)
        self.overrides = OverrideStore(dbfile)
        self.querylog = QueryLog(dbfile, enabled=config.query_log.enabled)
        t0 = time.monotonic()
        state = await self._build_state(config)
        log.info("lists ready: %d entries in %.2f s", len(state.rules.index), time.monotonic() - t0)
        self.resolver = Resolver(state, Upstreams(config.dns), self.querylog, self.neighbours)
        opened = await listener.start(self.resolver, config.dns.listen)
        ctl = await control.serve(config.data_dir, self._control)
        tasks = [asyncio.create_task(self.querylog.run()), asyncio.create_task(self._watch_overrides())]
        self._start_jobs(config)
        for sig, action in ((signal.SIGHUP, lambda: asyncio.ensure_future(self.reload())),
                            (signal.SIGTERM, self._stop.set), (signal.SIGINT, self._stop.set)):
            try:
                self._loop.add_signal_handler(sig, action)
            except (NotImplementedError, RuntimeError, ValueError):
                pass     # not the main thread (tests): the control socket still works
        if ready is not None:
            ready.set()
        try:
            await self._stop.wait()
        finally:
            log.info("stopping")
            if self.scheduler is not None:
                self.scheduler.shutdown(wait=False)
            for t in tasks:
                t.cancel()
            for o in opened:
                o.close()
            ctl.close()
            await self.querylog.flush()
            self.querylog.close()
            self.resolver.upstreams.close()
            self.overrides.close()
            control.socket_path(config.data_dir).unlink(missing_ok=True)

    def stop(self) -> None:
        self._stop.set()

    def _schedule_list_updates(self, config: Config) -> None:
        if any(s.url for s in config.lists.sources):
            sources.schedule_updates(self.scheduler, config, self._lists_changed)
        elif self.scheduler.get_job(sources.JOB_ID) is not None:
            self.scheduler.remove_job(sources.JOB_ID)     # the parent removed the last list URL

    def _start_jobs(self, config: Config) -> None:
        """Periodic work only: list downloads and log pruning. Policy never depends on a job having run."""
        from apscheduler.schedulers.asyncio import AsyncIOScheduler
        self.scheduler = AsyncIOScheduler(timezone=config.tz)
        self._schedule_list_updates(config)
        self.scheduler.add_job(lambda: self.querylog.prune(self.resolver.state.config.query_log.keep_days), "cron",
                               hour=3, minute=30,
                               id="prune-log", name="prune the query log", coalesce=True, max_instances=1)
        self.scheduler.add_job(lambda: self.overrides.prune_expired(datetime.now(config.tz)), "interval", hours=1,
                               id="prune-overrides", name="prune expired overrides", coalesce=True, max_instances=1)
        self.scheduler.start()


def run(config_path: str) -> None:
    try:
        import uvloop      # libuv's loop: about a third less CPU per query, and wheels for the Pi
        uvloop.install()
    except ImportError:
        pass
    asyncio.run(Daemon(config_path).run())
