"""The config cache (appliance/config/cache.py): a file read before is not parsed again, and never a stale reading.

Real files in a temporary folder, the real shipped catalog (copied where a test changes it), the real loader.
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import fields, is_dataclass
from pathlib import Path

import pytest

from appliance import config as configmod
from appliance.config import ConfigError, cache
from tests.test_config import EXAMPLE

RICH = EXAMPLE + """\
admin: {listen: '0.0.0.0:80', parents: [leo-tablet], parent_networks: [192.168.1.0/24]}
alerts: {notify: ['json://127.0.0.1:9/x'], quiet: '21:30-06:45', digest: off, language: fr}
query_log: {keep_allowed_days: 7, log_allowed: false}
unknown_devices: {profile: quarantine}
essentials: [example.org]
lists: {sources: [{name: mine, path: ./mine.txt, category: adult}], update_hour: 3}
proxy: {mode: wireguard, passthrough: [bank.example]}
metrics: {listen: '127.0.0.1:9153'}
"""


@pytest.fixture
def cache_dir(tmp_path, monkeypatch) -> Path:
    d = tmp_path / "cache"
    monkeypatch.setenv("HEARTH_CACHE_DIR", str(d))
    return d


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def hit(path: Path):
    """What the cache holds for this file as it is now (None: it would be parsed)."""
    return cache.lookup(os.path.realpath(path), path.read_bytes(), str(path))


def same_types(a, b) -> bool:
    """Equal, and of the same types all the way down (a list is not a tuple, a set not a frozenset)."""
    if type(a) is not type(b):
        return False
    if is_dataclass(a):
        return all(same_types(getattr(a, f.name), getattr(b, f.name)) for f in fields(a))
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(same_types(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same_types(a[k], b[k]) for k in a)
    return a == b


def test_a_reading_is_kept_and_given_back_exactly(tmp_path, cache_dir):
    cfg = write(tmp_path / "hearth.yaml", RICH)
    first = configmod.load(cfg)
    kept = hit(cfg)
    assert kept is not None and same_types(kept, first)
    assert same_types(configmod.load(cfg), first)
    assert configmod.load(str(cfg)).source == str(cfg)      # the path as this caller gave it


def test_no_cache_folder_means_no_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HEARTH_CACHE_DIR", "")
    cfg = write(tmp_path / "hearth.yaml", EXAMPLE)
    configmod.load(cfg)
    assert cache.entry_path("config", str(cfg)) is None and hit(cfg) is None


def test_a_file_changed_within_the_same_clock_tick_is_read_again(tmp_path, cache_dir):
    cfg = write(tmp_path / "hearth.yaml", EXAMPLE)
    configmod.load(cfg)
    st = cfg.stat()
    write(cfg, EXAMPLE.replace("youtube: moderate", "youtube: strict  "))     # same size
    os.utime(cfg, ns=(st.st_atime_ns, st.st_mtime_ns))                       # same time
    assert cfg.stat().st_size == st.st_size
    assert hit(cfg) is None
    assert configmod.load(cfg).profiles["emma"].youtube == "strict"


def test_a_file_with_errors_is_never_kept_and_names_its_errors_each_time(tmp_path, cache_dir):
    cfg = write(tmp_path / "hearth.yaml", EXAMPLE.replace("block_apps: [tiktok", "block_apps: [tiktk"))
    for _ in range(2):
        with pytest.raises(ConfigError) as e:
            configmod.load(cfg)
        assert any(line.startswith("profiles.emma.block_apps[0]") for line in e.value.errors)
    assert not list(cache_dir.glob("config-*"))


@pytest.fixture
def own_catalog(tmp_path) -> Path:
    root = tmp_path / "lists"
    shutil.copytree(configmod.SHIPPED_BLOCKLISTS, root, ignore=shutil.ignore_patterns("domains.txt"))
    for folder in (root / "categories").iterdir():
        (folder / "domains.txt").write_text("example.invalid\n")
    return root


def test_a_changed_catalog_is_read_again(tmp_path, cache_dir, own_catalog):
    cfg = write(tmp_path / "hearth.yaml", f"blocklists_dir: {own_catalog}\n" + EXAMPLE)
    configmod.load(cfg)
    assert hit(cfg) is not None
    assert configmod.catalog_names(own_catalog).titles["app:tiktok"] == "TikTok"
    app = own_catalog / "apps" / "tiktok.yaml"
    write(app, app.read_text().replace("title: TikTok", "title: Tik Tok"))
    assert hit(cfg) is None
    assert configmod.catalog_names(own_catalog).titles["app:tiktok"] == "Tik Tok"
    app.unlink()             # the config names an app the catalog no longer has: its error, with its path
    with pytest.raises(ConfigError) as e:
        configmod.load(cfg)
    assert any(line.startswith("profiles.emma.block_apps[0]") for line in e.value.errors)


def test_a_missing_category_file_is_seen(tmp_path, cache_dir, own_catalog):
    cfg = write(tmp_path / "hearth.yaml", f"blocklists_dir: {own_catalog}\n" + EXAMPLE)
    configmod.load(cfg)
    (own_catalog / "categories" / "adult" / "domains.txt").unlink()
    assert hit(cfg) is None
    with pytest.raises(ConfigError) as e:
        configmod.load(cfg)
    assert any("domains.txt" in line for line in e.value.errors)


def test_a_file_the_config_names_is_checked_again(tmp_path, cache_dir):
    ca = write(tmp_path / "ca.pem", "-----BEGIN CERTIFICATE-----\n")
    cfg = write(tmp_path / "hearth.yaml", EXAMPLE.replace("  block_answer: null_ip",
                                                          "  block_answer: null_ip\n  tls_ca_file: ca.pem"))
    configmod.load(cfg)
    assert hit(cfg) is not None
    ca.unlink()
    assert hit(cfg) is None
    with pytest.raises(ConfigError) as e:
        configmod.load(cfg)
    assert any(line.startswith("dns.tls_ca_file") for line in e.value.errors)


def test_another_home_reads_again(tmp_path, cache_dir, monkeypatch):
    cfg = write(tmp_path / "hearth.yaml", EXAMPLE)
    configmod.load(cfg)
    monkeypatch.setenv("HOME", str(tmp_path))        # "~" in a path means another folder now
    assert hit(cfg) is None


def entry_of(cfg: Path) -> Path:
    return cache.entry_path("config", os.path.realpath(cfg))


@pytest.mark.parametrize("spoil", [
    lambda p: p.write_text("{not json"),
    lambda p: p.write_text(""),
    lambda p: p.write_text(p.read_text().replace('"@":"Profile"', '"@":"Path"')),       # a class not in the schema
    lambda p: p.write_text(p.read_text().replace('"()":', '"[]":')),                    # a tag we never write
    lambda p: p.write_text(json.dumps({**json.loads(p.read_text()), "code": [0]})),    # another version's code
    lambda p: os.chmod(p, 0o666),                                                      # anyone could have written it
    lambda p: os.chmod(p.parent, 0o777),
    lambda p: os.chown(p, 4321, 4321) if os.geteuid() == 0 else pytest.skip("needs root to give the file away"),
], ids=["garbled", "empty", "foreign class", "foreign tag", "other code", "writable by all", "open folder",
        "another user's"])
def test_a_spoiled_or_foreign_entry_is_ignored_and_replaced(tmp_path, cache_dir, spoil):
    cfg = write(tmp_path / "hearth.yaml", RICH)
    good = configmod.load(cfg)
    spoil(entry_of(cfg))
    assert hit(cfg) is None
    assert configmod.load(cfg) == good           # read from the file, and kept again
    os.chmod(cache_dir, 0o700)
    if entry_of(cfg).stat().st_uid == os.geteuid():
        os.chmod(entry_of(cfg), 0o600)
        assert hit(cfg) == good


def test_a_tampered_entry_cannot_run_code(tmp_path, cache_dir):
    """JSON, and only the schema's classes: the worst an entry can do is be ignored."""
    cfg = write(tmp_path / "hearth.yaml", EXAMPLE)
    configmod.load(cfg)
    entry = json.loads(entry_of(cfg).read_text())
    entry["config"] = {"@": "Config", "data_dir": {"@": "system", "command": "touch owned"}}
    entry_of(cfg).write_text(json.dumps(entry))
    assert hit(cfg) is None and not (tmp_path / "owned").exists()


