"""The settings page's backup: a download made by appliance.backup (parents only, CSRF, never cached), and an upload
checked with `hearth restore --check`'s code and kept for `hearth restore`; a bad file changes nothing."""
from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from appliance import backup
from appliance import config as configmod

from .conftest import csrf_of


def _tree(*roots: Path) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest()
            for root in roots for p in sorted(root.rglob("*")) if p.is_file()}


def _download(parent, with_log: bool):
    return parent.post("/settings/backup", {"with_log": "on"} if with_log else {})


def _upload(parent, blob: bytes, name: str = "family.tar.gz"):
    return parent.post("/settings/backup/check", {"file": (io.BytesIO(blob), name)},
                       content_type="multipart/form-data")


def test_download_is_a_backup_that_restore_accepts(parent, config_path, tmp_path):
    r = _download(parent, with_log=False)
    assert r.status_code == 200, r.get_data(as_text=True)[:500]
    assert r.headers["Content-Disposition"].startswith("attachment; filename=hearth-backup-")
    assert r.headers["Content-Disposition"].endswith("-no-log.tar.gz")
    assert r.headers["Cache-Control"] == "no-store"
    saved = tmp_path / "got.tar.gz"
    saved.write_bytes(r.get_data())
    checked = backup.check(saved, config_path)
    assert "admin.db" in checked.files and not checked.with_log      # the password hash is in it
    assert [p.name for p in checked.config.children() if p.child] == ["emma", "leo"]
    data = configmod.load(config_path).data_dir
    assert not [p for p in data.iterdir() if p.name.startswith(".hearth-")]    # no copy left behind
    assert backup.check(tmp_path / "got.tar.gz", config_path).files == checked.files
    r = _download(parent, with_log=True)
    assert r.status_code == 200 and not r.headers["Content-Disposition"].endswith("-no-log.tar.gz")


@pytest.mark.parametrize("path", ["/settings/backup", "/settings/backup/check", "/settings/backup/keep",
                                  "/settings/backup/discard"])
def test_every_backup_form_needs_the_csrf_token(parent, client, path):
    r = client.post(path, data={})
    assert r.status_code == 400 and "Reload it and try again" in r.get_data(as_text=True)


def test_not_logged_in_gets_no_backup(auth, client):
    auth.setup()
    token = csrf_of(client.get("/settings/").get_data(as_text=True))
    client.post("/logout", data={"csrf_token": token})
    r = client.post("/settings/backup", data={"csrf_token": token})
    assert r.status_code in (302, 400) and b"manifest.json" not in r.get_data()


@pytest.mark.parametrize("path", ["/settings/backup", "/settings/backup/check", "/settings/backup/keep",
                                  "/settings/backup/discard"])
def test_a_childs_device_gets_no_backup(parent, client, config_path, path):
    """Emma's phone (127.0.0.5), even with the parent's session cookie and CSRF token: the file holds the secrets."""
    token = csrf_of(client.get("/settings/").get_data(as_text=True))
    before = _tree(config_path.parent)
    r = client.post(path, data={"csrf_token": token}, environ_base={"REMOTE_ADDR": "127.0.0.5"})
    assert r.status_code == 403 and b"manifest.json" not in r.get_data()
    assert _tree(config_path.parent) == before


def _foreign_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("hearth.yaml")
        blob = b"timezone: UTC\n"
        info.size = len(blob)
        tar.addfile(info, io.BytesIO(blob))
    return buf.getvalue()


@pytest.mark.parametrize("blob, says", [
    (b"this is not a backup at all", "not a readable .tar.gz"),
    (_foreign_tar(), "no manifest"),
    (b"", "choose a backup file"),
])
def test_a_bad_upload_is_refused_and_nothing_changes(parent, client, config_path, blob, says):
    data = configmod.load(config_path).data_dir
    before = _tree(config_path.parent)
    r = _upload(parent, blob, "family.tar.gz" if blob else "")
    assert r.status_code == 302
    page = client.get("/settings/").get_data(as_text=True)
    assert "Nothing was changed" in page and says in page
    assert str(data) not in page.split("Nothing was changed")[1].split("</p>")[0]   # the upload's own name
    assert _tree(config_path.parent) == before


