"""End to end in a real browser: Debian's chromium driven by Playwright, Hearth started for real on loopback (the
DNS daemon, the admin under waitress), a child's phone asking DNS from its own loopback address.

A parent sets the password, adds a child, gives it the phone the DNS filter has just seen, adds a bedtime that
covers now, sees the phone's next query blocked and its row in the log with the reason; pauses and resumes; allows
the domain for 30 minutes from the log and sees the next query pass. axe-core runs on every screen (no serious or
critical violation) and every screen is saved as a screenshot at phone and laptop sizes under tests/artifacts/.
"""
from __future__ import annotations

import json
import threading
import time
from datetime import datetime
from pathlib import Path

import dns.message
import dns.query
import pytest

from tests.support.hearth_proc import HearthServer, free_port
from tests.support.stub_upstream import StubUpstream

from .conftest import NEEDS_ALERTS, NEEDS_REPORTS, PASSWORD

ROOT = Path(__file__).resolve().parents[2]
AXE = Path(__file__).resolve().parent / ".node" / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = ROOT / "tests" / "artifacts" / "web_admin"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PHONE_IP = "127.0.0.5"
ZONE = {"example.com": [("A", "93.184.216.34")], "www.khanacademy.org": [("A", "198.51.100.20")]}
SIZES = {"phone": {"width": 390, "height": 844}, "laptop": {"width": 1280, "height": 800}}

playwright_api = pytest.importorskip("playwright.sync_api", reason="./install.sh --test installs playwright")


def ask(port: int, name: str, source: str = PHONE_IP) -> list[str]:
    r = dns.query.udp(dns.message.make_query(name, "A"), "127.0.0.1", port=port, timeout=3, source=source)
    return [rd.to_text() for rrset in r.answer for rd in rrset if rrset.rdtype == 1]


def wait_for(fn, timeout: float = 10.0):
    end = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() > end:
            return v
        time.sleep(0.2)


@pytest.fixture
def hearth(tmp_path):
    """The DNS daemon and the admin, both real, sharing one config file and data dir."""
    with StubUpstream(ZONE) as up:
        admin_port = free_port()
        cfg = {"dns": {"upstreams": [up.address], "upstream_timeout": 0.5},
               "admin": {"listen": f"127.0.0.1:{admin_port}"}, "devices": [], "profiles": {}}
        h = HearthServer(tmp_path, cfg).start()
        from appliance.admincmd import make_server
        server = make_server(str(h.config_path), f"127.0.0.1:{admin_port}", {"ARP_PATH": str(h.arp_path)})
        t = threading.Thread(target=server.run, daemon=True)
        t.start()
        try:
            yield h, f"http://127.0.0.1:{admin_port}"
        finally:
            server.close()
            h.stop()


@pytest.fixture
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: run ./install.sh --test")
    if not AXE.exists():
        pytest.fail("axe-core is missing: run ./install.sh --test")
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            b.close()


class Screens:
    """Checks every screen it is shown with axe-core and saves it at both sizes."""

    def __init__(self, page):
        self.page = page
        self.seen: dict[str, list] = {}
        ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def check(self, name: str) -> None:
        page = self.page
        page.add_script_tag(path=str(AXE))
        result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
        assert result["passes"], "axe-core checked nothing"
        bad = [{"id": v["id"], "impact": v["impact"], "help": v["help"],
                "nodes": [n["target"] for n in v["nodes"]][:5]}
               for v in result["violations"] if v["impact"] in ("serious", "critical")]
        self.seen[name] = bad
        for size, viewport in SIZES.items():
            page.set_viewport_size(viewport)
            page.screenshot(path=str(ARTIFACTS / f"{name}-{size}.png"), full_page=True)
        page.set_viewport_size(SIZES["laptop"])

    def assert_clean(self) -> None:
        (ARTIFACTS / "axe.json").write_text(json.dumps(self.seen, indent=1))
        dirty = {k: v for k, v in self.seen.items() if v}
        assert not dirty, json.dumps(dirty, indent=1)


