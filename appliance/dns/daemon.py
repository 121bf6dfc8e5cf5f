"""`hearth dns`: the DNS process. Loads the config, compiles the lists off the event loop, listens, and keeps
running through bad reloads, full disks and dead upstreams.

Reload (SIGHUP or the control socket) reads the file and builds the new lists in a worker thread, then the policy
engine swaps the new snapshot in with one assignment: a bad config file or a list that fails to compile leaves the
old snapshot answering, and the reply says why.
"""
from __future__ import annotations

import asyncio
import gc
import logging
import signal
import sqlite3
import time
from datetime import datetime

from appliance import config as configmod
from appliance import control, metrics, notify
from appliance.config import Config, ConfigError
from appliance.dns import listener
from appliance.dns.server import Resolver
from appliance.dns.upstream import Upstreams
from appliance.lists import sources
from appliance.policy.clients import NeighbourTable
from appliance.policy.engine import Engine, build_rules
from appliance.state import alerts, budgets, db, migrate
from appliance.state import watch as watchmod
from appliance.state.overrides import OverrideStore
from appliance.state.querylog import QueryLog
from appliance.stream import Stream

log = logging.getLogger("hearth.dns")

OVERRIDE_REFRESH = 60.0    # seconds: re-read overrides anyway, dropping expired ones (and a new day's budgets)
FOLLOW_UP = 1.0            # seconds: after a write was heard, look once more (a commit caught half-written)
DB_RETRY = 30.0            # seconds between tries to open a database that could not be opened (full disk)


def _upstream_settings(config: Config) -> tuple:
    """What the upstream connections are built from: a change in any of these rebuilds them."""
    d = config.dns
    return d.upstreams, d.upstream_timeout, d.tls_ca_file


