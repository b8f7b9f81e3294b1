"""Creating an environment in Chromium, with and without JavaScript: the New command on the
environments list, each refusal beside its field, and the tenant's storage capacity."""

import datetime
import re

from playwright.sync_api import expect

from environments.models import Environment
from tests.browser.conftest import PASSWORD, wait_for_restore
from tests.factories import EnvironmentFactory, stores_gigabytes


def sign_in_without_javascript(new_context, page_problems, user):
    context = new_context(java_script_enabled=False)
    page_problems.watch(context)
    page = context.new_page()
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    return page


def fill_new_environment(page, *, name: str, slug: str, type_label: str, region: str) -> None:
    page.get_by_role("textbox", name="Name", exact=True).fill(name)
    page.get_by_label("URL name").fill(slug)
    page.get_by_label("Type").select_option(label=type_label)
    page.get_by_label("Region").select_option(label=region)


def test_a_tenant_admin_creates_a_trial_from_the_environments_list(
    signed_in_page, global_admin, axe_check, screenshot
):
    EnvironmentFactory(name="Contoso Sandbox", slug="contoso-sandbox", type="sandbox")
    page = signed_in_page(global_admin)
    page.goto("/environments/")
    expect(page.get_by_text(re.compile(r"Tenant storage: .* used"))).to_be_visible()
    page.get_by_role("link", name="New", exact=True).click()
    expect(page.get_by_role("heading", name="New environment")).to_be_visible()
    axe_check(page)
    # A URL name already in use: said beside the field, and what was typed stays.
    fill_new_environment(
        page, name="Lab", slug="contoso-sandbox", type_label="Trial", region="Asia"
    )
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_text("The URL name 'contoso-sandbox' is taken.")).to_be_visible()
    expect(page.get_by_role("textbox", name="Name", exact=True)).to_have_value("Lab")
    expect(page.get_by_label("URL name")).to_have_attribute("aria-invalid", "true")
    page.get_by_label("URL name").fill("lab")
    page.keyboard.press("Enter")  # the keyboard submits the form
    expect(page).to_have_url(re.compile(r"/environments/lab/$"))
    expect(page.get_by_text("Lab is created. It has no tables yet.")).to_be_visible()
    expect(page.get_by_text("None: trial environments are not backed up")).to_be_visible()
    expect(page.locator("dt", has_text="Expires on")).to_be_visible()
    screenshot(page, "environment-created")
    assert Environment.objects.get(slug="lab").created_by == global_admin
    # An empty environment is usable: a table, then a row in it.
    page.get_by_role("link", name="Open data").click()
    page.get_by_role("link", name="+ New table").click()
    page.get_by_role("textbox", name="Name", exact=True).fill("projects")
    page.get_by_label("Column name of column 1").fill("title")
    axe_check(page)
    page.get_by_role("button", name="Create table").click()
    expect(page.get_by_text("Table Projects added.")).to_be_visible()
    page.get_by_role("link", name="+ New row").click()
    page.get_by_label("Title").fill("First project")
    page.get_by_role("button", name="Add row").click()
    expect(page.get_by_role("cell", name="First project")).to_be_visible()


def test_without_javascript_the_form_still_creates_and_refuses(
    new_context, page_problems, global_admin, settings
):
    page = sign_in_without_javascript(new_context, page_problems, global_admin)
    # No room: less than 1 GB would remain free.
    settings.TENANT_CAPACITY_GB = 2
    stores_gigabytes(EnvironmentFactory(slug="big", type="production"), 1.5)
    page.goto("/environments/new/")
    fill_new_environment(page, name="Lab", slug="lab", type_label="Sandbox", region="Europe")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("alert")).to_contain_text("You cannot create an environment")
    assert not Environment.objects.filter(slug="lab").exists()
    settings.TENANT_CAPACITY_GB = 3
    page.get_by_role("button", name="Create").click()
    expect(page).to_have_url(re.compile(r"/environments/lab/$"))
    assert Environment.objects.get(slug="lab").type == "sandbox"


