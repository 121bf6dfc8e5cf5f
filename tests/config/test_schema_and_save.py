"""The schema declared once, read back from data, migrated, and written round-trip with the parent's comments."""
from __future__ import annotations

import os
import stat
from datetime import time
from pathlib import Path

import pytest

from appliance import config as configmod
from appliance.config import ConfigError, save as savemod
from tests.test_config import EXAMPLE


def load_text(tmp_path: Path, text: str | bytes):
    p = tmp_path / "hearth.yaml"
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return configmod.load(p)


def errors_of(tmp_path, text) -> list[str]:
    with pytest.raises(ConfigError) as e:
        load_text(tmp_path, text)
    return e.value.errors


def test_to_data_parses_back_to_the_same_config(tmp_path):
    c = load_text(tmp_path, EXAMPLE + "admin: {listen: '0.0.0.0:80', parents: [leo-tablet]}\n"
                  "alerts: {notify: ['json://127.0.0.1:9/x'], quiet: '21:30-06:45', digest: off}\n"
                  "query_log: {keep_allowed_days: 7, log_allowed: false}\n")
    data = configmod.to_data(c)
    again = configmod.parse(data, catalog=configmod.catalog_names(c.blocklists_dir), base_dir=tmp_path,
                            source=c.source)
    assert again == c
    assert data["schema_version"] == configmod.SCHEMA_VERSION
    assert "safe_search" not in data["profiles"]["emma"]      # a child's default is not written out


def test_an_empty_file_writes_back_to_almost_nothing(tmp_path):
    c = load_text(tmp_path, "")
    assert configmod.to_data(c) == {"schema_version": configmod.SCHEMA_VERSION}


@pytest.mark.parametrize("text,expected", [
    ("schema_version: 9\n", "schema_version: this file is version 9, written by a newer Hearth"),
    ("schema_version: two\n", "schema_version: expected a whole number"),
])
def test_schema_versions_newer_or_garbled_are_refused(tmp_path, text, expected):
    assert any(e.startswith(expected) for e in errors_of(tmp_path, text))


def test_a_version_1_file_means_what_it_meant(tmp_path):
    assert load_text(tmp_path, "schema_version: 1\n" + EXAMPLE) == load_text(tmp_path, EXAMPLE)


@pytest.mark.parametrize("text,expected", [
    # issue 16: hostile or careless files
    ("a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
     "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
     "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n", "the file expands to more than"),
    ("dns: {max_ttl: 30}\ndns: {blocked_ttl: 5}\n", "not valid YAML: the key 'dns' is written twice"),
    (b"# caf\xe9\ntimezone: UTC\n", "line 1: the file is not UTF-8 text"),
    ("timezone: " + "x" * 300 + "\n", "timezone: unknown time zone"),
    ("dns:\n\tmax_ttl: 30\n", "not valid YAML: a tab character: indent with spaces, not tabs"),
    # issue 11: messages that say what to write
    (EXAMPLE.replace('to: "07:00"', "to: 7"), 'profiles.emma.schedules[0].to: expected a time HH:MM, got 7: '
                                              'write it as "07:00"'),
    (EXAMPLE.replace('to: "07:00"', "to: 0700"), 'profiles.emma.schedules[0].to: expected a time HH:MM, got 0700'),
    (EXAMPLE.replace('from: "21:00"', 'from: "9pm"'), "profiles.emma.schedules[0].from: expected a 24-hour time"),
    (EXAMPLE.replace('to: "07:00"', 'to: "24:00"'), "profiles.emma.schedules[0].to: 24:00 is not a time of day"),
    (EXAMPLE.replace('from: "21:00", to: "07:00"', 'from: "21:00-07:00", to: "07:00"'),
     "profiles.emma.schedules[0].from: expected one time, got a range"),
    (EXAMPLE.replace("block: everything", "block: [everything]"),
     "profiles.emma.schedules[0].block: write block: everything without brackets"),
    (EXAMPLE.replace("block: [social, games, video]", "block: social"),
     "profiles.emma.schedules[1].block: expected everything or a list of categories, got 'social' (a list is"),
    ("dns: {max_ttl: null, blocked_ttl: fast}\n", "dns.blocked_ttl: expected a whole number from 0 to 3600, got "
                                                   "'fast'"),
    ("dns: fast\n", "dns: expected a mapping (key: value lines), got 'fast'"),
    ("lists: {sources: [{name: x, url: 'https://…', category: adult}]}\n", "lists.sources[0].url: expected an http(s)"),
    ("lists: {sources: [{name: x, url: 'https://e.org/l', category: never-block}]}\n",
     "lists.sources[0].category: 'never-block' is Hearth's own group"),
    ("admin: {parents: [nobody]}\n", 'admin.parents[0]: unknown device "nobody"'),
    ("alerts: {notify: [hello]}\n", "alerts.notify[0]: expected a notification URL"),
    ("alerts: {quiet: 'late'}\n", "alerts.quiet: expected quiet hours"),
    ("alerts: {language: de}\n", "alerts.language: expected one of en, fr"),
])
def test_bad_files_get_messages_that_say_what_to_write(tmp_path, text, expected):
    errs = errors_of(tmp_path, text)
    assert any(expected in e for e in errs), errs
    assert not any(w in e for e in errs for w in ("NoneType", "got str", "got int", "got list")), errs


