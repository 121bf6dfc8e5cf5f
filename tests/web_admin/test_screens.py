"""Every screen and its forms through the Flask test client, on a real config file and a real SQLite log written by
the real query-log writer: login required everywhere, bad input shown again with its errors and nothing saved,
changes through config.save() and appliance.actions, attacker-chosen domain names escaped everywhere."""
from __future__ import annotations

import asyncio
import csv
import io
import re
import time

import pytest
from appliance import config as configmod
from appliance.model import Action, Client, Decision, Reason
from appliance.state import db
from appliance.state.querylog import Entry, QueryLog

from .conftest import NEEDS_ALERTS, NEEDS_REPORTS, csrf_of

XSS = "<script>alert(1)</script>.evil"
_R, _A = [NEEDS_REPORTS], [NEEDS_REPORTS, NEEDS_ALERTS]
PAGES = [pytest.param(p, marks=m) for p, m in (
    ("/", _A), ("/children/", []), ("/children/emma", []), ("/schedules/", []), ("/schedules/emma", []),
    ("/devices/", _R), ("/log/", _R), ("/log/?show=all", _R), ("/alerts/", _A), ("/lists/", []),
    ("/settings/", []), ("/settings/check", _R), ("/password", []))]


def write_log(app, rows):
    """Rows through the daemon's own writer: (qname, profile, device, ip, action, reason, extra decision fields)."""
    data_dir = app.extensions["hearth_config"].config.data_dir
    ql = QueryLog(db.db_path(data_dir))
    now = time.time()
    for i, (qname, profile, device, ip, action, reason, extra) in enumerate(rows):
        client = Client(ip, None, device, profile)
        d = Decision(Action(action), Reason(reason), profile, **extra)
        ql.put(Entry(now - len(rows) + i, client, qname, 1, d, 0, False, None, 1.0, 1))
        ql.seen(client, now)
    asyncio.run(ql.flush())
    ql.close()


@pytest.fixture
def logged(app):
    pytest.importorskip("appliance.state.reports", reason="the log reader has not landed yet")
    write_log(app, [
        ("www.omegle.com", "emma", "emma-phone", "127.0.0.5", "block", "CATEGORY", {"list": "random-chat"}),
        (XSS, "emma", "emma-phone", "127.0.0.5", "block", "SCHEDULE", {"schedule": "bedtime"}),
        ("example.com", "emma", "emma-phone", "127.0.0.5", "allow", "NONE", {}),
        ("new.example", "default", None, "127.0.0.30", "allow", "NONE", {}),
    ])
    return app


@pytest.mark.parametrize("path", PAGES + ["/api/v1/children", "/api/v1/log", "/api/v1/devices"])
def test_login_required_everywhere(parent, app, path):
    c = app.test_client()
    r = c.get(path)
    assert r.status_code in (302, 401), path
    if r.status_code == 302:
        assert r.headers["Location"].startswith("/login")


@pytest.mark.parametrize("path", PAGES)
def test_every_screen_renders_for_a_parent(parent, logged, path):
    r = parent.client.get(path)
    assert r.status_code == 200, (path, r.get_data(as_text=True)[-2000:])
    html = r.get_data(as_text=True)
    assert "<h1>" in html and "csrf_token" in html
    assert "<script>alert" not in html


@NEEDS_ALERTS
@pytest.mark.parametrize("path", ["/log/", "/log/?show=all", "/", "/devices/", "/api/v1/log", "/log/export.csv"])
def test_attacker_domain_is_escaped_everywhere(parent, logged, path):
    r = parent.client.get(path)
    body = r.get_data(as_text=True)
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    if path.startswith("/api/"):                # JSON, never read as a page; the name comes back exactly
        assert r.mimetype == "application/json"
        assert XSS in {e["qname"] for e in r.get_json()["entries"]}
        return
    if path.endswith(".csv"):
        assert r.mimetype == "text/csv" and "attachment" in r.headers["Content-Disposition"]
        return
    assert "<script>alert(1)</script>" not in body
    if path.startswith("/log/") and not path.endswith(".csv"):
        assert "&lt;script&gt;alert(1)&lt;/script&gt;.evil" in body


