"""The versioned schema: a file made by today's code (version 0) upgrades with its rows readable, a new file
takes the same path, a file from a newer Hearth is refused, and a failed migration changes nothing."""
from __future__ import annotations

import sqlite3
import threading
from datetime import datetime, timezone

import pytest

from appliance.state import migrate
from appliance.state.querylog import open_db
from appliance.state.reports import LogFilter, LogUnreadable, Reports
from tests.state.conftest import T0, entry, write


def today_db(path) -> None:
    """A hearth.db as the code before the versioned schema left it: its schema SQL, rows as its writer wrote them."""
    conn = sqlite3.connect(path)
    conn.executescript(migrate.BASELINE)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executemany("INSERT INTO decisions (id, action, reason, profile, list, rule, schedule, target, nxdomain) "
                     "VALUES (?,?,?,?,?,?,?,?,?)",
                     [(1, "allow", "NONE", "emma", None, None, None, None, 0),
                      (2, "block", "APP", "emma", "app:tiktok", "tiktok.com", None, None, 0),
                      (3, "block", "SCHEDULE", "leo", None, None, "bedtime", None, 0)])
    conn.executemany("INSERT INTO clients (id, address, mac, device, profile) VALUES (?,?,?,?,?)",
                     [(1, "192.168.1.10", "02:00:00:00:00:01", "emma-phone", "emma"),
                      (2, "192.168.1.20", None, None, "leo")])
    conn.executemany("INSERT INTO queries (ts, client_id, qname, qtype, decision_id, rcode, count, cached, upstream, "
                     "ms) VALUES (?,?,?,?,?,?,?,?,?,?)",
                     [(T0 + 1.25, 1, "www.example.com", 1, 1, 0, 1, 0, "9.9.9.9:53", 12.5),
                      (T0 + 2, 1, "www.tiktok.com", 1, 2, 0, 3, 1, None, None),
                      (T0 + 3.5, 2, "games.example", 28, 3, 0, 1, 0, None, 0.25),
                      (T0 + 4, 1, "www.example.com", 1, 1, 0, 1, 0, "tls://9.9.9.9#dns.quad9.net", 30.0)])
    conn.execute("INSERT INTO devices_seen VALUES ('02:00:00:00:00:01', '02:00:00:00:00:01', '192.168.1.10', "
                 "'emma-phone', 'emma', ?, ?)", (T0, T0 + 4))
    conn.execute("INSERT INTO overrides (profile, kind, created, expires) VALUES ('emma', 'pause', ?, ?)",
                 (T0, T0 + 3600))
    conn.commit()
    conn.close()


def test_todays_file_upgrades_and_every_row_reads_back(tmp_path):
    db = tmp_path / "hearth.db"
    today_db(db)
    conn = open_db(db)
    assert migrate.version(conn) == migrate.LATEST
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT count(*) FROM overrides").fetchone()[0] == 1     # other tables untouched
    conn.close()
    with Reports(db) as r:
        page = r.search(LogFilter(), limit=10)
        got = [(e.ts.timestamp(), e.qname, e.device, e.profile, e.action, e.reason, e.list, e.schedule, e.count,
                e.cached, e.upstream, e.ms, e.source) for e in page.entries]
        assert got == [
            (T0 + 4, "www.example.com", "emma-phone", "emma", "allow", "NONE", None, None, 1, False,
             "tls://9.9.9.9#dns.quad9.net", 30.0, "dns"),
            (T0 + 3.5, "games.example", None, "leo", "block", "SCHEDULE", None, "bedtime", 1, False, None, 0.25,
             "dns"),
            (T0 + 2, "www.tiktok.com", "emma-phone", "emma", "block", "APP", "app:tiktok", None, 3, True, None, None,
             "dns"),
            (T0 + 1.25, "www.example.com", "emma-phone", "emma", "allow", "NONE", None, None, 1, False,
             "9.9.9.9:53", 12.5, "dns"),
        ]
        # The rollup is rebuilt from the old rows: totals count repeats.
        t = r.totals(datetime(2026, 1, 1, tzinfo=timezone.utc), datetime(2027, 1, 1, tzinfo=timezone.utc))
        assert {p: (x.queries, x.blocks) for p, x in t.items()} == {"emma": (5, 3), "leo": (1, 1)}
        assert [d.device for d in r.devices()] == ["emma-phone"]


