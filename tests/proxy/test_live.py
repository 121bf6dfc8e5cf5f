"""A real mitmdump with Hearth's addon, curl through it to a local origin (see conftest)."""
from __future__ import annotations

import json
import re
import stat
import time

from appliance.model import Action

from .conftest import MANAGED, UNMANAGED
from .origin import BIG, big_chunk, websocket_send


def _issuer(stack, url: str, source: str = MANAGED) -> str:
    r = stack.curl(url, "-v", "-o", "/dev/null", "-k", source=source)
    m = re.search(r"issuer: (.*)", r.stderr)
    return m.group(1) if m else r.stderr


def test_allowed_page_passes_through_the_addon(stack):
    code, body = stack.get("https://chat.example.org/hello")
    assert code == 200
    assert json.loads(body)["path"] == "/hello"
    assert "mitmproxy" in _issuer(stack, "https://chat.example.org/")      # read: the proxy's certificate


def test_ca_key_is_the_proxy_users_only(stack):
    key = stack.confdir / "mitmproxy-ca.pem"
    assert key.exists()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(stack.confdir.stat().st_mode) == 0o700
    assert key.stat().st_uid == stack.confdir.stat().st_uid


def test_blocked_host_gets_the_block_page_over_https_and_is_logged(stack):
    code, body = stack.get("https://www.omegle.com/chat")
    assert code == 403
    assert "This page is blocked" in body and "Ask for access" in body
    assert "omegle.com" in body
    end = time.monotonic() + 5
    rows = []
    while time.monotonic() < end and not rows:
        rows = [e for e in stack.log_entries() if e.qname == "www.omegle.com" and e.source == "proxy"]
        time.sleep(0.2)
    assert rows, "the proxy's block is in the query log"
    assert rows[0].action == Action.BLOCK.value and rows[0].profile == "emma"


def test_block_page_needs_no_upstream(stack):
    # DNS answers a blocked name with 0.0.0.0: the proxy must not need to reach the site to say it is blocked
    code, body = stack.get("https://www.omegle.tv/")
    assert code == 403 and "This page is blocked" in body


def test_ask_for_access_then_approval_is_a_timed_allow(stack):
    code, body = stack.get("https://www.omegle.com/room/7")
    assert code == 403
    token = re.search(r'name="token" value="([0-9a-f]+)"', body).group(1)
    url = re.search(r'name="url" value="([^"]+)"', body).group(1)
    code, body = stack.get("https://www.omegle.com/__hearth/ask", "--data-urlencode", f"url={url}",
                           "--data-urlencode", f"token={token}")
    assert code == 200 and "asked" in body.lower()
    asks = stack.wait_alert(lambda a: a.reason == "ASK")
    assert len(asks) == 1
    a = asks[0]
    assert a.child == "emma" and a.domain == "omegle.com" and "www.omegle.com/room/7" in a.words
    r = stack.hearth("approve", str(a.id), "--for", "10m")
    assert r.returncode == 0, r.stderr
    assert "omegle.com is allowed for emma" in r.stdout
    end = time.monotonic() + 5
    while time.monotonic() < end:
        code, body = stack.get("https://www.omegle.com/room/7")
        if code == 200:
            break
        time.sleep(0.3)
    assert code == 200 and json.loads(body)["path"] == "/room/7"
    # leave the rest of the module as it was
    overrides = stack.hearth("overrides", "--json")
    for o in json.loads(overrides.stdout):
        stack.hearth("cancel", str(o["id"]))


def test_a_forged_ask_is_refused(stack):
    code, body = stack.get("https://www.omegle.com/__hearth/ask", "--data-urlencode",
                           "url=https://www.omegle.com/", "--data-urlencode", "token=00")
    assert code == 400


def test_safe_search_parameter_added(stack):
    code, body = stack.get("https://www.google.com/search?q=cats")
    assert code == 200
    assert "safe=active" in json.loads(body)["path"]


def test_youtube_restrict_header_added(stack):
    code, body = stack.get("https://www.youtube.com/watch?v=x")
    assert code == 200
    assert json.loads(body)["headers"].get("youtube-restrict") == "Strict"


