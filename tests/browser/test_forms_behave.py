"""Forms that behave like forms, in Chromium: a name already in use refused on the New page,
in the restore panel's Edit details and on the Recover page (the focus on the name), the API
token shown once after a redirect (a reload makes no second one), a restore point outside the
window refused on the panel in the viewer's zone, and an earlier version refused beside its
field."""

import datetime
import re
from urllib.parse import quote

from django.utils import timezone
from playwright.sync_api import expect

from backups.models import RestoreOperation
from environments import services
from environments.models import Environment
from portal.models import ApiToken
from tests.factories import EnvironmentFactory


def test_edit_details_refuses_a_name_in_use_beside_the_field_without_opening_the_dialog(
    signed_in_page, global_admin, tenant, axe_check, screenshot
):
    page = signed_in_page(global_admin)
    page.goto("/environments/contoso-sandbox/backups/system/")
    page.get_by_role("button", name="1 hour ago").click()
    page.get_by_role("button", name="Confirm").click()
    page.get_by_label("Restore to").select_option("contoso-sandbox")
    expect(page.get_by_role("heading", name=re.compile("What will be overwritten"))).to_be_visible()
    page.get_by_text("Edit details").click()
    page.get_by_label("Name after restore").fill("CONTOSO  production")
    page.get_by_role("button", name="Restore", exact=True).click()
    message = "An environment named Contoso Production already exists; choose another name."
    expect(page.get_by_text(message)).to_have_count(1)
    expect(page.get_by_label("Name after restore")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_role("dialog")).to_have_count(0)
    axe_check(page)
    screenshot(page, "restore-panel-name-taken")
    assert not RestoreOperation.objects.exists()


def test_the_new_page_refuses_a_name_in_use_beside_the_name(signed_in_page, global_admin, tenant):
    page = signed_in_page(global_admin)
    page.goto("/environments/new/")
    name = page.get_by_role("textbox", name="Name", exact=True)
    name.fill("contoso   SANDBOX")
    page.get_by_label("URL name").fill("contoso-sandbox-2")
    page.get_by_role("button", name="Create").click()
    message = "An environment named Contoso Sandbox already exists; choose another name."
    expect(page.get_by_text(message)).to_have_count(1)
    expect(name).to_have_attribute("aria-invalid", "true")
    expect(name).to_have_value("contoso   SANDBOX")  # what was typed stays, to be corrected
    assert not Environment.objects.filter(slug="contoso-sandbox-2").exists()
    name.fill("Contoso Sandbox 2")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/environments/contoso-sandbox-2/$"))


def test_a_new_sandbox_with_a_name_in_use_is_refused_beside_its_name(
    signed_in_page, global_admin, tenant
):
    page = signed_in_page(global_admin)
    page.goto("/environments/contoso-prod/backups/system/")
    page.get_by_role("button", name="1 hour ago").click()
    page.get_by_role("button", name="Confirm").click()
    page.get_by_label("Restore to").select_option(label="A new sandbox environment")
    fieldset = page.get_by_role("group", name="A new sandbox environment")
    fieldset.get_by_role("textbox", name="Name", exact=True).fill("Europe  SANDBOX")
    fieldset.get_by_role("textbox", name="URL name").fill("contoso-copy")
    page.get_by_role("button", name="Restore", exact=True).click()
    message = "An environment named Europe Sandbox already exists; choose another name."
    expect(page.get_by_text(message)).to_have_count(1)
    name = page.get_by_role("group", name="A new sandbox environment").get_by_role(
        "textbox", name="Name", exact=True
    )
    expect(name).to_have_attribute("aria-invalid", "true")
    assert not Environment.objects.filter(slug="contoso-copy").exists()
    assert not RestoreOperation.objects.exists()


def test_recovering_an_environment_whose_name_was_taken_asks_for_a_new_one(
    signed_in_page, global_admin, axe_check, screenshot
):
    old = EnvironmentFactory(name="Contoso Sales", slug="contoso-sales")
    services.environment_delete(environment=old, actor=global_admin, confirm_name=old.name)
    EnvironmentFactory(name="contoso sales", slug="contoso-sales-new")
    page = signed_in_page(global_admin)
    page.goto("/environments/deleted/")
    page.get_by_role("button", name="Recover Contoso Sales").click()
    expect(page.get_by_role("heading", name="Recover Contoso Sales")).to_be_visible()
    name = page.get_by_role("textbox", name="Name")
    expect(name).to_be_focused()  # where the next step is
    expect(page.get_by_text("already exists; choose another name")).to_have_count(1)
    axe_check(page)
    screenshot(page, "recover-name-taken")
    name.fill("Contoso Sales (2025)")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/environments/contoso-sales/$"))
    expect(page.get_by_text("Contoso Sales (2025) is recovered")).to_be_visible()
    old.refresh_from_db()
    assert (old.deleted_at, old.name) == (None, "Contoso Sales (2025)")


def test_a_new_api_token_is_shown_once_and_a_reload_makes_no_second(
    signed_in_page, global_admin, axe_check
):
    page = signed_in_page(global_admin)
    page.goto("/settings/tokens/")
    page.get_by_label("Name").fill("nightly")
    page.get_by_role("button", name="Create").click()
    token = page.get_by_role("textbox", name="Token", exact=True)
    expect(token).to_be_focused()
    expect(token).to_have_value(re.compile(r"^envp_"))
    axe_check(page)
    page.reload()  # the page after the redirect: its GET, not the POST again
    expect(page.get_by_role("heading", name="Your new token")).to_have_count(0)
    expect(page.get_by_role("cell", name="nightly")).to_have_count(1)
    assert ApiToken.objects.filter(user=global_admin).count() == 1


def test_a_point_outside_the_window_is_refused_on_the_panel_in_the_viewers_zone(
    signed_in_page, global_admin, tenant
):
    page = signed_in_page(global_admin)
    # A bookmarked or edited address, 40 days back: 12 days before the window.
    before = (timezone.now() - datetime.timedelta(days=40)).replace(microsecond=0)
    page.goto(f"/environments/contoso-prod/backups/restore/?pick=at:{quote(before.isoformat())}")
    expect(page.get_by_role("alert")).to_contain_text("is before the oldest moment kept")
    expect(page.get_by_role("alert")).to_contain_text("UTC+05:30")  # the browser's zone
    expect(page.get_by_label("Restore to")).to_have_count(0)
    page.get_by_role("link", name="Choose another backup").click()
    expect(page.get_by_role("tab", name="System")).to_have_attribute("aria-selected", "true")


def test_update_version_refuses_an_earlier_version_beside_the_field(
    signed_in_page, global_admin, tenant
):
    page = signed_in_page(global_admin)
    page.goto("/environments/contoso-prod/update-version/")
    page.get_by_label("New version").fill("9.2.24101.00100")
    page.get_by_role("button", name="Update").click()
    expect(page.get_by_text("an update only goes forward")).to_have_count(1)
    expect(page.get_by_label("New version")).to_have_attribute("aria-invalid", "true")
    assert Environment.objects.get(slug="contoso-prod").version == "9.2.24101.00180"