def test_restore_production_into_a_new_sandbox(
    signed_in_page, global_admin, tenant, worker, axe_check, screenshot
):
    page = signed_in_page(global_admin)
    page.goto("/environments/contoso-prod/backups/system/")
    page.get_by_role("button", name="1 hour ago").click()
    page.get_by_role("button", name="Confirm").click()
    page.get_by_label("Restore to").select_option(label="A new sandbox environment")
    fieldset = page.get_by_role("group", name="A new sandbox environment")
    expect(fieldset).to_contain_text("Made in United States, like Contoso Production")
    axe_check(page)
    screenshot(page, "restore-into-new-panel")
    fieldset.get_by_role("textbox", name="Name", exact=True).fill("Contoso Copy")
    fieldset.get_by_role("textbox", name="URL name").fill("contoso-sandbox")  # taken
    page.get_by_role("button", name="Restore", exact=True).click()
    expect(page.get_by_text("The URL name 'contoso-sandbox' is taken.")).to_be_visible()
    page.get_by_role("textbox", name="URL name").fill("contoso-copy")
    page.get_by_role("button", name="Restore", exact=True).click()
    expect(page).to_have_url(re.compile(r"/environments/contoso-copy/$"))
    op = wait_for_restore(worker)
    assert op.target.slug == "contoso-copy" and op.target.created_by == global_admin
    page.goto("/environments/contoso-copy/data/accounts/")
    expect(page.get_by_role("cell", name="Adatum", exact=True)).to_be_visible()


def test_without_javascript_a_new_sandbox_can_be_chosen_and_restored_into(
    new_context, page_problems, global_admin, tenant, worker
):
    page = sign_in_without_javascript(new_context, page_problems, global_admin)
    page.goto("/environments/contoso-prod/backups/system/?preset=1h")
    page.get_by_role("button", name="Confirm").click()
    page.get_by_label("Restore to").select_option(label="A new sandbox environment")
    page.get_by_role("button", name="Show what will be overwritten").click()
    fieldset = page.get_by_role("group", name="A new sandbox environment")
    fieldset.get_by_role("textbox", name="Name", exact=True).fill("Contoso Copy")
    fieldset.get_by_role("textbox", name="URL name").fill("contoso-copy")
    page.get_by_role("button", name="Restore", exact=True).click()
    expect(page).to_have_url(re.compile(r"/environments/contoso-copy/$"))
    assert wait_for_restore(worker).target.slug == "contoso-copy"


def test_delete_an_environment_then_recover_it(signed_in_page, global_admin, tenant, axe_check):
    page = signed_in_page(global_admin)
    # A production environment needs the second confirmation.
    page.goto("/environments/contoso-prod/delete/")
    page.get_by_label("Type the environment's name to confirm").fill("Contoso Production")
    page.get_by_role("button", name="Delete Contoso Production").click()
    expect(page.get_by_text("is a production environment: confirm")).to_be_visible()
    assert Environment.objects.get(slug="contoso-prod").deleted_at is None
    page.goto("/environments/contoso-sandbox/")
    page.get_by_role("link", name="Delete", exact=True).click()
    expect(page.get_by_role("heading", name="Delete Contoso Sandbox")).to_be_visible()
    axe_check(page)
    page.get_by_label("Type the environment's name to confirm").fill("Contoso")
    page.get_by_role("button", name="Delete Contoso Sandbox").click()
    expect(page.get_by_text("Type Contoso Sandbox exactly to confirm.")).to_be_visible()
    page.get_by_label("Type the environment's name to confirm").fill("Contoso Sandbox")
    page.get_by_role("button", name="Delete Contoso Sandbox").click()
    expect(page).to_have_url(re.compile(r"/environments/$"))
    expect(page.get_by_text("Contoso Sandbox is deleted.")).to_be_visible()
    expect(page.get_by_role("link", name="Contoso Sandbox")).to_have_count(0)
    page.get_by_role("link", name="Deleted environments").click()
    axe_check(page)
    page.get_by_role("button", name="Recover Contoso Sandbox").click()
    expect(page).to_have_url(re.compile(r"/environments/contoso-sandbox/$"))
    expect(page.get_by_text("Contoso Sandbox is recovered")).to_be_visible()