def test_log_rows_say_why_in_words_and_paginate(parent, logged):
    html = parent.client.get("/log/").get_data(as_text=True)
    assert "omegle" in html and "bedtime" in html
    assert "example.com" not in html                       # blocked only by default
    assert "example.com" in parent.client.get("/log/?show=all").get_data(as_text=True)
    assert "omegle" not in parent.client.get("/log/?domain=evil").get_data(as_text=True)
    r = parent.client.get("/api/v1/log?limit=1")
    first = r.get_json()
    assert len(first["entries"]) == 1 and first["next_cursor"]
    second = parent.client.get(f"/api/v1/log?limit=1&cursor={first['next_cursor']}").get_json()
    assert second["entries"][0]["id"] < first["entries"][0]["id"]
    assert parent.client.get("/api/v1/log?cursor=garbage").status_code == 400


@NEEDS_REPORTS
def test_csv_export_is_safe_for_spreadsheets(parent, app):
    write_log(app, [("=cmd|calc.evil", "emma", "emma-phone", "127.0.0.5", "block", "DENY_LIST", {"rule": "x"})])
    r = parent.client.get("/log/export.csv")
    rows = list(csv.reader(io.StringIO(r.get_data(as_text=True))))
    assert rows[0][:3] == ["time", "child", "device"]
    assert rows[1][4] == "'=cmd|calc.evil"


def test_allow_and_block_from_the_log(parent, logged, config_path):
    r = parent.post("/log/allow", {"profile": "emma", "domain": "www.omegle.com", "duration": "always"})
    assert r.status_code == 302
    assert "www.omegle.com" in configmod.load(config_path).profiles["emma"].allow
    parent.post("/log/block", {"profile": "emma", "domain": "www.omegle.com"})
    p = configmod.load(config_path).profiles["emma"]
    assert "www.omegle.com" in p.deny and "www.omegle.com" not in p.allow
    r = parent.post("/log/allow", {"profile": "emma", "domain": "example.org", "duration": "30m"})
    assert r.status_code == 302
    overrides = parent.client.get("/api/v1/overrides").get_json()["overrides"]
    assert [(o["profile"], o["kind"], o["target"]) for o in overrides] == [("emma", "allow", "example.org")]
    # a device nobody has: no child to allow it for
    r = parent.post("/log/allow", {"profile": "default", "domain": "new.example"})
    assert "give the device to a child first" in parent.client.get("/log/").get_data(as_text=True)


def test_children_create_rename_delete(parent, config_path):
    r = parent.post("/children/add", {"name": "Zoe"})
    assert r.headers["Location"].endswith("/children/zoe")
    cfg = configmod.load(config_path)
    assert "zoe" in cfg.profiles and "random-chat" in cfg.profiles["zoe"].block and cfg.profiles["zoe"].bypass
    assert "# the family's rules" in config_path.read_text()
    assert (config_path.parent / "hearth.yaml.previous").exists()
    r = parent.post("/children/zoe/rename", {"new_name": "zoé!"})
    assert "zoe" in configmod.load(config_path).profiles                  # refused, nothing changed
    parent.post("/children/zoe/rename", {"new_name": "zoey"})
    assert "zoey" in configmod.load(config_path).profiles
    parent.post("/children/zoey/delete", {"confirm": "wrong"})
    assert "zoey" in configmod.load(config_path).profiles
    parent.post("/children/zoey/delete", {"confirm": "zoey"})
    assert "zoey" not in configmod.load(config_path).profiles