class Daemon:
    def __init__(self, config_path: str, *, neighbours: NeighbourTable | None = None):
        self.config_path = config_path
        self.neighbours = neighbours
        self.engine: Engine | None = None
        self.resolver: Resolver | None = None
        self.overrides: OverrideStore | None = None
        self.querylog: QueryLog | None = None
        self.stream = Stream()
        self.started = time.time()
        self.last_reload: dict = {}
        self.degraded: str | None = None      # why live overrides are off (the database cannot be opened)
        self._stop = asyncio.Event()
        self._reload_lock = asyncio.Lock()
        self._background: set[asyncio.Task] = set()     # kept referenced until done (asyncio keeps weak refs)
        self.watch: watchmod.DbWatch | watchmod.Poll | None = None     # hears the database written

    # --- state ------------------------------------------------------------------------------------------------

    def _read_and_build(self):
        """In a worker thread: the file (its YAML may be hostile: never on the event loop) and its lists."""
        config = configmod.load(self.config_path)
        return config, build_rules(config, child=True)

    async def reload(self) -> dict:
        """Re-read the config and lists; on any error keep what runs and say why."""
        async with self._reload_lock:
            loop = asyncio.get_running_loop()
            try:
                config, rules = await loop.run_in_executor(None, self._read_and_build)
            except ConfigError as e:
                log.error("reload refused, keeping the running config: %s", "; ".join(e.errors))
                self.last_reload = {"ok": False, "errors": e.errors, "at": time.time()}
                return self.last_reload
            except Exception as e:
                log.exception("reload refused, keeping the running lists")
                self.last_reload = {"ok": False, "errors": [f"lists: {e}"], "at": time.time()}
                return self.last_reload
            old = self.engine.snapshot.config
            self.engine.reload(config, rules=rules)
            self._keep_running_copy(config)
            self.querylog.configure(config)
            notes = [rules.index.stale] if rules.index.stale else []     # a compile that failed: lists kept
            if config.dns.listen != old.dns.listen or config.data_dir != old.data_dir:
                notes.append("listen addresses and data_dir take effect at the next restart")
            if _upstream_settings(config) != _upstream_settings(old):
                self.resolver.upstreams.close()
                self.resolver.upstreams = Upstreams(config.dns)
            if config.lists != old.lists and self.scheduler is not None:
                self._schedule_list_updates(config)
            log.info("reloaded %s", self.config_path)
            self.last_reload = {"ok": True, "notes": notes, "at": time.time()}
            return self.last_reload

    @staticmethod
    def _keep_running_copy(config: Config) -> None:
        try:
            configmod.write_running_copy(config)
        except OSError as e:     # a full disk must not stop DNS; live commands then need a valid file
            log.warning("could not keep a copy of the running config: %s", e)

    def _spawn(self, coro) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _lists_changed(self) -> None:
        """From the scheduler's worker thread: a list download changed something."""
        self._loop.call_soon_threadsafe(lambda: self._spawn(self.reload()))

    @staticmethod
    def _upgrade(dbfile) -> None:
        """Bring hearth.db to the schema this code writes; a refusal (full disk, a newer Hearth's file) is left
        to the stores to report, and DNS starts anyway."""
        try:
            new = not dbfile.exists()
            conn = db.connect(dbfile)
            try:
                before = migrate.upgrade(conn)
                if new:
                    log.info("database %s created (schema %d)", dbfile, migrate.LATEST)
                elif before != migrate.LATEST:
                    log.info("database %s upgraded from schema %d to %d", dbfile, before, migrate.LATEST)
            finally:
                conn.close()
        except (sqlite3.Error, OSError, migrate.SchemaError) as e:
            log.error("cannot upgrade %s: %s", dbfile, e)

    def _open_overrides(self, dbfile) -> OverrideStore | None:
        """The overrides table, or None (and loudly why) when the disk or the file refuses: DNS must run
        without its database rather than not at all."""
        try:
            store = OverrideStore(dbfile)
        except (sqlite3.Error, OSError) as e:
            reason = "the disk is full" if "full" in str(e) else str(e)
            if self.degraded != reason:
                log.error("cannot open %s (%s): DNS keeps answering, but pauses and timed allows cannot be read "
                          "and the query log is not written until it can; free some space on the disk", dbfile,
                          reason)
            self.degraded = reason
            return None
        if self.degraded is not None:
            log.warning("%s opened again: pauses, allows and the query log are back", dbfile)
        self.degraded = None
        return store

    @staticmethod
    def _open_budgets(dbfile) -> budgets.BudgetStore | None:
        """The budget tables, or None when the file refuses: DNS runs on, no budget is then blocked."""
        try:
            return budgets.BudgetStore(dbfile)
        except (sqlite3.Error, OSError, migrate.SchemaError) as e:
            log.error("cannot open the time budgets in %s (%s): no budget blocks until it opens", dbfile, e)
            return None

    async def _watch_overrides(self) -> None:
        """Take in what a parent changed (a pause, an allow, a grant) as soon as it is written: the kernel says
        when the database is written (state/watch.py), so an idle daemon does not wake to ask. Every
        OVERRIDE_REFRESH the table is read whole anyway."""
        dbfile = db.db_path(self.engine.snapshot.config.data_dir)
        self.watch = watch = watchmod.DbWatch.open(dbfile)
        last_full = time.monotonic()
        follow_up = False
        try:
            while True:
                if self.overrides is None:
                    await asyncio.sleep(DB_RETRY)
                    self.overrides = self._open_overrides(dbfile)
                    if self.overrides is None:
                        continue
                    self.engine.store = self.overrides
                    last_full = 0.0         # read them now
                else:
                    wait = FOLLOW_UP if follow_up else max(0.0, OVERRIDE_REFRESH - (time.monotonic() - last_full))
                    follow_up = await watch.wait(wait) and watch.notifies
                force = time.monotonic() - last_full >= OVERRIDE_REFRESH
                if force:
                    last_full = time.monotonic()
                self.refresh_overrides(force=force)
        finally:
            watch.close()

    def refresh_overrides(self, *, force: bool = False) -> None:
        try:
            self.engine.refresh_overrides(force=force)
        except Exception:       # a locked or damaged db must not stop DNS: the next write or minute tries again
            log.exception("reading overrides failed")

    # --- control ----------------------------------------------------------------------------------------------

    async def _control(self, req: dict) -> dict:
        cmd = req.get("command")
        if cmd == "reload":
            return await self.reload()
        if cmd == "ping":
            return {"ok": True}
        if cmd == "overrides":      # the CLI wrote one: in force when it prints its message, not a moment later
            self.refresh_overrides()
            return {"ok": True}
        if cmd == "stats":
            return self.stats()
        return {"ok": False, "error": f"unknown command {cmd!r} (known: reload, ping, overrides, stats)"}

    def stats(self) -> dict:
        """Plain reads, no awaiting: the control socket and the metrics endpoint's thread both call it."""
        r = self.resolver
        return {"ok": True, "uptime": time.time() - self.started, **r.stats, "hot_entries": len(r.hot),
                "cache_entries": len(r.cache), "log_dropped": self.querylog.dropped,
                "log_written": self.querylog.written, "log": self.querylog.status(),
                "index_entries": len(r.state.rules.index), "index_stale": r.state.rules.index.stale,
                "upstreams": {str(u): {"state": h.state, "score": round(h.score, 4),
                                       "latency_ms": round(h.latency * 1000, 1)}
                              for u, h in r.upstreams.health.items()},
                "generation": r.state.generation, "last_reload": self.last_reload, "degraded": self.degraded,
                "upstream_errors": {str(u): h.errors for u, h in r.upstreams.health.items()},
                "log_queue": self.querylog.depth,
                "alerts_raised": self.alerts.raised, "alerts_dropped": self.alerts.dropped,
                "budget_minutes": self.budgets.counted, "budget_dropped": self.budgets.dropped}

    # --- running ----------------------------------------------------------------------------------------------

    async def run(self, ready: asyncio.Event | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        self.scheduler = None
        config = configmod.load(self.config_path)
        dbfile = db.db_path(config.data_dir)
        # The schema first (a big log's migration takes seconds on a Pi: off the loop, before DNS starts).
        await self._loop.run_in_executor(None, self._upgrade, dbfile)
        self.overrides = self._open_overrides(dbfile)
        self.querylog = QueryLog(db.log_path(config), enabled=config.query_log.enabled)
        self.querylog.configure(config)
        self.stream.add(self.querylog)
        t0 = time.monotonic()
        self.budget_store = self._open_budgets(dbfile)
        self.engine = await self._loop.run_in_executor(
            None, lambda: Engine.build(config, overrides=self.overrides, budgets=self.budget_store, child=True))
        log.info("lists ready: %d entries in %.2f s", len(self.engine.snapshot.rules.index), time.monotonic() - t0)
        self._keep_running_copy(config)
        self.alerts = alerts.follow(alerts.AlertSink(config, dbfile), self.engine)    # the second sink
        self.stream.add(self.alerts)
        self.budgets = budgets.follow(budgets.BudgetSink(config, dbfile), self.engine)     # the third sink
        self.stream.add(self.budgets)
        self.notifier = notify.follow(notify.Notifier(config, dbfile), self.engine)
        self.resolver = Resolver(self.engine, Upstreams(config.dns), self.stream, self.neighbours)
        self.metrics = metrics.serve(config, self.stats, sink=self.alerts, notifier=self.notifier)
        opened = await listener.start(self.resolver, config.dns.listen)
        ctl = await control.serve(config.data_dir, self._control)
        tasks = [asyncio.create_task(self.querylog.run()), asyncio.create_task(self._watch_overrides()),
                 asyncio.create_task(self.alerts.run()), asyncio.create_task(self.budgets.run())]
        self._start_jobs(config)
        # A young-generation collection every 10,000 new objects, not 700: a burst of cache misses paid 9-11 µs per
        # miss in collections, 2 µs with this (bench-like run in process), each pause under 2 ms.
        gc.set_threshold(10_000, 10, 10)
        for sig, action in ((signal.SIGHUP, lambda: self._spawn(self.reload())),
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
            # Let them end (the database watch closes its inotify descriptor in its finally) before the last flushes.
            await asyncio.gather(*tasks, return_exceptions=True)
            for o in opened:
                o.close()
            ctl.close()
            self.resolver.upstreams.close()     # cancels exchanges still running, before the last flush
            await self.querylog.flush()
            self.querylog.close()
            await self.alerts.flush(final=True)
            self.alerts.close()
            await self.budgets.flush(final=True)
            self.budgets.close()
            if self.budget_store is not None:
                self.budget_store.close()
            self.notifier.close()
            if self.metrics is not None:
                self.metrics.stop()
            if self.overrides is not None:
                self.overrides.close()
            control.socket_path(config.data_dir).unlink(missing_ok=True)

    def stop(self) -> None:
        self._stop.set()

    def _prune_overrides(self) -> None:
        if self.overrides is not None:
            self.overrides.prune_expired(datetime.now(self.engine.snapshot.tz))

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
        self.querylog.schedule(self.scheduler)          # the nightly prune, in chunks that never stall the writer
        self.scheduler.add_job(self._prune_overrides, "interval", hours=1,
                               id="prune-overrides", name="prune expired overrides", coalesce=True, max_instances=1)
        notify.schedule(self.scheduler, self.notifier, self.alerts)     # sends each minute, prunes nightly
        self.scheduler.add_job(self.budgets.prune, "cron", hour=3, minute=50, id="prune-budgets",
                               name="prune old budget minutes", coalesce=True, max_instances=1)
        self.scheduler.start()


def run(config_path: str) -> None:
    try:
        import uvloop      # libuv's loop: about a third less CPU per query, and wheels for the Pi
        uvloop.install()
    except ImportError:
        pass
    asyncio.run(Daemon(config_path).run())
