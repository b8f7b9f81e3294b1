"""The heart of the product, as a person does it in Chromium: restore a sandbox from itself to
a moment before a change and undo it, manual backups, a production backup restored into a
sandbox, a production target refused, and the whole restore flow with the keyboard alone.
Each main screen is checked with axe and saved under tests/artifacts/."""

import re

from playwright.sync_api import expect

from backups import services as backup_services
from backups.models import ManualBackup, RestoreOperation
from tests.browser.conftest import tab_to, wait_for_restore


def test_restore_a_sandbox_from_itself_before_a_change_then_undo_it(
    signed_in_page, global_admin, tenant, worker, axe_check, screenshot
):
    page = signed_in_page(global_admin)
    # A change made now, in the data browser.
    page.goto("/environments/contoso-sandbox/data/accounts/")
    page.get_by_role("link", name="Edit row 000001").click()
    page.get_by_label("Account name").fill("Coho Winery (renamed)")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("cell", name="Coho Winery (renamed)")).to_be_visible()

    # Environments > the sandbox > Backups > Restore or manage > System.
    page.goto("/environments/contoso-sandbox/")
    page.get_by_text("Backups", exact=True).click()
    page.get_by_role("link", name="Restore or manage").click()
    expect(page.get_by_role("tab", name="System")).to_have_attribute("aria-selected", "true")
    expect(page.get_by_text("You can restore to any moment from")).to_be_visible()
    axe_check(page)
    screenshot(page, "restore-system-tab")

    page.get_by_role("button", name="1 hour ago").click()
    expect(page.get_by_role("heading", name="Select a backup to restore")).to_be_visible()
    expect(page.locator("input[name=pick]").first).to_be_checked()
    axe_check(page)
    screenshot(page, "restore-candidates")
    page.get_by_role("button", name="Confirm").click()

    # The restore panel: the sandbox itself is a target; show what will be overwritten.
    expect(
        page.get_by_text(
            "Don't see your environment? Only sandbox environments can be restored to."
        )
    ).to_be_visible()
    page.get_by_label("Restore to").select_option("contoso-sandbox")
    expect(
        page.get_by_role("heading", name="What will be overwritten in Contoso Sandbox")
    ).to_be_visible()
    page.get_by_text("Edit details").click()
    expect(page.get_by_label("Name after restore")).to_be_visible()
    axe_check(page)
    screenshot(page, "restore-panel")

    page.get_by_role("button", name="Restore", exact=True).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Overwrite Contoso Sandbox?")
    expect(dialog).to_contain_text("administration mode")
    expect(page.get_by_label(re.compile("to confirm"))).to_be_focused()
    axe_check(page)
    screenshot(page, "restore-confirmation")
    page.get_by_label(re.compile("to confirm")).fill("Contoso Sandbox")
    overwrite = dialog.get_by_role("button", name="Overwrite Contoso Sandbox")
    overwrite.dblclick()

    # Progress, then the outcome on the environment page.
    expect(page).to_have_url(re.compile(r"/environments/contoso-sandbox/$"))
    op = wait_for_restore(worker)
    expect(page.get_by_text("Contoso Sandbox was restored")).to_be_visible()
    assert RestoreOperation.objects.count() == 1  # the double click started one restore
    expect(page.locator("#details-card")).to_contain_text("Administration mode")
    expect(page.locator("#details-card .switch-state").first).to_have_text("On")
    axe_check(page)
    screenshot(page, "restore-finished")

    page.goto("/environments/contoso-sandbox/data/accounts/")
    expect(page.get_by_role("cell", name="Coho Winery", exact=True)).to_be_visible()
    expect(page.get_by_role("cell", name="Coho Winery (renamed)")).to_have_count(0)

    # Undo the restore: the change comes back.
    page.goto("/environments/contoso-sandbox/")
    page.get_by_role("link", name="Undo restore").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Undo the restore of Contoso Sandbox?")
    dialog.get_by_label(re.compile("to confirm")).fill("Contoso Sandbox")
    dialog.get_by_role("button", name="Undo restore of Contoso Sandbox").click()
    wait_for_restore(worker, count=2)
    # The page reloads itself when the undo ends; navigate only after that reload.
    expect(page.get_by_text("The restore of Contoso Sandbox was undone")).to_be_visible()
    expect(page.locator("#details-card .switch-state").first).to_have_text("Off")
    page.goto("/environments/contoso-sandbox/data/accounts/")
    expect(page.get_by_role("cell", name="Coho Winery (renamed)")).to_be_visible()
    assert op.target.pk == tenant["sandbox"].pk


