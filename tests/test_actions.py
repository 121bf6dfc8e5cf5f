"""Parent actions as a service: each validates against the running config, stores its override, and says what is
true; bad input is a UserError in words for parents. Over a real SQLite file, on a fixed clock."""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import yaml

from appliance import config as configmod
from appliance.actions import Actions, UserError
from appliance.state import db
from tests.support.inprocess import FakeClock

PARIS = ZoneInfo("Europe/Paris")
CONFIG = {
    "timezone": "Europe/Paris",
    "devices": [{"name": "emma-phone", "ip": "192.168.1.20"}],
    "profiles": {"emma": {"devices": ["emma-phone"], "block": ["random-chat", "my-list"], "block_apps": ["tiktok"],
                          "schedules": [{"name": "bedtime", "days": "daily", "from": "21:00", "to": "07:00",
                                         "block": "everything"},
                                        {"name": "homework", "days": "mon-fri", "from": "16:30", "to": "18:00",
                                         "block": ["social"]}]}},
    "lists": {"sources": [{"name": "my-hosts", "path": "my-hosts.txt", "category": "my-list"}]},
}


def clock_at(text: str) -> FakeClock:
    return FakeClock(datetime.fromisoformat(text).replace(tzinfo=PARIS))


@pytest.fixture
def cfg(tmp_path):
    (tmp_path / "my-hosts.txt").write_text("badsite.example\n")
    p = tmp_path / "hearth.yaml"
    p.write_text(yaml.safe_dump({**CONFIG, "data_dir": str(tmp_path / "var")}))
    return configmod.load(p)


def test_pause_says_when_it_replaces_a_longer_one(cfg):
    a = Actions(cfg, clock=clock_at("2026-12-01 19:00"))     # a Tuesday
    assert a.pause("emma", "2h").message == "emma's internet is paused until 21:00"
    m = a.pause("emma", "30m").message
    assert m == "emma's internet is paused until 19:30 (this replaces the pause that ran until 21:00)"
    assert a.now("emma") == ["paused until 19:30"]


def test_resume_says_what_still_applies(cfg):
    a = Actions(cfg, clock=clock_at("2026-12-01 21:30"))
    a.pause("emma", "1h")
    m = a.resume("emma").message
    assert m == "emma: internet resumed; still in force: bedtime blocks everything until tomorrow 07:00"
    assert a.resume("emma").message.startswith("emma was not paused; still in force: bedtime")


def test_later_before_and_during_a_window(cfg):
    a = Actions(cfg, clock=clock_at("2026-12-01 20:50"))
    assert a.later("emma", "bedtime", "30m").message == "bedtime of Tue 01 Dec now starts at 21:30 instead of 21:00"
    b = Actions(cfg, clock=clock_at("2026-12-02 23:00"))
    assert b.later("emma", "bedtime", "30m").message == ("bedtime is lifted now and comes back at 23:30 "
                                                          "(until tomorrow 07:00)")


def test_end_when_in_force_and_when_not(cfg):
    a = Actions(cfg, clock=clock_at("2026-12-01 17:00"))
    assert a.end("emma", "homework").message == "homework is over for today (it had run until 18:00)"
    b = Actions(cfg, clock=clock_at("2026-12-01 12:00"))
    m = b.end("emma", "bedtime").message
    assert m == "bedtime was not in force, so its next time is skipped: 21:00–tomorrow 07:00"


def test_allow_accepts_a_parents_own_category_and_app_targets(cfg):
    a = Actions(cfg, clock=clock_at("2026-12-01 12:00"))
    assert a.allow("emma", "my-list", "30m").override.target == "my-list"
    assert a.allow("emma", "app:tiktok", "30m").override.target == "app:tiktok"
    assert a.allow("emma", "https://www.khanacademy.org/math", "1h").override.target == "www.khanacademy.org"
    with pytest.raises(UserError, match="not an app, a category or a domain"):
        a.allow("emma", "tiktokk", "30m")
    with pytest.raises(UserError, match="not an app, a category or a domain"):
        a.allow("emma", "app:my-list", "30m")          # a category is not an app
    with pytest.raises(UserError, match="duration"):
        a.allow("emma", "tiktok", "soon")


def test_allow_inside_an_everything_window_says_so(cfg):
    a = Actions(cfg, clock=clock_at("2026-12-01 21:30"))
    assert "gets through bedtime, which blocks the rest" in a.allow("emma", "youtube", "30m").message


def test_cancel_by_id_and_overrides_listing(cfg):
    a = Actions(cfg, clock=clock_at("2026-12-01 19:00"))
    o = a.allow("emma", "youtube", "30m").override
    assert [x.id for x in a.overrides()] == [o.id]
    assert a.cancel(o.id).message == "cancelled: emma: youtube allowed until 19:30"
    assert a.overrides() == []
    with pytest.raises(UserError, match="no live change with id"):
        a.cancel(o.id)


def test_unknown_child_and_window_are_user_errors(cfg):
    a = Actions(cfg, clock=clock_at("2026-12-01 19:00"))
    with pytest.raises(UserError, match="unknown profile 'zoe'.*children: emma"):
        a.pause("zoe")
    with pytest.raises(UserError, match="emma has no schedule 'bedtim'"):
        a.later("emma", "bedtim", "10m")
    with pytest.raises(UserError, match="unknown profile 'default'"):
        a.pause("default")