@pytest.mark.parametrize("name, message", [
    ("", "Give the child a name"), ("emma", "already a child named emma"), ("default", "choose another name"),
    ("<b>x</b>", "Use letters a-z"),
])
def test_add_child_bad_input_shown_again_nothing_saved(parent, config_path, name, message):
    before = config_path.read_text()
    r = parent.post("/children/add", {"name": name})
    assert r.status_code == 400
    html = r.get_data(as_text=True)
    assert message in html and 'aria-invalid="true"' in html
    assert "<b>x</b>" not in html
    assert config_path.read_text() == before


def test_child_rules_toggles_and_lists(parent, config_path):
    form = {"cat-adult": "on", "cat-dating": "on", "app-tiktok": "on", "allow": "khanacademy.org\nwww.wikipedia.org",
            "deny": "", "safe_search": "on", "youtube": "strict", "cat-bypass": "on"}
    r = parent.post("/children/emma/rules", form, page="/children/emma")
    assert r.status_code == 302
    p = configmod.load(config_path).profiles["emma"]
    assert p.block == ("adult", "dating") and p.block_apps == ("tiktok",) and p.youtube == "strict"
    assert p.allow == ("khanacademy.org", "www.wikipedia.org") and p.safe_search and p.bypass
    assert p.schedules[0].name == "bedtime"                                 # untouched


def test_child_rules_bad_domain_shown_again_nothing_saved(parent, config_path):
    before = config_path.read_text()
    r = parent.post("/children/emma/rules", {"cat-adult": "on", "allow": "good.example\nnot_a domain!!",
                                             "youtube": "moderate"}, page="/children/emma")
    assert r.status_code == 400
    html = r.get_data(as_text=True)
    assert 'id="allow-error"' in html and "not_a" in html
    assert "good.example" in html                                           # what was typed stays
    assert 'id="cat-adult" name="cat-adult" checked' in html
    assert config_path.read_text() == before


def test_big_buttons_through_actions(parent, config_path):
    r = parent.post("/children/emma/pause", {"duration": "15m"}, page="/children/emma")
    assert r.status_code == 302
    page = parent.client.get("/children/emma").get_data(as_text=True)
    assert "paused until" in page
    parent.post("/children/emma/resume", page="/children/emma")
    assert "paused until" not in parent.client.get("/children/emma").get_data(as_text=True)
    parent.post("/children/emma/allow", {"target": "tiktok", "duration": "30m"}, page="/children/emma")
    parent.post("/children/emma/later", {"window": "bedtime", "delay": "30m"}, page="/children/emma")
    kinds = sorted(o["kind"] for o in parent.client.get("/api/v1/overrides").get_json()["overrides"])
    assert kinds == ["allow", "later"]
    r = parent.post("/children/emma/later", {"window": "nap", "delay": "30m"}, page="/children/emma")
    page = parent.client.get(r.headers["Location"]).get_data(as_text=True)
    assert "nap" in page and "msg error" in page                            # the action's own words
    oid = parent.client.get("/api/v1/overrides").get_json()["overrides"][0]["id"]
    parent.post(f"/children/emma/cancel/{oid}", page="/children/emma")
    assert len(parent.client.get("/api/v1/overrides").get_json()["overrides"]) == 1


def test_schedule_editor_saves_and_shows_errors(parent, config_path):
    form = {"w0-name": "bedtime", "w0-from": "21:00", "w0-to": "07:00", "w0-what": "everything",
            **{f"w0-day-{d}": "on" for d in (6, 0, 1, 2, 3)}, "w0-allow": "khanacademy.org",
            "w1-name": "homework", "w1-from": "16:30", "w1-to": "18:00", "w1-what": "categories",
            "w1-cat-games": "on", **{f"w1-day-{d}": "on" for d in range(5)}}
    r = parent.post("/schedules/emma", form, page="/schedules/emma")
    assert r.status_code == 302
    ws = configmod.load(config_path).profiles["emma"].schedules
    assert [(w.name, w.days, f"{w.start:%H:%M}", w.everything, w.allow, w.block) for w in ws] == [
        ("bedtime", frozenset({6, 0, 1, 2, 3}), "21:00", True, ("khanacademy.org",), ()),
        ("homework", frozenset(range(5)), "16:30", False, (), ("games",))]
    assert 'from: "21:00"' in config_path.read_text()              # quoted: YAML 1.1 reads 21:00 as a number
    before = config_path.read_text()
    r = parent.post("/schedules/emma", {"w0-name": "nap", "w0-from": "25:00", "w0-to": "13:00",
                                        "w0-what": "everything"}, page="/schedules/emma")
    assert r.status_code == 400
    html = r.get_data(as_text=True)
    assert "tick at least one day" in html and "HH:MM" in html and 'value="nap"' in html
    assert config_path.read_text() == before


