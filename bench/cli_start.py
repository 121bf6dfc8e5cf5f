"""How long a parent waits for a CLI command (`hearth explain`, `hearth pause`, …), and what it imports.

    .venv/bin/python bench/cli_start.py [--runs 15] [--cold] [--against /work/main]

Each command runs as a fresh process (the installed `hearth` entry point, as a parent types it) against a starter
config with one child, in its own data directory, no daemon running. Runs are interleaved across commands so the
machine's other load spreads evenly; the table shows the median and the fastest wall time in milliseconds, beside
`python -c pass` (the interpreter's own start) in the same run, and the median's ratio to it. Each tree has its own
config, data directory and cache folder (sharing them, the two trees' lists recompiled each other's index at every
`explain`): a parent's second command, the config and lists read and compiled once before.

Bytecode: by default the compiled modules are cached (in a temporary PYTHONPYCACHEPREFIX), as on a Pi where the
install compiled them. ``--cold`` also measures with PYTHONDONTWRITEBYTECODE=1 and no .pyc beside Hearth's
sources (every Hearth module compiled at each start): what a user who may not write the source tree sees.

The last columns: the time imports took (``-X importtime``, each module's fastest of three extra runs) and the heavy
packages each command imported. ``--top N`` also lists, per tree, the N modules whose imports took longest in
`explain` and `pause` (cumulative, with their own time).
"""
from __future__ import annotations

import argparse
import collections
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("dnslib", "flask", "waitress", "apscheduler", "apprise", "prometheus_client", "argon2", "asyncio",
         "yaml", "sqlite3", "uvloop", "marisa_trie", "ssl")

CONFIG = """\
schema_version: 2
timezone: Europe/Paris
data_dir: {data}
dns:
  listen: ["127.0.0.1:5399"]
  upstreams: ["9.9.9.9"]
devices:
  - {{name: emma-phone, ip: 192.168.1.23}}
profiles:
  emma:
    devices: [emma-phone]
    block: [random-chat, dating, risky-social, adult, gambling]
    block_apps: [tiktok, snapchat]
    schedules:
      - {{name: bedtime, days: sun-thu, from: "21:00", to: "07:00", block: everything}}
default_profile:
  block: [random-chat, adult]
"""

COMMANDS = {
    "hearth --help": ["--help"],
    "pause --help": ["pause", "--help"],
    "check-config": ["check-config"],
    "explain": ["explain", "www.omegle.com", "--ip", "192.168.1.23"],
    "pause emma 30m": ["pause", "emma", "30m"],
    "resume emma": ["resume", "emma"],
    "now emma": ["now", "emma"],
    "overrides": ["overrides"],
    "status (no daemon)": ["status"],
}


def hearth_argv() -> list[str]:
    script = Path(sys.executable).parent / "hearth"
    if script.exists():
        return [sys.executable, str(script)]
    return [sys.executable, "-c", "import sys; from appliance.cli import main; sys.exit(main())"]


def timed(argv: list[str], env: dict) -> tuple[float, float]:
    """(wall, CPU) milliseconds of one run; CPU (user + system, from wait4) is what other load cannot inflate."""
    t = time.perf_counter()
    p = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _pid, _status, usage = os.wait4(p.pid, 0)
    p.returncode = 0
    return (time.perf_counter() - t) * 1000, (usage.ru_utime + usage.ru_stime) * 1000


def import_times(argv: list[str], env: dict, runs: int = 3) -> dict[str, tuple[int, int]]:
    """module -> (own, cumulative) microseconds from ``-X importtime``, each the fastest of ``runs`` runs (a single
    run is at the mercy of other load)."""
    fastest: dict[str, tuple[int, int]] = {}
    for _ in range(runs):
        r = subprocess.run([argv[0], "-X", "importtime", *argv[1:]], env=env, capture_output=True, text=True)
        for line in r.stderr.splitlines():
            if not line.startswith("import time:") or "|" not in line or "self [us]" in line:
                continue
            own, cumulative, name = line.split("|", 2)
            name = name.strip()
            us, cum = int(own.split(":")[1]), int(cumulative)
            old = fastest.get(name, (us, cum))
            fastest[name] = (min(old[0], us), min(old[1], cum))
    return fastest


