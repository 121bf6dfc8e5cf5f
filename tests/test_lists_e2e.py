"""A parent's list URL end to end: served on loopback, fetched by `hearth lists update`, swapped into the running
daemon without dropping a query, and a bad download that leaves the last good list answering."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dns.message
import dns.query
import pytest

from tests.support.hearth_proc import HearthServer
from tests.support.stub_upstream import StubUpstream


class ListServer:
    def __init__(self):
        self.body = b""
        self.content_type = "text/plain"
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", outer.content_type)
                self.send_header("Content-Length", str(len(outer.body)))
                self.end_headers()
                self.wfile.write(outer.body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/list.txt"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()


@pytest.fixture
def lists_server():
    s = ListServer()
    yield s
    s.stop()


def a(h, name):
    r = dns.query.udp(dns.message.make_query(name, "A"), "127.0.0.1", port=h.port, timeout=3)
    return [rd.to_text() for rrset in r.answer for rd in rrset if rrset.rdtype == 1]


def cli(h, *args):
    env = dict(os.environ, HEARTH_CONFIG=str(h.config_path))
    return subprocess.run([sys.executable, "-m", "appliance.cli", *args], capture_output=True, text=True, env=env,
                          timeout=120)


def test_list_update_reaches_the_running_daemon_and_a_bad_download_changes_nothing(tmp_path, lists_server):
    names = [f"bad{i}.example" for i in range(200)]
    zone = {n: [("A", "192.0.2.9")] for n in names + ["fine.example"]}
    with StubUpstream(zone) as up:
        h = HearthServer(tmp_path, {
            "dns": {"upstreams": [up.address], "rate_limit": {"queries": 0}},   # the hammer below is one client
            "default_profile": {"block": ["parents-extra"]},
            "lists": {"sources": [{"name": "extra", "url": lists_server.url, "category": "parents-extra"}]},
        }).start()
        try:
            assert a(h, "bad7.example") == ["192.0.2.9"]          # nothing downloaded yet
            lists_server.body = ("# my list\n" + "\n".join(f"||{n}^" for n in names) + "\n").encode()

            # Queries keep flowing while the update and the reload run.
            answered, stop = [], threading.Event()

            def hammer():
                while not stop.is_set():
                    answered.append(a(h, "fine.example"))
            t = threading.Thread(target=hammer)
            t.start()
            r = cli(h, "lists", "update")
            stop.set()
            t.join()
            assert r.returncode == 0, r.stdout + r.stderr
            assert "extra" in r.stdout and "200" in r.stdout
            assert answered and all(x == ["192.0.2.9"] for x in answered)
            assert a(h, "bad7.example") == ["0.0.0.0"]

            # An HTML error page instead of a list: rejected, the last good list still blocks.
            lists_server.body, lists_server.content_type = b"<html><body>503</body></html>", "text/html"
            r = cli(h, "lists", "update")
            assert r.returncode == 1 and "kept last good copy" in r.stdout
            h.reload()
            assert a(h, "bad7.example") == ["0.0.0.0"]
            status = cli(h, "lists", "status").stdout
            assert "extra" in status and "HTML" in status
        finally:
            h.stop()
