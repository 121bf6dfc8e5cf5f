"""Run a real Hearth DNS daemon on loopback for a test: its own event loop in a thread, a config file in
tmp_path, an ephemeral port, and a fake neighbour table file."""
from __future__ import annotations

import asyncio
import socket
import threading
from pathlib import Path

import yaml

from appliance.dns.daemon import Daemon
from appliance.policy.clients import NeighbourTable


def free_port(host: str = "127.0.0.1") -> int:
    """A port free for both UDP and TCP on host."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(50):
        with socket.socket(family, socket.SOCK_DGRAM) as u:
            u.bind((host, 0))
            port = u.getsockname()[1]
            with socket.socket(family, socket.SOCK_STREAM) as t:
                try:
                    t.bind((host, port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port")


class HearthServer:
    def __init__(self, tmp_path: Path, config: dict, arp: str = "", listen_hosts=("127.0.0.1",)):
        self.tmp = tmp_path
        self.port = free_port(listen_hosts[0])
        self.config = {"timezone": "UTC", "data_dir": str(tmp_path / "var"), **config}
        dns = dict(self.config.get("dns") or {})
        dns.setdefault("listen", [f"[{h}]:{self.port}" if ":" in h else f"{h}:{self.port}" for h in listen_hosts])
        self.config["dns"] = dns
        self.config_path = tmp_path / "hearth.yaml"
        self.arp_path = tmp_path / "arp"
        self.write_arp(arp)
        self.write_config(self.config)
        self.daemon = Daemon(str(self.config_path), neighbours=NeighbourTable(str(self.arp_path), ipv6=False))
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def write_config(self, config: dict) -> None:
        self.config_path.write_text(yaml.safe_dump(config))

    def write_arp(self, rows: str) -> None:
        self.arp_path.write_text("IP address       HW type     Flags       HW address            Mask     Device\n"
                                 + rows)

    def start(self) -> HearthServer:
        ready = threading.Event()

        def run():
            self.loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self.loop)
            started = asyncio.Event()

            async def main():
                task = asyncio.ensure_future(self.daemon.run(started))
                waiter = asyncio.ensure_future(started.wait())
                await asyncio.wait([task, waiter], return_when=asyncio.FIRST_COMPLETED)
                ready.set()
                await task

            try:
                self.loop.run_until_complete(main())
            except BaseException as e:      # surface start-up failures in the test, not a hang
                self.error = e
                ready.set()
            finally:
                self.loop.close()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        if not ready.wait(60):
            raise RuntimeError("hearth did not start within 60 s")
        if self.error:
            raise self.error
        return self

    def call(self, coro_fn):
        """Run a coroutine function on the daemon's loop and wait for it."""
        return asyncio.run_coroutine_threadsafe(coro_fn(), self.loop).result(30)

    def reload(self) -> dict:
        return self.call(self.daemon.reload)

    def flush_log(self) -> None:
        self.call(self.daemon.querylog.flush)

    def stop(self) -> None:
        if self.loop and self.thread and self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.daemon.stop)
            self.thread.join(15)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
