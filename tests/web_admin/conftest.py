"""Fixtures after flaskr's: ``app`` on a real config file and a real SQLite data dir in tmp_path, ``client``
(a parent's laptop on 127.0.0.1) and ``auth`` (first-run setup, login, CSRF tokens read from the pages)."""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
import yaml

PASSWORD = "correct horse battery"


def _missing(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is None
    except ModuleNotFoundError:
        return True


# The services the admin reads from, landing on main from their own branches: until then, their screens wait.
NEEDS_REPORTS = pytest.mark.skipif(_missing("appliance.state.reports"),
                                   reason="the log reader (appliance/state/reports.py) has not landed yet")
NEEDS_ALERTS = pytest.mark.skipif(_missing("appliance.state.alerts") or _missing("appliance.notify"),
                                  reason="the alert store and notifier have not landed yet")
ARP_HEADER = "IP address       HW type     Flags       HW address            Mask     Device\n"


def arp_row(ip: str, mac: str) -> str:
    return f"{ip:<16} 0x1         0x2         {mac}     *        eth0\n"


def base_config(tmp_path: Path) -> dict:
    return {
        "timezone": "Europe/Paris",
        "data_dir": str(tmp_path / "var"),
        "dns": {"listen": ["127.0.0.1:5399"]},
        "admin": {"listen": "127.0.0.1:8099", "parents": ["dad-phone"]},
        "devices": [{"name": "emma-phone", "ip": "127.0.0.5"},
                    {"name": "leo-tablet", "mac": "aa:bb:cc:00:00:02"},
                    {"name": "dad-phone", "ip": "127.0.0.9"}, {"name": "mum-laptop", "ip": "127.0.0.10"}],
        "profiles": {"emma": {"devices": ["emma-phone"], "block": ["random-chat"],
                              "schedules": [{"name": "bedtime", "days": "daily", "from": "21:00", "to": "07:00",
                                             "block": "everything"}]},
                     "leo": {"devices": ["leo-tablet", "dad-phone"], "block": ["random-chat", "adult"]},
                     "parents": {"devices": ["mum-laptop"], "filtering": False}},
    }


@pytest.fixture
def config_path(tmp_path) -> Path:
    path = tmp_path / "hearth.yaml"
    path.write_text("# the family's rules\n" + yaml.safe_dump(base_config(tmp_path), sort_keys=False))
    return path


@pytest.fixture
def arp_path(tmp_path) -> Path:
    path = tmp_path / "arp"
    path.write_text(ARP_HEADER + arp_row("127.0.0.7", "aa:bb:cc:00:00:02"))
    return path


@pytest.fixture
def app(config_path, arp_path):
    from web_admin import create_app
    return create_app(config_path, test_config={"TESTING": True, "ARP_PATH": str(arp_path)})


@pytest.fixture
def client(app):
    return app.test_client()


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "the page has no CSRF token"
    return m.group(1)


class Auth:
    def __init__(self, client):
        self.client = client

    def token(self, path: str = "/login") -> str:
        return csrf_of(self.client.get(path).get_data(as_text=True))

    def setup(self, password: str = PASSWORD, timezone: str = "Europe/Paris"):
        return self.client.post("/setup", data={"csrf_token": self.token("/setup"), "password": password,
                                                "password2": password, "timezone": timezone})

    def login(self, password: str = PASSWORD):
        return self.client.post("/login", data={"csrf_token": self.token("/login"), "password": password})

    def post(self, path: str, data: dict | None = None, page: str | None = None, **kw):
        """A form post with the CSRF token of ``page`` (default: the settings page, always there)."""
        token = csrf_of(self.client.get(page or "/settings/").get_data(as_text=True))
        return self.client.post(path, data={"csrf_token": token, **(data or {})}, **kw)


@pytest.fixture
def auth(client) -> Auth:
    return Auth(client)


@pytest.fixture
def parent(auth) -> Auth:
    """Set up and logged in."""
    r = auth.setup()
    assert r.status_code == 302, r.get_data(as_text=True)
    return auth
