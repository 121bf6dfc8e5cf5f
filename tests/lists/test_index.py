"""The compiled index against a brute-force reference, suffix edge cases, and the on-disk cache format."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.lists.index import DomainIndex, Hit

# A small alphabet of labels, so random names share parents and exceptions land on rules often.
LABELS = ["a", "b", "ab", "com", "net", "xn--bcher-kva", "x-y", "_s"]
name_st = st.lists(st.sampled_from(LABELS), min_size=1, max_size=4).map(".".join)
triple_st = st.tuples(name_st, st.sampled_from(["red", "blue", "app:green"]), st.sampled_from(["curated", "s2"]))


def reference(entries, exceptions, qname):
    """The specification, written as plainly as possible: walk the suffixes, most specific first."""
    rules: dict[str, dict[str, str]] = {}
    for domain, lst, src in entries:
        rules.setdefault(domain, {}).setdefault(lst, src)     # first source for a (domain, list) wins
    excepted_at: dict[str, set[str]] = {}
    for domain, lst, _ in exceptions:
        excepted_at.setdefault(domain, set()).add(lst)
    labels = qname.lower().rstrip(".").split(".")
    hits, excepted = [], set()
    for i in range(len(labels)):
        suffix = ".".join(labels[i:])
        excepted |= excepted_at.get(suffix, set())
        hits += [Hit(lst, suffix, src) for lst, src in rules.get(suffix, {}).items() if lst not in excepted]
    return hits


def key(hit: Hit):
    return (-len(hit.rule), hit.list, hit.source)


@settings(max_examples=300, deadline=None)
@given(entries=st.lists(triple_st, max_size=30), exceptions=st.lists(triple_st, max_size=6),
       queries=st.lists(st.tuples(name_st, st.booleans(), st.booleans()), min_size=1, max_size=10))
def test_lookup_matches_reference(entries, exceptions, queries):
    index = DomainIndex.build(entries, exceptions)
    assert len(index) == len({(d, lst) for d, lst, _ in entries})
    assert index.lists() == {lst for _, lst, _ in entries}
    for name, upper, dot in queries + [(d, False, False) for d, _, _ in entries]:
        q = (name.upper() if upper else name) + ("." if dot else "")
        got = index.lookup(q)
        assert isinstance(got, tuple)
        assert [len(h.rule) for h in got] == sorted((len(h.rule) for h in got), reverse=True)  # specific first
        assert sorted(got, key=key) == sorted(reference(entries, exceptions, q), key=key)


@pytest.fixture(scope="module")
def index():
    return DomainIndex.build(
        [("omegle.com", "random-chat", "curated"), ("www.omegle.com", "app:omegle", "curated"),
         ("zz", "tld-rule", "config"), ("xn--bcher-kva.de", "adult", "parent-list"),
         ("ads.example.com", "ads", "oisd"), ("example.com", "ads", "oisd")],
        exceptions=[("safe.ads.example.com", "ads", "oisd")])


@pytest.mark.parametrize("qname,expected", [
    ("omegle.com", [("random-chat", "omegle.com")]),
    ("www.omegle.com", [("app:omegle", "www.omegle.com"), ("random-chat", "omegle.com")]),
    ("WWW.Omegle.COM.", [("app:omegle", "www.omegle.com"), ("random-chat", "omegle.com")]),
    ("omegle.com.", [("random-chat", "omegle.com")]),
    ("a.b.c.omegle.com", [("random-chat", "omegle.com")]),
    ("notomegle.com", []),
    ("omegle.com.evil.net", []),
    ("omegle.co", []),
    ("com", []),
    ("zz", [("tld-rule", "zz")]),
    ("anything.zz", [("tld-rule", "zz")]),
    ("zzz", []),
    ("bücher.de", [("adult", "xn--bcher-kva.de")]),
    ("WWW.BÜCHER.DE.", [("adult", "xn--bcher-kva.de")]),
    ("xn--bcher-kva.de", [("adult", "xn--bcher-kva.de")]),
    ("x" * 70 + "ü.de", []),                         # cannot be encoded: misses, does not raise
    ("", []),
    (".", []),
    ("x.ads.example.com", [("ads", "ads.example.com"), ("ads", "example.com")]),
    ("safe.ads.example.com", []),                     # the exception covers the name itself ...
    ("deep.safe.ads.example.com", []),                # ... and everything under it
    ("other.example.com", [("ads", "example.com")]),
])
def test_suffix_edges(index, qname, expected):
    assert [(h.list, h.rule) for h in index.lookup(qname)] == expected


def test_hit_carries_the_source(index):
    assert index.lookup("x.omegle.com") == (Hit("random-chat", "omegle.com", "curated"),)
    assert index.lookup("b.zz")[0].source == "config"


def test_an_exception_is_per_list_and_a_more_specific_rule_still_blocks():
    index = DomainIndex.build(
        [("example.com", "ads", "a"), ("example.com", "adult", "b"), ("x.safe.example.com", "ads", "a")],
        exceptions=[("safe.example.com", "ads", "a")])
    assert [(h.list, h.rule) for h in index.lookup("safe.example.com")] == [("adult", "example.com")]
    assert [(h.list, h.rule) for h in index.lookup("y.x.safe.example.com")] == [
        ("ads", "x.safe.example.com"), ("adult", "example.com")]


def test_miss_returns_the_shared_empty_tuple(index):
    assert index.lookup("nothing.example.org") is index.lookup("omegle.co") is ()


def test_first_source_wins_and_len_counts_domain_list_pairs():
    index = DomainIndex.build([("a.com", "x", "curated"), ("a.com", "x", "later"), ("a.com", "y", "later"),
                               ("A.COM.", "x", "third")])
    assert len(index) == 2
    assert sorted((h.list, h.source) for h in index.lookup("a.com")) == [("x", "curated"), ("y", "later")]
    assert index.counts() == {"x": 1, "y": 1}


def test_build_normalises_and_skips_invalid_names():
    index = DomainIndex.build([("Bücher.DE.", "x", "s"), ("bad..name", "x", "s"), ("", "x", "s")])
    assert len(index) == 1
    assert index.lookup("xn--bcher-kva.de")


def test_empty_index():
    index = DomainIndex.build([])
    assert len(index) == 0 and index.lists() == frozenset() and index.lookup("a.com") == ()


def test_save_load_round_trip(tmp_path, index):
    path = tmp_path / "index.bin"
    index.save(path)
    loaded = DomainIndex.load(path)
    assert len(loaded) == len(index) and loaded.lists() == index.lists()
    for q in ["www.omegle.com", "notomegle.com", "deep.safe.ads.example.com", "x.ads.example.com", "a.zz",
              "bücher.de"]:
        assert loaded.lookup(q) == index.lookup(q)
    assert [p.name for p in tmp_path.iterdir()] == ["index.bin"]         # no temporary file left behind


def test_round_trip_with_many_combos(tmp_path):
    # more than 65,536 distinct (list, source) sets forces the wide value array
    entries = [(f"n{i}.com", f"l{i % 300}", f"s{i // 300}") for i in range(70_000)]
    index = DomainIndex.build(entries)
    index.save(tmp_path / "i.bin")
    loaded = DomainIndex.load(tmp_path / "i.bin")
    assert loaded._values.typecode == "I"
    assert loaded.lookup("w.n69999.com") == (Hit("l99", "n69999.com", "s233"),)


@pytest.mark.parametrize("damage", [
    lambda b: b"not an index at all",
    lambda b: b[:-10],
    lambda b: b[:40] + b"\x00" * (len(b) - 40),
    lambda b: b"",
])
def test_load_rejects_a_damaged_file(tmp_path, index, damage):
    path = tmp_path / "index.bin"
    index.save(path)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(ValueError):
        DomainIndex.load(path)


def test_hit_and_index_are_immutable(index):
    hit = index.lookup("omegle.com")[0]
    with pytest.raises(AttributeError):
        hit.list = "other"
    with pytest.raises(AttributeError):
        index.extra = 1


def reference_with_exact(entries, exceptions, exact, qname):
    """The specification with exact-host rules: an exact rule matches its own name only; for one (domain, list)
    a rule wins over an exact rule, else the first source given."""
    rules: dict[str, dict[str, tuple[str, bool]]] = {}
    for domain, lst, src in entries:
        rules.setdefault(domain, {}).setdefault(lst, (src, False))
    for domain, lst, src in exact:
        rules.setdefault(domain, {}).setdefault(lst, (src, True))
    excepted_at: dict[str, set[str]] = {}
    for domain, lst, _ in exceptions:
        excepted_at.setdefault(domain, set()).add(lst)
    name = qname.lower().rstrip(".")
    labels = name.split(".")
    hits, excepted = [], set()
    for i in range(len(labels)):
        suffix = ".".join(labels[i:])
        excepted |= excepted_at.get(suffix, set())
        hits += [Hit(lst, suffix, src) for lst, (src, ex) in rules.get(suffix, {}).items()
                 if lst not in excepted and (not ex or suffix == name)]
    return hits


@settings(max_examples=300, deadline=None, derandomize=True)
@given(entries=st.lists(triple_st, max_size=20), exceptions=st.lists(triple_st, max_size=5),
       exact=st.lists(triple_st, max_size=20),
       queries=st.lists(st.tuples(name_st, st.booleans(), st.booleans()), min_size=1, max_size=10))
def test_exact_host_rules_match_the_reference(entries, exceptions, exact, queries):
    index = DomainIndex.build(entries, exceptions, exact)
    for name, upper, dot in queries + [(d, False, False) for d, _, _ in entries + exact]:
        q = (name.upper() if upper else name) + ("." if dot else "")
        got = index.lookup(q)
        assert sorted(got, key=key) == sorted(reference_with_exact(entries, exceptions, exact, q), key=key)


def test_an_exact_rule_blocks_its_host_not_the_names_under_it(tmp_path):
    index = DomainIndex.build([("omegle.com", "random-chat", "curated")], exact=[
        ("googleapis.com", "ads", "my-hosts"), ("omegle.com", "random-chat", "my-hosts")])
    assert index.lookup("googleapis.com") == (Hit("ads", "googleapis.com", "my-hosts"),)
    assert index.lookup("fonts.googleapis.com") == ()
    assert index.lookup("www.omegle.com") == (Hit("random-chat", "omegle.com", "curated"),)   # the rule wins
    index.save(tmp_path / "i.bin")
    assert DomainIndex.load(tmp_path / "i.bin").lookup("fonts.googleapis.com") == ()
