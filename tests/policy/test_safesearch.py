
import pytest

from appliance.config import SHIPPED_BLOCKLISTS, ConfigError
from appliance.policy.safesearch import SafeSearch


@pytest.fixture
def ss(safesearch_file):
    return SafeSearch.load(safesearch_file)


@pytest.mark.parametrize("qname, youtube, safe_search, expected", [
    ("www.google.com", "off", True, ("google", "forcesafesearch.google.com")),
    ("WWW.Google.FR.", "off", True, ("google", "forcesafesearch.google.com")),    # case, trailing dot
    ("google.com", "off", True, ("google", "forcesafesearch.google.com")),
    ("www.google.com", "strict", False, None),                                   # engines need safe_search
    ("www.bing.com", "off", True, ("bing", "strict.bing.com")),
    ("duckduckgo.com", "off", True, ("duckduckgo", "safe.duckduckgo.com")),
    # exact hosts, not suffixes: the targets and other names under the engines' domains resolve normally
    ("forcesafesearch.google.com", "strict", True, None),
    ("images.google.com", "strict", True, None),
    ("mail.www.google.com", "strict", True, None),
    ("bing.com", "off", True, None),
    # YouTube: its own setting, two levels kept apart
    ("www.youtube.com", "moderate", False, ("youtube", "restrictmoderate.youtube.com")),
    ("www.youtube.com", "strict", False, ("youtube", "restrict.youtube.com")),
    ("m.youtube.com", "strict", True, ("youtube", "restrict.youtube.com")),
    ("youtubei.googleapis.com", "moderate", True, ("youtube", "restrictmoderate.youtube.com")),
    ("www.youtube.com", "off", True, None),                                       # safe_search is not YouTube
    ("restrict.youtube.com", "strict", True, None),
    ("youtube.com", "strict", True, None),
])
def test_target(ss, qname, youtube, safe_search, expected):
    assert ss.target(qname, youtube, safe_search) == expected


def test_empty_rewrites_nothing():
    assert SafeSearch().target("www.google.com", "strict", True) is None


@pytest.mark.parametrize("text, message", [
    ("engines: {google: {target: forcesafesearch.google.com, hosts: []}}", "engines.google.hosts: expected a non-empty"),
    ("engines: {google: {target: x.com, hosts: [x.com]}}", "is the target itself"),
    ("engines: {google: {hosts: [www.google.com]}}", "engines.google.target: not a host name"),
    ("engines: {google: {target: a.com, hosts: ['bad host']}}", "engines.google.hosts[0]: not a host name"),
    ("youtube: {moderate: m.yt.com, strict: s.yt.com, hosts: [s.yt.com]}", "youtube.hosts: s.yt.com is a target"),
    ("youtube: {strict: s.yt.com, hosts: [www.yt.com]}", "youtube.moderate: not a host name"),
    ("engine: {}", "engine: unknown key"),
    ("[1, 2]", "expected a mapping"),
    ("engines: {a: {target: a.com, hosts: [x.com]}, b: {target: b.com, hosts: [x.com]}}", "already a host of a"),
])
def test_bad_file_names_the_yaml_path(tmp_path, text, message):
    path = tmp_path / "safesearch.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as e:
        SafeSearch.load(path)
    assert message in str(e.value)
    assert str(path) in str(e.value)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        SafeSearch.load(tmp_path / "nope.yaml")


@pytest.mark.skipif(not (SHIPPED_BLOCKLISTS / "safesearch.yaml").exists(), reason="shipped safesearch.yaml not written yet")
def test_shipped_file_loads_and_rewrites_the_big_three():
    ss = SafeSearch.from_dir(SHIPPED_BLOCKLISTS)
    assert ss.target("www.google.com", "off", True) == ("google", "forcesafesearch.google.com")
    assert ss.target("www.bing.com", "off", True)[1] == "strict.bing.com"
    assert ss.target("www.youtube.com", "moderate", False)[1] == "restrictmoderate.youtube.com"
    assert ss.target("www.youtube.com", "strict", False)[1] == "restrict.youtube.com"
