"""The named config edits, each applied through the real config.save() on a real file: the result loads with the
same checks as check-config, comments survive, and an edit that cannot apply writes nothing."""
from __future__ import annotations

import pytest
import yaml

from appliance import config as configmod
from appliance.config import ConfigError, edits
from appliance.config.save import save

from .conftest import base_config


@pytest.fixture
def path(tmp_path):
    p = tmp_path / "hearth.yaml"
    p.write_text("# kept\n" + yaml.safe_dump(base_config(tmp_path), sort_keys=False))
    return p


def apply(path, fn):
    save(path, fn, notify_daemon=False)
    assert "# kept" in path.read_text()
    return configmod.load(path)


@pytest.mark.parametrize("days, text", [
    ({0, 1, 2, 3, 4}, "mon-fri"), ({6, 0, 1, 2, 3}, "sun-thu"), (set(range(7)), "daily"), ({5, 6}, "sat,sun"),
    ({0, 2}, "mon,wed"), ({4, 5, 6}, "fri-sun"), ({0, 1, 3}, "mon,tue,thu"), ({6}, "sun"),
])
def test_days_text_reads_back_as_the_same_days(tmp_path, days, text):
    assert edits.days_text(days) == text
    data = base_config(tmp_path)
    data["profiles"]["emma"]["schedules"] = [{"name": "w", "days": text, "from": "10:00", "to": "11:00",
                                              "block": "everything"}]
    cfg = configmod.parse(data, catalog=configmod.catalog_names(configmod.SHIPPED_BLOCKLISTS))
    assert cfg.profiles["emma"].schedules[0].days == frozenset(days)


@pytest.mark.parametrize("edit, check", [
    (lambda d: edits.add_profile(d, "zoe", block=["adult"]),
     lambda c: c.profiles["zoe"].block == ("adult",) and list(c.profiles)[:4] == ["emma", "leo", "parents", "zoe"]),
    (lambda d: edits.rename_profile(d, "emma", "emmy"),
     lambda c: "emma" not in c.profiles and c.profiles["emmy"].devices == ("emma-phone",)
     and list(c.profiles)[:2] == ["emmy", "leo"]),
    (lambda d: edits.delete_profile(d, "leo"), lambda c: "leo" not in c.profiles),
    (lambda d: edits.set_profile(d, "emma", block=["adult", "dating"], youtube="strict", safe_search=False),
     lambda c: c.profiles["emma"].block == ("adult", "dating") and c.profiles["emma"].youtube == "strict"
     and not c.profiles["emma"].safe_search),
    (lambda d: edits.add_to(d, "emma", "allow", "khanacademy.org"),
     lambda c: c.profiles["emma"].allow == ("khanacademy.org",)),
    (lambda d: (edits.add_to(d, "emma", "deny", "x.example"), edits.add_to(d, "emma", "allow", "x.example")),
     lambda c: c.profiles["emma"].allow == ("x.example",) and c.profiles["emma"].deny == ()),
    (lambda d: edits.add_device(d, "zoe-laptop", mac="AA:BB:CC:DD:EE:01"),
     lambda c: any(x.name == "zoe-laptop" and x.mac == "aa:bb:cc:dd:ee:01" for x in c.devices)),
    (lambda d: edits.rename_device(d, "emma-phone", "emma-iphone"),
     lambda c: c.profiles["emma"].devices == ("emma-iphone",)),
    (lambda d: edits.rename_device(d, "dad-phone", "papa"), lambda c: c.admin.parents == ("papa",)),
    (lambda d: edits.forget_device(d, "leo-tablet"),
     lambda c: "leo-tablet" not in c.profiles["leo"].devices and all(x.name != "leo-tablet" for x in c.devices)),
    (lambda d: edits.assign_device(d, "leo-tablet", "emma"),
     lambda c: "leo-tablet" in c.profiles["emma"].devices and "leo-tablet" not in c.profiles["leo"].devices),
    (lambda d: edits.assign_device(d, "emma-phone", None), lambda c: c.profiles["emma"].devices == ()),
    (lambda d: edits.set_schedules(d, "emma", [edits.window_data("homework", {0, 1, 2, 3, 4}, "16:30", "18:00",
                                                                 everything=False, block=["games"])]),
     lambda c: [(w.name, f"{w.start:%H:%M}", w.block) for w in c.profiles["emma"].schedules]
     == [("homework", "16:30", ("games",))]),
    (lambda d: edits.set_setting(d, "dns", "max_ttl", 30), lambda c: c.dns.max_ttl == 30),
    (lambda d: edits.set_timezone(d, "America/New_York"), lambda c: c.timezone == "America/New_York"),
    (lambda d: edits.add_list_source(d, "mine", "https://lists.example/hosts.txt", "adult"),
     lambda c: c.lists.sources[0].url == "https://lists.example/hosts.txt"),
])
def test_edit_applies_and_validates(path, edit, check):
    assert check(apply(path, edit))


@pytest.mark.parametrize("edit, words", [
    (lambda d: edits.add_profile(d, "emma"), "already a child named"),
    (lambda d: edits.add_profile(d, "default"), "devices nobody has assigned"),
    (lambda d: edits.rename_profile(d, "emma", "leo"), "already a child named"),
    (lambda d: edits.delete_profile(d, "nobody"), "no child named"),
    (lambda d: edits.add_device(d, "emma-phone", ip="10.0.0.1"), "already a device"),
    (lambda d: edits.rename_device(d, "ghost", "x"), "no device named"),
    (lambda d: edits.assign_device(d, "emma-phone", "ghost"), "no child named"),
    (lambda d: edits.set_profile(d, "emma", colour="blue"), "unknown setting"),
])
def test_edit_refused_writes_nothing(path, edit, words):
    before = path.read_text()
    with pytest.raises(ValueError, match=words):
        save(path, edit, notify_daemon=False)
    assert path.read_text() == before


def test_invalid_result_is_refused_by_save_and_nothing_written(path):
    before = path.read_text()
    with pytest.raises(ConfigError) as e:
        save(path, lambda d: edits.set_profile(d, "emma", allow=["not a domain!"]), notify_daemon=False)
    assert any(line.startswith("profiles.emma.allow[0]") for line in e.value.errors)
    assert path.read_text() == before
