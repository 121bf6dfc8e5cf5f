"""Migration 2 (the budget tables) on a file at version 1: added in one step, nothing else touched."""
from __future__ import annotations

import sqlite3

import pytest

from appliance.state import db, migrate
from appliance.state.budgets import BudgetStore


def test_a_version_1_file_gets_the_budget_tables_and_keeps_its_rows(tmp_path):
    path = tmp_path / "hearth.db"
    conn = db.connect(path)
    migrate.upgrade(conn, migrate.MIGRATIONS[:1])          # the file as the previous release left it
    assert migrate.version(conn) == 1
    conn.execute("INSERT INTO decisions (action, reason, profile, nxdomain) VALUES ('allow', 'NONE', 'emma', 0)")
    conn.commit()
    assert migrate.upgrade(conn) == 1
    assert migrate.version(conn) == migrate.LATEST
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"budget_minutes", "budget_grants", "budget_notes", "budget_state"} <= tables
    assert conn.execute("SELECT COUNT(*) FROM decisions").fetchone()[0] == 1
    conn.close()
    with BudgetStore(path) as s:             # opens without migrating again
        assert s.stamp() == 0


def test_a_read_only_store_never_creates_anything(tmp_path):
    path = tmp_path / "hearth.db"
    sqlite3.connect(path).close()
    with BudgetStore(path, readonly=True) as s:
        with pytest.raises(sqlite3.OperationalError):     # no table: Actions.budgets then says 0 used
            s.stamp()
    assert migrate.version(sqlite3.connect(path)) == 0
