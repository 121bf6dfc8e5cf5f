from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.hearth_proc import HearthServer
from tests.support.stub_upstream import StubUpstream

ZONE = {
    "example.com": [("A", "93.184.216.34"), ("AAAA", "2606:2800:220:1:248:1893:25c8:1946")],
    "www.example.com": [("A", "93.184.216.34")],
    "notomegle.com": [("A", "198.51.100.7")],
    "www.omegle.com": [("A", "198.51.100.1")],
    "cloak.example.net": [("CNAME", "tracker.chatroulette.com.")],
    "tracker.chatroulette.com": [("A", "198.51.100.2")],
    "fine-cname.example.net": [("CNAME", "www.example.com.")],
    "big.example.com": [("TXT", f"{i}" + "x" * 200) for i in range(3)],     # ~650 bytes: over 512, under 1232
    "forcesafesearch.google.com": [("A", "216.239.38.120")],
    "restrictmoderate.youtube.com": [("A", "216.239.38.119")],
    "restrict.youtube.com": [("A", "216.239.38.120")],
    "connectivitycheck.gstatic.com": [("A", "142.250.0.1")],
}


def write_blocklists(root: Path) -> Path:
    """A small curated tree in the shipped format, so DNS tests do not depend on the shipped data's contents."""
    cats = {"random-chat": ["omegle.com", "chatroulette.com"], "dating": ["tinder.com", "gotinder.com"],
            "social": ["tiktok.com", "tiktokv.com", "snapchat.com"], "bypass": ["dns.google", "mask.icloud.com"]}
    for name, domains in cats.items():
        d = root / "categories" / name
        d.mkdir(parents=True)
        (d / "category.yaml").write_text(
            f"title: {name}\ntitle_fr: {name}\ndescription: d\ndescription_fr: d\nmaintainer_note: m\n")
        (d / "domains.txt").write_text("\n".join(domains) + "\n")
    (root / "apps").mkdir()
    (root / "apps" / "tiktok.yaml").write_text(
        "name: tiktok\ntitle: TikTok\ncategory: social\ndescription: d\ndomains: [tiktok.com, tiktokv.com]\n"
        "notes: n\nprovenance: [x]\n")
    (root / "never-block.txt").write_text("connectivitycheck.gstatic.com\n")
    (root / "safesearch.yaml").write_text(
        "engines:\n  google: {target: forcesafesearch.google.com, hosts: [www.google.com, www.google.fr]}\n"
        "youtube: {moderate: restrictmoderate.youtube.com, strict: restrict.youtube.com,"
        " hosts: [www.youtube.com, m.youtube.com]}\n")
    return root


@pytest.fixture
def blocklists(tmp_path) -> Path:
    return write_blocklists(tmp_path / "bl")


@pytest.fixture
def upstream():
    with StubUpstream(ZONE) as up:
        yield up


@pytest.fixture
def hearth(tmp_path, blocklists, upstream):
    """Hearth with the default profile blocking random-chat; extend with `hearth_with(config)`."""
    made = []

    def make(extra: dict | None = None, arp: str = "", listen_hosts=("127.0.0.1",)) -> HearthServer:
        extra = dict(extra or {})
        dns = {"upstreams": [upstream.address], "upstream_timeout": 0.5, **extra.pop("dns", {})}
        cfg = {"blocklists_dir": str(blocklists), "dns": dns,
               "default_profile": {"block": ["random-chat"]}, **extra}
        h = HearthServer(tmp_path, cfg, arp=arp, listen_hosts=listen_hosts).start()
        made.append(h)
        return h

    yield make
    for h in made:
        h.stop()