def test_explain_takes_a_url_and_names_the_parents_list(cfg):
    a = Actions(cfg, clock=clock_at("2026-12-01 12:00"))
    ex = a.explain("https://www.tiktok.com/@someone", device="emma-phone")
    assert ex.domain == "www.tiktok.com" and ex.decision.reason.value == "APP"
    ex = a.explain("badsite.example", profile="emma")
    assert ex.decision.list == "my-list" and ex.words.endswith("from the list my-hosts")


def test_explain_at_a_clock_time_means_today(cfg):
    a = Actions(cfg, clock=clock_at("2026-12-01 12:00"))
    ex = a.explain("example.com", profile="emma", at="21:30")
    assert ex.at == datetime(2026, 12, 1, 21, 30, tzinfo=PARIS)
    assert ex.words == "blocked: Emma's bedtime window *bedtime* blocks everything until 07:00"


def test_explain_reads_without_writing(cfg):
    a = Actions(cfg, clock=clock_at("2026-12-01 12:00"))
    a.explain("example.com", profile="emma")
    assert not db.db_path(cfg.data_dir).exists()        # nothing created by a question


def test_cli_overrides_json_and_cancel(cfg, tmp_path):
    env_cfg = str(cfg.source)
    run = lambda *a: subprocess.run([sys.executable, "-m", "appliance.cli", "--config", env_cfg, *a],
                                    capture_output=True, text=True, timeout=60)
    assert run("allow", "emma", "youtube", "30m").returncode == 0
    rows = json.loads(run("overrides", "--json").stdout)
    assert [(r["profile"], r["kind"], r["target"]) for r in rows] == [("emma", "allow", "youtube")]
    assert set(rows[0]) >= {"id", "profile", "kind", "target", "until"}
    r = run("cancel", str(rows[0]["id"]))
    assert r.returncode == 0 and r.stdout.startswith("cancelled: emma: youtube allowed until")
    assert json.loads(run("overrides", "--json").stdout) == []
    r = run("now", "emma")
    assert r.returncode == 0 and r.stdout.startswith("emma, now:")


@pytest.mark.parametrize("daemon_running", [False, True])
def test_overrides_read_by_a_user_who_cannot_write_the_data_directory(tmp_path, daemon_running):
    """A parent's own shell user (in the hearth group) reads the overrides without creating any file, with the
    daemon running (a -wal file exists) or not."""
    import os
    import shutil
    import tempfile
    from pathlib import Path

    from appliance.state.overrides import OverrideStore
    if os.geteuid() != 0 or not shutil.which("su") or not os.path.exists("/usr/bin/python3"):
        pytest.skip("needs root to run as another user")
    shared = Path(tempfile.mkdtemp(prefix="hearth-ro-"))
    try:
        os.chmod(shared, 0o755)
        (shared / "my-hosts.txt").write_text("badsite.example\n")
        p = shared / "hearth.yaml"
        p.write_text(yaml.safe_dump({**CONFIG, "data_dir": str(shared / "var")}))
        cfg = configmod.load(p)
        Actions(cfg, clock=clock_at("2026-12-01 12:00")).pause("emma", "1h")
        writer = OverrideStore(db.db_path(cfg.data_dir)) if daemon_running else None
        if writer is not None:
            writer.list_active(datetime.now(PARIS))
        os.chmod(cfg.data_dir, 0o755)
        for f in cfg.data_dir.iterdir():
            os.chmod(f, 0o644)
        before = sorted(x.name for x in cfg.data_dir.iterdir())
        probe = shared / "probe.py"
        root = Path(__file__).resolve().parent.parent
        probe.write_text(
            f"import sys\nsys.path.insert(0, {str(root / 'appliance' / 'state')!r})\nimport db\n"
            f"c = db.connect({str(db.db_path(cfg.data_dir))!r}, readonly=True)\n"
            "print(c.execute('SELECT kind FROM overrides').fetchall()[0][0])\n")
        os.chmod(probe, 0o644)
        r = subprocess.run(["su", "-s", "/bin/sh", "nobody", "-c", f"/usr/bin/python3 {probe}"],
                           capture_output=True, text=True, timeout=30)
        assert sorted(x.name for x in cfg.data_dir.iterdir()) == before     # the reader created nothing
        if writer is not None:
            writer.close()
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == "pause"
    finally:
        shutil.rmtree(shared)


def test_explain_says_an_essential_beats_a_pause(cfg):
    a = Actions(cfg, clock=clock_at("2026-12-01 12:00"))
    a.pause("emma", "1h")
    ex = a.explain("connectivitycheck.gstatic.com", profile="emma")
    assert ex.decision.reason.value == "ESSENTIAL"
    assert ex.words.endswith("essentials keep devices working, so a pause or a bedtime does not block them")


def test_the_confirmations_in_french(cfg):
    a = Actions(cfg, clock=clock_at("2026-12-01 19:00"), lang="fr")
    assert a.pause("emma", "2h").message == "L'internet de emma est en pause jusqu'à 21:00"
    assert a.now("emma") == ["en pause jusqu'à 21:00"]
    b = Actions(cfg, clock=clock_at("2026-12-01 21:30"), lang="fr")
    b.pause("emma", "1h")
    assert b.resume("emma").message == ("emma : internet rétabli ; toujours en vigueur : bedtime bloque tout jusqu'à "
                                        "demain 07:00")
