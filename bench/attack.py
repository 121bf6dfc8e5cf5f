#!/usr/bin/env python3
"""Issue 16's attack campaign, rerunnable: a compromised device on the home network against Hearth, on loopback.

Starts a stub upstream and a real `hearth dns` subprocess, then runs each attack for a bounded time or count from
127.0.0.1 while the house (eight devices, 127.0.0.2-9) asks ordinary questions over UDP and TCP. For each attack
it prints what was sent, the replies that should have come and did not, lines the daemon wrote to its log, RSS before /
peak / after, and the share of the house's ordinary queries answered (the bar: 99% for UDP and for TCP).

    .venv/bin/python bench/attack.py [--seconds 10] [--fuzz 50000] [--only NAME ...] [--rate-limit 0]
                                     [--genreport /path/to/genreport] [--kill9 RUNS]

Then it kills a daemon with SIGKILL under 1,000 unique names a second, --kill9 times (5 unless told), and prints
the answers the house received that the query log lost, and how old the oldest of them was at the kill.

The rate limit is off by default: a trusted forwarder is not rate-limited, and no bound may rest on it.
genreport (ISC's EDNS compliance tester) is run when given: its source is public (a GitHub mirror of
gitlab.isc.org/isc-projects/DNS-Compliance-Testing, e.g. damaestro/DNS-Compliance-Testing) and builds in seconds
without autotools: gcc -DHAVE_CONFIG_H -I. -o genreport genreport.c -lresolv -lssl -lcrypto (with a config.h
defining HAVE_ARPA_NAMESER_H, HAVE_RESOLV_H and PACKAGE_VERSION).
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import select
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import dns.edns
import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.tsigkeyring
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.hearth_proc import free_port  # noqa: E402
from tests.support.stub_upstream import StubUpstream  # noqa: E402

HOST, ATTACKER = "127.0.0.1", "127.0.0.1"
DEVICES = [f"127.0.0.{i}" for i in range(2, 10)]   # the house: eight devices, each well under a rate limit
ZONE = {"example.com": [("A", "93.184.216.34"), ("SOA", "ns.stub. hostmaster.stub. 1 3600 600 86400 60")],
        "www.example.com": [("A", "93.184.216.34")],
        "notomegle.com": [("A", "198.51.100.7")], "big.example.com": [("TXT", "x" * 200)] * 3,
        "signed.example.com": [("A", "192.0.2.1")]}
HOUSE_NAMES = ["example.com", "www.example.com", "www.omegle.com", "notomegle.com"]
ANSWERED = (dns.rcode.NOERROR, dns.rcode.NXDOMAIN)


def frame(wire: bytes) -> bytes:
    return struct.pack("!H", len(wire)) + wire


def udp_drops(port: int) -> int:
    """Datagrams the kernel dropped on the listener's socket because Hearth did not read them in time."""
    for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
        f = line.split()
        if f[1] == f"0100007F:{port:04X}":
            return int(f[-1])
    return 0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# --- the house: ordinary queries from another device, all through each attack ----------------------------------

class House:
    def __init__(self, port: int):
        self.port = port
        self.stop = threading.Event()
        self.results = {"udp": [0, 0], "tcp": [0, 0]}     # transport -> [asked, answered]

    def __enter__(self):
        self.threads = [threading.Thread(target=self._run, args=(t,), daemon=True) for t in ("udp", "tcp")]
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(5)

    def _run(self, transport: str) -> None:
        i = 0
        while not self.stop.is_set():
            q = dns.message.make_query(HOUSE_NAMES[i % len(HOUSE_NAMES)], "A")
            i += 1
            ok = False
            try:
                fn = dns.query.udp if transport == "udp" else dns.query.tcp
                ok = fn(q, HOST, port=self.port, timeout=2.0, source=DEVICES[i % len(DEVICES)]).rcode() in ANSWERED
            except Exception:
                pass
            self.results[transport][0] += 1
            self.results[transport][1] += ok
            self.stop.wait(0.02 if transport == "udp" else 0.05)

    def share(self, transport: str) -> float:
        asked, answered = self.results[transport]
        return 100.0 * answered / asked if asked else 0.0