def test_create_edit_and_delete_a_manual_backup(
    signed_in_page, global_admin, tenant, axe_check, screenshot
):
    page = signed_in_page(global_admin)
    page.goto("/environments/contoso-prod/")
    page.get_by_text("Backups", exact=True).click()
    page.get_by_role("link", name="Create").click()
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_text("This field is required.")).to_be_visible()
    page.get_by_label("Label").fill("Before go-live")
    page.get_by_label("Notes").fill("Sprint 12")
    axe_check(page)
    screenshot(page, "backup-create")
    page.get_by_role("button", name="Create").click()

    expect(page.get_by_role("tab", name="Manual")).to_have_attribute("aria-selected", "true")
    row = page.get_by_role("row", name=re.compile("Before go-live"))
    expect(row).to_contain_text("Sprint 12")
    expect(row).to_contain_text("(in 28 days)")
    axe_check(page)
    screenshot(page, "backup-manual-tab")

    row.get_by_role("link", name="Edit").click()
    page.get_by_label("Label").fill("Before launch")
    page.get_by_role("button", name="Save").click()
    row = page.get_by_role("row", name=re.compile("Before launch"))
    expect(row).to_be_visible()

    row.get_by_role("link", name="Delete").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Delete backup “Before launch”?")
    axe_check(page)
    screenshot(page, "backup-delete")
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    assert ManualBackup.objects.count() == 1
    row.get_by_role("link", name="Delete").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(page.get_by_text("No manual backups yet.")).to_be_visible()
    assert not ManualBackup.objects.exists()


def test_restore_a_production_backup_into_a_sandbox_and_production_is_not_a_target(
    signed_in_page, global_admin, tenant, worker, screenshot
):
    backup = backup_services.backup_create(
        environment=tenant["prod"], label="Nightly", actor=global_admin
    )
    page = signed_in_page(global_admin)
    page.goto("/environments/contoso-prod/backups/manual/")
    page.get_by_role("row", name=re.compile("Nightly")).get_by_role("link", name="Restore").click()
    expect(page.get_by_text("From the backup “Nightly”.")).to_be_visible()
    target = page.get_by_label("Restore to")
    options = target.locator("option").all_inner_texts()
    assert not any("Contoso Production" in o for o in options)  # production: not a target
    assert not any("Europe Sandbox" in o for o in options)  # another region
    page.get_by_role("link", name="How to restore into a production environment").click()
    expect(page.locator("#convert-help")).to_contain_text("Convert it to a sandbox")
    screenshot(page, "restore-production-refused")

    target.select_option("contoso-sandbox")
    page.get_by_role("button", name="Restore", exact=True).click()
    page.get_by_label(re.compile("to confirm")).fill("Contoso Sandbox")
    page.get_by_role("button", name="Overwrite Contoso Sandbox").click()
    expect(page).to_have_url(re.compile(r"/environments/contoso-sandbox/$"))
    op = wait_for_restore(worker)
    assert op.backup == backup
    page.goto("/environments/contoso-sandbox/data/accounts/")
    expect(page.get_by_role("cell", name="Adatum")).to_be_visible()


def test_the_restore_flow_with_the_keyboard_alone(
    signed_in_page, global_admin, tenant, worker, screenshot
):
    page = signed_in_page(global_admin)
    page.goto("/environments/contoso-sandbox/")
    menu = page.locator("summary", has_text="Backups")
    tab_to(page, menu)
    page.keyboard.press("Enter")
    link = page.get_by_role("link", name="Restore or manage")
    tab_to(page, link)
    page.keyboard.press("Enter")
    system_tab = page.get_by_role("tab", name="System")
    expect(system_tab).to_have_attribute("aria-selected", "true")
    # Arrow keys move between the tabs, and back.
    system_tab.focus()
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("tab", name="Manual")).to_have_attribute("aria-selected", "true")
    page.keyboard.press("ArrowLeft")
    expect(page.get_by_role("tab", name="System")).to_have_attribute("aria-selected", "true")

    preset = page.get_by_role("button", name="1 hour ago")
    tab_to(page, preset)
    page.keyboard.press("Enter")
    confirm = page.get_by_role("button", name="Confirm")
    tab_to(page, confirm)
    page.keyboard.press("Enter")
    select = page.get_by_label("Restore to")
    tab_to(page, select)
    page.keyboard.press("ArrowDown")  # the first real choice: the sandbox itself
    expect(page.get_by_role("heading", name=re.compile("What will be overwritten"))).to_be_visible()
    restore = page.get_by_role("button", name="Restore", exact=True)
    tab_to(page, restore)
    page.keyboard.press("Enter")
    expect(page.get_by_label(re.compile("to confirm"))).to_be_focused()
    page.keyboard.type("Contoso Sandbox")
    page.keyboard.press("Enter")
    wait_for_restore(worker)
    expect(page.get_by_text("Contoso Sandbox was restored")).to_be_visible()
    screenshot(page, "restore-keyboard-done")
