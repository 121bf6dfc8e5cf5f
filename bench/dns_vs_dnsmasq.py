#!/usr/bin/env python3
"""Hearth against dnsmasq, same machine, same run, same query file.

Both servers block the same 100,000 domains (suffix rules) and forward the rest to a local stub upstream. dnsperf
sends a mix of half blocked and half allowed-and-cached names; server and dnsperf are pinned to different cores.
Prints queries per second, average latency, RSS and CPU time per query for each, and Hearth/dnsmasq ratios.
CPU per query (from /proc) is the steadier figure: dnsperf itself saturates near 100k queries/s.

    .venv/bin/python bench/dns_vs_dnsmasq.py [--seconds 8] [--rounds 3] [--domains 100000] [--profile]
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.hearth_proc import free_port  # noqa: E402
from tests.support.stub_upstream import StubUpstream  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
SYLLABLES = ["ka", "lo", "mi", "ne", "ro", "sa", "tu", "vi", "xo", "ze", "bra", "cli", "dro", "fen", "gar", "hub",
             "net", "web", "cam", "chat", "live", "play", "bet", "win", "pix", "tube", "hot", "date", "meet"]
TLDS = ["com", "net", "org", "io", "xyz", "ru", "de", "fr", "info", "top", "site", "online"]



def hearth_config(tmp: Path, port: int, stub_port: int, log_on: bool, data_dir: Path | None = None) -> dict:
    """The benchmark's Hearth: one laptop in a child's profile blocking the bench's list, a second profile."""
    return {
        "timezone": "UTC", "data_dir": str(data_dir or tmp / "var"), "query_log": {"enabled": log_on},
        "dns": {"listen": [f"127.0.0.1:{port}"], "upstreams": [f"127.0.0.1:{stub_port}"],
                "rate_limit": {"queries": 0}},     # dnsperf is one client sending far past a home's rate
        "devices": [{"name": "bench-laptop", "ip": "127.0.0.1"},
                    {"name": "emma-phone", "mac": "aa:bb:cc:dd:ee:ff"}],
        "profiles": {"leo": {"devices": ["bench-laptop"], "block": ["bench-list", "random-chat"],
                             "schedules": [{"name": "bedtime", "days": "sun-thu", "from": "21:00",
                                            "to": "07:00", "block": ["social"]}]},
                     "emma": {"devices": ["emma-phone"], "block": ["dating"]}},
        "lists": {"sources": [{"name": "bench", "path": str(tmp / "bench-list.txt"), "category": "bench-list"}]},
    }

def domains(n: int, rng: random.Random) -> list[str]:
    out: set[str] = set()
    while len(out) < n:
        name = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))) + str(rng.randint(0, 999))
        out.add(f"{name}.{rng.choice(TLDS)}")
    return sorted(out)


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def proc_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def wait_answering(port: int, timeout: float = 60) -> None:
    import dns.message
    import dns.query
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            dns.query.udp(dns.message.make_query("ready.example", "A"), "127.0.0.1", port=port, timeout=0.5)
            return
        except Exception:
            time.sleep(0.2)
    raise RuntimeError(f"server on port {port} did not answer")


