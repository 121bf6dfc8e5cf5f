"""Alert tests: real config files, a real SQLite file, a fixed clock, and real local receivers (SMTP, HTTP)."""
from __future__ import annotations

import http.server
import json
import threading
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import yaml

from appliance import config as configmod
from appliance.model import Action, Client, Decision, Reason
from appliance.state.querylog import Entry

TZ = ZoneInfo("Europe/Paris")


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, when: str):
        self.t = local(when)

    def __call__(self) -> float:
        return self.t

    def set(self, when: str) -> None:
        self.t = local(when)

    def advance(self, seconds: float) -> None:
        self.t += seconds


def local(when: str) -> float:
    """'2026-12-01 23:04:05' on Paris's clock, as unix time."""
    return datetime.fromisoformat(when).replace(tzinfo=TZ).timestamp()


BASE = {
    "timezone": "Europe/Paris",
    "devices": [{"name": "emma-phone", "mac": "aa:bb:cc:00:00:01"}, {"name": "leo-tablet", "mac": "aa:bb:cc:00:00:02"}],
    "profiles": {
        "emma": {"devices": ["emma-phone"], "block": ["random-chat", "dating", "adult"], "block_apps": ["tiktok"],
                 "schedules": [{"name": "bedtime", "days": "mon-sun", "from": "22:00", "to": "07:00",
                                "block": "everything"}]},
        "leo": {"devices": ["leo-tablet"], "block": ["adult", "random-chat"]},
    },
}


@pytest.fixture
def make_config(tmp_path):
    def make(alerts: dict | None = None, **extra):
        data = {**BASE, "data_dir": str(tmp_path / "var"), **extra}
        if alerts is not None:
            data["alerts"] = alerts
        path = tmp_path / "hearth.yaml"
        path.write_text(yaml.safe_dump(data))
        return configmod.load(path)
    return make


@pytest.fixture
def db_path(tmp_path):
    (tmp_path / "var").mkdir(exist_ok=True)
    return tmp_path / "var" / "hearth.db"


EMMA = Client("192.168.1.10", "aa:bb:cc:00:00:01", "emma-phone", "emma")
LEO = Client("192.168.1.11", "aa:bb:cc:00:00:02", "leo-tablet", "leo")


def blocked(profile: str, lst: str | None, rule: str, reason: Reason = Reason.CATEGORY, **kw) -> Decision:
    return Decision(Action.BLOCK, reason, profile, list=lst, rule=rule, **kw)


def entry(ts: float, client: Client, qname: str, decision: Decision, **kw) -> Entry:
    fields = dict(rcode=0, cached=False, upstream=None, ms=0.2, count=1)
    fields.update(kw)
    return Entry(ts, client, qname, 1, decision, fields["rcode"], fields["cached"], fields["upstream"],
                 fields["ms"], fields["count"])


class Receiver:
    """An HTTP endpoint on loopback that fails the first ``failures`` POSTs with 500, then accepts."""

    def __init__(self, failures: int = 0, port: int = 0):
        self.failures = failures
        self.requests: list[dict] = []
        self.accepted: list[dict] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    doc = json.loads(body)
                except ValueError:
                    doc = {"raw": body.decode(errors="replace")}
                receiver.requests.append(doc)
                if len(receiver.requests) <= receiver.failures:
                    self.send_response(500)
                    self.end_headers()
                    return
                receiver.accepted.append(doc)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.port}/hook"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r
