"""Benchmark the lists on a million names: the index beside a plain Python set, the compile child's memory, a
download's memory, and a real `hearth dns` daemon holding the list; then size the unit's MemoryMax from them.

    .venv/bin/python bench/lists.py [--domains 1000000] [--queries 200000] [--no-daemon]

Every memory figure is measured in a fresh process (VmRSS and VmHWM from /proc): the structure loaded once, the
compile child (what store.compile_in_child reports), a whole-list parse (what the compile held before issue 16),
a download of the list from a loopback HTTP server, and the daemon after start, after queries and after a reload
that recompiles. MemoryMax must hold the daemon at its peak plus the compile child at its cap (CHILD_MEMORY: the
child cannot pass it) plus a margin for the daemon's bounded caches.
"""
from __future__ import annotations

import argparse
import gc
import os
import pickle
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from appliance.config import Config, ListsConfig, ListSource  # noqa: E402
from appliance.lists import store  # noqa: E402
from appliance.lists.index import DomainIndex  # noqa: E402
from appliance.lists.parse import parse_file  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TLDS = ["com"] * 40 + ["net"] * 8 + ["org"] * 6 + ["io", "co", "info", "xyz", "ru", "de", "fr", "top", "site",
                                                   "online", "co.uk", "com.br", "me", "tv", "app", "cn"] * 2
SYLLABLES = [c + v for c in "bcdfghjklmnprstvwz" for v in "aeiou"] + ["ing", "er", "ex", "on", "an", "ly"]
SUBS = ["www", "cdn", "api", "m", "img", "static", "ads", "track", "media", "login", "app", "s1", "s2", "edge"]
MB = 1024 * 1024
MARGIN = 64 * MB      # the daemon's caches (bounded in entries and bytes), the query log queue, the admin's reloads


def word(rng: random.Random) -> str:
    w = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 5)))
    if rng.random() < 0.15:
        w += str(rng.randint(1, 999))
    if rng.random() < 0.1:
        w += "-" + "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 3)))
    return w


def make_domains(n: int, seed: int = 1) -> list[str]:
    """n distinct names: registrable domains under a TLD mix, a third of them with 1-2 labels above (many
    sharing a parent, as tracker and CDN hosts do in real lists)."""
    rng = random.Random(seed)
    names: dict[str, None] = {}
    parents: list[str] = []
    while len(names) < n:
        if parents and rng.random() < 0.35:
            parent = rng.choice(parents)
            depth = rng.choice((1, 1, 2))
            labels = [rng.choice(SUBS) if rng.random() < 0.5 else word(rng) for _ in range(depth)]
            names[".".join(labels + [parent])] = None
        else:
            name = f"{word(rng)}.{rng.choice(TLDS)}"
            names[name] = None
            if rng.random() < 0.3:
                parents.append(name)
    return list(names)[:n]


def make_queries(domains: list[str], n: int, seed: int = 2) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    hits = [rng.choice(("", "www.", "a.b.")) + rng.choice(domains) for _ in range(n)]
    listed = set(domains)
    misses: list[str] = []
    while len(misses) < n:
        q = f"{rng.choice(SUBS)}.{word(rng)}.{rng.choice(TLDS)}"
        if not any(q.split(".", i)[-1] in listed for i in range(q.count(".") + 1)):
            misses.append(q)
    return hits, misses


def set_lookup(names: set[str], qname: str) -> tuple[str, ...]:
    """The same suffix walk over a set: what the index replaces."""
    name = qname.lower().rstrip(".")
    found = []
    while True:
        if name in names:
            found.append(name)
        dot = name.find(".")
        if dot < 0:
            return tuple(found)
        name = name[dot + 1:]


def status(pid: int | str = "self") -> dict[str, int]:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:", "VmPeak:")):
                out[line.split(":")[0]] = int(line.split()[1]) * 1024
    return out


def bench_config(tmp: Path, list_path: Path, url: str | None = None) -> Config:
    src = ListSource("big", "adult", url=url) if url else ListSource("big", "adult", path=str(list_path))
    return Config(data_dir=tmp / "data", blocklists_dir=ROOT / "blocklists", lists=ListsConfig(sources=(src,)))


def child(kind: str, path: str, url: str = "") -> None:
    """Run in a fresh interpreter: print the RSS the step adds, its peak, its time, and a count."""
    import marisa_trie  # noqa: F401  (the module's own RSS is not the index's)
    gc.collect()
    before = status()["VmRSS"]
    t = time.perf_counter()
    obj = None                 # kept until RSS is read: what the loaded structure holds
    if kind == "index":
        obj = DomainIndex.load(path)
        n = len(obj)
    elif kind == "set":
        with open(path, "rb") as f:
            obj = pickle.load(f)
        n = len(obj)
    elif kind == "whole":      # the list parsed whole, as the compile did before: its peak alone
        n = len(parse_file(path).domains)
    else:                      # download: the list from a loopback server through sources.update_source
        from appliance.lists.sources import update_source
        config = bench_config(Path(tempfile.mkdtemp(prefix="hearth-bench-dl-")), Path(path), url)
        n = update_source(config, config.lists.sources[0]).entries
    elapsed = time.perf_counter() - t
    gc.collect()
    now = status()
    print(now["VmRSS"] - before, now["VmHWM"] - before, elapsed, n)
    del obj