def dnsperf(port: int, qfile: Path, seconds: float, core: int) -> dict:
    cmd = ["taskset", "-c", str(core), "dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", str(qfile),
           "-l", str(seconds), "-c", "4", "-q", "200", "-t", "2"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    res = {}
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("Queries completed:"):
            res["completed"] = int(line.split()[2])
        elif line.startswith("Queries lost:"):
            res["lost"] = int(line.split()[2])
        elif line.startswith("Queries per second:"):
            res["qps"] = float(line.split()[3])
        elif line.startswith("Average Latency (s):"):
            res["latency_ms"] = float(line.split()[3]) * 1000
        elif line.startswith("Response codes:"):
            res["rcodes"] = line.split(":", 1)[1].strip()
    return res


def measure(name: str, pid: int, port: int, qfile: Path, seconds: float, client_core: int,
            profile: Path | None = None) -> dict:
    dnsperf(port, qfile, 2, client_core)                 # warm the caches
    spy = None
    if profile is not None:       # sample the server's Python stacks while dnsperf runs
        spy = subprocess.Popen([shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy"), "record", "--format", "raw", "--rate", "250", "--gil", "-o", str(profile),
                                "-p", str(pid), "-d", str(int(seconds))],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cpu0 = proc_cpu(pid)
    res = dnsperf(port, qfile, seconds, client_core)
    if spy is not None:
        spy.wait(30)
    cpu = proc_cpu(pid) - cpu0
    res["cpu_us_per_query"] = cpu / max(res.get("completed", 1), 1) * 1e6
    res["rss_mb"] = proc_rss_mb(pid)
    res["name"] = name
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--domains", type=int, default=100_000)
    ap.add_argument("--allowed", type=int, default=1000)
    ap.add_argument("--profile", action="store_true",
                    help="sample Hearth with py-spy (pip install py-spy) and print where its time goes")
    args = ap.parse_args()
    for tool in ("dnsperf", "dnsmasq", "taskset"):
        if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists():
            sys.exit(f"{tool} is missing: ./install.sh --test installs it")
    dnsmasq_bin = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
    cores = os.cpu_count() or 1
    server_core, client_core = 0, (1 if cores > 1 else 0)

    rng = random.Random(7)
    blocked = domains(args.domains, rng)
    allowed = [f"site{i}.allowed.test" for i in range(args.allowed)]
    tmp = Path(tempfile.mkdtemp(prefix="hearth-bench-"))
    qfile = tmp / "queries.txt"
    mix = [f"www.{d} A" for d in rng.sample(blocked, 5000)] + [f"{d} A" for d in allowed] * 5
    rng.shuffle(mix)
    qfile.write_text("\n".join(mix) + "\n")

    stub = StubUpstream({d: [("A", "192.0.2.1")] for d in allowed}).start()
    servers: list[tuple[str, subprocess.Popen, int]] = []
    startup = {}
    try:
        # --- dnsmasq ---
        dport = free_port()
        conf = tmp / "dnsmasq.conf"
        conf.write_text("".join(f"address=/{d}/0.0.0.0\n" for d in blocked))
        dm = subprocess.Popen(["taskset", "-c", str(server_core), dnsmasq_bin, "-k", f"--conf-file={conf}",
                               f"--port={dport}", "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv",
                               "--no-hosts", f"--server=127.0.0.1#{stub.port}", "--cache-size=10000",
                               "--user=root", "--pid-file="], stderr=subprocess.DEVNULL)
        servers.append(("dnsmasq", dm, dport))
        wait_answering(dport)

        # --- Hearth, with its query log on (the default), and off ---
        (tmp / "bench-list.txt").write_text("\n".join(blocked) + "\n")
        for label, log_on in (("hearth", True), ("hearth, no log", False)):
            hport = free_port()
            cfg = hearth_config(tmp, hport, stub.port, log_on, tmp / f"var-{int(log_on)}")
            path = tmp / f"hearth-{int(log_on)}.yaml"
            path.write_text(yaml.safe_dump(cfg))
            env = dict(os.environ, HEARTH_LOG="WARNING")
            t0 = time.monotonic()
            hp = subprocess.Popen(["taskset", "-c", str(server_core), sys.executable, "-m", "appliance.cli", "dns",
                                   "--config", str(path)], env=env, cwd=ROOT)
            servers.append((label, hp, hport))
            wait_answering(hport)
            startup[label] = time.monotonic() - t0

        # Rounds interleave the servers, so a noisy neighbour on this shared machine hits all of them alike.
        rounds: dict[str, list[dict]] = {name: [] for name, _, _ in servers}
        for r in range(args.rounds):
            for name, proc, port in servers:
                profile = tmp / "hearth.prof" if args.profile and name == "hearth" and r == 0 else None
                rounds[name].append(measure(name, proc.pid, port, qfile, args.seconds, client_core, profile))
        logged = _log_rows(tmp / "var-1" / "hearth.db")
        paths = measure_paths(tmp, mix)         # while the stub upstream still answers
    finally:
        for _, p, _ in servers:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        stub.stop()

    results = [{k: (statistics.median(x[k] for x in runs) if isinstance(runs[0][k], (int, float)) else runs[-1][k])
                for k in runs[0]} | {"runs": runs} for runs in rounds.values()]
    names = list(rounds)
    print(f"\n{args.domains:,} blocked domains, query mix: half blocked, half allowed-and-cached; "
          f"{args.rounds} interleaved rounds of {args.seconds:g} s per server (medians); server on core "
          f"{server_core}, dnsperf on core {client_core}\n")
    print(f"{'':<24}" + "".join(f"{n:>16}" for n in names) + "".join(f"{n + ' / dnsmasq':>26}" for n in names[1:]))
    for key, label, fmt in (("qps", "queries per second", "{:,.0f}"), ("latency_ms", "average latency (ms)", "{:.3f}"),
                            ("cpu_us_per_query", "CPU per query (µs)", "{:.2f}"), ("rss_mb", "RSS (MB)", "{:.1f}")):
        vals = [r.get(key, 0) for r in results]
        print(f"{label:<24}" + "".join(f"{fmt.format(v):>16}" for v in vals)
              + "".join(f"{(v / vals[0] if vals[0] else 0):>26.2f}" for v in vals[1:]))
    print(f"{'queries lost':<24}" + "".join(f"{r.get('lost', 0):>16}" for r in results))
    print("CPU per query in each round (µs): " + "; ".join(
        f"{r['name']} " + ", ".join(f"{x['cpu_us_per_query']:.2f}" for x in r["runs"]) for r in results))
    print("\nresponse codes: " + "; ".join(f"{r['name']} {r.get('rcodes')}" for r in results))
    print(f"hearth start-up with the list compiled: {startup['hearth']:.2f} s; query log rows written: {logged:,}")
    if args.profile:
        print_profile(tmp / "hearth.prof")
    print(paths)
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


def measure_paths(tmp: Path, mix: list[str], n: int = 20_000) -> str:
    """Python cost of one query in this process, no sockets: the hot path against the full chain (with the upstream
    answer already cached), on the same queries. What the hot path is worth, measured rather than assumed."""
    import asyncio

    import dns.message

    from appliance import config as configmod
    from appliance.dns.server import Resolver
    from appliance.dns.upstream import Upstreams
    from appliance.policy.clients import NeighbourTable
    from appliance.policy.engine import Engine
    from appliance.state.querylog import QueryLog
    from appliance.stream import Stream

    cfg = configmod.load(tmp / "hearth-1.yaml")
    resolver = Resolver(Engine.build(cfg), Upstreams(cfg.dns), Stream([QueryLog(tmp / "paths.db", enabled=False)]),
                        NeighbourTable(str(tmp / "no-arp"), ipv6=False))
    wires = [dns.message.make_query(line.split()[0], "A").to_wire() for line in mix[:2000]]

    async def run() -> tuple[float, float]:
        for w in wires:                      # fill the answer cache and the hot cache
            resolver.fast(w, "127.0.0.1", False)
            await resolver.full(w, "127.0.0.1", False)
        t = time.perf_counter()
        for i in range(n):
            resolver.fast(wires[i % len(wires)], "127.0.0.1", False)
        hot = (time.perf_counter() - t) / n
        t = time.perf_counter()
        for i in range(n):
            await resolver.full(wires[i % len(wires)], "127.0.0.1", False)
        return hot, (time.perf_counter() - t) / n

    hot, full = asyncio.run(run())
    # Clients that send an EDNS cookie (dig, unbound, BIND), a new one each query: how many the hot path takes.
    import random as _random
    import dns.edns
    rng = _random.Random(7)

    def with_cookies() -> list[bytes]:
        return [dns.message.make_query(line.split()[0], "A", use_edns=0, options=[
            dns.edns.GenericOption(10, rng.randbytes(8))]).to_wire() for line in mix[:2000]]

    async def first_time(wires_):             # each name once through the full chain, as a client's first ask
        for w in wires_:
            if resolver.fast(w, "127.0.0.1", False) is None:
                await resolver.full(w, "127.0.0.1", False)
    asyncio.run(first_time(with_cookies()))
    cookies = with_cookies()                  # the same names again, each with a new cookie
    share = sum(resolver.fast(w, "127.0.0.1", False) is not None for w in cookies) / len(cookies)
    t = time.perf_counter()
    for i in range(n):
        resolver.fast(cookies[i % len(cookies)], "127.0.0.1", False)
    cookie_hot = (time.perf_counter() - t) / n
    return (f"\nPython per query, in process (no sockets, no log): hot path {hot * 1e6:.2f} µs, full chain "
            f"{full * 1e6:.2f} µs with the upstream answer cached: the full chain costs {full / hot:.0f}x the hot path"
            f"\nclients sending a fresh EDNS cookie each query: {share:.0%} answered by the hot path, "
            f"{cookie_hot * 1e6:.2f} µs each")


def print_profile(path: Path, top: int = 15) -> None:
    """Self time by function from py-spy's collapsed stacks (samples while holding the GIL)."""
    from collections import Counter
    if not path.exists():
        print("no profile: is py-spy installed?")
        return
    leaf, total = Counter(), 0
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        frames = stack.split(";")
        leaf[frames[-1].split(" (")[0] + " (" + frames[-1].rsplit("/", 1)[-1]] += int(n)
        total += int(n)
    print(f"\nwhere Hearth's Python time goes (self time, {total} samples holding the GIL):")
    for fn, n in leaf.most_common(top):
        print(f"  {n / total:6.1%}  {fn}")


def _log_rows(path: Path) -> int:
    import sqlite3
    time.sleep(1.5)       # one writer interval
    try:
        con = sqlite3.connect(path)
        return con.execute("SELECT count(*) FROM query_log").fetchone()[0]
    except sqlite3.Error:
        return -1


if __name__ == "__main__":
    sys.exit(main())