def test_a_long_value_is_cut_in_its_message(tmp_path):
    errs = errors_of(tmp_path, f"dns: {{block_answer: {'x' * 5000}}}\n")
    assert len(errs[0]) < 200


def test_days_as_a_yaml_list(tmp_path):
    c = load_text(tmp_path, EXAMPLE.replace("days: sun-thu", "days: [sun, mon, tue, wed, thu]"))
    assert c.profiles["emma"].schedules[0].days == frozenset({6, 0, 1, 2, 3})


def test_new_sections_have_their_defaults(tmp_path):
    c = load_text(tmp_path, "")
    assert c.admin is None and c.metrics.listen is None
    assert c.alerts.digest == time(19, 30) and c.alerts.quiet == (time(22), time(7))
    assert c.query_log.keep_allowed_days == 30 and c.query_log.log_allowed
    c = load_text(tmp_path, "admin: {}\nmetrics: {listen: '127.0.0.1:9153'}\n")
    assert str(c.admin.listen) == "127.0.0.1:8080" and str(c.metrics.listen) == "127.0.0.1:9153"


def test_parse_reads_no_files(tmp_path, monkeypatch):
    """The catalog is handed in: parsing an edit must not read the disk (the admin validates before writing)."""
    names = configmod.catalog_names(configmod.SHIPPED_BLOCKLISTS)
    data = configmod.read_yaml(EXAMPLE.encode(), "x")

    def no_disk(*a, **k):
        raise AssertionError("parse read a file")
    monkeypatch.setattr("builtins.open", no_disk)
    monkeypatch.setattr(Path, "read_text", no_disk)
    c = configmod.parse(data, catalog=names, base_dir=tmp_path)
    assert c.profiles["emma"].block_apps == ("tiktok", "snapchat")


# --- save ---------------------------------------------------------------------------------------------------

def test_save_keeps_comments_and_order_and_the_previous_file(tmp_path):
    p = tmp_path / "hearth.yaml"
    p.write_text(EXAMPLE)
    os.chmod(p, 0o640)

    def edit(doc):
        doc["profiles"]["emma"]["block"].append("gambling")
        doc["profiles"]["leo"] = {"devices": ["leo-tablet"], "youtube": "off"}
    r = savemod.save(p, edit, notify_daemon=False)
    text = p.read_text()
    assert "# on the Pi: /var/lib/hearth" in text and "# devices nobody has assigned yet" in text
    assert text.index("timezone") < text.index("devices:") < text.index("profiles:")
    assert r.config.profiles["emma"].block[-1] == "gambling"
    assert r.config.profiles["leo"].youtube == "off"     # written quoted: YAML 1.1 would read off as false
    assert "youtube: \"off\"" in text
    assert r.previous.read_text() == EXAMPLE
    assert stat.S_IMODE(p.stat().st_mode) == 0o640
    assert text.startswith("schema_version: 2\n")


