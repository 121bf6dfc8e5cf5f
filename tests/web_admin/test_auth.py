"""Who gets in: first-run setup once, login with a rate limit, CSRF on every write, sessions that "log out
everywhere" ends, child devices refused, bearer tokens for the API. Real app, real SQLite file, real config."""
from __future__ import annotations

import sqlite3

import pytest

from appliance.state.admin import MAX_FAILURES, AdminStore, store_path

from .conftest import PASSWORD, csrf_of

CHILD_IP = "127.0.0.5"


def test_first_visit_goes_to_setup_and_nothing_else_is_reachable(client):
    assert client.get("/").headers["Location"].endswith("/setup")
    assert client.get("/children/").headers["Location"].endswith("/setup")
    assert client.get("/login").headers["Location"].endswith("/setup")
    r = client.get("/api/v1/children")
    assert r.status_code == 503 and "not set up" in r.get_json()["error"]


def test_setup_sets_password_and_timezone_once(auth, client, config_path, app):
    r = auth.setup(timezone="America/New_York")
    assert r.status_code == 302
    assert "timezone: America/New_York" in config_path.read_text()
    assert "# the family's rules" in config_path.read_text()      # the parent's comments survive
    assert client.get("/children/").status_code == 200
    # once: a second setup is refused and the password stays
    other = client.application.test_client()
    r = other.get("/setup")
    assert r.status_code == 302 and r.headers["Location"].endswith("/login")
    r = other.post("/setup", data={"csrf_token": csrf_of(other.get("/login").get_data(as_text=True)),
                                   "password": "another password", "password2": "another password",
                                   "timezone": "UTC"})
    assert r.status_code == 302
    store = AdminStore.in_dir(app.extensions["hearth_config"].config.data_dir)
    assert store.check_password(PASSWORD) and not store.check_password("another password")


@pytest.mark.parametrize("password, again, zone, field", [
    ("short", "short", "Europe/Paris", "at least 8 characters"),
    ("long enough 1", "long enough 2", "Europe/Paris", "The two passwords differ"),
    ("long enough 1", "long enough 1", "Mars/Olympus", "Choose a time zone"),
])
def test_setup_bad_input_shown_again_and_nothing_saved(auth, client, app, config_path, password, again, zone, field):
    before = config_path.read_text()
    r = client.post("/setup", data={"csrf_token": auth.token("/setup"), "password": password, "password2": again,
                                    "timezone": zone})
    assert r.status_code == 400
    assert field in r.get_data(as_text=True)
    assert 'aria-invalid="true"' in r.get_data(as_text=True)
    assert config_path.read_text() == before
    assert client.get("/").headers["Location"].endswith("/setup")


def test_login_logout(parent, client):
    client.post("/logout", data={"csrf_token": parent.token("/settings/")})
    assert client.get("/").headers["Location"].startswith("/login")
    r = parent.login("wrong password")
    assert r.status_code == 401 and "not right" in r.get_data(as_text=True)
    r = parent.login()
    assert r.status_code == 302 and client.get("/children/").status_code == 200


def test_login_keeps_where_you_were_going_but_never_leaves_the_site(parent, client):
    client.post("/logout", data={"csrf_token": parent.token("/settings/")})
    r = client.get("/devices/")
    assert "next=/devices/" in r.headers["Location"]
    for target, expected in (("/devices/", "/devices/"), ("//evil.example/", "/"), ("https://evil.example", "/")):
        r = client.post("/login", data={"csrf_token": parent.token(), "password": PASSWORD, "next": target})
        assert r.headers["Location"] == expected
        client.post("/logout", data={"csrf_token": parent.token("/settings/")})


def test_login_rate_limit_per_client(parent, client, app):
    client.post("/logout", data={"csrf_token": parent.token("/settings/")})
    for _ in range(MAX_FAILURES):
        assert parent.login("wrong password").status_code == 401
    r = parent.login()            # even the right password waits
    assert r.status_code == 429
    assert "Too many wrong passwords" in r.get_data(as_text=True) and "minutes" in r.get_data(as_text=True)
    # another device is not locked out
    other = app.test_client()
    token = csrf_of(other.get("/login", environ_base={"REMOTE_ADDR": "127.0.0.20"}).get_data(as_text=True))
    r = other.post("/login", data={"csrf_token": token, "password": PASSWORD},
                   environ_base={"REMOTE_ADDR": "127.0.0.20"})
    assert r.status_code == 302


def test_rate_limit_window_ages_out(tmp_path):
    now = [1000.0]
    store = AdminStore(tmp_path / "h.db", clock=lambda: now[0])
    for _ in range(MAX_FAILURES):
        store.login_failed("10.0.0.1")
    assert store.retry_after("10.0.0.1") == 15 * 60
    now[0] += 15 * 60 - 10
    assert store.retry_after("10.0.0.1") == 10
    now[0] += 11
    assert store.retry_after("10.0.0.1") == 0
    store.close()


def test_every_write_needs_csrf(parent, client, config_path):
    before = config_path.read_text()
    for path, data in (("/children/add", {"name": "zoe"}), ("/logout-everywhere", {}),
                       ("/children/emma/pause", {"duration": "1h"}), ("/settings/", {"max_ttl": "30"})):
        r = client.post(path, data=data)
        assert r.status_code == 400, path
        assert "Reload it and try again" in r.get_data(as_text=True)
    r = client.post("/api/v1/children/emma/pause", json={"duration": "1h"})
    assert r.status_code == 400 and "Reload" in r.get_json()["error"]
    assert config_path.read_text() == before
    assert client.get("/children/").status_code == 200      # still logged in


