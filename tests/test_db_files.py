"""The database file belongs to the service user and is not world-readable, whoever creates it first."""
from __future__ import annotations

import os
import stat

import pytest

from appliance.state import db


def test_a_new_database_is_0640(tmp_path):
    conn = db.connect(tmp_path / "var" / "hearth.db")
    conn.execute("CREATE TABLE t (x)")
    conn.close()
    assert stat.S_IMODE((tmp_path / "var" / "hearth.db").stat().st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / "var").stat().st_mode) & 0o007 == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create a file for another user")
def test_root_creating_the_database_gives_it_to_the_data_directorys_owner(tmp_path):
    data = tmp_path / "var"
    data.mkdir()
    os.chown(data, 65534, 65534)          # the service user's directory (nobody stands in for hearth)
    conn = db.connect(data / "hearth.db")  # `sudo hearth pause` before the daemon ever started
    conn.execute("CREATE TABLE t (x)")
    conn.execute("INSERT INTO t VALUES (1)")
    conn.commit()
    for name in ("hearth.db", "hearth.db-wal", "hearth.db-shm"):
        st = (data / name).stat()
        assert (st.st_uid, st.st_gid) == (65534, 65534), name
        assert stat.S_IMODE(st.st_mode) & 0o007 == 0, name
    conn.close()
