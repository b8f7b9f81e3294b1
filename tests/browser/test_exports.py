"""Exports as an admin meets them in Chromium, with the real worker: a backup exported from the
System tab, downloaded (the file's SHA-256 is the one the page shows), verified, then restored
from the downloaded file into a new sandbox that holds the source's rows."""

import hashlib
import re

import pytest
from playwright.sync_api import expect

from backups import archive_storage
from backups.models import ArchiveImport, Export

pytestmark = pytest.mark.browser


@pytest.fixture
def stored_files(transactional_db):
    """The archives this test leaves in the backups storage (the worker's var/backups) go,
    whether it passes or not."""
    yield
    for model in (Export, ArchiveImport):
        for name in model.objects.exclude(file_name="").values_list("file_name", flat=True):
            archive_storage.delete(name)


def test_export_download_verify_then_restore_from_the_file(
    signed_in_page, global_admin, tenant, worker, axe_check, screenshot, tmp_path, stored_files
):
    page = signed_in_page(global_admin)

    # Contoso Production > Backups > Restore or manage > System: a moment an hour ago.
    page.goto("/environments/contoso-prod/")
    page.get_by_text("Backups", exact=True).click()
    page.get_by_role("link", name="Restore or manage").click()
    page.get_by_role("button", name="1 hour ago").click()
    expect(page.get_by_role("heading", name="Select a backup to restore")).to_be_visible()
    page.get_by_role("button", name=re.compile(r"^Export the backup of")).first.click()

    # The Exports page: the outcome of the click has the focus; the row fills in as it runs.
    expect(page).to_have_url(re.compile(r"/environments/contoso-prod/exports/$"))
    expect(page.locator("#messages .notice")).to_be_focused()
    expect(page.locator("#messages")).to_contain_text("is queued")
    export = worker.wait_until(
        lambda: (e := Export.objects.first()) and e.is_done and e, what="the export"
    )
    row = page.locator(f"#export-{export.pk}")
    expect(row).to_contain_text("Succeeded", timeout=15_000)
    expect(row).to_contain_text(export.sha256[:12])
    axe_check(page)
    screenshot(page, "exports-page")

    # Download: the file is the archive, whole.
    shown = row.locator("[data-sha256]").get_attribute("data-sha256")
    with page.expect_download() as info:
        row.get_by_role("link", name=f"Download {export.label}").click()
    download = info.value
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    assert saved.name == export.download_name
    assert hashlib.sha256(saved.read_bytes()).hexdigest() == shown == export.sha256

    # Verify: checked by the worker, the result beside the export.
    row.get_by_role("button", name=f"Verify {export.label}").click()
    expect(page.locator("#messages .notice")).to_be_focused()
    row = page.locator(f"#export-{export.pk}")
    expect(row).to_contain_text("Every part matches", timeout=20_000)

    # The environment page says so too.
    page.goto("/environments/contoso-prod/")
    card = page.get_by_role("region", name="Exports")
    expect(card).to_contain_text(f"{export.label}: every part matches")

    # Restore from a file: the downloaded archive, uploaded, into a new sandbox.
    page.goto("/environments/")
    page.get_by_role("link", name="Restore from a file").click()
    expect(page.get_by_role("heading", name="Restore from a file")).to_be_visible()
    axe_check(page)
    page.get_by_label("Upload an archive").set_input_files(saved)
    page.get_by_label("Name of the new sandbox").fill("Contoso From File")
    page.get_by_label("URL name").fill("contoso-from-file")
    screenshot(page, "restore-from-file")
    page.get_by_role("button", name="Restore", exact=True).click()

    expect(page).to_have_url(re.compile(r"/environments/contoso-from-file/$"))
    op = worker.wait_until(
        lambda: (o := ArchiveImport.objects.first()) and not o.is_active and o,
        what="the restore from the file",
    )
    assert op.status == "succeeded", op.error
    expect(page.get_by_text("was restored from Contoso Production as at")).to_be_visible(
        timeout=15_000
    )
    expect(page.get_by_text("Its history starts now")).to_be_visible()
    axe_check(page)
    screenshot(page, "restored-from-file")

    page.goto("/environments/contoso-from-file/data/accounts/")
    for name in ("Adatum", "Blue Yonder"):
        expect(page.get_by_role("cell", name=name, exact=True)).to_be_visible()