@pytest.mark.parametrize("value", [[1, 2], {1, 2}, object(), b"bytes", 1j])
def test_values_outside_the_schema_are_not_cached(value):
    with pytest.raises(cache.Unfit):
        cache.encode(value)


def test_many_config_files_keep_a_bounded_cache(tmp_path, cache_dir):
    for i in range(cache.MAX_ENTRIES + 8):
        configmod.load(write(tmp_path / f"c{i}.yaml", EXAMPLE))
    assert len(list(cache_dir.glob("*.json"))) <= cache.MAX_ENTRIES


def test_an_unwritable_cache_changes_nothing(tmp_path, monkeypatch):
    blocker = write(tmp_path / "not-a-folder", "")
    monkeypatch.setenv("HEARTH_CACHE_DIR", str(blocker / "cache"))
    cfg = write(tmp_path / "hearth.yaml", EXAMPLE)
    assert configmod.load(cfg) == configmod.load(cfg)


def counting_parser():
    import yaml
    calls = []

    def parse(text):
        calls.append(text)
        return yaml.safe_load(text)
    return parse, calls


def test_a_shipped_data_file_is_parsed_once_per_change(tmp_path, cache_dir):
    f = write(tmp_path / "safesearch.yaml", "engines: {google: {safe: a.example, hosts: [www.google.com]}}\n")
    parse, calls = counting_parser()
    first = cache.shipped_data(f, parse)
    assert cache.shipped_data(f, parse) == first and len(calls) == 1
    write(f, "engines: {google: {safe: b.example, hosts: [www.google.com]}}\n")       # same size, new bytes
    assert cache.shipped_data(f, parse)["engines"]["google"]["safe"] == "b.example" and len(calls) == 2


@pytest.mark.parametrize("text", ["when: 2026-12-01\n", "1: one\n"])
def test_data_json_cannot_hold_is_parsed_every_time(tmp_path, cache_dir, text):
    f = write(tmp_path / "data.yaml", text)
    parse, calls = counting_parser()
    assert cache.shipped_data(f, parse) == cache.shipped_data(f, parse) and len(calls) == 2


def test_a_shipped_file_that_does_not_parse_raises_each_time(tmp_path, cache_dir):
    import yaml
    f = write(tmp_path / "safesearch.yaml", "engines: [unclosed\n")
    parse, calls = counting_parser()
    for _ in range(2):
        with pytest.raises(yaml.YAMLError):
            cache.shipped_data(f, parse)
    assert len(calls) == 2
    with pytest.raises(OSError):
        cache.shipped_data(tmp_path / "missing.yaml", parse)


@pytest.mark.parametrize("a, b", [("/x/a/25", "/x/a%"), ("/x/a%2F", "/x/a/"), ("/etc/h.yaml", "/etc%h.yaml")])
def test_two_paths_never_share_an_entry(cache_dir, a, b):
    assert cache.entry_path("config", a) != cache.entry_path("config", b)
    assert cache.entry_path("config", a) != cache.entry_path("catalog", a)