def imports(argv: list[str], env: dict, runs: int = 3) -> tuple[list[str], float]:
    """The heavy top-level packages a run imported, and the import time (ms): the sum of each module's own time."""
    times = import_times(argv, env, runs)
    heavy = {name.split(".")[0] for name in times} & set(HEAVY)
    return sorted(heavy), sum(own for own, _ in times.values()) / 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--cold", action="store_true", help="also measure with no bytecode cache")
    ap.add_argument("--against", metavar="DIR", help="another checkout of Hearth (e.g. /work/main), measured in "
                    "the same run, interleaved: before and after side by side")
    ap.add_argument("--top", type=int, default=0, metavar="N", help="list the N slowest imports of explain and pause")
    args = ap.parse_args()
    trees = {"this": ROOT} | ({"against": Path(args.against).resolve()} if args.against else {})
    with tempfile.TemporaryDirectory(prefix="hearth-cli-") as tmp:
        tmp = Path(tmp)
        os.chdir(tmp)       # `python -c` puts the current folder first on sys.path: run from a tree, it would win
        base = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "HEARTH_"))}
        own = {}
        for t in trees:
            (tmp / t).mkdir()
            (tmp / t / "hearth.yaml").write_text(CONFIG.format(data=tmp / t / "var"))
            own[t] = {"HEARTH_CONFIG": str(tmp / t / "hearth.yaml"), "HEARTH_CACHE_DIR": str(tmp / t / "cache")}
        modes = {"cached bytecode": {"PYTHONPYCACHEPREFIX": str(tmp / "pyc")}}
        if args.cold:
            # Python's own modules keep their installed .pyc; Hearth's (a source tree) are compiled each time.
            modes["no bytecode cache"] = {"PYTHONDONTWRITEBYTECODE": "1"}
        hearth = hearth_argv()
        plain = [sys.executable, "-c", "pass"]
        for mode, extra in modes.items():
            envs = {t: {**base, **extra, **own[t], "PYTHONPATH": str(root)} for t, root in trees.items()}
            for env in envs.values():       # warm the bytecode cache and the lists' compiled cache
                for cmd in COMMANDS.values():
                    subprocess.run(hearth + cmd, env=env, capture_output=True, check=False)
            times: dict[tuple[str, str], list[tuple[float, float]]] = collections.defaultdict(list)
            for _ in range(args.runs):
                times["this", "python -c pass"].append(timed(plain, envs["this"]))
                for name, cmd in COMMANDS.items():
                    for t, env in envs.items():
                        times[t, name].append(timed(hearth + cmd, env))
            print(f"\n{mode}: {args.runs} runs each, milliseconds (load average {os.getloadavg()[0]:.1f}); CPU is "
                  "user + system")
            print(f"  {'command':<20} {'tree':<8} {'wall median':>11} {'÷ python':>8} {'fastest':>8} "
                  f"{'CPU median':>11}   imports, heavy packages")
            interpreter = statistics.median(w for w, _ in times["this", "python -c pass"])
            for (t, name), ts in times.items():
                argv = plain if name == "python -c pass" else hearth + COMMANDS[name]
                heavy, total = imports(argv, envs[t])
                wall = statistics.median(w for w, _ in ts)
                print(f"  {name:<20} {t if len(trees) > 1 else '':<8} {wall:11.0f} {wall / interpreter:8.1f} "
                      f"{min(w for w, _ in ts):8.0f} {statistics.median(c for _, c in ts):11.0f}   {total:5.0f}  "
                      f"{', '.join(heavy) or '-'}")
            for name in ("explain", "pause emma 30m") if args.top else ():
                for t, env in envs.items():
                    top = sorted(import_times(hearth + COMMANDS[name], env).items(), key=lambda kv: -kv[1][1])
                    print(f"\n  {name} ({t}): the {args.top} slowest imports, ms (cumulative, own)")
                    for module, (own_us, cum_us) in top[:args.top]:
                        print(f"    {cum_us / 1000:6.1f} {own_us / 1000:6.1f}  {module}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
