"""The settings page's backup in a real browser (Debian's chromium, Playwright), against a real running Hearth: a
parent downloads a backup, uploads it, sees what it holds, keeps it for `hearth restore`, and is given the command.
While the DNS daemon runs, restore refuses: the page's promise that nothing is replaced under it holds. The backup
section and the check page are checked with axe-core and photographed under tests/artifacts/web_admin/."""
from __future__ import annotations

import pytest

from appliance import backup

from .conftest import PASSWORD
from .test_browser import ARTIFACTS, SIZES, Screens, browser, hearth  # noqa: F401  (fixtures)


def test_a_parent_backs_up_and_readies_a_restore_from_the_browser(hearth, browser, tmp_path):  # noqa: F811
    h, url = hearth
    context = browser.new_context(bypass_csp=True, viewport=SIZES["laptop"], locale="en-GB", accept_downloads=True)
    page = context.new_page()
    screens = Screens(page)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url + "/setup")
    page.fill("#password", PASSWORD)
    page.fill("#password2", PASSWORD)
    page.select_option("#timezone", "UTC")
    page.click("button.primary")

    page.goto(url + "/settings/")
    section = page.locator("#backup")
    assert "Backup and restore" in section.inner_text()
    for size, viewport in SIZES.items():
        page.set_viewport_size(viewport)
        section.screenshot(path=str(ARTIFACTS / f"settings-backup-{size}.png"))
    page.set_viewport_size(SIZES["laptop"])
    with page.expect_download() as got:
        section.locator("button", has_text="Download a backup").click()
    download = got.value
    assert download.suggested_filename.startswith("hearth-backup-") and download.suggested_filename.endswith(
        "-no-log.tar.gz")
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    assert "admin.db" in backup.check(saved, h.config_path).files

    # A file that is not a backup: refused, in words.
    junk = tmp_path / "holiday-photo.tar.gz"
    junk.write_bytes(b"\xff\xd8\xff\xe0 not a backup")
    page.set_input_files("#backup_file", str(junk))
    page.click("button:has-text('Check the backup')")
    assert "Nothing was changed" in page.inner_text(".messages")
    assert "holiday-photo.tar.gz" in page.inner_text(".messages")

    page.set_input_files("#backup_file", str(saved))
    page.click("button:has-text('Check the backup')")
    assert "is a good Hearth backup" in page.inner_text("main")
    screens.check("settings-backup-check")
    page.click("button:has-text('Keep it ready to restore')")
    assert "Nothing has been replaced yet" in page.inner_text(".messages")
    command = page.inner_text("#backup .command")
    assert "sudo hearth restore" in command and "restore-waiting.tar.gz" in command
    page.locator("#backup").scroll_into_view_if_needed()
    screens.check("settings-backup-waiting")
    for size, viewport in SIZES.items():
        page.set_viewport_size(viewport)
        page.locator("#backup").screenshot(path=str(ARTIFACTS / f"settings-backup-waiting-{size}.png"))
    page.set_viewport_size(SIZES["laptop"])

    # The daemon is running: the restore the page describes refuses rather than replace files under it.
    waiting = h.config_path.parent / "var" / "restore-waiting.tar.gz"
    before = h.config_path.read_bytes()
    with pytest.raises(backup.BackupError, match="Hearth is running"):
        backup.restore(waiting, h.config_path)
    assert h.config_path.read_bytes() == before

    page.click("#backup button:has-text('Delete the uploaded backup')")
    assert not waiting.exists()
    assert not errors, errors
    dirty = {k: v for k, v in screens.seen.items() if v}      # not assert_clean: axe.json is the main test's
    assert not dirty, dirty
