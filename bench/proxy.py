#!/usr/bin/env python3
"""The web proxy's cost: latency added per request and CPU per request, Hearth's addon against bare mitmdump against
no proxy, for small pages and a 20 MB download (streamed), the detector's messages a second inside the addon, and
the memory of the mitmdump process.

    .venv/bin/python bench/proxy.py [--requests 300] [--messages 2000]

Everything on loopback: a local HTTPS origin (tests/proxy/origin.py), the same mitmdump binary from the proxy's
venv for both proxied runs (a test-only addon sends every connection to the origin). "managed" is Emma's tablet
(inspected, decided, scanned), "unmanaged" Leo's laptop through the same Hearth proxy (relayed undecrypted).
Latency is measured on one kept-alive HTTPS connection (the request, not the handshake), and separately for a new
connection per request (CONNECT + TLS with the proxy's per-host certificate, cached after the first).
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from appliance.proxy.run import find_mitmdump  # noqa: E402
from tests.proxy.conftest import CONFIG, HOSTS, free_port  # noqa: E402
from tests.proxy.origin import BIG, Origin, encode_frame, make_cert, read_frame  # noqa: E402

REDIRECT = ROOT / "tests" / "proxy" / "redirect_addon.py"
CHAT = [
    "are you coming to practice tomorrow?", "lol that video was so funny", "can you send me the homework",
    "this homework is killing me", "ça reste entre nous, dis rien à tes parents", "on se voit à la récré ?",
    "what time does the movie start", "this is just between us, don't tell your parents we talk",
]


def clock_ticks(pid: int) -> float:
    """CPU seconds used by ``pid`` so far (user + system)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def mem_kb(pid: int, key: str) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def connect(host: str, proxy: int | None, origin: Origin, ca: Path, source: str) -> http.client.HTTPSConnection:
    ctx = ssl.create_default_context(cafile=str(ca))
    if proxy is None:
        ctx.check_hostname = False          # direct: the origin's address, its certificate names the test hosts
        c = http.client.HTTPSConnection("127.0.0.1", origin.https_port, context=ctx, timeout=30,
                                        source_address=(source, 0))
    else:
        c = http.client.HTTPSConnection("127.0.0.1", proxy, context=ctx, timeout=30, source_address=(source, 0))
        c.set_tunnel(host, 443)
    return c


def get(c: http.client.HTTPSConnection, host: str, path: str) -> int:
    c.request("GET", path, headers={"Host": host})
    r = c.getresponse()
    n = 0
    while chunk := r.read(1 << 16):
        if r.status != 200:
            sys.exit(f"{host}{path}: {r.status} {chunk[:300]!r}")
        n += len(chunk)
    return n


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]