def test_a_damaged_backup_is_refused(parent, client, config_path):
    good = _download(parent, with_log=False).get_data()
    before = _tree(config_path.parent)
    r = _upload(parent, good[: len(good) // 2])
    assert r.status_code == 302
    assert "damaged or cut short" in client.get("/settings/").get_data(as_text=True)
    assert _tree(config_path.parent) == before


def test_a_good_backup_is_checked_shown_and_kept_for_hearth_restore(parent, client, config_path, tmp_path):
    good = _download(parent, with_log=False).get_data()
    # The family changes its rules after the backup: the check says what the backup would put back.
    text = config_path.read_text().replace("leo:", "leon:").replace("[leo-tablet", "[leo-tablet")
    config_path.write_text(text)
    before = _tree(config_path.parent)
    r = _upload(parent, good)
    html = r.get_data(as_text=True)
    assert r.status_code == 200, html[:800]
    assert "is a good Hearth backup" in html and "Nothing has been replaced yet" in html
    assert "emma, leo</td>" in html and "emma, leon</td>" in html      # in the backup / on Hearth now
    assert config_path.read_text() == text                              # nothing replaced
    data = configmod.load(config_path).data_dir
    assert (data / "restore-checked.tar.gz").read_bytes() == good
    changed = set(_tree(config_path.parent)) - set(before)
    assert changed == {str(data / "restore-checked.tar.gz")}
    assert (data / "restore-checked.tar.gz").stat().st_mode & 0o777 == 0o600

    token = csrf_of(html)
    r = client.post("/settings/backup/keep", data={"csrf_token": token})
    assert r.status_code == 302
    page = client.get("/settings/").get_data(as_text=True)
    waiting = data / "restore-waiting.tar.gz"
    assert waiting.is_file() and not (data / "restore-checked.tar.gz").exists()
    assert "Nothing has been replaced yet" in page
    command = f"sudo hearth restore --config {config_path} {waiting} &amp;&amp; sudo rm {waiting}"
    assert command in page and "sudo systemctl stop hearth-dns hearth-admin" in page
    assert config_path.read_text() == text

    # What the page says to run is what puts it back (here without systemd, and the daemon not running).
    said = backup.restore(waiting, config_path)
    assert "restored" in said and "leo:" in config_path.read_text()
    assert list(data.glob("pre-restore-*.tar.gz"))                      # what was there is kept

    client.post("/settings/backup/discard", data={"csrf_token": csrf_of(page)})
    assert not waiting.exists()
    assert "Check the backup" in client.get("/settings/").get_data(as_text=True)


def test_a_too_large_upload_is_refused_plainly(parent, client, app, config_path):
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    before = _tree(config_path.parent)
    r = _upload(parent, b"\0" * (128 * 1024))
    assert r.status_code == 302
    assert "larger than the admin accepts" in client.get("/settings/").get_data(as_text=True)
    assert _tree(config_path.parent) == before


def test_the_section_is_in_french(parent, client):
    html = client.get("/settings/", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert "Sauvegarde et restauration" in html


def test_keep_checks_the_file_again(parent, client, config_path):
    """The checked file sat on the card between the two clicks: it is checked again, and refused if it changed."""
    good = _download(parent, with_log=False).get_data()
    html = _upload(parent, good).get_data(as_text=True)
    data = configmod.load(config_path).data_dir
    (data / "restore-checked.tar.gz").write_bytes(good[:100])
    r = client.post("/settings/backup/keep", data={"csrf_token": csrf_of(html)})
    assert r.status_code == 302
    page = client.get("/settings/").get_data(as_text=True)
    assert "Nothing was changed: this file cannot be restored" in page and "the uploaded backup" in page
    assert not (data / "restore-checked.tar.gz").exists() and not (data / "restore-waiting.tar.gz").exists()
    r = client.post("/settings/backup/keep", data={"csrf_token": csrf_of(page)})
    assert "upload the backup again" in client.get("/settings/").get_data(as_text=True)