def test_save_of_a_bad_edit_writes_nothing(tmp_path):
    p = tmp_path / "hearth.yaml"
    p.write_text(EXAMPLE)

    def edit(doc):
        doc["profiles"]["emma"]["block"].append("datng")
    with pytest.raises(ConfigError) as e:
        savemod.save(p, edit, notify_daemon=False)
    assert any('unknown category "datng"' in x for x in e.value.errors)
    assert p.read_text() == EXAMPLE and not (tmp_path / "hearth.yaml.previous").exists()


def test_new_times_are_written_so_the_daemon_reads_them_as_times(tmp_path):
    p = tmp_path / "hearth.yaml"
    p.write_text(EXAMPLE)

    def edit(doc):
        doc["profiles"]["emma"]["schedules"].append(
            {"name": "late", "days": "sat", "from": "21:00", "to": "0700", "block": "everything"})
    with pytest.raises(ConfigError):      # "0700" is not a time (and is not silently octal)
        savemod.save(p, edit, notify_daemon=False)

    def edit2(doc):
        doc["profiles"]["emma"]["schedules"].append(
            {"name": "late", "days": "sat", "from": "21:00", "to": "07:00", "block": "everything"})
    r = savemod.save(p, edit2, notify_daemon=False)
    assert r.config.profiles["emma"].schedules[-1].start == time(21)


def test_replace_validates_before_anything_is_replaced(tmp_path):
    p = tmp_path / "hearth.yaml"
    p.write_text(EXAMPLE)
    with pytest.raises(ConfigError):
        savemod.replace(p, "dns: {max_ttl: -1}\n", notify_daemon=False)
    assert p.read_text() == EXAMPLE
    savemod.replace(p, "timezone: UTC\n", notify_daemon=False)
    assert p.read_text() == "timezone: UTC\n"


def test_school_in_a_window_and_the_familys_own_school_hosts(tmp_path):
    c = load_text(tmp_path, EXAMPLE.replace('block: everything}', 'block: everything, allow: [school, '
                                            'khanacademy.org]}') + "school: [lycee-victor-hugo.example]\n")
    bedtime = c.profiles["emma"].schedules[0]
    assert bedtime.allow_school and bedtime.allow == ("khanacademy.org",)
    assert c.school == ("lycee-victor-hugo.example",)
    data = configmod.to_data(c)
    assert configmod.parse(data, catalog=configmod.catalog_names(c.blocklists_dir), base_dir=tmp_path,
                           source=c.source) == c


def test_a_profile_for_the_parents_devices(tmp_path):
    c = load_text(tmp_path, EXAMPLE.replace("default_profile:", "  parents: {devices: [leo-tablet], filtering: off}"
                                            "\ndefault_profile:"))
    p = c.profiles["parents"]
    assert not p.filtering and not p.child and not p.safe_search and not p.bypass and p.youtube == "off"
    assert c.profiles["emma"].child and not c.default_profile.child
    assert configmod.parse(configmod.to_data(c), catalog=configmod.catalog_names(c.blocklists_dir),
                           base_dir=tmp_path, source=c.source) == c
    errs = errors_of(tmp_path, EXAMPLE.replace("default_profile:", "  parents: {filtering: off, block: [dating]}"
                                               "\ndefault_profile:"))
    assert any(e.startswith("profiles.parents.block: this profile has filtering: off") for e in errs)
    errs = errors_of(tmp_path, EXAMPLE.replace("default_profile: {block: [random-chat]}",
                                               "default_profile: {filtering: off}"))
    assert any(e.startswith("default_profile.filtering: the default profile always filters") for e in errs)
