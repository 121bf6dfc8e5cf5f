"""How often an idle Hearth wakes the CPU, beside dnsmasq and unbound in the same run.

    .venv/bin/python bench/idle.py [--seconds 30] [--settle 5] [--strace] [--against /work/main]

Each server starts on a loopback port with the config a new user gets (Hearth: the starter config install.sh
writes; dnsmasq and unbound: forwarding to the same upstreams), answers one query to show it is up, is left
alone for ``--settle`` seconds (start-up work: the first list download, the first notify tick), then is watched for
``--seconds`` with no query at all. A wake-up is a voluntary context switch of any of the process's threads (read
from /proc/PID/task/*/status): each time a thread sleeps on a timer or a socket and is woken, it switches out once.

The web admin (`hearth admin`, the Pi's other unit) is measured too, answering its setup page once and then idle.

``--strace`` also runs strace on Hearth for a few seconds and counts the event loop's waits by the timeout they
were given and ended on: a timer that fires often shows up as one timeout value seen many times.
"""
from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.hearth_proc import free_port  # noqa: E402


def switches(pid: int) -> dict[str, tuple[str, int]]:
    """thread id -> (thread name, voluntary context switches so far)."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            status = Path(f"/proc/{pid}/task/{tid}/status").read_text()
        except OSError:      # the thread ended meanwhile
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        out[tid] = (fields["Name"].strip(), int(fields["voluntary_ctxt_switches"]))
    return out


def wakeups(pid: int, seconds: float) -> tuple[float, dict[str, float]]:
    """Wake-ups a second over ``seconds``: the whole process, and by thread name."""
    before = switches(pid)
    time.sleep(seconds)
    after = switches(pid)
    by_name: dict[str, float] = collections.defaultdict(float)
    for tid, (name, n) in after.items():
        by_name[name] += (n - before.get(tid, (name, 0))[1]) / seconds
    return sum(by_name.values()), dict(by_name)


def answering(port: int, name: str, timeout: float = 60) -> None:
    import dns.message
    import dns.query
    end = time.monotonic() + timeout
    while True:
        try:
            dns.query.udp(dns.message.make_query(name, "A"), "127.0.0.1", port=port, timeout=1)
            return
        except Exception:
            if time.monotonic() > end:
                raise RuntimeError(f"nothing answers on port {port}")
            time.sleep(0.2)


def answering_http(listen: str, timeout: float = 60) -> None:
    import urllib.request
    end = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(f"http://{listen}/setup", timeout=2).read()
            return
        except OSError:
            if time.monotonic() > end:
                raise RuntimeError(f"the admin does not answer on {listen}")
            time.sleep(0.2)


def starter_config(path: Path, data_dir: Path, port: int) -> None:
    """The config install.sh writes for a new user (its own function, so the two never drift apart)."""
    script = (f'source <(sed -n "/^say()/p;/^starter_config()/,/^}}/p" "{ROOT / "install.sh"}"); '
              f'starter_config "{path}" "{data_dir}" \'["127.0.0.1:{port}"]\' "127.0.0.1:{free_port()}" >/dev/null')
    subprocess.run(["bash", "-c", script], check=True)
    if not path.exists():
        raise RuntimeError("install.sh did not write a starter config")


def upstreams(config: Path) -> list[str]:
    m = re.search(r"upstreams:\s*\[([^\]]*)\]", config.read_text())
    return [u.strip().strip("\"'") for u in m.group(1).split(",")] if m else ["9.9.9.9"]


def start_hearth(tmp: Path, tree: Path = ROOT, command: str = "dns") -> tuple[subprocess.Popen, int, Path]:
    """`hearth dns` (or ``command``) on the starter config, running the code of ``tree`` (this checkout, or
    another one)."""
    port = free_port()
    tmp = tmp / f"hearth-{port}"
    tmp.mkdir()
    cfg = tmp / "hearth.yaml"
    starter_config(cfg, tmp / "var", port)
    hearth = Path(sys.executable).parent / "hearth"
    argv = [str(hearth)] if hearth.exists() else [sys.executable, "-m", "appliance.cli"]
    p = subprocess.Popen(argv + [command, "--config", str(cfg)], stdout=subprocess.DEVNULL,
                         stderr=open(tmp / "hearth.log", "w"), env={**os.environ, "PYTHONPATH": str(tree)})
    return p, port, cfg


def start_dnsmasq(tmp: Path, ups: list[str]) -> tuple[subprocess.Popen, int] | None:
    exe = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
    if not Path(exe).exists():
        return None
    port = free_port()
    p = subprocess.Popen([exe, "-k", "--conf-file=/dev/null", f"--port={port}", "--listen-address=127.0.0.1",
                          "--bind-interfaces", "--no-resolv", "--no-hosts", *[f"--server={u}" for u in ups],
                          "--user=root", "--pid-file="], stderr=subprocess.DEVNULL)
    return p, port


def start_unbound(tmp: Path, ups: list[str]) -> tuple[subprocess.Popen, int] | None:
    exe = shutil.which("unbound") or "/usr/sbin/unbound"
    if not Path(exe).exists():
        return None
    port = free_port()
    conf = tmp / "unbound.conf"
    conf.write_text(f"""server:
  interface: 127.0.0.1
  port: {port}
  do-daemonize: no
  username: ""
  chroot: ""
  directory: "{tmp}"
  pidfile: ""
  use-syslog: no
  logfile: ""
  verbosity: 0
  num-threads: 1
  do-ip6: no