@NEEDS_REPORTS
@NEEDS_ALERTS
def test_a_parent_runs_the_house_from_the_browser(hearth, browser):
    h, url = hearth
    context = browser.new_context(bypass_csp=True, viewport=SIZES["laptop"], locale="en-GB")
    page = context.new_page()
    screens = Screens(page)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    # The child's phone is on the network before anyone set Hearth up: it is seen, and gets the default rules.
    h.write_arp(f"{PHONE_IP:<16} 0x1         0x2         3c:22:fb:12:34:56     *        eth0\n")
    assert ask(h.port, "example.com") == ["93.184.216.34"]
    h.flush_log()

    # First run: set the password; no other page is reachable before.
    page.goto(url + "/children/")
    assert page.url.endswith("/setup")
    screens.check("setup")
    page.fill("#password", PASSWORD)
    page.fill("#password2", PASSWORD)
    page.select_option("#timezone", "UTC")
    page.click("button.primary")
    assert page.url == url + "/"
    screens.check("dashboard-empty")

    # A child.
    page.click("nav >> text=Children")
    screens.check("children")
    page.fill("#name", "Emma")
    page.click("button.primary")
    assert page.url.endswith("/children/emma")
    assert page.locator(".msg.ok").first.is_visible()

    # Her phone: seen, flagged as new, named and given to her.
    page.click("nav >> text=Devices")
    row = page.locator("tr", has_text=PHONE_IP)
    assert row.locator(".pill.new").is_visible()
    assert "Apple" in row.inner_text()                    # the vendor, from netaddr's packaged OUI database
    screens.check("devices")
    row.locator("input[name=name]").fill("emma-phone")
    row.locator("select[name=profile]").select_option("emma")
    row.locator("button", has_text="Save").click()
    assert "emma-phone" in page.locator("tr", has_text=PHONE_IP).inner_text()

    # A bedtime covering now (the whole day, every day), everything blocked.
    page.goto(url + "/schedules/emma")
    page.fill("#w0-name", "bedtime")
    for d in range(7):
        page.check(f"#w0-day-{d}")
    page.fill("#w0-from", "00:00")
    page.fill("#w0-to", "23:59")
    page.check("#w0-what-all")
    assert wait_for(lambda: "bedtime" in page.inner_text("#preview"))       # the live preview, before saving
    page.click("button.primary")
    assert "The DNS filter now uses it" in page.inner_text(".messages")
    screens.check("schedule-editor")
    page.click("nav >> text=Schedules")
    screens.check("schedules")

    # The phone is blocked now, and the log says why.
    assert ask(h.port, "example.com") == ["0.0.0.0"]
    h.flush_log()
    page.click("nav >> text=Log")
    row = page.locator("#log tbody tr", has_text="example.com").first
    assert "bedtime" in row.inner_text()
    screens.check("log")

    # Pause and resume, from the child's page.
    page.goto(url + "/children/emma")
    page.click("button:has-text('Pause 15 min')")
    assert "paused" in page.inner_text(".messages").lower()
    screens.check("child")
    page.click("button:has-text('Resume')")
    assert "resume" in page.inner_text(".messages").lower()

    # Allow the domain for 30 minutes from the log: the next query passes (a timed allow beats bedtime).
    page.click("nav >> text=Log")
    row = page.locator("#log tbody tr", has_text="example.com").first
    row.locator("select[name=duration]").select_option("30m")
    row.locator("button", has_text="Allow for Emma").click()
    assert "example.com" in page.inner_text(".messages")
    assert wait_for(lambda: ask(h.port, "example.com") == ["93.184.216.34"], timeout=5)

    # A device on the network invents 40 addresses: ten alerts of their own, then one that counts the rest.
    from appliance import config as configmod
    from appliance.model import Client
    from appliance.state.alerts import NEW_DEVICES_PER_HOUR, Alerts, AlertSink
    cfg = configmod.load(h.config_path)
    already = sum(a.reason == "NEW_DEVICE" for a in Alerts(cfg.data_dir / "hearth.db").list())   # the phone's
    sink = AlertSink(cfg, cfg.data_dir / "hearth.db")
    for i in range(40):
        sink.seen(Client(f"127.0.3.{i + 1}", None, None, "default"), time.time())
    sink.flush_now()
    sink.close()
    page.goto(url + "/alerts/")
    many = page.locator("section.card", has_text="Many new devices")
    assert many.is_visible() and f"{40 - (NEW_DEVICES_PER_HOUR - already)} more devices" in many.inner_text()

    # The other screens, checked and photographed.
    for name, path in (("dashboard", "/"), ("alerts", "/alerts/"), ("lists", "/lists/"), ("settings", "/settings/"),
                       ("setup-check", "/settings/check"), ("password", "/password")):
        page.goto(url + path)
        assert page.locator("h1").first.is_visible(), name
        screens.check(name)
    page.goto(url + "/children/")
    page.click("footer button:has-text('Français')")
    assert page.locator("html").get_attribute("lang") == "fr"
    screens.check("children-fr")
    page.goto(url + "/")
    screens.check("dashboard-fr")

    # The child's phone cannot open the admin (a second browser context bound to its address is not possible on
    # loopback, so ask with the phone's source address through the same server).
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", int(url.rsplit(":", 1)[1]), source_address=(PHONE_IP, 0))
    conn.request("GET", "/")
    r = conn.getresponse()
    refusal = r.read().decode()
    assert r.status == 403 and "Ask a parent" in refusal
    page.route(url + "/ask-a-parent", lambda route: route.fulfill(status=403, body=refusal,
                                                                    content_type="text/html"))
    page.goto(url + "/ask-a-parent")            # the page the phone got, shown with the admin's own CSS
    screens.check("ask-a-parent")

    # Logged out: the login page.
    page.goto(url + "/")
    page.click("header button:has-text('Déconnexion'), header button:has-text('Log out')")
    screens.check("login")
    assert not errors, errors
    screens.assert_clean()