def test_upgraded_file_takes_new_rows_with_the_old_ids_kept(tmp_path):
    db = tmp_path / "hearth.db"
    today_db(db)
    write(db, [entry(T0 + 10, qname="www.example.com"), entry(T0 + 11, qname="new.example", source="proxy")])
    with Reports(db) as r:
        ids = [e.id for e in r.search(LogFilter(), limit=10).entries]
        assert ids == [6, 5, 4, 3, 2, 1]
        assert [e.qname for e in r.search(LogFilter(source="proxy")).entries] == ["new.example"]


def test_new_file_gets_the_same_schema_as_an_upgraded_one(tmp_path):
    old, new = tmp_path / "old.db", tmp_path / "new.db"
    today_db(old)
    open_db(old).close()
    open_db(new).close()

    def schema(p):
        c = sqlite3.connect(p)
        try:
            return sorted(c.execute("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"))
        finally:
            c.close()
    assert schema(old) == schema(new)


def test_upgrade_is_idempotent_and_safe_from_two_threads_at_once(tmp_path):
    db = tmp_path / "hearth.db"
    today_db(db)
    errors = []

    def go():
        try:
            open_db(db).close()
        except Exception as e:       # noqa: BLE001 - the test reports whatever went wrong
            errors.append(e)
    threads = [threading.Thread(target=go) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    c = sqlite3.connect(db)
    assert c.execute("SELECT count(*) FROM queries").fetchone()[0] == 4
    assert c.execute("PRAGMA user_version").fetchone()[0] == migrate.LATEST


def test_a_file_from_a_newer_hearth_is_refused_in_words(tmp_path):
    db = tmp_path / "hearth.db"
    open_db(db).close()
    c = sqlite3.connect(db)
    c.execute(f"PRAGMA user_version = {migrate.LATEST + 1}")
    c.commit()
    c.close()
    with pytest.raises(migrate.SchemaError, match="newer Hearth"):
        open_db(db)
    log = write(db, [entry(T0)])          # the writer says so and goes on
    assert log.dropped == 1 and "newer Hearth" in log.last_error


def test_a_failing_migration_leaves_the_file_as_it_was(tmp_path):
    db = tmp_path / "hearth.db"
    today_db(db)
    broken = migrate.MIGRATIONS + (migrate.Migration(migrate.LATEST + 1, "broken", "CREATE TABLE x (a);\n"
                                                                                    "SELECT nosuchcolumn FROM x;\n"),)
    conn = sqlite3.connect(db)
    with pytest.raises(sqlite3.OperationalError):
        migrate.upgrade(conn, broken)
    assert migrate.version(conn) == 0
    assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name IN ('names', 'x')").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM queries WHERE qname IS NOT NULL").fetchone()[0] == 4
    conn.close()


def test_an_old_file_not_yet_upgraded_reads_with_a_message(tmp_path):
    db = tmp_path / "hearth.db"
    today_db(db)
    with Reports(db) as r, pytest.raises(LogUnreadable, match="DNS daemon has started"):
        r.search(LogFilter())


def test_a_missing_file_reads_as_an_empty_log(tmp_path):
    with Reports(tmp_path / "none.db") as r:
        assert r.search(LogFilter()).entries == ()
        assert r.devices() == [] and r.entry(1) is None
    assert not (tmp_path / "none.db").exists()     # the writer, not the reader, creates the file


def test_a_file_with_only_the_overrides_reads_as_an_empty_log(tmp_path):
    db = tmp_path / "hearth.db"
    c = sqlite3.connect(db)
    c.execute("CREATE TABLE overrides (id INTEGER PRIMARY KEY)")
    c.commit()
    with Reports(db) as r:
        assert r.search(LogFilter()).entries == ()
