"""The overwrite confirmation in Chromium names every change Edit details makes: the new name
and the new security group, both; and a target list that offers a new sandbox reads
"Restore to". Cancel changes nothing."""

import re

from playwright.sync_api import expect

from backups.models import RestoreOperation


def test_the_confirmation_names_every_change_edit_details_makes(
    signed_in_page, global_admin, tenant, axe_check, screenshot
):
    page = signed_in_page(global_admin)
    page.goto("/environments/contoso-prod/backups/system/")
    page.get_by_role("button", name="1 hour ago").click()
    page.get_by_role("button", name="Confirm").click()
    target = page.get_by_label("Restore to")
    # (the panel comes in beside the page: wait for it)
    expect(target.locator("option", has_text="A new sandbox environment")).to_have_count(1)
    expect(page.get_by_text("Environment to overwrite")).to_have_count(0)
    target.select_option("contoso-sandbox")
    expect(
        page.get_by_role("heading", name="What will be overwritten in Contoso Sandbox")
    ).to_be_visible()
    page.get_by_text("Edit details").click()
    page.get_by_label("Name after restore").fill("Contoso QA")
    page.get_by_label("Security group after restore").fill("QA team")
    page.get_by_role("button", name="Restore", exact=True).click()

    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Overwrite Contoso Sandbox?")
    expect(dialog).to_contain_text("It will be renamed from “Contoso Sandbox” to “Contoso QA”.")
    expect(dialog).to_contain_text("Its security group will change from Testers to QA team.")
    expect(dialog).to_contain_text("administration mode")
    expect(dialog.get_by_label(re.compile("to confirm"))).to_be_focused()
    axe_check(page)
    screenshot(page, "restore-confirmation-edit-details")

    # A wrong name: the dialog stays, still naming both changes, and nothing starts.
    dialog.get_by_label(re.compile("to confirm")).fill("Contoso QA")
    dialog.get_by_role("button", name="Overwrite Contoso Sandbox").click()
    expect(dialog).to_contain_text("Type Contoso Sandbox exactly to confirm")
    expect(dialog).to_contain_text("renamed from “Contoso Sandbox” to “Contoso QA”")
    expect(dialog).to_contain_text("security group will change from Testers to QA team")
    dialog.get_by_role("link", name="Cancel").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    assert not RestoreOperation.objects.exists()
