"""Benchmark the domain index on a million names, beside a plain Python set of the same names, in one run.

    .venv/bin/python bench/lists.py [--domains 1000000] [--queries 200000]

Prints compile time (parse + build), cached load time, RSS added by the loaded structure (each measured in a
fresh subprocess: VmRSS before and after the load), peak RSS while compiling, and lookups per second (hits and
misses, each walking the name's suffixes), with the index/set ratio for each.
"""
from __future__ import annotations

import argparse
import gc
import os
import pickle
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from appliance.lists.index import DomainIndex  # noqa: E402
from appliance.lists.parse import parse_file  # noqa: E402

TLDS = ["com"] * 40 + ["net"] * 8 + ["org"] * 6 + ["io", "co", "info", "xyz", "ru", "de", "fr", "top", "site",
                                                   "online", "co.uk", "com.br", "me", "tv", "app", "cn"] * 2
SYLLABLES = [c + v for c in "bcdfghjklmnprstvwz" for v in "aeiou"] + ["ing", "er", "ex", "on", "an", "ly"]
SUBS = ["www", "cdn", "api", "m", "img", "static", "ads", "track", "media", "login", "app", "s1", "s2", "edge"]


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


def vm(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


def child(kind: str, path: str) -> None:
    """Run in a fresh interpreter: print the RSS the loaded structure adds, and the load time."""
    import marisa_trie  # noqa: F401  (the module's own RSS is not the index's)
    gc.collect()
    before = vm("VmRSS")
    t = time.perf_counter()
    if kind == "index":
        obj = DomainIndex.load(path)
    elif kind == "set":
        with open(path, "rb") as f:
            obj = pickle.load(f)
    else:   # compile: peak memory while parsing and building from the list file
        obj = DomainIndex.build((d, "bench", "bench") for d in parse_file(path).domains)
    elapsed = time.perf_counter() - t
    gc.collect()
    print(vm("VmRSS") - before, vm("VmHWM") - before, elapsed, len(obj))


def in_child(kind: str, path: Path) -> tuple[int, int, float]:
    out = subprocess.run([sys.executable, __file__, "--child", kind, str(path)], check=True, capture_output=True,
                         text=True).stdout.split()
    return int(out[0]), int(out[1]), float(out[2])


def rate(fn, queries: list[str]) -> float:
    t = time.perf_counter()
    for q in queries:
        fn(q)
    return len(queries) / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--domains", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=200_000)
    ap.add_argument("--child", nargs=2, metavar=("KIND", "PATH"))
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
        print(f"  {list_path.stat().st_size / 1e6:.1f} MB list, {depth:.2f} dots a name on average")
        hits, misses = make_queries(domains, args.queries)
        del domains
        gc.collect()

        t = time.perf_counter()
        parsed = parse_file(list_path)
        t_parse = time.perf_counter() - t
        t = time.perf_counter()
        index = DomainIndex.build((d, "bench", "bench") for d in parsed.domains)
        t_build = time.perf_counter() - t
        t = time.perf_counter()
        names = set(parsed.domains)
        t_set = time.perf_counter() - t
        assert len(index) == len(names) == args.domains, (len(index), len(names))

        index_path, set_path = tmp / "index.bin", tmp / "set.pickle"
        index.save(index_path)
        with open(set_path, "wb") as f:
            pickle.dump(names, f, protocol=pickle.HIGHEST_PROTOCOL)

        rss_index, _, load_index = in_child("index", index_path)
        rss_set, _, load_set = in_child("set", set_path)
        _, peak_compile, _ = in_child("compile", list_path)

        for q in hits[:1000] + misses[:1000]:     # the two must agree before their speed means anything
            assert {h.rule for h in index.lookup(q)} == set(set_lookup(names, q)), q
        rates = {}
        for label, qs in (("hits", hits), ("misses", misses)):
            rates[label] = (rate(index.lookup, qs), rate(lambda q: set_lookup(names, q), qs))

        mb = 1024 * 1024
        rows = [
            ("compile: parse list file (s)", t_parse, t_parse),
            ("compile: build structure (s)", t_build, t_set),
            ("compile: total (s)", t_parse + t_build, t_parse + t_set),
            ("load cached structure (s)", load_index, load_set),
            ("RSS added once loaded (MB)", rss_index / mb, rss_set / mb),
            ("on-disk cache (MB)", index_path.stat().st_size / mb, set_path.stat().st_size / mb),
            ("lookups/s, hits (suffix walk)", rates["hits"][0], rates["hits"][1]),
            ("lookups/s, misses (suffix walk)", rates["misses"][0], rates["misses"][1]),
        ]
        print(f"\n{args.domains:,} domains, {args.queries:,} queries each; Python {sys.version.split()[0]}, "
              f"{os.uname().machine}")
        print(f"{'':34}{'index':>14}{'set':>14}{'index/set':>11}")
        for label, a, b in rows:
            fmt = "{:>14,.0f}" if a > 1000 else "{:>14.3f}"
            print(f"{label:34}{fmt.format(a)}{fmt.format(b)}{a / b:>11.2f}")
        print(f"{'peak RSS added by compile (MB)':34}{peak_compile / mb:>14.1f}")
        print(f"{'per lookup, hits / misses (us)':34}{1e6 / rates['hits'][0]:>7.2f} /{1e6 / rates['misses'][0]:>5.2f}")


if __name__ == "__main__":
    main()
