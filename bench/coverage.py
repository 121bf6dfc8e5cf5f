#!/usr/bin/env python3
"""How much of each public source Hearth's curated lists cover, offline, from the snapshots in bench/data/coverage/.

Each snapshot file names its source, commit and date in its header and holds sections ``[name]``: the name of a
Hearth app (``[tiktok]``) or category (``[bypass]``), then that source's host names for it, separated by white
space. A source name counts as covered when Hearth blocks it: it equals, or sits under, one of the app's domains
(for an app) or one of the category's domains (for a category). Names the lists leave out on purpose are counted
apart, never as misses: names under shared infrastructure (blocklists/shared-infrastructure.txt; blocking them
would break unrelated sites) and names under a never-block essential.

    python3 bench/coverage.py              # one line per app or category and source
    python3 bench/coverage.py --missing    # and the names each source has that Hearth does not block

Use it to find what is missing, then check each name before adding it with its provenance: a source is a lead,
not a list to copy.

The snapshots are not in the repository: they are other projects' data (AdGuard's HostlistsRegistry services,
NextDNS's services, HaGeZi's lists, v2fly's domain-list-community, curl's DoH list, DNSCrypt's public
resolvers). A maintainer makes them from those sources' public files into bench/data/coverage/ (git-ignored),
one file per source in the format above, with the source's URL, commit and date in a `#` header.
"""
from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
LISTS = ROOT / "blocklists"
SNAPSHOTS = ROOT / "bench" / "data" / "coverage"

_SECTION = re.compile(r"\[([a-z0-9-]+)\]\Z")


def under(name: str, suffix: str) -> bool:
    return name == suffix or name.endswith("." + suffix)


def list_entries(path: Path) -> list[str]:
    out = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            out.append(line)
    return out


def read_snapshot(path: Path) -> tuple[str, dict[str, list[str]]]:
    """(the source line of the header, {section: names}); a name may be listed in any case, once or more."""
    source = ""
    sections: dict[str, list[str]] = defaultdict(list)
    current = None
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            if not source and line.lstrip("# ").startswith("source:"):
                source = line.lstrip("# ")[len("source:"):].strip()
            continue
        m = _SECTION.match(line)
        if m:
            current = m.group(1)
            continue
        if current is None:
            raise SystemExit(f"{path}: a name before the first [section]: {line!r}")
        for name in line.split("#", 1)[0].split():     # a source's own comments may trail a line
            name = name.lower().rstrip(".")
            if "." not in name:                           # a bare TLD rule ('||youtube^'): not a host name
                continue
            if name not in sections[current]:
                sections[current].append(name)
    return source, dict(sections)


def hearth_targets() -> dict[str, list[str]]:
    """What Hearth blocks for each app (its domains) and category (its domains.txt plus its apps' domains)."""
    targets: dict[str, list[str]] = {}
    for folder in sorted((LISTS / "categories").iterdir()):
        if (folder / "domains.txt").is_file():
            targets[folder.name] = list_entries(folder / "domains.txt")
    for path in sorted((LISTS / "apps").glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        targets[path.stem] = [str(d) for d in doc.get("domains") or []]
        targets.setdefault(doc.get("category"), []).extend(targets[path.stem])
    return targets


def classify(names: list[str], ours: list[str], shared: list[str], essentials: list[str]):
    covered, left_out, missing = [], [], []
    for n in names:
        if any(under(n, d) for d in ours):
            covered.append(n)
        elif any(under(n, s) for s in shared) or any(under(n, e) or under(e, n) for e in essentials):
            left_out.append(n)
        else:
            missing.append(n)
    return covered, left_out, missing


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--missing", action="store_true", help="list the names each source has that Hearth misses")
    ap.add_argument("--snapshots", type=Path, default=SNAPSHOTS)
    args = ap.parse_args(argv)

    targets = hearth_targets()
    shared = list_entries(LISTS / "shared-infrastructure.txt")
    essentials = list_entries(LISTS / "never-block.txt")
    files = sorted(args.snapshots.glob("*.txt"))
    if not files:
        print(f"no snapshots in {args.snapshots}", file=sys.stderr)
        return 1

    rows = []
    per_source: dict[str, list[int]] = {}
    for path in files:
        source, sections = read_snapshot(path)
        totals = per_source.setdefault(path.stem, [0, 0, 0])
        for name, names in sections.items():
            if name not in targets:
                print(f"{path.name}: [{name}] is neither an app nor a category of Hearth's", file=sys.stderr)
                continue
            covered, left_out, missing = classify(names, targets[name], shared, essentials)
            rows.append((name, path.stem, covered, left_out, missing))
            totals[0] += len(covered)
            totals[1] += len(left_out)
            totals[2] += len(missing)

    print(f"{'app or category':<16} {'source':<28} {'covered':>9} {'of':>4} {'%':>5}  left out (shared/essential)")
    for name, src, covered, left_out, missing in sorted(rows):
        counted = len(covered) + len(missing)
        pct = 100.0 * len(covered) / counted if counted else 100.0
        print(f"{name:<16} {src:<28} {len(covered):>9} {counted:>4} {pct:>5.0f}  {len(left_out)}")
        if args.missing and missing:
            print("    missing: " + " ".join(missing))
        if args.missing and left_out:
            print("    left out: " + " ".join(left_out))
    print()
    print(f"{'source':<28} {'covered':>9} {'of':>5} {'%':>5}  left out")
    for src, (c, lo, m) in sorted(per_source.items()):
        print(f"{src:<28} {c:>9} {c + m:>5} {100.0 * c / (c + m) if c + m else 100.0:>5.0f}  {lo}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