class Rss:
    def __init__(self, pid: int):
        self.pid, self.peak, self.stop = pid, 0.0, threading.Event()

    def __enter__(self):
        self.before = rss_mb(self.pid)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def _run(self):
        while not self.stop.wait(0.1):
            self.peak = max(self.peak, rss_mb(self.pid))

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(2)


# --- packets -----------------------------------------------------------------------------------------------------

def seeds() -> list[bytes]:
    out = []
    for name, rdtype, kw in [("example.com", "A", {}), ("www.example.com", "AAAA", {"use_edns": 0}),
                             ("big.example.com", "TXT", {"use_edns": 0, "payload": 4096}),
                             ("www.omegle.com", "A", {"want_dnssec": True}),
                             ("notomegle.com", "ANY", {}),
                             ("example.com", "A", {"use_edns": 0, "options": [dns.edns.ECSOption("192.168.1.0", 24),
                                                                             dns.edns.GenericOption(10, b"c" * 8)]})]:
        out.append(dns.message.make_query(name, rdtype, **kw).to_wire())
    return out


def mutate(rng: random.Random, base: bytes, qid: int) -> bytes:
    """One of: byte flips, a cut, random bytes spliced in, a long or extended label; the ID is kept ours."""
    b = bytearray(base)
    kind = rng.randrange(5)
    if kind == 0:
        for _ in range(rng.randint(1, 6)):
            b[rng.randrange(2, len(b))] = rng.randrange(256)
    elif kind == 1:
        b = b[:rng.randrange(2, len(b))]
    elif kind == 2:
        at = rng.randrange(12, len(b))
        b[at:at] = os.urandom(rng.randint(1, 40))
    elif kind == 3:
        b = b[:12] + bytes([rng.choice((0x40, 0x41, 0x7F, 0x80, 0xBF, 0x3F))]) + b"z" * rng.randint(63, 200) \
            + b"\x00\x00\x01\x00\x01"
    else:
        b[2] = rng.randrange(256) & 0x7F       # opcode and flags, never QR
        b[3] = rng.randrange(256)
    struct.pack_into("!H", b, 0, qid)
    return bytes(b)


def needs_reply(p: bytes) -> bool:
    """Every packet gets a reply but those dropped by design: under a header, or a response (QR)."""
    return len(p) >= 12 and not p[2] & 0x80


# --- the attacks ----------------------------------------------------------------------------------------------------

def udp_fuzz(port: int, args) -> dict:
    rng = random.Random(16)
    base = seeds()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    s.bind((ATTACKER, 0))
    sent = missing = 0
    while sent < args.fuzz:
        batch = {}
        for _ in range(min(200, args.fuzz - sent)):
            qid = (sent % 60000) + 1
            p = mutate(rng, rng.choice(base), qid)
            s.sendto(p, (HOST, port))
            sent += 1
            if needs_reply(p):
                batch[qid] = p
        end = time.monotonic() + 1.0
        while batch and time.monotonic() < end:
            r, _, _ = select.select([s], [], [], 0.05)
            if r:
                data = s.recv(65535)
                batch.pop(struct.unpack("!H", data[:2])[0], None)
        missing += len(batch)
    s.close()
    return {"sent": sent, "missing": missing}


