"""A parent's own list blocks what Pi-hole and AdGuard Home would: a hosts-file line blocks that one host, and no
rule of theirs blocks a whole shared CDN (issue 11)."""
from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timezone

import yaml

from appliance import config as configmod
from appliance.config import Profile
from appliance.lists.store import compile_index
from appliance.model import Action
from appliance.policy.decide import Rules, decide
from appliance.policy.safesearch import SafeSearch

LIST = """# my own list
0.0.0.0 googleapis.com
0.0.0.0 ads.example.net tracker.example.net
cloudfront.net
d111.cloudfront.net
||evil.example^
badsite.example
"""


def test_hosts_lines_block_one_host_and_shared_infrastructure_is_never_a_suffix(tmp_path):
    (tmp_path / "mine.txt").write_text(LIST)
    p = tmp_path / "hearth.yaml"
    p.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "var"), "lists": {"sources": [
        {"name": "mine", "path": "mine.txt", "category": "my-list"}]}, "default_profile": {"block": ["my-list"]}}))
    cfg = configmod.load(p)
    rules = Rules(compile_index(cfg), SafeSearch.from_dir(cfg.blocklists_dir))
    now = datetime(2026, 12, 1, 12, tzinfo=timezone.utc)
    verdict = lambda name: decide(Profile("default", block=("my-list",)), name, 1, now, None, rules).action
    blocked = ["googleapis.com", "ads.example.net", "tracker.example.net", "cloudfront.net", "d111.cloudfront.net",
               "evil.example", "www.evil.example", "badsite.example", "www.badsite.example"]
    allowed = ["fonts.googleapis.com", "www.ads.example.net", "d222.cloudfront.net", "x.d111.cloudfront.net"]
    assert [n for n in blocked if verdict(n) is not Action.BLOCK] == []
    assert [n for n in allowed if verdict(n) is not Action.ALLOW] == []
    r = subprocess.run([sys.executable, "-m", "appliance.cli", "--config", str(p), "lists", "status"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0
    row = next(line for line in r.stdout.splitlines() if line.startswith("mine "))
    assert "2 names on shared infrastructure block their own host only (e.g. cloudfront.net)" in row


def test_a_downloaded_hosts_file_stays_a_hosts_file_on_disk(tmp_path):
    """The stored copy of a download is the parsed list; its hosts lines must still block one host each."""
    from appliance.lists.parse import parse_file, parse_list
    from appliance.lists.sources import _write_checked
    first = parse_list(LIST)
    body = LIST.encode()
    counts = _write_checked(iter([body[:7], body[7:30], body[30:]]), tmp_path / "copy.txt")   # split mid-line
    again = parse_file(tmp_path / "copy.txt")
    assert again.domains == first.domains and again.exact == first.exact
    assert again.unsupported == 0 and counts.unsupported == first.unsupported
    assert first.exact == {"googleapis.com", "ads.example.net", "tracker.example.net"}
