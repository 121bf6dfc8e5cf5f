#!/usr/bin/env python3
"""Hearth beside its peers (dnsmasq at its default cache and at the bench's, unbound), one command, one run.

Every server blocks the same 100,000 domains and forwards the rest to one stub upstream: dnsmasq answering every
name itself (``address=/#/``), a C server that costs a few microseconds a query. The server under test is pinned to
core 0; dnsperf and the stub share core 1. Rounds interleave the servers, so a noisy neighbour hits all alike.
For each server:

- hot: the bench's mix (half blocked, half allowed and cached), as fast as it goes: CPU per query from /proc;
- miss: every name new (a cache miss each), 20 queries outstanding: unique names per second before overload
  and CPU per query; the stub's own CPU share over the same seconds shows it is not the bottleneck;
- latency: the hot mix at a fixed 2,000 queries a second: p50 / p99 / p99.9 from dnsperf's per-query times;
- idle: context switches of every thread per second over ``--idle`` seconds with nothing asked (wake-ups).

    .venv/bin/python bench/dns_peers.py [--seconds 5] [--rounds 3] [--profile] [--only hearth,unbound]
                                        [--parts latency]   (some of idle,hot,miss,latency: the others skipped)

``--profile`` samples Hearth with py-spy during the first miss round and prints where a miss spends its time.
``--in-process BATCHES`` also measures each Hearth's miss in a process of its own with no dnsperf and no log (the
listener, resolver and upstream pool, a client on the same loop): its least disturbed batch is a steadier number
than the others on a machine shared with other work.
``./install.sh --bench`` installs the peers, dnsperf and py-spy.
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
from collections import Counter
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
# The in-process child measures another checkout's code: that tree comes first, before anything imports Hearth.
_CHILD = sys.argv[sys.argv.index("--in-process-child") + 1] if "--in-process-child" in sys.argv[:-1] else None
sys.path.insert(0, _CHILD or str(ROOT))

from bench.dns_vs_dnsmasq import domains, hearth_config, wait_answering  # noqa: E402
from tests.support.hearth_proc import free_port  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
SERVER_CORE, CLIENT_CORE = "0", "1"
FIXED_RATE = 2000


def tree_cpu(pid: int, kernel_only: bool = False) -> float:
    """User + system CPU seconds of a process and its live children (a writer process counts as Hearth's); with
    ``kernel_only``, the system part alone (the system calls: sends, receives, waits)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            head, rest = stat.read_text().rsplit(")", 1)
        except OSError:
            continue
        f = rest.split()
        if int(stat.parent.name) == pid or int(f[1]) == pid:
            total += ((0 if kernel_only else int(f[11])) + int(f[12])) / TICK
    return total


def wakeups(pid: int) -> int:
    """Context switches, voluntary and not, of every thread: each one is the process waking up."""
    n = 0
    for status in Path(f"/proc/{pid}/task").glob("*/status"):
        try:
            for line in status.read_text().splitlines():
                if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                    n += int(line.split()[1])
        except OSError:
            pass
    return n


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def dnsperf(port: int, qfile: Path, seconds: float, *, outstanding: int = 200, rate: int | None = None,
            verbose: bool = False, once: bool = False) -> dict:
    cmd = ["taskset", "-c", CLIENT_CORE, "dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", str(qfile),
           "-l", str(seconds), "-c", "4", "-q", str(outstanding), "-t", "2"]
    if rate:
        cmd += ["-Q", str(rate)]
    if verbose:
        cmd += ["-v"]
    if once:
        cmd += ["-n", "1"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    res: dict = {"lat": []}
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("> "):
            try:
                res["lat"].append(float(line.rsplit(" ", 1)[1]))
            except ValueError:
                pass
        elif line.startswith("Queries completed:"):
            res["completed"] = int(line.split()[2])
        elif line.startswith("Queries lost:"):
            res["lost"] = int(line.split()[2])
        elif line.startswith("Queries per second:"):
            res["qps"] = float(line.split()[3])
        elif line.startswith("Response codes:"):
            res["rcodes"] = line.split(":", 1)[1].strip()
    return res


def settle(pid: int, limit: float = 30) -> None:
    """Wait until a server is quiet (under 5% of a core over half a second): work left from the last test (a
    log writer's backlog) is then not counted in the next."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        c0 = tree_cpu(pid)
        time.sleep(0.5)
        if tree_cpu(pid) - c0 < 0.025:
            return


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(p / 100 * len(v)))]


class Servers:
    """The stub upstream and the servers under test, started once for the whole run."""

    def __init__(self, tmp: Path, blocked: list[str], only: set[str] | None,
                 hearths: tuple[tuple[str, Path, bool], ...] = (("hearth", ROOT, True),)):
        self.tmp, self.procs, self.ports = tmp, {}, {}
        self.dnsmasq = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
        self.stub_port = free_port()
        # The stub: every name answered by dnsmasq itself, no cache, TTL 300 (the peers then cache the answers).
        self.stub = subprocess.Popen(["taskset", "-c", CLIENT_CORE, self.dnsmasq, "-k", f"--port={self.stub_port}",
                                      "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv", "--no-hosts",
                                      "--address=/#/192.0.2.1", "--local-ttl=300", "--cache-size=0", "--user=root",
                                      "--pid-file=", "--dns-forward-max=10000"], stderr=subprocess.DEVNULL)
        wait_answering(self.stub_port)
        want = lambda name: only is None or name.split(" ")[0] in only  # noqa: E731
        conf = tmp / "dnsmasq-block.conf"
        conf.write_text("".join(f"address=/{d}/0.0.0.0\n" for d in blocked))
        for label, cache in (("dnsmasq 150", 150), ("dnsmasq 10000", 10000)):
            if want(label):
                port = free_port()
                self._start(label, port, [self.dnsmasq, "-k", f"--conf-file={conf}", f"--port={port}",
                                          "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv",
                                          "--no-hosts", f"--server=127.0.0.1#{self.stub_port}",
                                          f"--cache-size={cache}", "--dns-forward-max=1000", "--user=root",
                                          "--pid-file="])
        if want("unbound") and shutil.which("unbound"):
            port = free_port()
            uconf = tmp / "unbound.conf"
            uconf.write_text(
                "server:\n  interface: 127.0.0.1\n  port: %d\n  do-daemonize: no\n  username: \"\"\n  chroot: \"\"\n"
                "  directory: \"%s\"\n  pidfile: \"\"\n  use-syslog: no\n  verbosity: 0\n  num-threads: 1\n"
                "  module-config: \"iterator\"\n  do-not-query-localhost: no\n  do-ip6: no\n"
                "  access-control: 127.0.0.0/8 allow\n%s"
                "forward-zone:\n  name: \".\"\n  forward-addr: 127.0.0.1@%d\n"
                % (port, tmp, "".join(f"  local-zone: \"{d}.\" always_null\n" for d in blocked), self.stub_port))
            self._start("unbound", port, ["unbound", "-d", "-c", str(uconf)])
        (tmp / "bench-list.txt").write_text("\n".join(blocked) + "\n")
        for k, (label, tree, log_on) in enumerate(hearths):
            if not want("hearth"):
                break
            port = free_port()
            cfg = hearth_config(tmp, port, self.stub_port, log_on, data_dir=tmp / f"var-{k}")
            path = tmp / f"hearth-{k}.yaml"
            path.write_text(yaml.safe_dump(cfg))
            # python -m from the tree's own folder: that tree's appliance package is the one imported
            self._start(label, port, [sys.executable, "-m", "appliance.cli", "dns", "--config", str(path)],
                        env=dict(os.environ, HEARTH_LOG="WARNING", PYTHONPATH=str(tree)), cwd=tree)
        for name, port in self.ports.items():
            wait_answering(port, timeout=120)

    def _start(self, name: str, port: int, cmd: list[str], env: dict | None = None, cwd: Path = ROOT) -> None:
        self.procs[name] = subprocess.Popen(["taskset", "-c", SERVER_CORE] + cmd, env=env, cwd=cwd,
                                            stderr=subprocess.DEVNULL if not name.startswith("hearth") else None)
        self.ports[name] = port

    def stop(self) -> None:
        for p in [*self.procs.values(), self.stub]:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()


def in_process_child(tree: Path, stub_port: int, batches: int, names: int) -> None:
    """One tree's cache miss measured in this process (started by ``--in-process``): its listener, resolver and
    upstream pool on one uvloop, a client on the same loop keeping 20 queries outstanding, the bench's stub as
    upstream, no query log. CPU of this thread per miss minus the client's own (the same client against the stub),
    per batch: the smallest batch is the least disturbed by the other programs on the machine."""
    import asyncio
    import gc
    import socket

    import dns.message

    from appliance import config as configmod
    from appliance.dns import listener
    from appliance.dns.server import Resolver
    from appliance.dns.upstream import Upstreams
    from appliance.policy.clients import NeighbourTable
    from appliance.policy.engine import Engine
    from appliance.state.querylog import QueryLog
    from appliance.stream import Stream

    import appliance
    assert Path(appliance.__file__).resolve().parent.parent == tree.resolve(), "measuring the wrong checkout"
    tmp = Path(tempfile.mkdtemp(prefix="hearth-inproc-"))
    (tmp / "bench-list.txt").write_text("\n".join(domains(100_000, random.Random(7))) + "\n")
    port = free_port()
    cfg = hearth_config(tmp, port, stub_port, log_on=False)
    (tmp / "h.yaml").write_text(yaml.safe_dump(cfg))
    config = configmod.load(tmp / "h.yaml")
    resolver = Resolver(Engine.build(config), Upstreams(config.dns), Stream([QueryLog(tmp / "x.db", enabled=False)]),
                        NeighbourTable(str(tmp / "no-arp"), ipv6=False))

    async def client(target: int, wires: list[bytes], window: int = 20) -> float:
        loop = asyncio.get_running_loop()
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setblocking(False)
        s.connect(("127.0.0.1", target))
        done, state = loop.create_future(), [0, 0]        # sent, received

        def send_more() -> None:
            while state[0] - state[1] < window and state[0] < len(wires):
                s.send(wires[state[0]])
                state[0] += 1

        def readable() -> None:
            while True:
                try:
                    s.recv(4096)
                except BlockingIOError:
                    break
                state[1] += 1
            if state[1] >= len(wires):
                if not done.done():
                    done.set_result(None)
            else:
                send_more()
        loop.add_reader(s.fileno(), readable)
        send_more()
        t = time.thread_time()
        await asyncio.wait_for(done, 120)
        t = time.thread_time() - t
        loop.remove_reader(s.fileno())
        s.close()
        return t / len(wires) * 1e6

    async def run() -> list[float]:
        opened = await listener.start(resolver, config.dns.listen)
        gc.set_threshold(10_000, 10, 10)     # as the daemon does
        out, alone = [], []
        for b in range(batches):
            ours = [dns.message.make_query(f"n{i}.b{b}.miss-inproc.net", "A").to_wire() for i in range(names)]
            theirs = [dns.message.make_query(f"n{i}.s{b}.miss-inproc.net", "A").to_wire() for i in range(names)]
            alone.append(await client(stub_port, theirs))
            out.append(await client(port, ours))
        for o in opened:
            o.close()
        return [x - min(alone) for x in out]

    import uvloop
    uvloop.install()
    try:
        per = asyncio.run(run())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("RESULT", min(per), statistics.median(per), flush=True)


def in_process(tree: Path, stub_port: int, batches: int, names: int = 3000) -> tuple[float, float]:
    out = subprocess.run(["taskset", "-c", SERVER_CORE, sys.executable, str(Path(__file__).resolve()),
                          "--in-process-child", str(tree), "--stub-port", str(stub_port), "--in-process",
                          str(batches), "--names", str(names)], capture_output=True, text=True, cwd=tree)
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            lo, med = map(float, line.split()[1:])
            return lo, med
    raise RuntimeError(f"the in-process measure of {tree} failed: {out.stderr[-2000:]}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--domains", type=int, default=100_000)
    ap.add_argument("--idle", type=float, default=10)
    ap.add_argument("--profile", action="store_true", help="py-spy Hearth during the first miss round")
    ap.add_argument("--only", help="comma-separated: hearth, dnsmasq, unbound")
    ap.add_argument("--no-log", action="store_true", help="also measure Hearth with its query log off")
    ap.add_argument("--before", metavar="TREE", help="also measure the Hearth in another checkout (e.g. main)")
    ap.add_argument("--parts", default="idle,hot,miss,latency",
                    help="comma-separated, which measurements to run (each is measured as without this option)")
    ap.add_argument("--profile-round", type=int, default=1, help="the round --profile samples (default the first)")
    ap.add_argument("--in-process", type=int, default=0, metavar="BATCHES",
                    help="also measure a miss in process (no dnsperf, no log): BATCHES batches per tree, alternated")
    ap.add_argument("--in-process-child", metavar="TREE", help=argparse.SUPPRESS)
    ap.add_argument("--stub-port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--names", type=int, default=3000, help=argparse.SUPPRESS)
    ap.add_argument("--keep-profile", metavar="DIR", help="with --profile: keep py-spy's collapsed stacks in DIR")
    args = ap.parse_args()
    if args.in_process_child:
        in_process_child(Path(args.in_process_child), args.stub_port, args.in_process, args.names)
        return 0
    parts = set(args.parts.split(","))
    if not parts <= {"idle", "hot", "miss", "latency"}:
        sys.exit(f"--parts: unknown {', '.join(sorted(parts - {'idle', 'hot', 'miss', 'latency'}))}")
    for tool in ("dnsperf", "taskset"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing: ./install.sh --bench installs it")
    if not shutil.which("unbound"):
        print("unbound is missing (./install.sh --bench installs it): measuring without it")
    only = set(args.only.split(",")) if args.only else None

    rng = random.Random(7)
    blocked = domains(args.domains, rng)
    allowed = [f"site{i}.allowed-bench.net" for i in range(1000)]
    tmp = Path(tempfile.mkdtemp(prefix="hearth-peers-"))
    hot = tmp / "hot.txt"
    mix = [f"www.{d} A" for d in rng.sample(blocked, min(5000, len(blocked)))] + [f"{d} A" for d in allowed] * 5
    rng.shuffle(mix)
    hot.write_text("\n".join(mix) + "\n")

    def miss_file(tag: str) -> Path:
        # More names than the fastest server asks in the time: none repeats, so every one is a miss.
        p = tmp / f"miss-{tag}.txt"
        p.write_text("".join(f"n{i}.{tag}.miss-bench.net A\n" for i in range(int(40_000 * args.seconds))))
        return p

    hearths = [("hearth", ROOT, True)]
    if args.no_log:
        hearths.append(("hearth, no log", ROOT, False))
    if args.before:
        rev = subprocess.run(["git", "-C", args.before, "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True).stdout.strip()
        hearths.append((f"hearth before {rev}", Path(args.before).resolve(), True))
    srv = Servers(tmp, blocked, only, tuple(hearths))
    results: dict[str, dict[str, list]] = {n: {} for n in srv.procs}
    profs = {n: tmp / f"miss-{i}.prof" for i, n in enumerate(srv.procs)}
    try:
        # The stub alone: what it takes before it is the bottleneck.
        stub_alone = dnsperf(srv.stub_port, miss_file("stub"), args.seconds, outstanding=20) \
            if "miss" in parts else {}
        # idle first: nothing asked since start-up but the readiness probe
        for name, p in srv.procs.items() if "idle" in parts else ():
            time.sleep(1)
            w0, t0 = wakeups(p.pid), time.monotonic()
            time.sleep(args.idle)
            results[name]["idle"] = [(wakeups(p.pid) - w0) / (time.monotonic() - t0)]
        for r in range(args.rounds):
            for name, p in srv.procs.items():
                port, res = srv.ports[name], results[name]
                settle(p.pid)
                if r == 0 and parts & {"hot", "latency"}:   # warm the caches: every name of the mix once, then
                    dnsperf(port, hot, 600, outstanding=20, once=True)      # a second as it comes
                if "hot" in parts:
                    dnsperf(port, hot, 1)
                    c0 = tree_cpu(p.pid)
                    h = dnsperf(port, hot, args.seconds)
                    res.setdefault("hot_cpu", []).append((tree_cpu(p.pid) - c0) / max(h.get("completed", 1), 1)
                                                         * 1e6)
                    res.setdefault("hot_qps", []).append(h.get("qps", 0))

                if "miss" in parts:
                    mf = miss_file(f"{name.replace(' ', '')}-{r}")
                    spy = None
                    if args.profile and name.startswith("hearth") and r == args.profile_round - 1:
                        spy = subprocess.Popen([shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy"),
                                                "record", "--format", "raw", "--rate", "250", "--gil", "-o",
                                                str(profs[name]), "-p", str(p.pid), "-d", str(int(args.seconds))],
                                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    settle(p.pid)        # a log writer still busy with the hot mix must not be billed to the misses
                    c0, s0, t0 = tree_cpu(p.pid), tree_cpu(srv.stub.pid), time.monotonic()
                    k0 = tree_cpu(p.pid, kernel_only=True)
                    m = dnsperf(port, mf, args.seconds, outstanding=20)
                    wall = time.monotonic() - t0
                    if spy is not None:
                        spy.wait(60)
                    done = max(m.get("completed", 1), 1)
                    res.setdefault("miss_cpu", []).append((tree_cpu(p.pid) - c0) / done * 1e6)
                    res.setdefault("miss_sys", []).append((tree_cpu(p.pid, kernel_only=True) - k0) / done * 1e6)
                    res.setdefault("miss_qps", []).append(m.get("qps", 0))
                    res.setdefault("miss_lost", []).append(m.get("lost", 0))
                    res.setdefault("stub_share", []).append((tree_cpu(srv.stub.pid) - s0) / wall)
                    res["miss_rcodes"] = [m.get("rcodes")]
                    mf.unlink()

                if "latency" in parts:
                    settle(p.pid)
                    lat = dnsperf(port, hot, args.seconds * 2, rate=FIXED_RATE, verbose=True)
                    ms = [x * 1000 for x in lat["lat"]]
                    for key, q in (("p50", 50), ("p99", 99), ("p999", 99.9)):
                        res.setdefault(key, []).append(pct(ms, q))
                    res.setdefault("lat_lost", []).append(lat.get("lost", 0))
            print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
        rss = {name: rss_mb(p.pid) for name, p in srv.procs.items()}
        if args.in_process:
            trees = {label: tree for label, tree, _log in hearths if label in results}
            for _ in range(3):           # alternated: a slow spell of the machine falls on every tree alike
                for label, tree in trees.items():
                    lo, _med = in_process(tree, srv.stub_port, args.in_process)
                    results[label].setdefault("inproc", []).append(lo)
    finally:
        srv.stop()

    names = list(results)
    med = {n: {k: statistics.median(v) for k, v in results[n].items() if v and isinstance(v[0], (int, float))}
           for n in names}
    print(f"\n{args.domains:,} blocked domains; {args.rounds} interleaved rounds of {args.seconds:g} s (medians; "
          f"every round in brackets); server on core {SERVER_CORE}, dnsperf and the stub on core {CLIENT_CORE}\n")
    peers = [n for n in names if not n.startswith("hearth")]
    w = 22
    before = next((n for n in names if n.startswith("hearth before")), None)
    print(f"{'':<34}" + "".join(f"{n:>{w}}" for n in names) + (f"{'hearth ÷ best peer':>{w}}" if "hearth" in names
                                                               and peers else "")
          + (f"{'hearth ÷ before':>{w}}" if before else ""))
    rows = (("hot_cpu", "hot mix: CPU per query (µs)", "{:.1f}", min),
            ("hot_qps", "hot mix: queries per second", "{:,.0f}", max),
            ("miss_cpu", "miss: CPU per query (µs)", "{:.0f}", min),
            ("miss_sys", "miss: of which in the kernel (µs)", "{:.0f}", min),
            ("miss_qps", "miss: unique names per second", "{:,.0f}", max),
            ("miss_lost", "miss: queries lost", "{:.0f}", None),
            ("inproc", "miss in process, no log (µs)", "{:.0f}", min),
            ("stub_share", "miss: the stub's CPU share", "{:.0%}", None),
            ("p50", f"{FIXED_RATE:,} q/s hot: p50 (ms)", "{:.2f}", min),
            ("p99", f"{FIXED_RATE:,} q/s hot: p99 (ms)", "{:.2f}", min),
            ("p999", f"{FIXED_RATE:,} q/s hot: p99.9 (ms)", "{:.2f}", min),
            ("lat_lost", f"{FIXED_RATE:,} q/s hot: lost", "{:.0f}", None),
            ("idle", "idle: wake-ups per second", "{:.1f}", None))
    for key, label, fmt, best in rows:
        if not any(key in med[n] for n in names):      # a part not run (--parts)
            continue
        line = f"{label:<34}" + "".join(f"{fmt.format(med[n].get(key, float('nan'))):>{w}}" for n in names)
        if best is not None and "hearth" in names and peers:
            b = best(med[n].get(key, float("nan")) for n in peers)
            line += f"{med['hearth'].get(key, 0) / b if b else float('nan'):>{w}.2f}"
        if best is not None and before and "hearth" in names:
            b = med[before].get(key, float("nan"))
            line += f"{med['hearth'].get(key, 0) / b if b else float('nan'):>{w}.2f}"
        print(line)
    print(f"{'RSS at the end (MB)':<34}" + "".join(f"{rss[n]:>{w}.1f}" for n in names))
    every = (("hot_cpu", "hot", "{:.1f}", "µs"), ("miss_cpu", "miss", "{:.0f}", "µs"),
             ("inproc", "miss in process", "{:.0f}", "µs"), ("p50", "p50", "{:.2f}", "ms"),
             ("p99", "p99", "{:.1f}", "ms"), ("p999", "p99.9", "{:.1f}", "ms"))
    print("\nevery round: " + "; ".join(
        f"{n}: " + ", ".join(f"{label} {' '.join(fmt.format(x) for x in results[n][key])} {unit}"
                             for key, label, fmt, unit in every if key in results[n]) for n in names))
    if "miss" in parts:
        print("miss response codes: " + "; ".join(f"{n} {results[n]['miss_rcodes'][0]}" for n in names))
        print(f"the stub alone (dnsperf straight at it, 20 outstanding): {stub_alone.get('qps', 0):,.0f} unique names "
              f"per second, {stub_alone.get('lost', 0)} lost: above every server's miss rate, so the stub is not what "
              f"limits them" if stub_alone.get("qps", 0) > max(med[n].get("miss_qps", 0) for n in names) * 1.2 else
              f"the stub alone: {stub_alone.get('qps', 0):,.0f} names/s: CLOSE TO the servers' rate, read misses with "
              f"care")
    if args.profile:
        for name in names:
            if name.startswith("hearth"):
                print_profile(profs[name], name)
                if args.keep_profile and profs[name].exists():
                    Path(args.keep_profile).mkdir(parents=True, exist_ok=True)
                    shutil.copy(profs[name], Path(args.keep_profile) / f"{name.replace(' ', '-')}.prof")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


def print_profile(path: Path, name: str, top: int = 25) -> None:
    """Self time by function, and time inside the main steps of a miss, from py-spy's collapsed stacks."""
    if not path.exists():
        print("no profile: is py-spy installed (./install.sh --bench)?")
        return
    leaf, inside, total = Counter(), Counter(), 0
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        frames = stack.split(";")
        leaf[frames[-1].split(" (")[0] + " (" + frames[-1].rsplit("/", 1)[-1]] += int(n)
        for fn in {f.split(" (")[0].rsplit(".", 1)[-1] for f in frames}:
            inside[fn] += int(n)
        total += int(n)
    print(f"\n{name}: a miss's Python time (py-spy, {total} samples holding the GIL), self time by function:")
    for fn, n in leaf.most_common(top):
        print(f"  {n / total:6.1%}  {fn}")
    print("inclusive time in the steps of a miss:")
    for fn in ("full", "full_soon", "fast", "_begin", "decode_query", "_identify", "decide", "_lookup", "ask_soon",
               "resolve", "_failover", "_exchange", "send", "_udp", "create_datagram_endpoint", "new_query",
               "_readable", "decode_answer", "_landed", "_answer", "answer_reply", "answer_reply_ttls", "_remember",
               "fit_udp", "put", "datagram_received", "_run_once", "select", "collect", "write_batch", "_writer"):
        if inside.get(fn):
            print(f"  {inside[fn] / total:6.1%}  {fn}")


if __name__ == "__main__":
    sys.exit(main())
