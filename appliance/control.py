"""The daemon's control socket: a Unix socket in the data directory, one JSON request and reply per connection.

The admin and the CLI use it to ask for a reload after they change the config or an override; it needs no port
and only local users with access to the data directory can reach it.
"""
from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Awaitable, Callable

SOCKET_NAME = "control.sock"
MAX_REQUEST = 64 * 1024     # a request is a short JSON line; anything longer is refused, not buffered
Handler = Callable[[dict], Awaitable[dict]]


def socket_path(data_dir: str | Path) -> Path:
    return Path(data_dir) / SOCKET_NAME


async def serve(data_dir: str | Path, handler: Handler) -> "asyncio.AbstractServer":
    import asyncio      # here, not at the top: a CLI command only sends a request, and asyncio costs it 30 ms
    path = socket_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()     # left by a previous run that did not stop cleanly

    async def on_connect(reader: "asyncio.StreamReader", writer: "asyncio.StreamWriter") -> None:
        try:
            try:
                line = await asyncio.wait_for(reader.readline(), 5)
                request = json.loads(line or b"{}")
                reply = await handler(request if isinstance(request, dict) else {})
            except (asyncio.LimitOverrunError, asyncio.IncompleteReadError) as e:
                reply = {"ok": False, "error": f"bad request: longer than {MAX_REQUEST} bytes" if isinstance(
                    e, asyncio.LimitOverrunError) else "bad request: cut short"}
            except (ValueError, TypeError) as e:      # readline's "Separator is not found" is a ValueError too
                reply = {"ok": False, "error": f"bad request: {str(e)[:200]}"}
            writer.write(json.dumps(reply).encode() + b"\n")
            await writer.drain()
        except (asyncio.TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_unix_server(on_connect, path=str(path), limit=MAX_REQUEST)
    os.chmod(path, 0o660)
    return server


def request(data_dir: str | Path, command: str, timeout: float = 30.0, **args) -> dict:
    """Ask the running daemon; raises OSError when none is listening."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(socket_path(data_dir)))
        s.sendall(json.dumps({"command": command, **args}).encode() + b"\n")
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    return json.loads(buf or b"{}")