def test_a_homework_window_can_let_school_platforms_through(parent, config_path):
    form = {"w0-name": "study", "w0-from": "16:00", "w0-to": "19:00", "w0-what": "everything", "w0-school": "on",
            **{f"w0-day-{d}": "on" for d in range(5)}, "w0-allow": "khanacademy.org"}
    assert parent.post("/schedules/emma", form, page="/schedules/emma").status_code == 302
    w = configmod.load(config_path).profiles["emma"].schedules[0]
    assert w.allow_school and w.allow == ("khanacademy.org",)
    assert 'id="w0-school" name="w0-school" checked' in parent.client.get("/schedules/emma").get_data(as_text=True)


def test_schedule_live_preview_saves_nothing(parent, config_path, app):
    from datetime import datetime
    from zoneinfo import ZoneInfo
    app.config["HEARTH_NOW"] = datetime(2026, 12, 1, 17, 0, tzinfo=ZoneInfo("Europe/Paris"))   # a Tuesday
    before = config_path.read_text()
    form = {"w0-name": "homework", "w0-from": "16:30", "w0-to": "18:00", "w0-what": "everything",
            **{f"w0-day-{d}": "on" for d in range(5)}}
    r = parent.post("/schedules/emma/preview", form, page="/schedules/emma")
    assert r.get_json()["preview"] == "Right now Emma is in “homework” until 18:00."
    form["w0-from"] = "17:30"
    assert "next: “homework” at 17:30" in parent.post("/schedules/emma/preview", form,
                                                         page="/schedules/emma").get_json()["preview"]
    assert config_path.read_text() == before


def test_devices_seen_named_assigned_renamed_forgotten(parent, logged, config_path):
    html = parent.client.get("/devices/").get_data(as_text=True)
    assert "127.0.0.30" in html and "pill new" in html
    parent.post("/devices/assign", {"name": "zoe-laptop", "ip": "127.0.0.30", "mac": "", "profile": "emma"})
    cfg = configmod.load(config_path)
    assert any(d.name == "zoe-laptop" and d.ip == "127.0.0.30" for d in cfg.devices)
    assert "zoe-laptop" in cfg.profiles["emma"].devices
    assert "pill new" not in parent.client.get("/devices/").get_data(as_text=True)
    parent.post("/devices/assign", {"device": "zoe-laptop", "profile": "leo"})
    assert "zoe-laptop" in configmod.load(config_path).profiles["leo"].devices
    parent.post("/devices/rename", {"device": "zoe-laptop", "new_name": "zoe-pc"})
    assert "zoe-pc" in configmod.load(config_path).profiles["leo"].devices
    parent.post("/devices/forget", {"device": "zoe-pc"})
    assert all(d.name != "zoe-pc" for d in configmod.load(config_path).devices)


@pytest.mark.parametrize("mac, vendor", [("b8:27:eb:00:00:01", "Raspberry Pi"), ("3c:22:fb:00:00:01", "Apple"),
                                         ("da:a1:19:00:00:01", "private address"), (None, "")])
def test_vendor_from_the_packaged_oui_database(app, mac, vendor):
    from web_admin.devices import vendor as vendor_of
    with app.test_request_context():
        assert vendor in vendor_of(mac)