def test_session_cookie_flags(auth, client):
    r = auth.setup()
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie


def test_secure_cookie_over_https(auth, app):
    c = app.test_client()
    auth.setup()
    page = c.get("/login", base_url="https://hearth.local")
    r = c.post("/login", base_url="https://hearth.local", headers={"Referer": "https://hearth.local/login"},
               data={"csrf_token": csrf_of(page.get_data(as_text=True)), "password": PASSWORD})
    assert r.status_code == 302
    assert "Secure" in r.headers["Set-Cookie"]


def test_log_out_everywhere_ends_other_sessions(parent, app):
    laptop = app.test_client()
    token = csrf_of(laptop.get("/login").get_data(as_text=True))
    laptop.post("/login", data={"csrf_token": token, "password": PASSWORD})
    assert laptop.get("/children/").status_code == 200
    r = parent.post("/logout-everywhere")
    assert r.status_code == 302
    assert laptop.get("/children/").status_code == 302
    assert parent.client.get("/children/").status_code == 302


def test_password_change_keeps_this_session_ends_others(parent, app):
    laptop = app.test_client()
    laptop.post("/login", data={"csrf_token": csrf_of(laptop.get("/login").get_data(as_text=True)),
                                "password": PASSWORD})
    r = parent.post("/password", {"current": "nope nope", "password": "new password!", "password2": "new password!"},
                    page="/password")
    assert r.status_code == 400 and "not the current password" in r.get_data(as_text=True)
    r = parent.post("/password", {"current": PASSWORD, "password": "new password!", "password2": "new password!"},
                    page="/password")
    assert r.status_code == 302
    assert parent.client.get("/settings/").status_code == 200
    assert laptop.get("/children/").status_code == 302


@pytest.mark.parametrize("ip, mac, status", [
    (CHILD_IP, None, 403),                   # emma-phone by its fixed IP
    ("127.0.0.7", None, 403),                # leo-tablet found through the neighbour table's MAC
    ("127.0.0.9", None, 200),                # dad-phone belongs to leo's profile but admin.parents names it
    ("127.0.0.1", None, 200),                # a device nobody has assigned: a parent's laptop
    ("127.0.0.10", None, 200),               # in the parents' own unfiltered profile
    ("8.8.8.8", None, 403),                  # not the home network
])
def test_child_devices_cannot_reach_the_admin(parent, app, ip, mac, status):
    c = app.test_client()
    for path in ("/children/", "/login", "/setup", "/api/v1/children"):
        r = c.get(path, environ_base={"REMOTE_ADDR": ip})
        if status == 403:
            assert r.status_code == 403, (ip, path)
            if not path.startswith("/api"):
                text = r.get_data(as_text=True)
                assert ("Ask a parent" in text) if ip != "8.8.8.8" else ("home network" in text)
        else:
            assert r.status_code in (200, 302, 401), (ip, path)     # in, then asked to log in


def test_child_device_refused_even_with_a_session_cookie(parent, client):
    assert client.get("/children/").status_code == 200
    r = client.get("/children/", environ_base={"REMOTE_ADDR": CHILD_IP})
    assert r.status_code == 403


def test_bearer_tokens(parent, app, client):
    store = AdminStore.in_dir(app.extensions["hearth_config"].config.data_dir)
    secret = store.create_token("home-assistant")
    api = app.test_client()
    r = api.get("/api/v1/children", headers={"Authorization": f"Bearer {secret}"})
    assert r.status_code == 200 and [c["name"] for c in r.get_json()["children"]] == ["emma", "leo"]
    assert store.tokens()[0].last_used is not None
    r = api.get("/api/v1/children", headers={"Authorization": "Bearer hearth_nope"})
    assert r.status_code == 401
    r = api.get("/children/", headers={"Authorization": f"Bearer {secret}"})   # tokens are for the API only
    assert r.status_code == 401
    assert api.get("/api/v1/children").status_code == 401                    # nothing: refused
    store.revoke_token("home-assistant")
    assert api.get("/api/v1/children", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    # only the hash is stored
    rows = sqlite3.connect(store_path(app.extensions["hearth_config"].config.data_dir)).execute(
        "SELECT * FROM admin_tokens").fetchall()
    assert rows == []
    secret2 = store.create_token("script")
    raw = sqlite3.connect(store_path(app.extensions["hearth_config"].config.data_dir)).execute(
        "SELECT sha256 FROM admin_tokens").fetchone()[0]
    assert secret2 not in raw and len(raw) == 64
    store.close()


def test_secret_and_store_files_are_private(parent, tmp_path):
    for name in ("admin-secret", "admin.db"):
        path = tmp_path / "var" / name
        assert path.exists() and (path.stat().st_mode & 0o777) == 0o600, name


def test_language_switch_and_browser_choice(parent, client):
    r = client.get("/children/", headers={"Accept-Language": "fr-FR,fr;q=0.9"})
    assert '<html lang="fr">' in r.get_data(as_text=True)
    r = parent.post("/language", {"lang": "en", "next": "/children/"})
    assert r.headers["Location"] == "/children/"
    r = client.get("/children/", headers={"Accept-Language": "fr-FR,fr;q=0.9"})
    assert '<html lang="en">' in r.get_data(as_text=True)