def test_copy_production_schema_over_a_sandbox(
    signed_in_page, global_admin, tenant, worker, axe_check, screenshot
):
    page = signed_in_page(global_admin)
    page.goto("/environments/contoso-prod/")
    page.get_by_role("link", name="Copy", exact=True).click()
    page.get_by_label("Copy to").select_option(label="Contoso Sandbox (Sandbox, United States)")
    expect(page.get_by_text("Contoso Sandbox will be overwritten")).to_be_visible()
    page.get_by_label("Schema only: the tables and their columns, no rows").check()
    axe_check(page)
    screenshot(page, "copy-environment")
    page.get_by_label("Type the target environment's name to confirm").fill("Contoso Sandbox")
    page.get_by_role("button", name="Copy", exact=True).click()
    expect(page).to_have_url(re.compile(r"/environments/contoso-sandbox/$"))
    op = wait_for_restore(worker)
    assert op.kind == "copy_schema"
    page.goto("/environments/contoso-sandbox/data/accounts/")
    expect(page.get_by_text("This table is empty.")).to_be_visible()


def test_without_javascript_copy_into_a_new_sandbox_then_delete_and_recover_it(
    new_context, page_problems, global_admin, tenant, worker
):
    page = sign_in_without_javascript(new_context, page_problems, global_admin)
    page.goto("/environments/contoso-prod/copy/")
    page.get_by_label("Copy to").select_option(label="A new sandbox environment")
    page.get_by_role("button", name="Show what this target needs").click()
    fieldset = page.get_by_role("group", name="A new sandbox environment")
    fieldset.get_by_role("textbox", name="Name", exact=True).fill("Contoso Archive")
    fieldset.get_by_role("textbox", name="URL name").fill("contoso-archive")
    page.get_by_role("button", name="Copy", exact=True).click()
    expect(page).to_have_url(re.compile(r"/environments/contoso-archive/$"))
    assert wait_for_restore(worker).kind == "copy"

    page.goto("/environments/contoso-archive/delete/")
    page.get_by_label("Type the environment's name to confirm").fill("Contoso Archive")
    page.get_by_role("button", name="Delete Contoso Archive").click()
    expect(page.get_by_text("Contoso Archive is deleted.")).to_be_visible()
    page.goto("/environments/deleted/")
    page.get_by_role("button", name="Recover Contoso Archive").click()
    expect(page).to_have_url(re.compile(r"/environments/contoso-archive/$"))


def test_recover_is_refused_once_the_7_days_are_over(
    new_context, page_problems, global_admin, tenant
):
    from django.utils import timezone

    sandbox = Environment.objects.get(slug="contoso-sandbox")
    Environment.objects.filter(pk=sandbox.pk).update(
        deleted_at=timezone.now() - datetime.timedelta(days=6, hours=23)
    )
    page = sign_in_without_javascript(new_context, page_problems, global_admin)
    page.goto("/environments/deleted/")
    recover = page.get_by_role("button", name="Recover Contoso Sandbox")
    expect(recover).to_be_visible()
    # The page was read in time; the 7 days run out before the click.
    Environment.objects.filter(pk=sandbox.pk).update(
        deleted_at=timezone.now() - datetime.timedelta(days=8)
    )
    recover.click()
    expect(page.get_by_text("was deleted more than 7 days ago")).to_be_visible()
    expect(page.get_by_text("No deleted environments can be recovered.")).to_be_visible()
    assert Environment.objects.get(pk=sandbox.pk).deleted_at is not None
