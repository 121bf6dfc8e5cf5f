#!/usr/bin/env python3
"""The risky-text detector: speed, and precision/recall per language and category on the labelled sets.

    .venv/bin/python bench/textscan.py [--seconds 3]

Sets (tests/data/textscan/): ``dev`` is what the rules were tuned on; ``heldout`` was written before any rule and
never tuned on, so its figures are the honest ones. A worrying message counts as found only when a hit has its
own category; a harmless message with any hit is a false alarm.

Per category: TP = labelled c and a hit of c; FP = a hit of c on a message labelled otherwise (harmless or
another category); FN = labelled c and no hit of c. "all" is the alert a parent gets: a worrying message with a
hit of its category (TP), a harmless one with any hit (FP).

Speed: messages a second over the labelled messages, one at a time, as the proxy will call it; and the time for
a 100 kB page of text (a long forum thread) in one call. Rule loading is timed once, cold.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from appliance.textscan.rules import CATEGORIES, load_dir  # noqa: E402
from appliance.textscan.scanner import RULES_DIR, Scanner  # noqa: E402

DATA = ROOT / "tests" / "data" / "textscan"


def rows(split: str):
    for line in (DATA / f"{split}.tsv").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            lang, label, text = line.split("\t")
            yield lang, label, text


def ratio(a: int, b: int) -> str:
    return f"{a / b:.2f}" if b else "  - "


def figures(scanner: Scanner, split: str) -> list[str]:
    data = list(rows(split))
    out = [f"{split}: {len(data)} messages"]
    out.append(f"  {'lang':4} {'category':10} {'n':>4} {'P':>5} {'R':>5}   tp  fp  fn")
    misses = []
    for lang in ("en", "fr"):
        mine = [(label, text, {h.category for h in scanner.scan(text)}) for lg, label, text in data if lg == lang]
        for cat in CATEGORIES + ("all",):
            if cat == "all":
                tp = sum(1 for label, _, c in mine if label != "none" and label in c)
                fp = sum(1 for label, _, c in mine if label == "none" and c)
                fn = sum(1 for label, _, c in mine if label != "none" and label not in c)
                n = sum(1 for label, _, _ in mine if label != "none")
            else:
                tp = sum(1 for label, _, c in mine if label == cat and cat in c)
                fp = sum(1 for label, _, c in mine if label != cat and cat in c)
                fn = sum(1 for label, _, c in mine if label == cat and cat not in c)
                n = sum(1 for label, _, _ in mine if label == cat)
            out.append(f"  {lang:4} {cat:10} {n:4} {ratio(tp, tp + fp):>5} {ratio(tp, tp + fn):>5}  {tp:3} {fp:3} {fn:3}")
        misses += [(lang, label, text, sorted(c)) for label, text, c in mine
                   if (label == "none" and c) or (label != "none" and label not in c)]
    if misses:
        out.append(f"  not as labelled ({len(misses)}):")
        out += [f"    {lang} [{label}] {text!r} -> {', '.join(c) or 'nothing'}" for lang, label, text, c in misses]
    return out


def speed(scanner: Scanner, seconds: float) -> list[str]:
    msgs = [text for split in ("dev", "heldout") for _, _, text in rows(split)]
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for m in msgs:
            scanner.scan(m)
        n += len(msgs)
    el = time.perf_counter() - t0
    page = ("Welcome back everyone, here is the thread about the weekend plans and the homework. " * 1200)[:100_000]
    t1 = time.perf_counter()
    reps = 5
    for _ in range(reps):
        scanner.scan(page)
    per_page = (time.perf_counter() - t1) / reps
    avg = sum(len(m) for m in msgs) / len(msgs)
    return [f"speed: {n / el:,.0f} messages/s (one at a time, English and French rules, average {avg:.0f} chars),"
            f" {el / n * 1e6:.0f} µs a message",
            f"       a 100 kB page in one call: {per_page * 1000:.0f} ms"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3.0, help="how long to time the scanner (default 3)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    sets = load_dir(RULES_DIR)
    load_ms = (time.perf_counter() - t0) * 1000
    scanner = Scanner(sets)
    nrules = sum(len(rs.rules) for rs in sets)
    print(f"rules: {nrules} ({', '.join(f'{rs.language} {len(rs.rules)}' for rs in sets)}), "
          f"loaded and compiled in {load_ms:.0f} ms")
    for split in ("dev", "heldout"):
        print("\n".join(figures(scanner, split)))
    print("\n".join(speed(scanner, args.seconds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