def tcp_fuzz(port: int, args) -> dict:
    rng = random.Random(61)
    base = seeds()
    sent = missing = 0
    while sent < args.fuzz // 10:
        with socket.create_connection((HOST, port), timeout=2, source_address=(ATTACKER, 0)) as c:
            want = set()
            for _ in range(50):
                qid = sent % 60000 + 1
                p = mutate(rng, rng.choice(base), qid)
                try:
                    c.sendall(frame(p))
                except OSError:
                    break
                sent += 1
                if needs_reply(p):
                    want.add(qid)
            buf, end = b"", time.monotonic() + 2
            c.settimeout(0.2)
            while want and time.monotonic() < end:
                try:
                    chunk = c.recv(65535)
                except socket.timeout:
                    continue
                except OSError:
                    break
                if not chunk:
                    break
                buf += chunk
                while len(buf) >= 2 and len(buf) >= 2 + struct.unpack("!H", buf[:2])[0]:
                    n = struct.unpack("!H", buf[:2])[0]
                    if n >= 2:
                        want.discard(struct.unpack("!H", buf[2:4])[0])
                    buf = buf[2 + n:]
            missing += len(want)
    return {"sent": sent, "missing": missing}


def pipelining(port: int, args) -> dict:
    """One connection writes queries as fast as it can and never reads."""
    burst = b"".join(frame(dns.message.make_query(f"n{i}.example.org", "A").to_wire()) for i in range(2000))
    s = socket.create_connection((HOST, port), source_address=(ATTACKER, 0))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.setblocking(False)
    sent, end = 0, time.monotonic() + args.seconds
    while time.monotonic() < end:
        try:
            sent += s.send(burst)
        except BlockingIOError:
            time.sleep(0.005)
        except OSError:
            break
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    return {"sent": sent // (len(burst) // 2000), "missing": None}


def _half_open(port: int, source: str) -> socket.socket | None:
    c = socket.socket()
    c.setblocking(False)
    try:
        c.bind((source, 0))
        c.connect_ex((HOST, port))
        select.select([], [c], [], 1.0)
        c.send(b"\x00")
        return c
    except OSError:
        c.close()
        return None


def slowloris(port: int, args, count: int = 1000, reconnect: bool = False, sources: int = 1) -> dict:
    """count sockets each sending one byte of a length prefix; with reconnect, each closed one is replaced."""
    def source(i):
        return ATTACKER if sources == 1 else f"127.0.1.{1 + i % sources}"
    socks = [c for c in (_half_open(port, source(i)) for i in range(count)) if c is not None]
    opened, end = len(socks), time.monotonic() + args.seconds
    while time.monotonic() < end:
        if not reconnect:
            time.sleep(0.2)
            continue
        r, _, _ = select.select(socks, [], [], 0.2)
        for c in r:
            try:
                gone = c.recv(1) == b""
            except OSError:
                gone = True
            if gone:
                socks.remove(c)
                c.close()
                n = _half_open(port, source(opened))
                if n is not None:
                    socks.append(n)
                    opened += 1
    for c in socks:
        c.close()
    return {"sent": opened, "missing": None}


def odd_names(port: int, args) -> dict:
    """Packets that took 40 lines of traceback each, and the protocol corners that got no or the wrong reply."""
    q = dns.message.make_query("example.com", "A")
    q.use_tsig(dns.tsigkeyring.from_text({"k.": "c2VjcmV0c2VjcmV0c2VjcmV0"}), keyname="k.")
    two_opt = bytearray(dns.message.make_query("example.com", "A", use_edns=0).to_wire())
    two_opt[11] = 2
    kinds = [b"\x00\x00\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x41" + b"y" * 65 + b"\x03com\x00\x00\x01\x00\x01",
             b"\x00\x00\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + (b"\x3f" + b"a" * 63) * 4 + b"\x00\x00\x01\x00\x01",
             dns.message.make_query("example.com", "A", use_edns=1).to_wire(), q.to_wire(),
             bytes(two_opt) + bytes(two_opt[-11:])]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((ATTACKER, 0))
    sent = missing = 0
    for start in range(0, 5000, 100):
        want = set()
        for i in range(start, start + 100):
            p = bytearray(kinds[i % len(kinds)])
            struct.pack_into("!H", p, 0, i + 1)
            s.sendto(bytes(p), (HOST, port))
            want.add(i + 1)
            sent += 1
        end = time.monotonic() + 1.0
        while want and time.monotonic() < end:
            if select.select([s], [], [], 0.05)[0]:
                want.discard(struct.unpack("!H", s.recv(65535)[:2])[0])
        missing += len(want)
    s.close()
    return {"sent": sent, "missing": missing}


def random_names(port: int, args) -> dict:
    """Names nobody has cached, as fast as UDP goes: every one is a trip upstream."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((ATTACKER, 0))
    s.setblocking(False)
    rng = random.Random(7)
    sent, end = 0, time.monotonic() + args.seconds
    while time.monotonic() < end:
        q = dns.message.make_query(f"{rng.getrandbits(48):x}.example.org", "A").to_wire()
        try:
            s.sendto(q, (HOST, port))
            sent += 1
        except BlockingIOError:
            time.sleep(0.001)
        try:
            while True:
                s.recv(65535)
        except BlockingIOError:
            pass
        if sent % 200 == 0:
            time.sleep(0.002)       # about the rate one Python sender sustains without dropping its own replies
    s.close()
    return {"sent": sent, "missing": None}


def many_sources(port: int, args) -> dict:
    """One query from each of 20,000 loopback addresses: per-source state (the lead's bound, measured here)."""
    q = dns.message.make_query("example.com", "A").to_wire()
    sent = 0
    for i in range(20000):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind((f"127.{2 + i // 65000}.{(i // 254) % 254 + 1}.{i % 254 + 1}", 0))
                s.sendto(q, (HOST, port))
                sent += 1
            except OSError:
                pass
    return {"sent": sent, "missing": None}


ATTACKS = {
    "udp-fuzz": udp_fuzz,
    "tcp-fuzz": tcp_fuzz,
    "pipelining": pipelining,
    "slowloris-1000": lambda port, args: slowloris(port, args, 1000),
    "slowloris-reconnect-250": lambda port, args: slowloris(port, args, 250, reconnect=True),
    "slowloris-60-addresses": lambda port, args: slowloris(port, args, 400, reconnect=True, sources=60),
    "odd-names": odd_names,
    "random-names": random_names,
    "many-sources": many_sources,
}


def in_process(fn, *a):
    """Run fn in a forked process and return its result: the attacker, the stub upstream and the house each get
    their own interpreter, so one's busy loop does not starve the others of the GIL and skew the figures."""
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    proc = ctx.Process(target=lambda: q.put(fn(*a)), daemon=True)
    proc.start()
    result = q.get()
    proc.join(10)
    return result


def stub_process(zone: dict):
    """The stub upstream in its own process; returns (address, stop)."""
    ctx = multiprocessing.get_context("fork")
    q, stop = ctx.Queue(), ctx.Event()

    def run():
        with StubUpstream(zone) as stub:
            q.put(stub.address)
            stop.wait()
    proc = ctx.Process(target=run, daemon=True)
    proc.start()
    address = q.get(timeout=10)

    def end():
        stop.set()
        proc.join(5)
    return address, end


# --- kill -9 under load: what the query log loses ---------------------------------------------------------------

def kill9(stub_address: str, runs: int, rate: int = 1000) -> list[dict]:
    """A daemon answering ``rate`` unique names a second from the house, killed with SIGKILL at a random moment,
    ``runs`` times. Each answer the house received is a row the log owes; the figures are the rows missing and
    the age of the oldest missing one at the kill (issue 16: at most a second)."""
    out = []
    for run in range(runs):
        tmp = Path(tempfile.mkdtemp(prefix="hearth-kill9-"))
        port = free_port()
        cfg = {"timezone": "UTC", "data_dir": str(tmp / "var"),
               "dns": {"listen": [f"{HOST}:{port}"], "upstreams": [stub_address],
                       "rate_limit": {"queries": 0, "seconds": 60}}}    # one device asks far past the limit
        (tmp / "hearth.yaml").write_text(yaml.safe_dump(cfg))
        proc = subprocess.Popen([sys.executable, "-m", "appliance.cli", "dns", "--config", str(tmp / "hearth.yaml")],
                                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        answered: dict[str, float] = {}          # name -> when its answer arrived
        try:
            _wait_ready(port)
            stop = threading.Event()
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind((DEVICES[run % len(DEVICES)], 0))
            sock.settimeout(0.2)

            def send() -> None:          # on a schedule, not after each answer: the rate holds whatever the RTT
                i, t0 = 0, time.monotonic()
                while not stop.is_set():
                    sock.sendto(dns.message.make_query(f"k{run}-{i}.example.com", "A").to_wire(), (HOST, port))
                    i += 1
                    time.sleep(max(0.0, t0 + i / rate - time.monotonic()))

            def receive() -> None:
                while not stop.is_set():
                    try:
                        reply = dns.message.from_wire(sock.recv(4096))
                    except (OSError, dns.exception.DNSException):
                        continue
                    if reply.rcode() in ANSWERED and reply.question:
                        answered[reply.question[0].name.to_text(omit_final_dot=True)] = time.time()
            threads = [threading.Thread(target=f, daemon=True) for f in (send, receive)]
            for t in threads:
                t.start()
            time.sleep(random.uniform(2.0, 4.0))
            killed = time.time()
            proc.kill()
            stop.set()
            for t in threads:
                t.join(2)
            sock.close()
            proc.wait(5)
            conn = sqlite3.connect(tmp / "var" / "hearth.db")
            logged = {r[0] for r in conn.execute("SELECT n.name FROM queries q JOIN names n ON n.id = q.name_id")}
            intact = conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            conn.close()
            missing = [t for name, t in answered.items() if t <= killed and name not in logged]
            out.append({"answered": sum(t <= killed for t in answered.values()), "missing": len(missing),
                        "oldest": killed - min(missing) if missing else 0.0, "intact": intact})
        finally:
            if proc.poll() is None:
                proc.kill()
    return out


def _wait_ready(port: int) -> None:
    end = time.monotonic() + 60
    while time.monotonic() < end:
        try:
            dns.query.udp(dns.message.make_query("example.com", "A"), HOST, port=port, timeout=0.5)
            return
        except Exception:
            time.sleep(0.2)
    raise SystemExit(f"Hearth did not answer on port {port} within a minute")


# --- genreport ---------------------------------------------------------------------------------------------------

def genreport(binary: str, port: int) -> str:
    """ISC's EDNS compliance tests, run the way its README runs them for a zone's server (here Hearth, which
    forwards the zone to the stub). Prints its one-line verdict per test group."""
    try:
        out = subprocess.run([binary, "-R", "-P", str(port), "-f"], input=f"example.com hearth.test {HOST}\n",
                             capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"genreport did not run: {e}"
    return (out.stdout + out.stderr).strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=10, help="length of each timed attack")
    ap.add_argument("--fuzz", type=int, default=50000, help="UDP fuzz packets (TCP gets a tenth)")
    ap.add_argument("--only", nargs="*", choices=sorted(ATTACKS), help="run these attacks only")
    ap.add_argument("--rate-limit", type=int, default=0, help="queries per client per minute (0: off)")
    ap.add_argument("--genreport", help="path to a built genreport binary")
    ap.add_argument("--kill9", type=int, default=5, metavar="RUNS",
                    help="kill -9 the daemon under 1,000 unique names a second this many times (0: skip)")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="hearth-attack-"))
    stub_address, stub_stop = stub_process(ZONE)
    port = free_port()
    cfg = {"timezone": "UTC", "data_dir": str(tmp / "var"),
           "dns": {"listen": [f"{HOST}:{port}"], "upstreams": [stub_address],
                   "rate_limit": {"queries": args.rate_limit, "seconds": 60}},
           "default_profile": {"block": ["random-chat"]}}
    (tmp / "hearth.yaml").write_text(yaml.safe_dump(cfg))
    logfile = tmp / "hearth.log"
    with open(logfile, "wb") as lf:
        proc = subprocess.Popen([sys.executable, "-m", "appliance.cli", "dns", "--config", str(tmp / "hearth.yaml")],
                                cwd=ROOT, stdout=lf, stderr=subprocess.STDOUT,
                                env=dict(os.environ, HEARTH_LOG="INFO"))
    rows = []
    try:
        _wait_ready(port)
        for name in args.only or ATTACKS:
            time.sleep(1.0)                              # the last attack's leftovers time out first
            lines_before = logfile.read_bytes().count(b"\n")
            drops, cpu0, t0 = udp_drops(port), cpu_seconds(proc.pid), time.monotonic()
            with Rss(proc.pid) as rss, House(port) as house:
                time.sleep(0.5)                         # a baseline of ordinary answers first
                figures = in_process(ATTACKS[name], port, args)
                time.sleep(0.5)
            seconds = time.monotonic() - t0
            rows.append({"attack": name, **figures, "seconds": seconds, "drops": udp_drops(port) - drops,
                         "cpu": 100 * (cpu_seconds(proc.pid) - cpu0) / seconds,
                         "log": logfile.read_bytes().count(b"\n") - lines_before,
                         "rss": (rss.before, max(rss.peak, rss.before), rss_mb(proc.pid)),
                         "udp": house.share("udp"), "tcp": house.share("tcp"),
                         "asked": (house.results["udp"][0], house.results["tcp"][0]), "alive": proc.poll() is None})
            print(_row(rows[-1]), flush=True)
        report = genreport(args.genreport, port) if args.genreport else None
        killed = kill9(stub_address, args.kill9) if args.kill9 else []
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        stub_stop()

    print(f"\nHearth {port}, rate limit {'off' if not args.rate_limit else args.rate_limit}, attacker {ATTACKER}, "
          f"the house {DEVICES[0]}-{DEVICES[-1].rsplit('.', 1)[1]}; log: {logfile}")
    print(f"{'attack':<26}{'sent':>9}{'missing':>9}{'log lines':>10}{'RSS MB before/peak/after':>27}"
          f"{'house UDP':>11}{'house TCP':>11}{'kernel drops':>14}{'CPU':>6}")
    for r in rows:
        print(_row(r))
    bad = [r["attack"] for r in rows if r["udp"] < 99 or r["tcp"] < 99 or not r["alive"] or r["missing"]]
    print("every attack left the house its DNS (>= 99% UDP and TCP), every packet its reply" if not bad
          else f"below the bar: {', '.join(bad)}")
    if killed:
        print(f"\nkill -9 under 1,000 unique names a second, {len(killed)} runs: answers the house got before the "
              "kill, and how many of them the query log lost")
        for k in killed:
            print(f"  answered {k['answered']:>6,}   lost {k['missing']:>5,}   oldest lost {k['oldest']:.2f} s before "
                  f"the kill   database {'intact' if k['intact'] else 'DAMAGED'}")
        worst = max(k["oldest"] for k in killed)
        print(f"  worst: {worst:.2f} s of answers lost ({'within' if worst <= 1.0 else 'PAST'} the one-second bar)")
    if report is not None:
        print("\ngenreport -R -f (ISC EDNS compliance, recursive mode):\n" + report)


def _row(r: dict) -> str:
    missing = "-" if r["missing"] is None else f"{r['missing']:,}"
    before, peak, after = r["rss"]
    return (f"{r['attack']:<26}{r['sent']:>9,}{missing:>9}{r['log']:>10}{before:>11.0f} /{peak:>5.0f} /{after:>5.0f}"
            f"{r['udp']:>10.1f}%{r['tcp']:>10.1f}%{r['drops']:>14,}{r['cpu']:>5.0f}%"
            + ("" if r["alive"] else "  DAEMON DIED"))


if __name__ == "__main__":
    main()