def in_child(kind: str, path: Path, url: str = "") -> tuple[int, int, float]:
    out = subprocess.run([sys.executable, __file__, "--child", kind, str(path), url], check=True,
                         capture_output=True, text=True).stdout.split()
    return int(out[0]), int(out[1]), float(out[2])


def rate(fn, queries: list[str]) -> float:
    t = time.perf_counter()
    for q in queries:
        fn(q)
    return len(queries) / (time.perf_counter() - t)


def serve_file(path: Path) -> ThreadingHTTPServer:
    body = path.read_bytes()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


# --- a real daemon -----------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ask(port: int, names: list[str]) -> int:
    """Send each name as an A query over UDP; the number answered."""
    from dnslib import DNSRecord
    answered = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(2)
        for name in names:
            s.sendto(DNSRecord.question(name).pack(), ("127.0.0.1", port))
            try:
                s.recv(4096)
                answered += 1
            except socket.timeout:
                pass
    return answered


def bench_daemon(tmp: Path, list_path: Path, hits: list[str]) -> dict[str, float]:
    """Start `hearth dns` on the list (the compile child builds the index), query it, touch the list and reload
    (the child compiles again while the daemon serves); the daemon's RSS at each step and the children's peaks."""
    port = free_port()
    data = tmp / "daemon-data"
    cfg = tmp / "hearth.yaml"
    cfg.write_text(
        f"timezone: UTC\ndata_dir: {data}\n"
        f"dns:\n  listen: ['127.0.0.1:{port}']\n  upstreams: ['127.0.0.1:9']\n  rate_limit: {{queries: 0}}\n"
        f"default_profile:\n  block: [adult]\n"
        f"lists:\n  sources:\n    - {{name: big, path: '{list_path}', category: adult}}\n")
    log_path = tmp / "daemon.log"
    env = dict(os.environ, HEARTH_LOG="INFO")
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "appliance.cli", "dns", "--config", str(cfg)],
                                stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    try:
        t0 = time.monotonic()
        while "lists ready" not in log_path.read_text():
            if proc.poll() is not None or time.monotonic() - t0 > 300:
                raise RuntimeError("the daemon did not start:\n" + log_path.read_text()[-2000:])
            time.sleep(0.1)
        start_s = time.monotonic() - t0
        time.sleep(1)
        out = {"start (s)": start_s, "RSS after start (MB)": status(proc.pid)["VmRSS"] / MB}
        answered = ask(port, hits[:20000])
        out["queries answered of 20,000"] = answered
        out["RSS after 20,000 queries (MB)"] = status(proc.pid)["VmRSS"] / MB
        with open(list_path, "a") as f:
            f.write("one-more-name.example\n")        # a new fingerprint: the reload compiles again
        os.kill(proc.pid, signal.SIGHUP)
        t0, peak, during, sent = time.monotonic(), 0, 0, 0
        while log_path.read_text().count("reloaded") < 1:
            if proc.poll() is not None or time.monotonic() - t0 > 300:
                raise RuntimeError("the reload did not finish:\n" + log_path.read_text()[-2000:])
            peak = max(peak, status(proc.pid)["VmRSS"])
            during += ask(port, hits[:5])
            sent += 5
            time.sleep(0.05)
        out["reload (s)"] = time.monotonic() - t0
        out["queries answered during the reload (%)"] = 100.0 * during / max(1, sent)
        out["daemon peak RSS seen during the reload (MB)"] = peak / MB
        time.sleep(1)
        st = status(proc.pid)
        out["RSS after reload (MB)"] = st["VmRSS"] / MB
        out["daemon peak RSS, whole run (MB)"] = st["VmHWM"] / MB
        peaks = [float(m) for m in re.findall(r"peak (\d+) MB resident", log_path.read_text())]
        out["compile child peak RSS (MB)"] = max(peaks) if peaks else float("nan")
        return out
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--domains", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=200_000)
    ap.add_argument("--no-daemon", action="store_true", help="skip the real daemon (its start and reload)")
    ap.add_argument("--child", nargs=3, metavar=("KIND", "PATH", "URL"))
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return

    with tempfile.TemporaryDirectory(prefix="hearth-bench-") as tmp:
        tmp = Path(tmp)
        print(f"generating {args.domains:,} domains ...", flush=True)
        domains = make_domains(args.domains)
        depth = sum(d.count(".") for d in domains) / len(domains)
        list_path = tmp / "list.txt"
        list_path.write_text("\n".join(domains) + "\n")
        print(f"  {list_path.stat().st_size / 1e6:.1f} MB list, {depth:.2f} dots a name on average", flush=True)
        hits, misses = make_queries(domains, args.queries)
        del domains
        gc.collect()

        config = bench_config(tmp, list_path)
        t = time.perf_counter()
        index = store.compile_index(config)            # in this process: the time, not the memory
        t_compile = time.perf_counter() - t
        t = time.perf_counter()
        names = set(parse_file(list_path).domains)
        t_set = time.perf_counter() - t
        assert len(names) == args.domains and len(index) >= args.domains, (len(index), len(names))

        index_path, set_path = tmp / "index.bin", tmp / "set.pickle"
        index.save(index_path)
        with open(set_path, "wb") as f:
            pickle.dump(names, f, protocol=pickle.HIGHEST_PROTOCOL)
        rss_index, _, load_index = in_child("index", index_path)
        rss_set, _, load_set = in_child("set", set_path)
        _, peak_whole, _ = in_child("whole", list_path)
        httpd = serve_file(list_path)
        try:
            _, peak_download, t_download = in_child(
                "download", list_path, f"http://127.0.0.1:{httpd.server_address[1]}/list.txt")
        finally:
            httpd.shutdown()
        done = store.compile_in_child(bench_config(tmp / "child", list_path))

        for q in hits[:1000] + misses[:1000]:     # the two must agree before their speed means anything
            got = {h.rule for h in index.lookup(q) if h.source == "big"}
            assert got == set(set_lookup(names, q)), q
        rates = {}
        for label, qs in (("hits", hits), ("misses", misses)):
            rates[label] = (rate(index.lookup, qs), rate(lambda q: set_lookup(names, q), qs))

        rows = [
            ("compile, parse + build (s)", t_compile, t_set),
            ("load cached structure (s)", load_index, load_set),
            ("RSS added once loaded (MB)", rss_index / MB, rss_set / MB),
            ("on-disk cache (MB)", index_path.stat().st_size / MB, set_path.stat().st_size / MB),
            ("lookups/s, hits (suffix walk)", rates["hits"][0], rates["hits"][1]),
            ("lookups/s, misses (suffix walk)", rates["misses"][0], rates["misses"][1]),
        ]
        print(f"\n{args.domains:,} domains, {args.queries:,} queries each; Python {sys.version.split()[0]}, "
              f"{os.uname().machine}, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        print(f"{'':38}{'index':>12}{'set':>12}{'index/set':>11}")
        for label, a, b in rows:
            fmt = "{:>12,.0f}" if a > 1000 else "{:>12.3f}"
            print(f"{label:38}{fmt.format(a)}{fmt.format(b)}{a / b:>11.2f}")
        print(f"{'per lookup, hits / misses (us)':38}{1e6 / rates['hits'][0]:>7.2f} /{1e6 / rates['misses'][0]:>5.2f}")

        print("\nmemory of a compile and a download (fresh processes)")
        print(f"  compile child: {done.seconds:.1f} s, peak {done.peak_rss / MB:.1f} MB resident, "
              f"{done.peak_vm / MB:.1f} MB address space (cap {store.CHILD_MEMORY / MB:.0f} MB)")
        print(f"  for comparison, the list parsed whole (what the compile held first before): "
              f"+{peak_whole / MB:.1f} MB peak")
        print(f"  download of the list (sources.update_source): +{peak_download / MB:.1f} MB peak, "
              f"{t_download:.1f} s")
        if args.no_daemon:
            return
        print("\na real `hearth dns` with the list (127.0.0.1, upstream unreachable: blocked names only)", flush=True)
        d = bench_daemon(tmp, list_path, hits)
        for label, value in d.items():
            print(f"  {label:44}{value:>10.1f}")
        need = d["daemon peak RSS, whole run (MB)"] * MB + store.CHILD_MEMORY + MARGIN
        print(f"\nMemoryMax = daemon peak {d['daemon peak RSS, whole run (MB)']:.0f} MB + compile child cap "
              f"{store.CHILD_MEMORY / MB:.0f} MB (measured peak {d['compile child peak RSS (MB)']:.0f} MB) + margin "
              f"{MARGIN / MB:.0f} MB = {need / MB:.0f} MB; systemd/hearth-dns.service says "
              f"{_unit_memory_max()}")


def _unit_memory_max() -> str:
    unit = ROOT / "systemd" / "hearth-dns.service"
    m = re.search(r"^MemoryMax=(\S+)", unit.read_text(), re.M) if unit.is_file() else None
    return m.group(1) if m else "nothing"


if __name__ == "__main__":
    main()
