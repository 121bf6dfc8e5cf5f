"""Checks on the curated data under blocklists/ (format: blocklists/README.md). Pure file checks, no Hearth code.

The two guards that matter most for parents:
  * shared infrastructure: no category or app may list a CDN/cloud suffix (or a name under one), or blocking
    "dating" would take half the web down with it;
  * over-blocking: no category or app domain may cover an essential (never-block) host, and none may sit under one.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent / "blocklists"
CATEGORIES_DIR = ROOT / "categories"
APPS_DIR = ROOT / "apps"

REQUIRED_CATEGORIES = ("random-chat", "dating", "risky-social", "adult", "gambling", "social", "video", "games",
                       "bypass")
CATEGORY_FIELDS = ("title", "title_fr", "description", "description_fr", "maintainer_note")
APP_FIELDS = ("name", "title", "category", "description", "domains", "notes", "provenance")
REQUIRED_APPS = (
    "tiktok", "snapchat", "instagram", "facebook", "whatsapp", "kik", "meetme", "bumble", "tinder", "badoo", "grindr",
    "liveme", "bigo-live", "yubo", "wizz", "whisper", "hot-or-not", "skout", "tagged", "holla", "azar", "monkey",
    "omegle-clones", "discord", "telegram", "roblox", "fortnite", "minecraft", "twitch", "youtube", "reddit", "x",
)
# Parent domains whose blocking would take whole ecosystems down (mail, updates, sign-in): never in a category.
MAINSTREAM_PARENTS = ("google.com", "apple.com", "icloud.com", "microsoft.com", "windows.com", "live.com",
                      "office.com", "amazon.com", "cloudflare.com", "mozilla.org", "proton.me")

_INLINE_COMMENT = re.compile(r"\s+#.*\Z")     # the same rule as appliance/lists/parse.py
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)\Z")
_TLD = re.compile(r"(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})\Z")
_NAME = re.compile(r"[a-z0-9-]+(?:\.[a-z0-9-]+)+\Z")


# --- helpers ------------------------------------------------------------------------------------------------------

def is_hostname(name: str) -> bool:
    """A valid lower-case host name: LDH labels (punycode A-labels allowed), an alphabetic or IDN TLD, no dot at
    either end."""
    if not name or len(name) > 253 or not _NAME.match(name):
        return False
    labels = name.split(".")
    return all(_LABEL.match(label) for label in labels) and bool(_TLD.match(labels[-1]))


def under(name: str, suffix: str) -> bool:
    """``name`` equals ``suffix`` or is a name under it (suffix matching, as Hearth blocks)."""
    return name == suffix or name.endswith("." + suffix)


def read_entries(path: Path) -> list[tuple[int, str, str]]:
    """(line number, entry, trailing comment) for every non-comment line of a list file."""
    out = []
    for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _INLINE_COMMENT.search(line)
        comment = m.group(0).strip().lstrip("#").strip() if m else ""
        entry = line[:m.start()] if m else line
        out.append((lineno, entry.strip(), comment))
    return out


def domains_of(path: Path) -> list[str]:
    return [entry for _, entry, _ in read_entries(path)]


def category_names() -> list[str]:
    return sorted(p.name for p in CATEGORIES_DIR.iterdir() if p.is_dir())


def app_files() -> list[Path]:
    return sorted(APPS_DIR.glob("*.yaml"))


def load_yaml(path: Path):
    with path.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


def list_files() -> list[Path]:
    return [CATEGORIES_DIR / c / "domains.txt" for c in category_names()] + [
        ROOT / "never-block.txt", ROOT / "shared-infrastructure.txt"]


def all_blocking_domains() -> list[tuple[str, str]]:
    """(where, domain) for every category and app domain: what Hearth may block."""
    out = [(f"categories/{c}", d) for c in category_names() for d in domains_of(CATEGORIES_DIR / c / "domains.txt")]
    for path in app_files():
        for d in load_yaml(path).get("domains") or []:
            out.append((f"apps/{path.name}", str(d)))
    return out


def shared_suffixes() -> list[str]:
    return domains_of(ROOT / "shared-infrastructure.txt")


def shared_violations(blocking: list[tuple[str, str]], shared: list[str]) -> list[str]:
    return [f"{where}: {d} is under shared infrastructure {s}" for where, d in blocking for s in shared if under(d, s)]


def overblocking_violations(blocking: list[tuple[str, str]], essentials: list[str]) -> list[str]:
    bad = []
    for where, d in blocking:
        for e in essentials:
            if under(e, d):
                bad.append(f"{where}: {d} would block the essential host {e}")
            elif under(d, e):
                bad.append(f"{where}: {d} sits under the never-block suffix {e}, so it could never be blocked")
    return bad


# --- the hostname check itself -------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["omegle.com", "ome.tv", "xn--d1acpjx3f.xn--p1ai", "321chat.com", "a-b.co.uk",
                                  "mask-h2.icloud.com", "dns.google"])
def test_is_hostname_accepts(name):
    assert is_hostname(name)


@pytest.mark.parametrize("name", ["Omegle.com", "omegle.com.", "omegle", "-a.com", "a-.com", "a..com", "1.1.1.1",
                                  "*.omegle.com", "omegle.com/chat", "omé.com", "a_b.com", ""])
def test_is_hostname_rejects(name):
    assert not is_hostname(name)


# --- categories ---------------------------------------------------------------------------------------------------

def test_required_categories_exist():
    missing = [c for c in REQUIRED_CATEGORIES if not (CATEGORIES_DIR / c).is_dir()]
    assert not missing, f"missing categories: {missing}"


@pytest.mark.parametrize("cat", category_names())
def test_category_yaml_has_every_field_in_both_languages(cat):
    assert re.fullmatch(r"[a-z0-9-]+", cat), f"category folder name {cat!r} must be lower case a-z0-9-"
    path = CATEGORIES_DIR / cat / "category.yaml"
    assert path.is_file(), f"{path} is missing"
    data = load_yaml(path)
    assert isinstance(data, dict), f"{path}: expected a mapping"
    for field in CATEGORY_FIELDS:
        value = data.get(field)
        assert isinstance(value, str) and value.strip(), f"{path}: {field} must be a non-empty string"


@pytest.mark.parametrize("cat", category_names())
def test_category_domains_are_non_empty_and_carry_provenance(cat):
    path = CATEGORIES_DIR / cat / "domains.txt"
    assert path.is_file(), f"{path} is missing"
    entries = read_entries(path)
    assert entries, f"{path} lists no domain"
    no_source = [f"line {n}: {d}" for n, d, comment in entries if not comment]
    assert not no_source, f"{path}: every domain needs its provenance as a trailing comment: {no_source}"


@pytest.mark.parametrize("path", list_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_list_lines_are_valid_unique_host_names(path):
    bad, seen, dupes = [], set(), []
    for lineno, entry, _ in read_entries(path):
        if not is_hostname(entry):
            bad.append(f"line {lineno}: {entry!r}")
        if entry in seen:
            dupes.append(f"line {lineno}: {entry}")
        seen.add(entry)
    assert not bad, f"{path}: not a valid lower-case host name (no trailing dot, punycode for IDN): {bad}"
    assert not dupes, f"{path}: duplicate entries: {dupes}"


def test_no_domain_is_in_two_categories():
    owner: dict[str, str] = {}
    clashes = []
    for cat in category_names():
        for d in domains_of(CATEGORIES_DIR / cat / "domains.txt"):
            if d in owner and owner[d] != cat:
                clashes.append(f"{d}: {owner[d]} and {cat}")
            owner.setdefault(d, cat)
    assert not clashes, f"each site belongs to one category only: {clashes}"


def test_random_chat_is_broad():
    n = len(domains_of(CATEGORIES_DIR / "random-chat" / "domains.txt"))
    assert n >= 120, f"random-chat lists only {n} domains; Omegle clones live on dozens of mirrors"


# The floor each high-risk category has reached after the second research pass: a list may grow, not shrink by accident.
CATEGORY_MINIMUMS = {"random-chat": 123, "risky-social": 47, "dating": 79, "adult": 85, "gambling": 93, "bypass": 735,
                     "social": 190}


@pytest.mark.parametrize("cat", sorted(CATEGORY_MINIMUMS))
def test_high_risk_categories_keep_their_size(cat):
    n = len(domains_of(CATEGORIES_DIR / cat / "domains.txt"))
    assert n >= CATEGORY_MINIMUMS[cat], f"{cat} lists only {n} domains (floor {CATEGORY_MINIMUMS[cat]})"


def test_omegle_clones_app_lists_the_whole_random_chat_category():
    app = set(load_yaml(APPS_DIR / "omegle-clones.yaml")["domains"])
    missing = [d for d in domains_of(CATEGORIES_DIR / "random-chat" / "domains.txt") if d not in app]
    assert not missing, f"apps/omegle-clones.yaml must list every random-chat domain; missing: {missing}"


def test_bypass_blocks_private_relay_and_doh_but_not_icloud():
    bypass = domains_of(CATEGORIES_DIR / "bypass" / "domains.txt")
    for host in ("mask.icloud.com", "mask-h2.icloud.com", "dns.google"):
        assert host in bypass, f"bypass must list {host}"
    covering_icloud = [d for d in bypass if under("icloud.com", d)]
    assert not covering_icloud, f"bypass must not block icloud.com itself: {covering_icloud}"
    assert "use-application-dns.net" not in bypass, "Firefox's canary domain is answered in code, not listed"


def test_no_mainstream_parent_domain_is_blocked():
    bad = [f"{where}: {d}" for where, d in all_blocking_domains() for p in MAINSTREAM_PARENTS if under(p, d)]
    assert not bad, f"these would block a mainstream parent domain (list exact hosts instead): {bad}"


# --- apps ---------------------------------------------------------------------------------------------------------

def test_required_apps_exist():
    have = {p.stem for p in app_files()}
    missing = [a for a in REQUIRED_APPS if a not in have]
    assert not missing, f"missing apps: {missing}"


@pytest.mark.parametrize("path", app_files(), ids=lambda p: p.name)
def test_app_is_complete_and_covered_by_its_category(path):
    data = load_yaml(path)
    assert isinstance(data, dict), f"{path}: expected a mapping"
    for field in APP_FIELDS:
        assert data.get(field), f"{path}: {field} is missing or empty"
    for field in ("title", "description", "notes"):
        assert isinstance(data[field], str) and data[field].strip(), f"{path}: {field} must be a non-empty string"
    assert data["name"] == path.stem, f"{path}: name {data['name']!r} must equal the file name {path.stem!r}"
    assert re.fullmatch(r"[a-z0-9-]+", data["name"]), f"{path}: name must be lower case a-z0-9-"
    cat = data["category"]
    assert (CATEGORIES_DIR / str(cat) / "domains.txt").is_file(), f"{path}: unknown category {cat!r}"
    prov = data["provenance"]
    assert isinstance(prov, list) and all(isinstance(p, str) and p.strip() for p in prov), \
        f"{path}: provenance must be a list of non-empty strings"
    domains = data["domains"]
    assert isinstance(domains, list) and domains, f"{path}: domains must be a non-empty list"
    bad = [d for d in domains if not isinstance(d, str) or not is_hostname(d)]
    assert not bad, f"{path}: not valid lower-case host names: {bad}"
    dupes = sorted({d for d in domains if domains.count(d) > 1})
    assert not dupes, f"{path}: duplicate domains: {dupes}"
    cat_domains = domains_of(CATEGORIES_DIR / cat / "domains.txt")
    uncovered = [d for d in domains if not any(under(d, c) for c in cat_domains)]
    assert not uncovered, (f"{path}: not in categories/{cat}/domains.txt, so blocking the category would not block "
                           f"the app: {uncovered}")


ROLES = ("api", "login", "media", "live", "upload", "web")      # as appliance/lists/catalog.py accepts them
# The apps whose hosts are well documented by public sources: each must say which host does what.
APPS_WITH_ROLES = ("tiktok", "snapchat", "instagram", "facebook", "whatsapp", "discord", "telegram", "x", "reddit",
                   "roblox", "twitch", "steam", "netflix", "tinder", "minecraft")


@pytest.mark.parametrize("path", app_files(), ids=lambda p: p.name)
def test_app_roles_name_hosts_the_app_blocks(path):
    data = load_yaml(path)
    roles = data.get("roles")
    if data["name"] in APPS_WITH_ROLES:
        assert isinstance(roles, dict) and roles, f"{path}: roles (api, media, login ...) are required for this app"
        for role in ("api", "media"):
            assert roles.get(role), f"{path}: roles must name at least one {role} host"
    if roles is None:
        return
    assert isinstance(roles, dict), f"{path}: roles must be a mapping"
    for role, hosts in roles.items():
        assert role in ROLES, f"{path}: unknown role {role!r}"
        assert isinstance(hosts, list) and hosts, f"{path}: role {role} names no host"
        for h in hosts:
            assert isinstance(h, str) and is_hostname(h), f"{path}: role {role}: {h!r} is not a host name"
            assert any(under(h, d) for d in data["domains"]), f"{path}: role {role}: {h} is not one of the app's hosts"


# Regional hosts a parent expects blocked with the app, in Europe as in the US (issue 10).
REGIONAL = {
    "tiktok": ("tiktokv.eu", "tiktokv.us", "tiktokw.eu", "tiktokcdn-eu.com", "tiktokcdn-us.com", "tiktokrow-cdn.com",
               "api16-normal-c-useast1a.tiktokv.com", "api22-normal-c-alisg.tiktokv.com"),
    "snapchat": ("sc-gw.com", "sc-prod.net", "cf-st.sc-cdn.net"),
    "bumble": ("us1.ecdn2.bumbcdn.com", "pd1eu.bumbcdn.com"),
    "badoo": ("pd2us.bumbcdn.com",),
    "discord": ("cdn.discordapp.com", "media.discordapp.net", "discordcdn.com"),
    "telegram": ("tx.me", "telegram.dog"),
}


@pytest.mark.parametrize("app", sorted(REGIONAL))
def test_apps_block_their_regional_hosts(app):
    domains = load_yaml(APPS_DIR / f"{app}.yaml")["domains"]
    missing = [h for h in REGIONAL[app] if not any(under(h, d) for d in domains)]
    assert not missing, f"apps/{app}.yaml does not block {missing}"


# Browsers' built-in DoH providers (Chrome's auto-upgrade table, Firefox's TRR list) and Private Relay's hosts.
BYPASS_MUST = ("dns.google", "mozilla.cloudflare-dns.com", "chrome.cloudflare-dns.com", "dns.quad9.net",
               "doh.xfinity.com", "firefox.dns.nextdns.io", "private.canadianshield.cira.ca", "dns.shaw.ca",
               "doh.cleanbrowsing.org", "doh.opendns.com", "dns.alidns.com", "doh.360.cn", "doh.dns.sb",
               "mask.icloud.com", "mask-h2.icloud.com", "mask-canary.icloud.com", "mask-api.icloud.com",
               "api.nordvpn.com", "www.expressapisv2.net", "api.windscribe.com", "api.totallyacdn.com",
               "bridges.torproject.org", "snowflake-broker.torproject.net")


def test_bypass_blocks_browser_doh_private_relay_vpn_apis_and_tor():
    bypass = domains_of(CATEGORIES_DIR / "bypass" / "domains.txt")
    missing = [h for h in BYPASS_MUST if not any(under(h, d) for d in bypass)]
    assert not missing, f"bypass does not block {missing}"


# --- the two guards ------------------------------------------------------------------------------------------------

def test_shared_infrastructure_is_never_blocked():
    shared = shared_suffixes()
    assert shared, "shared-infrastructure.txt is empty"
    bad = shared_violations(all_blocking_domains(), shared)
    assert not bad, "a category or app lists shared infrastructure:\n" + "\n".join(bad)


def test_shared_infrastructure_guard_catches_a_cdn():
    """The guard itself works: a CDN host slipped into a category is reported."""
    shared = shared_suffixes()
    for planted in ("cloudfront.net", "d1234abcd.cloudfront.net", "youtubei.googleapis.com"):
        assert shared_violations([("categories/test", planted)], shared), f"{planted} was not caught"
    assert not shared_violations([("categories/test", "omegle.com")], shared)


def test_never_block_and_blocking_lists_do_not_overlap():
    essentials = domains_of(ROOT / "never-block.txt")
    assert essentials, "never-block.txt is empty"
    bad = overblocking_violations(all_blocking_domains(), essentials)
    assert not bad, "over-blocking:\n" + "\n".join(bad)


def test_never_block_guard_catches_a_parent_domain():
    essentials = domains_of(ROOT / "never-block.txt")
    assert overblocking_violations([("categories/test", "gstatic.com")], essentials)      # covers a check host
    assert overblocking_violations([("categories/test", "a.pool.ntp.org")], essentials)   # under an essential


def test_never_block_has_the_essentials():
    essentials = domains_of(ROOT / "never-block.txt")
    for host in ("connectivitycheck.gstatic.com", "captive.apple.com", "www.msftconnecttest.com", "time.apple.com",
                 "pool.ntp.org", "ocsp.apple.com", "r3.o.lencr.org", "swcdn.apple.com"):
        assert any(under(host, e) for e in essentials), f"never-block.txt does not keep {host} resolving"
    too_broad = [e for e in essentials for p in MAINSTREAM_PARENTS if under(p, e)]
    assert not too_broad, f"never-block.txt would whitelist a whole ecosystem: {too_broad}"


# --- safe search --------------------------------------------------------------------------------------------------

def test_safesearch_engines_and_hosts():
    data = load_yaml(ROOT / "safesearch.yaml")
    engines = data["engines"]
    google = engines["google"]
    assert google["target"] == "forcesafesearch.google.com"
    hosts = google["hosts"]
    assert len(hosts) >= 180, f"google has {len(hosts)} hosts; every country domain must be covered"
    for h in ("www.google.com", "google.com", "www.google.fr", "www.google.co.uk", "www.google.com.af"):
        assert h in hosts, f"google hosts miss {h}"
    assert engines["bing"]["target"] == "strict.bing.com" and "www.bing.com" in engines["bing"]["hosts"]
    assert engines["duckduckgo"]["target"] == "safe.duckduckgo.com"
    yt = data["youtube"]
    assert yt["moderate"] == "restrictmoderate.youtube.com" and yt["strict"] == "restrict.youtube.com"
    assert "www.youtube.com" in yt["hosts"] and "youtubei.googleapis.com" in yt["hosts"]
    everything = [(name, e["target"], e["hosts"]) for name, e in engines.items()] + [
        ("youtube", yt["moderate"], yt["hosts"]), ("youtube", yt["strict"], [])]
    for name, target, hs in everything:
        assert is_hostname(target), f"{name}: bad target {target!r}"
        assert isinstance(hs, list), f"{name}: hosts must be a list"
        bad = [h for h in hs if not isinstance(h, str) or not is_hostname(h)]
        assert not bad, f"{name}: invalid host names {bad}"
        assert len(hs) == len(set(hs)), f"{name}: duplicate hosts"
        assert target not in hs, f"{name}: the target {target} must not rewrite to itself"


# --- school platforms (blocklists/school.txt; wired as the 'school' group by the policy code) ---

SCHOOL_IN_NEVER_BLOCK = ("khanacademy.org", "kastatic.org", "pronote.net", "index-education.net", "ecoledirecte.com",
                         "educonnect.education.gouv.fr", "classroom.google.com", "moodle.org", "moodlecloud.com",
                         "instructure.com", "clever.com", "schoology.com", "seesaw.me", "teams.microsoft.com")


def test_school_list_is_valid_sourced_and_never_blocked():
    path = ROOT / "school.txt"
    entries = read_entries(path)
    names = [e for _, e, _ in entries]
    assert len(names) >= 40, f"school.txt lists only {len(names)} platforms"
    bad = [e for e in names if not is_hostname(e)]
    assert not bad and len(names) == len(set(names)), f"school.txt: invalid or duplicate hosts {bad}"
    no_comment = [e for _, e, c in entries if not c]
    assert not no_comment, f"school.txt: every platform says what it is: {no_comment}"
    for name in SCHOOL_IN_NEVER_BLOCK:
        assert name in names, f"school.txt must carry the school platform {name} from never-block.txt"
    too_broad = [e for e in names for p in MAINSTREAM_PARENTS if under(p, e)]
    assert not too_broad, f"school.txt would allow a whole ecosystem: {too_broad}"
    bad = overblocking_violations(all_blocking_domains(), names)
    assert not bad, "a category or app blocks a school platform:\n" + "\n".join(bad)


def test_essentials_are_device_health_only():
    """School platforms left never-block.txt for the school group: a bedtime that blocks everything blocks them
    too, unless the parent allows school in that window (issue 10)."""
    essentials = domains_of(ROOT / "never-block.txt")
    still = [n for n in SCHOOL_IN_NEVER_BLOCK if any(under(n, e) for e in essentials)]
    assert not still, f"school platforms still in never-block.txt: {still}"