def test_page_rule_blocks_one_path_of_an_allowed_site(stack):
    assert stack.get("https://www.reddit.com/r/bad/comments/1")[0] == 403
    assert stack.get("https://www.reddit.com/r/badminton")[0] == 200
    assert stack.get("https://www.reddit.com/r/good")[0] == 200


def test_passthrough_host_is_not_decrypted(stack):
    # the origin's own certificate reaches curl: the proxy relayed the TLS without reading it
    assert "hearth-test-origin" in _issuer(stack, "https://www.paypal.com/")
    code, _ = stack.get("https://www.paypal.com/", ca=stack.origin_ca)
    assert code == 200


def test_unmanaged_client_is_untouched(stack):
    assert "hearth-test-origin" in _issuer(stack, "https://www.omegle.com/", source=UNMANAGED)
    code, body = stack.get("https://www.google.com/search?q=cats", source=UNMANAGED, ca=stack.origin_ca)
    assert code == 200
    assert "safe=" not in json.loads(body)["path"]          # DNS decides for Leo; the proxy only relays
    code, body = stack.get("http://www.omegle.com/plain", source=UNMANAGED)
    assert code == 200 and json.loads(body)["path"] == "/plain"


def test_french_grooming_in_a_json_post_raises_one_alert(stack):
    msg = "ça reste entre nous, dis rien à tes parents"
    code, _ = stack.get("https://chat.example.org/api/send", "-H", "Content-Type: application/json",
                        "--data-binary", json.dumps({"to": "u123", "message": msg}))
    assert code == 200
    found = stack.wait_alert(lambda a: a.reason == "TEXT" and a.domain == "chat.example.org"
                             and a.list == "grooming")
    assert len(found) == 1
    assert "ça reste entre nous" in found[0].words
    assert found[0].child == "emma" and found[0].severity == "high"


def test_english_grooming_in_a_websocket_message_raises_one_alert(stack):
    msg = "this is just between us, don't tell your parents we talk"
    assert websocket_send(stack.port, "files.example.org", stack.ca, msg) == msg
    found = stack.wait_alert(lambda a: a.reason == "TEXT" and a.domain == "files.example.org")
    assert len(found) == 1
    assert found[0].list == "grooming" and "just between us" in found[0].words


def test_a_benign_page_raises_nothing(stack):
    stack.origin.set_page("<html><body><p>This homework is killing me lol.</p>"
                          "<script>var kill = 'just between us';</script></body></html>")
    assert stack.get("https://files.example.org/page")[0] == 200
    time.sleep(2.5)
    assert not [a for a in stack.alerts() if a.reason == "TEXT" and "homework" in a.words]


def _peak_rss_kb(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def _mitmdump_pid(stack) -> int:
    return stack.proc.pid       # hearth proxy exec()s mitmdump: same process


def test_20mb_download_streams_without_being_held(stack):
    pid = _mitmdump_pid(stack)
    before = _peak_rss_kb(pid)
    out = stack.root / "big.bin"
    code, _ = stack.get("https://files.example.org/big", "-o", str(out))
    assert code == 200
    assert out.stat().st_size == BIG
    with open(out, "rb") as f:
        for i in range(BIG // len(big_chunk(0))):
            chunk = f.read(len(big_chunk(0)))
            assert chunk == big_chunk(i)
    grown_mb = (_peak_rss_kb(pid) - before) / 1024
    assert grown_mb < 12, f"mitmdump's peak memory grew {grown_mb:.1f} MB for a 20 MB body"


def test_pinned_app_is_learned_and_passed_through(stack):
    # Emma's tablet trusts the CA (earlier tests made inspected handshakes); an app that trusts only its own
    # certificate (here: curl trusting only the origin's) fails twice, and is passed through from then on.
    for _ in range(2):
        r = stack.curl("https://pinned.example.net/", ca=stack.origin_ca)
        assert r.returncode != 0
    found = stack.wait_alert(lambda a: a.reason == "PINNED" and a.domain == "pinned.example.net")
    assert found
    code, _ = stack.get("https://pinned.example.net/", ca=stack.origin_ca)
    assert code == 200
    learned = (stack.confdir / "learned-passthrough.txt").read_text()
    assert "pinned.example.net" in learned
