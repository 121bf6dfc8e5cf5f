"""The addon's hooks under mitmproxy's own test context (taddons, tflow), one table of requests. mitmproxy lives in
the proxy's venv, so the cases run there (addon_cases.py) and come back as JSON lines."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from appliance.proxy.run import REPO

from .conftest import CONFIG, mitmdump_or_skip

HERE = Path(__file__).resolve().parent
BIG = str(10 * 1024 * 1024)

# (name, case, what to check)
CASES = [
    ("blocked host: block page", {"ip": "127.0.0.1", "url": "https://www.omegle.com/x"},
     {"status": 403, "in_body": "Ask for access"}),
    ("a Host header naming an allowed site does not open a blocked one", {
        "ip": "127.0.0.1", "url": "https://www.omegle.com/", "headers": {"host": "example.org"}},
     {"status": 403}),
    ("WireGuard: known by its server, not its tunnel address (managed)", {
        "ip": "10.0.0.1", "mode": "wireguard:/x/wireguard-emma-tablet.conf@51820", "url": "http://www.omegle.com/"},
     {"status": 403}),
    ("WireGuard: the same tunnel address from Leo's server is unmanaged", {
        "ip": "10.0.0.1", "mode": "wireguard:/x/wireguard-leo-laptop.conf@51821", "url": "http://www.omegle.com/"},
     {"status": None}),
    ("allowed host: untouched", {"ip": "127.0.0.1", "url": "https://example.org/"},
     {"status": None, "url": "https://example.org/"}),
    ("page rule blocks its path", {"ip": "127.0.0.1", "url": "https://old.reddit.com/r/bad/top"},
     {"status": 403, "in_body": "reddit.com/r/bad"}),
    ("page rule: not a longer name", {"ip": "127.0.0.1", "url": "https://www.reddit.com/r/badger"},
     {"status": None}),
    ("google: safe=active added", {"ip": "127.0.0.1", "url": "https://www.google.com/search?q=x"},
     {"url_has": "safe=active"}),
    ("google: safe=off replaced", {"ip": "127.0.0.1", "url": "https://www.google.com/search?q=x&safe=off"},
     {"url_has": "safe=active", "url_lacks": "safe=off"}),
    ("bing: adlt=strict", {"ip": "127.0.0.1", "url": "https://www.bing.com/search?q=x"},
     {"url_has": "adlt=strict"}),
    ("duckduckgo: kp=1", {"ip": "127.0.0.1", "url": "https://duckduckgo.com/?q=x"}, {"url_has": "kp=1"}),
    ("youtube: Strict header", {"ip": "127.0.0.1", "url": "https://www.youtube.com/results?search_query=x"},
     {"header": ("youtube-restrict", "Strict")}),
    ("unmanaged: nothing added", {"ip": "127.0.0.2", "url": "https://www.google.com/search?q=x"},
     {"status": None, "url_lacks": "safe="}),
    ("unmanaged: blocked host not answered by the proxy", {"ip": "127.0.0.2", "url": "http://www.omegle.com/"},
     {"status": None}),
    ("unknown device (default profile, unmanaged): untouched", {"ip": "10.9.9.9", "url": "http://www.omegle.com/"},
     {"status": None}),
    ("onboarding page", {"ip": "127.0.0.1", "url": "http://hearth.setup/"},
     {"status": 200, "in_body": "Android 7"}),
    ("PAC file", {"ip": "127.0.0.1", "url": "http://hearth.setup/__hearth/proxy.pac"},
     {"status": 200, "in_body": "FindProxyForURL"}),
    ("PAC file on the proxy's own address, for a device not yet set up", {
        "ip": "127.0.0.2", "url": "http://127.0.0.1:18081/__hearth/proxy.pac"},
     {"status": 200, "in_body": "PROXY "}),
    ("CA certificate for any device", {"ip": "127.0.0.2", "url": "http://hearth.setup/__hearth/ca.pem"},
     {"status": 200}),
    ("ask with a GET is refused", {"ip": "127.0.0.1", "url": "https://www.omegle.com/__hearth/ask"},
     {"status": 400}),
    ("form post with grooming: a text notice", {
        "ip": "127.0.0.1", "method": "POST", "url": "https://chat.example.org/send",
        "headers": {"content-type": "application/x-www-form-urlencoded"},
        "body": "msg=this+is+just+between+us%2C+don%27t+tell+your+parents+we+talk&to=42"},
     {"notices": [["text", "grooming", "chat.example.org"]]}),
    ("benign post: no notice", {
        "ip": "127.0.0.1", "method": "POST", "url": "https://chat.example.org/send",
        "headers": {"content-type": "application/json"}, "body": '{"msg": "this homework is killing me"}'},
     {"notices": []}),
    ("big upload streamed", {"ip": "127.0.0.1", "method": "POST", "url": "https://files.example.org/up",
                             "headers": {"content-type": "application/octet-stream", "content-length": BIG}},
     {"req_stream": True}),
    ("binary response streamed", {"ip": "127.0.0.1", "url": "https://files.example.org/a.zip",
                                  "response": {"headers": {"content-type": "application/zip"}}},
     {"resp_stream": True}),
    ("text response read and scanned", {
        "ip": "127.0.0.1", "url": "https://forum.example.org/t/1",
        "response": {"headers": {"content-type": "text/html"},
                     "body": "<p>ça reste entre nous, dis rien à tes parents</p>"}},
     {"resp_stream": False, "notices": [["text", "grooming", "forum.example.org"]]}),
    ("unmanaged response streamed, never read", {
        "ip": "127.0.0.2", "url": "https://forum.example.org/t/1",
        "response": {"headers": {"content-type": "text/html"}, "body": "<p>ça reste entre nous</p>"}},
     {"resp_stream": True, "notices": []}),
]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    exe = Path(mitmdump_or_skip())
    python = exe.parent / "python"
    root = tmp_path_factory.mktemp("addon")
    (root / "data").mkdir()
    cfg = root / "hearth.yaml"
    cfg.write_text(CONFIG.format(data=root / "data", port=18081))
    stdin = "".join(json.dumps(c) + "\n" for _, c, _ in CASES)
    r = subprocess.run([str(python), str(HERE / "addon_cases.py"), str(cfg)], input=stdin, capture_output=True,
                       text=True, timeout=120, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    assert len(lines) == len(CASES) + 2, r.stdout + r.stderr
    return lines


@pytest.mark.parametrize("i", range(len(CASES)), ids=[c[0] for c in CASES])
def test_hook_case(results, i):
    _, case, want = CASES[i]
    got = results[i]
    assert "error" not in got, got["error"]
    if "status" in want:
        assert got.get("status") == want["status"]
    if "in_body" in want:
        assert want["in_body"] in got["body"]
    if "url" in want:
        assert got["url"] == want["url"]
    if "url_has" in want:
        assert want["url_has"] in got["url"]
    if "url_lacks" in want:
        assert want["url_lacks"] not in got["url"]
    if "header" in want:
        k, v = want["header"]
        assert got["headers"].get(k) == v
    for k in ("req_stream", "resp_stream", "notices"):
        if k in want:
            assert got[k] == want[k], (k, got)


def test_configure_refuses_bad_values_in_words(results):
    refused = [r["refused"] for r in results[len(CASES):]]
    assert "give Hearth's config file" in refused[0]
    assert "cannot read" in refused[1] or "not found" in refused[1] or "missing" in refused[1]