def run_case(name: str, proxy: int | None, pid: int | None, origin: Origin, ca: Path, source: str, n: int) -> dict:
    host = "news.example.org"
    out = {"name": name}
    c = connect(host, proxy, origin, ca, source)
    get(c, host, "/warm")
    cpu0 = clock_ticks(pid) if pid else 0.0
    lat = []
    for i in range(n):
        t = time.perf_counter()
        get(c, host, f"/page?i={i}")
        lat.append((time.perf_counter() - t) * 1000)
    out["cpu_ms_per_req"] = (clock_ticks(pid) - cpu0) * 1000 / n if pid else 0.0
    c.close()
    out["keepalive_p50"], out["keepalive_p99"] = statistics.median(lat), pct(lat, 0.99)
    lat = []
    for i in range(max(n // 5, 20)):
        t = time.perf_counter()
        c = connect(host, proxy, origin, ca, source)
        get(c, host, "/new")
        c.close()
        lat.append((time.perf_counter() - t) * 1000)
    out["newconn_p50"], out["newconn_p99"] = statistics.median(lat), pct(lat, 0.99)
    hwm0 = mem_kb(pid, "VmHWM") if pid else 0
    cpu0 = clock_ticks(pid) if pid else 0.0
    c = connect("files.example.org", proxy, origin, ca, source)
    t = time.perf_counter()
    size = get(c, "files.example.org", "/big")
    secs = time.perf_counter() - t
    c.close()
    assert size == BIG, size
    out["big_s"] = secs
    out["big_mb_s"] = BIG / secs / 1e6
    out["big_cpu_s"] = clock_ticks(pid) - cpu0 if pid else 0.0
    out["big_peak_growth_mb"] = (mem_kb(pid, "VmHWM") - hwm0) / 1024 if pid else 0.0
    return out


def ws_rate(proxy: int, ca: Path, source: str, messages: int) -> float:
    """Messages a second through a wss:// connection, each a chat line the addon scans."""
    host = "chat.example.org"
    s = socket.create_connection(("127.0.0.1", proxy), timeout=30, source_address=(source, 0))
    s.sendall(f"CONNECT {host}:443 HTTP/1.1\r\nHost: {host}:443\r\n\r\n".encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(4096)
    t = ssl.create_default_context(cafile=str(ca)).wrap_socket(s, server_hostname=host)
    t.sendall((f"GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    f = t.makefile("rb")
    f.readline()
    while f.readline() not in (b"\r\n", b""):
        pass
    start = time.perf_counter()
    for i in range(messages):
        t.sendall(encode_frame(1, CHAT[i % len(CHAT)].encode()))
        read_frame(f)
    rate = messages / (time.perf_counter() - start)
    t.close()
    return rate


def start(cmd: list[str], env: dict, port: int, ca: Path, log: Path) -> subprocess.Popen:
    p = subprocess.Popen(cmd, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT)
    end = time.monotonic() + 60
    while time.monotonic() < end:
        if p.poll() is not None:
            sys.exit(f"mitmdump exited: {log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            if ca.exists():
                return p
        except OSError:
            pass
        time.sleep(0.2)
    p.kill()
    sys.exit(f"mitmdump did not start: {log.read_text()}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--messages", type=int, default=2000)
    args = ap.parse_args()
    exe = find_mitmdump()
    if exe is None:
        sys.exit("no mitmdump: ./install.sh --proxy sets up .venv-proxy")
    lines = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.splitlines()
    version = ", ".join(" ".join(x.split()) for x in lines if x.startswith(("Mitmproxy", "Python")))   # its own
    root = Path(tempfile.mkdtemp(prefix="hearth-bench-proxy-"))
    cert, key = make_cert(root, HOSTS + ["news.example.org"])
    origin = Origin(cert, key)
    origin.set_page("<html><body>" + "<p>An ordinary news paragraph about the school fair.</p>" * 40
                    + "</body></html>")
    env = dict(os.environ, HEARTH_MITMDUMP=exe, HEARTH_TEST_HTTP=str(origin.http_port),
               HEARTH_TEST_HTTPS=str(origin.https_port), PYTHONPATH=str(ROOT))
    results, procs = [], []
    try:
        results.append(run_case("no proxy", None, None, origin, cert, "127.0.0.1", args.requests))
        bare_port, bare_conf = free_port(), root / "bare"
        bare = start([exe, "-q", "--listen-host", "127.0.0.1", "--listen-port", str(bare_port), "--set",
                      f"confdir={bare_conf}", "--set", "ssl_insecure=true", "-s", str(REDIRECT)], env, bare_port,
                     bare_conf / "mitmproxy-ca-cert.pem", root / "bare.log")
        procs.append(bare)
        bare_rss = mem_kb(bare.pid, "VmRSS")
        results.append(run_case("bare mitmdump", bare_port, bare.pid, origin, bare_conf / "mitmproxy-ca-cert.pem",
                                "127.0.0.1", args.requests))
        bare_ws = ws_rate(bare_port, bare_conf / "mitmproxy-ca-cert.pem", "127.0.0.1", args.messages)
        bare_hwm = mem_kb(bare.pid, "VmHWM")
        bare.terminate()
        port = free_port()
        (root / "data").mkdir()
        cfg = root / "hearth.yaml"
        cfg.write_text(CONFIG.format(data=root / "data", port=port))
        ca = root / "data" / "proxy" / "mitmproxy-ca-cert.pem"
        hearth = start([sys.executable, "-m", "appliance.cli", "proxy", "--config", str(cfg), "--", "--set",
                        "ssl_insecure=true", "--set", "hearth_neighbours=false", "-s", str(REDIRECT)], env, port, ca,
                       root / "hearth.log")
        procs.append(hearth)
        time.sleep(1.0)
        hearth_rss = mem_kb(hearth.pid, "VmRSS")
        results.append(run_case("Hearth, managed", port, hearth.pid, origin, ca, "127.0.0.1", args.requests))
        results.append(run_case("Hearth, unmanaged", port, hearth.pid, origin, cert, "127.0.0.2", args.requests))
        hearth_ws = ws_rate(port, ca, "127.0.0.1", args.messages)
        hearth_hwm = mem_kb(hearth.pid, "VmHWM")
    finally:
        for p in procs:
            p.terminate()
        origin.close()

    from appliance.textscan.scanner import scanner_for
    sc = scanner_for()
    t = time.perf_counter()
    for i in range(args.messages):
        sc.scan(CHAT[i % len(CHAT)])
    bare_scan = args.messages / (time.perf_counter() - t)

    print(f"bench/proxy.py — {version}, {os.cpu_count()} CPUs, loopback, "
          f"{args.requests} requests a case")
    print(f"{'case':<20} {'keep-alive p50/p99 ms':>22} {'new conn p50/p99 ms':>21} {'CPU ms/req':>10} "
          f"{'20 MB: s':>8} {'MB/s':>6} {'CPU s':>6} {'peak +MB':>8}")
    base = results[0]
    for r in results:
        print(f"{r['name']:<20} {r['keepalive_p50']:>10.2f} / {r['keepalive_p99']:<9.2f} "
              f"{r['newconn_p50']:>9.2f} / {r['newconn_p99']:<9.2f} {r['cpu_ms_per_req']:>10.2f} "
              f"{r['big_s']:>8.2f} {r['big_mb_s']:>6.0f} {r['big_cpu_s']:>6.2f} {r['big_peak_growth_mb']:>8.1f}")
    print("added latency per request (keep-alive p50, p99) against no proxy:")
    for r in results[1:]:
        print(f"  {r['name']:<20} +{r['keepalive_p50'] - base['keepalive_p50']:.2f} ms, "
              f"+{r['keepalive_p99'] - base['keepalive_p99']:.2f} ms")
    print(f"WebSocket chat messages a second through the proxy: bare mitmdump {bare_ws:.0f}, Hearth managed "
          f"(every message scanned) {hearth_ws:.0f}; the detector alone in one process: {bare_scan:.0f}")
    print(f"mitmdump memory: bare RSS {bare_rss / 1024:.0f} MB at start, peak {bare_hwm / 1024:.0f} MB; "
          f"with Hearth's addon RSS {hearth_rss / 1024:.0f} MB at start, peak {hearth_hwm / 1024:.0f} MB")
    print(json.dumps({"results": results, "ws": {"bare": bare_ws, "hearth": hearth_ws, "scanner": bare_scan},
                      "rss_kb": {"bare": bare_rss, "bare_peak": bare_hwm, "hearth": hearth_rss,
                                 "hearth_peak": hearth_hwm}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
