"""compile_index over curated data, apps, essentials and parents' lists; the fingerprinted on-disk cache."""
from __future__ import annotations

import os
import threading
from dataclasses import replace

import pytest

from appliance.config import ListSource
from appliance.lists.index import Hit
from appliance.lists.store import cache_dir, compile_index, fingerprint, load_or_compile

from .conftest import write


@pytest.fixture
def config(make_config, tmp_path):
    local = write(tmp_path / "mine.txt", "0.0.0.0 roblox-chat.example\n||bad.example^\n@@||ok.bad.example^\n")
    downloaded = write(tmp_path / "data/lists/oisd.txt", "porn.example\nomegle.com\n")
    assert downloaded.exists()
    return make_config(ListSource("mine", "games", path=str(local)),
                       ListSource("oisd", "adult", url="https://example.invalid/oisd.txt"))


def rules(index, qname):
    return [(h.list, h.rule, h.source) for h in index.lookup(qname)]


def test_compile_combines_every_input(config):
    config = replace(config, essentials=("school.example",))
    index = compile_index(config)
    assert rules(index, "www.omegle.com") == [("random-chat", "omegle.com", "curated"),
                                             ("adult", "omegle.com", "oisd")]
    assert sorted(rules(index, "api.gotinder.com")) == [("app:tinder", "gotinder.com", "curated"),
                                                       ("dating", "gotinder.com", "curated")]
    assert rules(index, "match.com") == [("dating", "match.com", "curated")]
    assert rules(index, "time.apple.com") == [("never-block", "time.apple.com", "curated")]
    assert rules(index, "a.school.example") == [("never-block", "school.example", "config")]
    assert rules(index, "roblox-chat.example") == [("games", "roblox-chat.example", "mine")]
    assert rules(index, "x.bad.example") == [("games", "bad.example", "mine")]
    assert rules(index, "x.ok.bad.example") == []                  # the list's own exception
    assert rules(index, "porn.example") == [("adult", "porn.example", "oisd")]
    assert index.lists() == {"random-chat", "dating", "app:tinder", "never-block", "games", "adult"}


def test_a_missing_list_file_is_skipped_not_fatal(make_config, tmp_path):
    config = make_config(ListSource("gone", "adult", path=str(tmp_path / "gone.txt")),
                         ListSource("never-downloaded", "adult", url="https://example.invalid/x"))
    index = compile_index(config)
    assert index.lookup("omegle.com") and "adult" not in index.lists()


def test_cache_is_written_once_and_reused(config):
    first = load_or_compile(config)
    files = list(cache_dir(config).iterdir())
    assert [f.name for f in files] == [f"index-{fingerprint(config)}.bin"]
    stamp = files[0].stat().st_mtime_ns
    second = load_or_compile(config)
    assert files[0].stat().st_mtime_ns == stamp                    # loaded, not rewritten
    assert second.lookup("www.omegle.com") == first.lookup("www.omegle.com")
    assert len(second) == len(first)


@pytest.mark.parametrize("change", ["local list", "downloaded list", "curated list", "app", "never-block",
                                    "essentials", "sources"])
def test_any_input_change_invalidates_the_cache(config, tmp_path, blocklists, change):
    old = load_or_compile(config)
    old_print = fingerprint(config)
    if change == "local list":
        write(tmp_path / "mine.txt", "0.0.0.0 roblox-chat.example\nnew.example\n")
        probe = "new.example"
    elif change == "downloaded list":
        write(tmp_path / "data/lists/oisd.txt", "porn.example\nomegle.com\nnew.example\n")
        probe = "new.example"
    elif change == "curated list":
        write(blocklists / "categories/dating/domains.txt", "match.com\nnew.example\n")
        probe = "new.example"
    elif change == "app":
        write(blocklists / "apps/kik.yaml", "title: Kik\ncategory: dating\ndescription: x\ndomains: [new.example]\n")
        probe = "new.example"
    elif change == "never-block":
        write(blocklists / "never-block.txt", "new.example\n")
        probe = "new.example"
    elif change == "essentials":
        config = replace(config, essentials=("new.example",))
        probe = "new.example"
    else:
        config = replace(config, lists=replace(config.lists, sources=config.lists.sources[:1]))
        probe = "porn.example"
    assert fingerprint(config) != old_print
    new = load_or_compile(config)
    assert (new.lookup(probe) == ()) != (old.lookup(probe) == ())
    assert [f.name for f in cache_dir(config).iterdir()] == [f"index-{fingerprint(config)}.bin"]  # stale removed


def test_same_size_rewrite_with_new_mtime_invalidates(config, tmp_path):
    load_or_compile(config)
    before = fingerprint(config)
    path = tmp_path / "mine.txt"
    st = path.stat()
    path.write_text(path.read_text().replace("roblox-chat", "roblox-talk"))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert fingerprint(config) != before
    assert load_or_compile(config).lookup("roblox-talk.example")


def test_a_damaged_cache_is_recompiled(config):
    load_or_compile(config)
    (cached,) = cache_dir(config).iterdir()
    cached.write_bytes(cached.read_bytes()[:100])
    index = load_or_compile(config)
    assert index.lookup("omegle.com")
    assert cached.stat().st_size > 100


def test_unwritable_data_dir_still_gives_an_index(make_config, tmp_path):
    config = make_config()
    write(tmp_path / "data", "a file where the data dir should be")
    assert load_or_compile(config).lookup("omegle.com") == (Hit("random-chat", "omegle.com", "curated"),)


def test_callable_from_worker_threads_at_once(config):
    results, errors = [], []

    def work():
        try:
            results.append(load_or_compile(config))
        except Exception as e:            # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 4
    assert all(r.lookup("omegle.com") for r in results)
    assert len(list(cache_dir(config).glob("index-*.bin"))) == 1
    assert not list(cache_dir(config).glob(".*tmp"))


def test_a_big_compile_runs_in_a_child_process_and_gives_the_same_index(config):
    in_process = compile_index(config)
    index = load_or_compile(config, child_over=0)         # every list counts as big: the child compiles
    assert (cache_dir(config) / f"index-{fingerprint(config)}.bin").is_file()
    for q in ("www.omegle.com", "x.bad.example", "x.ok.bad.example", "porn.example", "time.apple.com"):
        assert rules(index, q) == rules(in_process, q)
