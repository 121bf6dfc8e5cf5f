"""Fixtures for the list tests: a small blocklists tree, configs pointing at tmp dirs, a real HTTP list host."""
from __future__ import annotations

import threading
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable

import pytest

from appliance.config import Config, ListsConfig, ListSource


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def blocklists(tmp_path: Path) -> Path:
    root = tmp_path / "blocklists"
    write(root / "categories/random-chat/category.yaml",
          "title: Random video chat\ntitle_fr: Chat vidéo aléatoire\ndescription: Strangers on camera.\n"
          "description_fr: Des inconnus en vidéo.\nmaintainer_note: Omegle clones.\n")
    write(root / "categories/random-chat/domains.txt",
          "# comment\nomegle.com            # source: wikipedia\nome.tv # source: x\n")
    write(root / "categories/dating/category.yaml", "title: Dating\ndescription: Dating sites.\n")
    write(root / "categories/dating/domains.txt", "match.com\n")
    write(root / "apps/tinder.yaml",
          "name: tinder\ntitle: Tinder\ncategory: dating\ndescription: Dating app.\n"
          "domains:\n  - tinder.com\n  - gotinder.com\nnotes: Works over mobile data too.\n"
          "provenance:\n  - 'gotinder.com: API host'\n")
    write(root / "never-block.txt", "connectivitycheck.gstatic.com\ntime.apple.com\n")
    return root


@pytest.fixture
def make_config(tmp_path: Path, blocklists: Path) -> Callable[..., Config]:
    def make(*sources: ListSource, **lists) -> Config:
        lists.setdefault("timeout", 2.0)
        return Config(data_dir=tmp_path / "data", blocklists_dir=blocklists,
                      lists=ListsConfig(sources=tuple(sources), **lists))
    return make


class ListHost(ThreadingHTTPServer):
    """A list host on 127.0.0.1:<ephemeral>; ``routes[path] = fn(handler)`` sets what a path does."""

    daemon_threads = True

    def __init__(self):
        self.routes: dict[str, Callable[[BaseHTTPRequestHandler], None]] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        super().__init__(("127.0.0.1", 0), _Handler)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.server.requests.append((self.path, dict(self.headers)))
        route = self.server.routes.get(self.path)
        if route is None:
            self.send_error(404)
            return
        try:
            route(self)
        except (BrokenPipeError, ConnectionResetError):
            pass                      # the client gave up on a slow route: that is the point of the test

    def log_message(self, *args):
        pass


@pytest.fixture
def host():
    server = ListHost()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def send(handler: BaseHTTPRequestHandler, body: bytes, status: int = 200, headers: dict | None = None,
         length: int | None = None) -> None:
    handler.send_response(status)
    headers = {"Content-Type": "text/plain", **(headers or {})}
    for k, v in headers.items():
        handler.send_header(k, v)
    handler.send_header("Content-Length", str(len(body) if length is None else length))
    handler.send_header("Connection", "close")
    handler.end_headers()
    handler.wfile.write(body)
    handler.wfile.flush()
    handler.close_connection = True


def domains_text(n: int, prefix: str = "d") -> bytes:
    return "".join(f"{prefix}{i}.example.com\n" for i in range(n)).encode()


__all__ = ["write", "send", "domains_text", "replace"]