forward-zone:
  name: "."
{"".join(f"  forward-addr: {u}{chr(10)}" for u in ups)}""")
    p = subprocess.Popen([exe, "-d", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return p, port


def strace_timeouts(pid: int, seconds: float) -> list[tuple[str, int]]:
    """(timeout in ms that a wait ended on, times a second), most frequent first."""
    if not shutil.which("strace"):
        return []
    r = subprocess.run(["timeout", str(seconds), "strace", "-f", "-qq", "-e", "trace=epoll_wait,epoll_pwait,poll,"
                        "select,futex,clock_nanosleep", "-p", str(pid)], capture_output=True, text=True)
    counts: collections.Counter = collections.Counter()
    for line in r.stderr.splitlines():
        m = re.search(r"epoll_p?wait\(\d+, .*?, \d+, (-?\d+)", line)
        if m and m.group(1) != "0" and line.rstrip().endswith("= 0"):     # 0 ms: a look, not a sleep
            counts[f"epoll timeout {m.group(1)} ms"] += 1
        elif "futex" in line and "ETIMEDOUT" in line:
            counts["futex timed out (a thread's timer)"] += 1
    return [(k, v / seconds) for k, v in counts.most_common(6)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--settle", type=float, default=5.0)
    ap.add_argument("--strace", action="store_true", help="say which timers wake Hearth (needs strace)")
    ap.add_argument("--against", metavar="DIR", help="also run Hearth from another checkout (e.g. /work/main)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="hearth-idle-"))
    procs: list[subprocess.Popen] = []
    try:
        hearth, hport, cfg = start_hearth(tmp)
        procs.append(hearth)
        servers = [("hearth", hearth, hport, "www.omegle.com")]      # blocked: answered without an upstream
        if args.against:
            other, oport, _ = start_hearth(tmp, Path(args.against).resolve())
            procs.append(other)
            servers.append((f"hearth ({Path(args.against).name})", other, oport, "www.omegle.com"))
        ups = upstreams(cfg)
        for name, start in (("dnsmasq", start_dnsmasq), ("unbound", start_unbound)):
            started = start(tmp, ups)
            if started is None:
                print(f"({name} is not installed: ./install.sh --bench installs dnsmasq; apt-get install unbound)")
                continue
            procs.append(started[0])
            servers.append((name, started[0], started[1], "localhost"))
        for name, p, port, qname in servers:
            answering(port, qname)
        # The Pi's other unit: the web admin, idle too (no browser open). Measured after the DNS servers.
        admin, _, admin_cfg = start_hearth(tmp, command="admin")
        procs.append(admin)
        listen = re.search(r'listen: "([^"]+)"', admin_cfg.read_text()).group(1)
        answering_http(listen)
        servers.append(("hearth admin", admin, 0, ""))
        time.sleep(args.settle)
        print(f"idle wake-ups a second over {args.seconds:.0f} s, no queries (load average "
              f"{os.getloadavg()[0]:.1f}); Hearth runs the starter config")
        results = {}
        for name, p, port, _ in servers:     # one after another: each alone on the machine's spare time
            total, by_thread = wakeups(p.pid, args.seconds)
            results[name] = total
            threads = ", ".join(f"{t} {v:.2f}" for t, v in sorted(by_thread.items(), key=lambda kv: -kv[1]) if v)
            print(f"  {name:<14} {total:6.2f}   {('(' + threads + ')') if threads else ''}")
        best = min((v for k, v in results.items() if not k.startswith("hearth")), default=None)
        if best is not None:
            print(f"  hearth minus the best peer: {results['hearth'] - best:+.2f} a second (goal: at most 1 a second)")
        if args.strace:
            print("Hearth's waits that ended on their timeout, a second:")
            for what, rate in strace_timeouts(hearth.pid, min(args.seconds, 10.0)):
                print(f"  {rate:6.2f}  {what}")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