def test_settings_save_and_bad_input(parent, config_path):
    form = {"upstreams": "9.9.9.9\ntls://1.1.1.1#cloudflare-dns.com", "block_answer": "nxdomain", "max_ttl": "30",
            "blocked_ttl": "5", "keep_days": "30", "keep_allowed_days": "7", "log_allowed": "",
            "allow_networks": "192.168.1.0/24\n127.0.0.0/8", "trusted_forwarders": "", "timezone": "Europe/Paris"}
    r = parent.post("/settings/", form)
    assert r.status_code == 302
    cfg = configmod.load(config_path)
    assert cfg.dns.block_answer == "nxdomain" and cfg.dns.max_ttl == 30 and cfg.dns.upstreams[1].tls
    assert cfg.query_log.keep_days == 30 and cfg.query_log.log_allowed is False
    before = config_path.read_text()
    r = parent.post("/settings/", {**form, "max_ttl": "0", "allow_networks": "my house"})
    assert r.status_code == 400
    html = r.get_data(as_text=True)
    assert "my house" in html and 'id="max_ttl-error"' in html and 'id="allow_networks-error"' in html
    r = parent.post("/settings/", {**form, "upstreams": "dns.google"})      # the config's own check refuses it
    assert r.status_code == 400 and "IP address" in r.get_data(as_text=True)
    assert config_path.read_text() == before


def test_config_download_and_restore_validated_first(parent, config_path):
    text = parent.client.get("/settings/config.yaml").get_data(as_text=True)
    assert "emma-phone" in text
    token = csrf_of(parent.client.get("/settings/").get_data(as_text=True))
    bad = text.replace("random-chat", "randomchat")
    r = parent.client.post("/settings/restore", data={"csrf_token": token, "file": (io.BytesIO(bad.encode()), "h.yaml")},
                           content_type="multipart/form-data")
    page = parent.client.get(r.headers["Location"]).get_data(as_text=True)
    assert "Nothing was changed" in page and "randomchat" in page
    assert config_path.read_text() == text
    good = text.replace("Europe/Paris", "Europe/Brussels")
    parent.client.post("/settings/restore", data={"csrf_token": token, "file": (io.BytesIO(good.encode()), "h.yaml")},
                       content_type="multipart/form-data")
    assert configmod.load(config_path).timezone == "Europe/Brussels"


def test_a_file_broken_by_hand_keeps_the_last_good_config_and_says_so(parent, config_path):
    assert parent.client.get("/children/").status_code == 200
    config_path.write_text(config_path.read_text() + "\nbogus_key: 1\n")
    html = parent.client.get("/children/").get_data(as_text=True)
    assert "has errors" in html and "bogus_key" in html and "Emma" in html


def test_lists_add_url_and_bad_input(parent, config_path):
    r = parent.post("/lists/add", {"name": "my-list", "url": "ftp://nope", "category": "adult"})
    assert r.status_code == 400 and 'id="url-error"' in r.get_data(as_text=True)
    r = parent.post("/lists/add", {"name": "my-list", "url": "https://lists.example.org/hosts.txt",
                                   "category": "adult"})
    assert r.status_code == 302
    assert configmod.load(config_path).lists.sources[0].name == "my-list"
    assert "my-list" in parent.client.get("/lists/").get_data(as_text=True)


@NEEDS_ALERTS
def test_alerts_channels(parent, config_path):
    r = parent.post("/alerts/channels", {"notify": "not a url"})
    assert configmod.load(config_path).alerts.notify == ()
    parent.post("/alerts/channels", {"notify": "json://127.0.0.1:9/hook\nntfy://hearth-test"})
    assert configmod.load(config_path).alerts.notify == ("json://127.0.0.1:9/hook", "ntfy://hearth-test")
    # Send test against a channel that is down: the parent reads which failed and why
    parent.post("/alerts/channels", {"notify": "json://127.0.0.1:9/hook"})
    r = parent.post("/alerts/test")
    page = parent.client.get(r.headers["Location"]).get_data(as_text=True)
    assert "Could not send to" in page and "refused" in page


