"""DNS starts and answers with its database on a full disk, says why it is degraded, and recovers."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import dns.message
import dns.query
import pytest

from tests.support.hearth_proc import HearthServer


@pytest.fixture
def full_disk():
    mnt = Path(tempfile.mkdtemp(prefix="hearth-full-"))
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=128k", "tmpfs", str(mnt)],
                                           capture_output=True).returncode != 0:
        pytest.skip("needs to mount a small tmpfs (root)")
    filler = mnt / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:                                       # ENOSPC: the disk is full now
        pass
    finally:
        os.close(fd)
    try:
        yield mnt, filler
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
        shutil.rmtree(mnt, ignore_errors=True)


def test_dns_starts_and_answers_on_a_full_disk(tmp_path, blocklists, upstream, full_disk):
    mnt, filler = full_disk
    cfg = {"blocklists_dir": str(blocklists), "data_dir": str(mnt / "var"),
           "dns": {"upstreams": [upstream.address], "upstream_timeout": 0.5},
           "default_profile": {"block": ["random-chat"]}}
    h = HearthServer(tmp_path, cfg)
    h.config["data_dir"] = str(mnt / "var")
    h.write_config(h.config)
    with h:
        q = dns.message.make_query("example.com", "A")
        r = dns.query.udp(q, "127.0.0.1", port=h.port, timeout=3)
        assert [rd.to_text() for rrset in r.answer for rd in rrset] == ["93.184.216.34"]
        r = dns.query.udp(dns.message.make_query("www.omegle.com", "A"), "127.0.0.1", port=h.port, timeout=3)
        assert [rd.to_text() for rrset in r.answer for rd in rrset] == ["0.0.0.0"]     # still filtering
        stats = h.call(lambda: h.daemon._control({"command": "stats"}))
        assert stats["degraded"] == "the disk is full"
        filler.unlink()                                 # the parent frees some space
        h.daemon.overrides = h.daemon._open_overrides(mnt / "var" / "hearth.db")
        assert h.daemon.overrides is not None and h.daemon.degraded is None
