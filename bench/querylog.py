"""Benchmark the query log at a family's 90 days: 5,000,000 rows written through the real writer, then every admin
search through the real reader.

    .venv/bin/python bench/querylog.py [--rows 5000000] [--runs 7] [--rebuild]

The file is built once and kept under /tmp/hearth-bench/ (rebuilt when --rows or the schema version changes, or
with --rebuild). Prints the insert rate, the file's size, and the median time of each search over --runs runs.
Target (issue 8): every search under 200 ms at 5M rows, the file under 600 MB.

The shape: 4 children and the default profile, 12 devices whose IPv6 privacy address changes every day, a Zipf
mix of about 40,000 names (popular services and their CDN hosts, a long tail of small sites), hot-cache repeats
(one row counting 2-20 answers in a second), busier evenings, bedtime blocks at night, and apps, categories and
bypass endpoints blocked at all hours.
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from appliance.model import Action, Client, Decision, Reason  # noqa: E402
from appliance.state import migrate  # noqa: E402
from appliance.state.querylog import Entry, QueryLog  # noqa: E402
from appliance.state.reports import LogFilter, Reports  # noqa: E402

CACHE = Path("/tmp/hearth-bench")
TZ = ZoneInfo("Europe/Paris")
DAYS = 90
END = datetime(2026, 11, 30, tzinfo=timezone.utc).timestamp()   # fixed: the same file every build

CHILDREN = ("emma", "leo", "mia", "noah")
DEVICES = (("emma-phone", "emma"), ("emma-laptop", "emma"), ("leo-phone", "leo"), ("leo-tablet", "leo"),
           ("mia-tablet", "mia"), ("mia-phone", "mia"), ("noah-tablet", "noah"), ("noah-console", "noah"),
           ("family-tv", "default"), ("mum-phone", "default"), ("dad-phone", "default"), ("dad-laptop", "default"))
POPULAR = ("google.com", "www.google.com", "youtube.com", "www.youtube.com", "i.ytimg.com", "yt3.ggpht.com",
           "googlevideo.com", "gstatic.com", "fonts.gstatic.com", "play.googleapis.com", "apple.com",
           "icloud.com", "gateway.icloud.com", "mzstatic.com", "facebook.com", "graph.facebook.com",
           "instagram.com", "whatsapp.net", "netflix.com", "nflxvideo.net", "spotify.com", "wikipedia.org",
           "khanacademy.org", "pronote.net", "microsoft.com", "login.live.com", "office.com", "amazon.fr",
           "cloudfront.net", "akamaihd.net", "fastly.net", "roblox.com", "rbxcdn.com", "minecraft.net",
           "discord.com", "discordapp.net", "twitch.tv", "reddit.com", "redd.it", "duckduckgo.com",
           "bing.com", "lemonde.fr", "leboncoin.fr", "doubleclick.net", "googlesyndication.com",
           "app-measurement.com", "crashlytics.com", "sentry.io", "connectivitycheck.gstatic.com",
           "time.apple.com", "pool.ntp.org")
BLOCKED = (  # name, reason, list
    ("tiktok.com", Reason.APP, "app:tiktok"), ("www.tiktok.com", Reason.APP, "app:tiktok"),
    ("v16m.tiktokcdn.com", Reason.APP, "app:tiktok"), ("api.tiktokv.com", Reason.APP, "app:tiktok"),
    ("snapchat.com", Reason.APP, "app:snapchat"), ("app.snapchat.com", Reason.APP, "app:snapchat"),
    ("omegle.com", Reason.CATEGORY, "random-chat"), ("ome.tv", Reason.CATEGORY, "random-chat"),
    ("chatroulette.com", Reason.CATEGORY, "random-chat"), ("monkey.app", Reason.APP, "app:monkey"),
    ("tinder.com", Reason.CATEGORY, "dating"), ("badoo.com", Reason.CATEGORY, "dating"),
    ("pornhub.com", Reason.CATEGORY, "adult"), ("xvideos.com", Reason.CATEGORY, "adult"),
    ("dns.google", Reason.BYPASS, "bypass"), ("mask.icloud.com", Reason.BYPASS, "bypass"),
    ("nordvpn.com", Reason.BYPASS, "bypass"), ("ngl.link", Reason.APP, "app:ngl"),
    ("fortnite.com", Reason.APP, "app:fortnite"), ("epicgames.com", Reason.APP, "app:fortnite"))
SYLLABLES = [c + v for c in "bcdfghjklmnprstvwz" for v in "aeiou"]


def _word(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))


def vocabulary(rng: random.Random) -> list[str]:
    """About 40,000 names, most popular first."""
    names = list(POPULAR)
    for base in ("googlevideo.com", "cloudfront.net", "akamaihd.net", "fbcdn.net", "nflxvideo.net", "rbxcdn.com"):
        names += [f"r{rng.randint(1, 9)}---sn-{_word(rng)}.{base}" for _ in range(800)]
    while len(names) < 40_000:
        site = f"{_word(rng)}.{rng.choice(('com', 'com', 'fr', 'net', 'org', 'io'))}"
        names += [site, f"www.{site}"] + ([f"cdn.{site}"] if rng.random() < 0.3 else [])
    return list(dict.fromkeys(names))


class Family:
    def __init__(self, seed: int = 7):
        self.rng = random.Random(seed)
        self.names = vocabulary(self.rng)
        zipf = [1.0 / (i + 1) ** 1.1 for i in range(len(self.names))]
        self.cum = list(itertools.accumulate(zipf))
        self.allow = {p: Decision(Action.ALLOW, Reason.NONE, p) for p in (*CHILDREN, "default")}
        self.bedtime = {p: Decision(Action.BLOCK, Reason.SCHEDULE, p, schedule="bedtime") for p in CHILDREN}
        self.blocked = {p: [(n, Decision(Action.BLOCK, r, p, list=lst, rule=n.split(".", 1)[-1]
                                         if n.startswith(("www.", "app.", "api.", "v16m.")) else n,
                                         nxdomain=r is Reason.BYPASS)) for n, r, lst in BLOCKED]
                        for p in (*CHILDREN, "default")}
        self.safe = {p: Decision(Action.REWRITE, Reason.SAFE_SEARCH, p, list="google", rule="www.google.com",
                                 target="forcesafesearch.google.com") for p in CHILDREN}
        self.clients: dict[tuple[str, int], Client] = {}

    def client(self, i: int, day: int) -> Client:
        c = self.clients.get((i, day))
        if c is None:     # a new IPv6 privacy address every day, the same MAC
            name, profile = DEVICES[i]
            c = self.clients[(i, day)] = Client(f"2a01:e0a:1:{i:x}:{day:x}{self.rng.randrange(1 << 16):x}::1",
                                                f"02:00:00:00:00:{i:02x}", name, profile)
        return c

    def entries(self, rows: int):
        """``rows`` entries in time order over DAYS days before END."""
        rng = self.rng
        hour_weight = [1, 0.5, 0.3, 0.2, 0.2, 0.3, 1, 3, 4, 3, 3, 3, 4, 4, 3, 4, 6, 8, 9, 9, 8, 6, 4, 2]
        hour_cum = list(itertools.accumulate(hour_weight))
        start = END - DAYS * 86400
        per_day = rows // DAYS
        for day in range(DAYS):
            n = per_day if day < DAYS - 1 else rows - per_day * (DAYS - 1)
            hours = sorted(rng.choices(range(24), cum_weights=hour_cum, k=n))
            picks = rng.choices(range(len(self.names)), cum_weights=self.cum, k=n)
            devs = rng.choices(range(len(DEVICES)), k=n)
            for h, pick, dev in zip(hours, picks, devs):
                ts = start + day * 86400 + h * 3600 + rng.random() * 3600
                c = self.client(dev, day)
                p = c.profile
                night = h >= 22 or h < 7
                qname = self.names[pick]
                roll = rng.random()
                if p != "default" and night:
                    d = self.bedtime[p]
                elif roll < 0.06:
                    qname, d = rng.choice(self.blocked[p])
                elif p != "default" and qname == "www.google.com":
                    d = self.safe[p]
                else:
                    d = self.allow[p]
                repeat = rng.random() < 0.25
                count = rng.randint(2, 20) if repeat else 1
                yield Entry(ts, c, qname, 1 if rng.random() < 0.6 else 28, d, 0, repeat,
                            None if repeat else "9.9.9.9:53", None if repeat else round(rng.uniform(2, 60), 3),
                            count)


async def _fill(path: Path, rows: int) -> tuple[float, float]:
    """Seconds spent in the writer (put and flush), wall and CPU (all threads), without generating the entries."""
    log = QueryLog(path, maxsize=10 ** 9)
    family = Family()
    wall = cpu = 0.0
    entries = family.entries(rows)
    while True:
        batch = list(itertools.islice(entries, 20_000))
        if not batch:
            break
        t0, c0 = time.perf_counter(), time.process_time()
        for e in batch:
            log.put(e)
        await log.flush()
        wall += time.perf_counter() - t0
        cpu += time.process_time() - c0
    log.close()
    assert log.written and not log.dropped, (log.written, log.dropped, log.last_error)
    return wall, cpu


def build(rows: int, rebuild: bool) -> Path:
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"querylog-{rows}-v{migrate.LATEST}.db"
    if path.exists() and not rebuild:
        print(f"using {path} (built earlier; --rebuild to build it again)")
        return path
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        p.unlink(missing_ok=True)
    print(f"writing {rows:,} rows through the query log writer to {path} ...", flush=True)
    elapsed, cpu = asyncio.run(_fill(path, rows))
    print(f"insert: {rows:,} rows in {elapsed:.1f} s in the writer = {rows / elapsed:,.0f} rows/s "
          f"({elapsed / rows * 1e6:.1f} µs a row, {cpu / rows * 1e6:.1f} µs of CPU; batches of 20,000)")
    return path


def timed(fn, runs: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--rebuild", action="store_true")
    args = ap.parse_args()
    path = build(args.rows, args.rebuild)
    size = sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    print(f"file: {size / 1e6:,.0f} MB for {args.rows:,} rows ({size / args.rows:.0f} bytes a row; target < 600 MB)")

    r = Reports(path)
    last_day = datetime.fromtimestamp(END - 86400, TZ).date()
    end = datetime.fromtimestamp(END, timezone.utc)

    def deep_cursor(pages: int) -> str:
        cur = None
        for _ in range(pages):
            cur = r.search(LogFilter(), limit=50, cursor=cur).next_cursor
        return cur
    deep = deep_cursor(200)
    import sqlite3       # setup only: the name whose newest row is the oldest (a search that walks every block)
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as c:
        stale = c.execute("SELECT n.name FROM names n JOIN (SELECT name_id, max(id) AS last FROM queries "
                          "GROUP BY name_id ORDER BY last LIMIT 1) q ON q.name_id = n.id").fetchone()[0]
    deep_child = None
    for _ in range(100):
        deep_child = r.search(LogFilter(profile="emma"), 50, deep_child).next_cursor

    searches = [
        ("newest 50, no filter", lambda: r.search(LogFilter())),
        ("by child (emma)", lambda: r.search(LogFilter(profile="emma"))),
        ("by device (noah-console)", lambda: r.search(LogFilter(device="noah-console"))),
        ("by domain substring (tiktok)", lambda: r.search(LogFilter(domain="tiktok"))),
        ("by domain substring (google: many names)", lambda: r.search(LogFilter(domain="google"))),
        ("by domain substring (no match)", lambda: r.search(LogFilter(domain="nosuchname-zz"))),
        (f"by domain, a name last asked 90 days ago ({stale})", lambda: r.search(LogFilter(domain=stale))),
        ("blocked only", lambda: r.search(LogFilter(blocked_only=True))),
        ("emma, blocked, last day", lambda: r.search(LogFilter(profile="emma", blocked_only=True,
                                                               since=end - timedelta(days=1)))),
        ("reason BYPASS", lambda: r.search(LogFilter(reason="BYPASS"))),
        ("app tiktok, leo", lambda: r.search(LogFilter(list="tiktok", profile="leo"))),
        ("last hour", lambda: r.search(LogFilter(since=end - timedelta(hours=1)))),
        ("last day", lambda: r.search(LogFilter(since=end - timedelta(days=1)))),
        ("last 30 days", lambda: r.search(LogFilter(since=end - timedelta(days=30)))),
        ("a week, 60 days ago", lambda: r.search(LogFilter(since=end - timedelta(days=67),
                                                           until=end - timedelta(days=60)))),
        ("page 201 (10,000 rows deep)", lambda: r.search(LogFilter(), cursor=deep)),
        ("emma page 101 (5,000 rows deep)", lambda: r.search(LogFilter(profile="emma"), cursor=deep_child)),
        ("day summary (emma, yesterday: top domains, apps, categories)",
         lambda: r.day_summary("emma", last_day, TZ)),
        ("activity by hour (emma, 1 day)", lambda: r.activity_by_hour("emma", end - timedelta(days=1), end, TZ)),
        ("activity by hour (emma, 30 days)",
         lambda: r.activity_by_hour("emma", end - timedelta(days=30), end, TZ)),
        ("totals per profile (30 days)", lambda: r.totals(end - timedelta(days=30), end)),
        ("devices seen", lambda: r.devices()),
    ]
    worst = 0.0
    print(f"\nmedian of {args.runs} runs, milliseconds:")
    for name, fn in searches:
        ms, result = timed(fn, args.runs)
        worst = max(worst, ms)
        n = len(result.entries) if hasattr(result, "entries") else ""
        print(f"  {ms:8.1f}  {name}{f'  ({n} entries)' if n != '' else ''}")
    r.close()
    print(f"\nslowest search: {worst:.1f} ms (target < 200 ms); file {size / 1e6:,.0f} MB (target < 600 MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