def test_openapi_document_matches_the_real_routes(parent, app):
    doc = parent.client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    documented = {(doc["servers"][0]["url"] + p, m.upper()) for p, ops in doc["paths"].items() for m in ops}
    real = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/"):
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
            real |= {(path, m) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert documented == real
    for p, ops in doc["paths"].items():
        for m, op in ops.items():
            names = {x["name"] for x in op.get("parameters", []) if x["in"] == "path"}
            assert names == set(re.findall(r"{(\w+)}", p)), (p, m)


def test_api_actions_with_a_token_and_with_the_session(parent, app):
    from appliance.state.admin import AdminStore
    store = AdminStore.in_dir(app.extensions["hearth_config"].config.data_dir)
    secret = store.create_token("ha")
    store.close()
    api = app.test_client()
    h = {"Authorization": f"Bearer {secret}"}
    r = api.post("/api/v1/children/emma/pause", json={"duration": "20m"}, headers=h)
    assert r.status_code == 200 and "paused" in r.get_json()["message"]
    r = api.post("/api/v1/children/emma/pause", json={"duration": "soon"}, headers=h)
    assert r.status_code == 400 and r.get_json()["error"]
    assert api.post("/api/v1/children/nobody/resume", headers=h).status_code == 404
    r = api.post("/api/v1/children/emma/resume", headers=h)
    assert r.status_code == 200
    # the session needs its CSRF token in a header
    token = csrf_of(parent.client.get("/settings/").get_data(as_text=True))
    r = parent.client.post("/api/v1/children/emma/pause", json={"duration": "5m"}, headers={"X-CSRFToken": token})
    assert r.status_code == 200


@pytest.mark.parametrize("text, html", [
    ("blocked: Emma's bedtime window *bedtime* blocks everything",
     '<span class="pill blocked">blocked</span> Emma&#39;s bedtime window <em>bedtime</em> blocks everything'),
    ("allowed: on Emma's allow list (khanacademy.org)",
     '<span class="pill allowed">allowed</span> on Emma&#39;s allow list (khanacademy.org)'),
    ("blocked: Emma's deny list (*<script>alert(1)</script>.evil*)",
     '<span class="pill blocked">blocked</span> Emma&#39;s deny list '
     '(<em>&lt;script&gt;alert(1)&lt;/script&gt;.evil</em>)'),
    ("no verdict here", "no verdict here"),
])
def test_decision_sentences_are_escaped_before_markup(app, text, html):
    from web_admin.words import sentence
    with app.test_request_context():
        assert str(sentence(text)) == html


def test_api_config_changes_go_through_save(parent, app, config_path):
    from appliance.state.admin import AdminStore
    store = AdminStore.in_dir(app.extensions["hearth_config"].config.data_dir)
    h = {"Authorization": f"Bearer {store.create_token('script')}"}
    store.close()
    api = app.test_client()
    r = api.post("/api/v1/children", json={"name": "Zoe"}, headers=h)
    assert r.status_code == 200 and r.get_json()["reload"] is None          # no daemon running in this test
    assert "zoe" in configmod.load(config_path).profiles
    r = api.post("/api/v1/children/zoe/rules", json={"youtube": "strict", "allow": ["khanacademy.org"]}, headers=h)
    assert r.status_code == 200
    p = configmod.load(config_path).profiles["zoe"]
    assert p.youtube == "strict" and p.allow == ("khanacademy.org",)
    before = config_path.read_text()
    r = api.post("/api/v1/children/zoe/rules", json={"youtube": "sometimes"}, headers=h)
    assert r.status_code == 400 and any("youtube" in e for e in r.get_json()["errors"])
    assert api.post("/api/v1/children/zoe/rules", json={"colour": 1}, headers=h).status_code == 400
    assert config_path.read_text() == before
    r = api.post("/api/v1/devices/assign", json={"device": "leo-tablet", "child": "zoe"}, headers=h)
    assert r.status_code == 200 and "leo-tablet" in configmod.load(config_path).profiles["zoe"].devices


@NEEDS_REPORTS
def test_setup_check_says_what_the_filter_sees(parent, logged):
    html = parent.client.get("/settings/check").get_data(as_text=True)
    assert "2 devices asked Hearth in the last hour" in html
    assert "Freebox" in html and "trusted_forwarders" not in html


def test_lists_update_now_downloads_in_the_background(parent, config_path, tmp_path):
    import http.server
    import threading
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "hosts.txt").write_text("0.0.0.0 bad-one.example\n0.0.0.0 bad-two.example\n")
    handler = lambda *a, **kw: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path / "www"), **kw)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/hosts.txt"
        r = parent.post("/lists/add", {"name": "mine", "url": url, "category": "adult"})
        assert r.status_code == 302, r.get_data(as_text=True)
        r = parent.post("/lists/update", page="/lists/")
        assert "Updating the lists" in parent.client.get(r.headers["Location"]).get_data(as_text=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            html = parent.client.get("/lists/").get_data(as_text=True)
            if re.search(r"mine</strong>.*?<td[^>]*>adult</td>\s*<td[^>]*>2</td>", html, re.S):
                break
            time.sleep(0.2)
        else:
            raise AssertionError("the list was not downloaded: " + html[html.find("mine"):][:600])
    finally:
        httpd.shutdown()


def test_a_childs_time_budgets_and_the_grant_button(parent, config_path):
    from appliance.config import save as savemod

    def videos_hour(doc):
        doc["profiles"]["emma"]["budgets"] = [{"name": "videos", "apps": ["youtube"], "minutes": 60}]
    savemod.save(config_path, videos_hour, notify_daemon=False)
    html = parent.client.get("/children/emma").get_data(as_text=True)
    assert "videos: 0 of 60 minutes used, 60 left" in html
    r = parent.post("/children/emma/grant", {"budget": "videos", "minutes": "30"}, page="/children/emma")
    assert r.status_code == 302
    html = parent.client.get(r.headers["Location"]).get_data(as_text=True)
    assert "30 more minutes of videos today" in html and "videos: 0 of 90 minutes used, 90 left" in html


def test_a_new_device_alert_reads_as_one_never_as_none(parent, config_path):
    from appliance.model import Client
    from appliance.state import db
    from appliance.state.alerts import AlertSink
    cfg = configmod.load(config_path)
    sink = AlertSink(cfg, db.db_path(cfg.data_dir))
    sink.seen(Client("127.0.0.77", "de:ad:be:ef:00:77", None, "default"), 1_764_590_400.0)
    sink.flush_now()
    sink.close()
    html = parent.client.get("/alerts/").get_data(as_text=True)
    assert "A new device" in html and "de:ad:be:ef:00:77" in html
    assert ">None<" not in html and "None ·" not in html


def test_a_flood_of_new_devices_is_one_alert_that_says_so(parent, config_path):
    from appliance.model import Client
    from appliance.state import db
    from appliance.state.alerts import NEW_DEVICES_PER_HOUR, AlertSink
    cfg = configmod.load(config_path)
    sink = AlertSink(cfg, db.db_path(cfg.data_dir))
    for i in range(NEW_DEVICES_PER_HOUR + 40):
        sink.seen(Client(f"127.0.1.{i + 1}", None, None, "default"), 1_764_590_400.0 + i)
    sink.flush_now()
    sink.close()
    html = parent.client.get("/alerts/").get_data(as_text=True)
    assert html.count("A new device") == NEW_DEVICES_PER_HOUR and html.count("Many new devices") == 1
    assert "40 more devices" in html and "pretending to be many" in html and "important" in html