# --- the web filter (issue 13): a real proxy in WireGuard mode, its QR code read back from the screen --------------

WEB_FILTER = """\
schema_version: 2
timezone: UTC
data_dir: {data}
dns: {{listen: ["127.0.0.1:{dns}"]}}
admin: {{listen: "127.0.0.1:{admin}"}}
devices:
  - {{name: emma-tablet, ip: 127.0.0.5}}
profiles:
  emma:
    devices: [emma-tablet]
    managed: true
    block: [random-chat]
alerts:
  digest: off
proxy:
  listen: 127.0.0.1:{wg}
  mode: wireguard
"""


@pytest.fixture
def web_filter(tmp_path):
    """The admin (waitress) and a real ``hearth proxy`` (mitmdump, WireGuard mode) on one config: the proxy writes
    Emma's tablet's WireGuard configuration, which the admin shows."""
    import os
    import subprocess
    import sys

    from appliance.proxy.run import find_mitmdump
    if find_mitmdump() is None:
        pytest.skip("mitmproxy is not installed (./install.sh --test sets up .venv-proxy)")
    data = tmp_path / "var"
    data.mkdir()
    admin_port = free_port()
    path = tmp_path / "hearth.yaml"
    path.write_text(WEB_FILTER.format(data=data, dns=free_port(), admin=admin_port, wg=free_port()))
    (tmp_path / "arp").write_text("IP address       HW type     Flags       HW address            Mask     Device\n")
    log = open(tmp_path / "mitmdump.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "appliance.cli", "proxy", "--config", str(path), "--",
                             "--set", "hearth_neighbours=false"], stdout=log, stderr=subprocess.STDOUT,
                            env=dict(os.environ))
    peer = data / "proxy" / "wireguard-emma-tablet.peer"
    from appliance.admincmd import make_server
    server = make_server(str(path), f"127.0.0.1:{admin_port}", {"ARP_PATH": str(tmp_path / "arp")})
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    try:
        if not wait_for(lambda: peer.exists() and peer.stat().st_size > 0 or proc.poll() is not None, timeout=60) \
                or proc.poll() is not None:
            pytest.fail("the proxy wrote no WireGuard configuration: " + (tmp_path / "mitmdump.log").read_text())
        yield path, peer, f"http://127.0.0.1:{admin_port}"
    finally:
        server.close()
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def read_qr(png: Path) -> str:
    """What a QR code in a screenshot says, read by zbar (Debian's zbar-tools), as a phone's camera would."""
    import shutil
    import subprocess
    exe = shutil.which("zbarimg")
    if exe is None:
        pytest.fail("zbarimg is missing: run ./install.sh --test (Debian's zbar-tools)")
    r = subprocess.run([exe, "--quiet", "--raw", "-Sbinary", str(png)], capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout.decode()


@NEEDS_ALERTS
def test_a_parent_answers_an_ask_and_sets_up_a_tablet(web_filter, browser):
    from appliance import config as configmod
    from appliance.model import Action, Client, Decision, Reason
    from appliance.state.alerts import AlertSink, Notice
    from appliance.state.overrides import OverrideStore
    path, peer, url = web_filter
    cfg = configmod.load(path)

    # Emma's tablet asked for a blocked page: the alert the proxy's block page raises (tests/proxy/test_live.py
    # makes one through a real mitmdump; here the same sink writes it).
    sink = AlertSink(cfg, cfg.data_dir / "hearth.db")
    blocked = Decision(Action.BLOCK, Reason.CATEGORY, "emma", list="random-chat", rule="omegle.com")
    sink.notice(Notice("ask", time.time() - 60, Client("127.0.0.5", None, "emma-tablet", "emma"), "emma",
                       "omegle.com", None, "https://www.omegle.com/",
                       "asks for access to https://www.omegle.com/ (random chat sites)", "high", blocked))
    sink.flush_now()
    sink.close()

    context = browser.new_context(bypass_csp=True, viewport=SIZES["laptop"], locale="en-GB")
    page = context.new_page()
    screens = Screens(page)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url + "/setup")
    page.fill("#password", PASSWORD)
    page.fill("#password2", PASSWORD)
    page.click("button.primary")

    # The ask, on the alerts screen, with its three buttons.
    page.click("nav >> text=Alerts")
    card = page.locator("section.card", has_text="omegle.com")
    for label in ("Allow for 30 minutes", "Allow for 2 hours", "Allow for today"):
        assert card.locator("button", has_text=label).is_visible(), label
    screens.check("alerts-ask")
    card.locator("button", has_text="Allow for 2 hours").click()
    assert "omegle.com is allowed for emma until" in page.inner_text(".messages")
    assert page.locator("section.card", has_text="omegle.com").locator(".pill.allowed").is_visible()
    screens.check("alerts-ask-approved")
    with OverrideStore(cfg.data_dir / "hearth.db") as store:
        live = store.live(datetime.now(cfg.tz))
    assert [(o.profile, o.target, round((o.expires - o.created).total_seconds())) for o in live] \
        == [("emma", "omegle.com", 7200)]

    # The web filter's screen: Emma's tablet's QR code is the configuration the proxy wrote.
    page.click("nav >> text=Web filter")
    assert page.url == url + "/proxy/"
    assert "listens on this Pi only" in page.inner_text("#status")      # the test proxy is on loopback: said so
    page.click("summary:has-text('emma-tablet')")
    qr = page.locator("img.qr")
    assert wait_for(lambda: page.evaluate("img => img.complete && img.naturalWidth > 0", qr.element_handle()))
    screens.check("proxy-wireguard")
    shot = ARTIFACTS / "proxy-wireguard-qr.png"
    qr.screenshot(path=str(shot))
    assert read_qr(shot).strip() == peer.read_text().strip()
    with page.expect_download() as dl:
        page.click("text=Download the configuration file")
    assert Path(dl.value.path()).read_text() == peer.read_text()
    page.click("footer button:has-text('Français')")
    assert "Filtre web" in page.inner_text("nav")
    page.click("summary:has-text('emma-tablet')")
    screens.check("proxy-wireguard-fr")
    assert not errors, errors
    screens.assert_clean()
