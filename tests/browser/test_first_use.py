"""What a new admin meets in the first minutes, in Chromium: a repeated hour that never locks
the time form, the selected tab that keeps what was typed, and an undo that asks first and puts
back everything the restore changed (data, name, security group, administration mode)."""

import datetime
import re
import zoneinfo

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from backups.models import RestoreOperation
from tests.browser.conftest import wait_for_restore
from tests.factories import EnvironmentFactory, make_table

NEW_YORK = zoneinfo.ZoneInfo("America/New_York")


def last_repeated_hour(before: datetime.datetime) -> datetime.datetime:
    """The latest local 01:30 in New York before `before` that happened twice (fall back)."""
    day = before.astimezone(NEW_YORK).date()
    for _ in range(400):
        day -= datetime.timedelta(days=1)
        local = datetime.datetime.combine(day, datetime.time(1, 30), tzinfo=NEW_YORK)
        if local.utcoffset() != local.replace(fold=1).utcoffset():
            return local
    raise AssertionError("no daylight-saving change in New York for a year")


@pytest.fixture
def old_production(db, settings):
    """A production environment a year old whose backups reach back a year, so that the last
    New York fall-back is inside its restorable window whatever the day the tests run."""
    settings.BACKUP_RETENTION = {
        **settings.BACKUP_RETENTION,
        "system": {
            **settings.BACKUP_RETENTION["system"],
            "production": datetime.timedelta(days=400),
        },
    }
    env = EnvironmentFactory(
        name="Fabrikam Production",
        slug="fabrikam-prod",
        type="production",
        created_at=timezone.now() - datetime.timedelta(days=390),
    )
    make_table(env)
    return env


def test_a_repeated_hour_is_asked_about_but_never_locks_the_form(
    signed_in_page, global_admin, old_production, axe_check, screenshot
):
    repeated = last_repeated_hour(timezone.now())
    page = signed_in_page(global_admin)
    page.goto(
        f"/environments/fabrikam-prod/backups/system/?date={repeated:%Y-%m-%d}"
        "&time=01:30&tz=America/New_York"
    )
    expect(page.get_by_text(re.compile("happened twice in America/New_York"))).to_be_visible()
    expect(page.get_by_role("radiogroup")).to_be_visible()
    axe_check(page)
    screenshot(page, "system-tab-repeated-hour")

    # Unanswered, the question does not stop a preset...
    page.get_by_role("button", name="1 day ago").click()
    expect(page.get_by_role("heading", name="Select a backup to restore")).to_be_visible()
    expect(page.get_by_text(re.compile("happened twice"))).to_have_count(0)

    # ...nor another date typed in its place.
    page.goto(
        f"/environments/fabrikam-prod/backups/system/?date={repeated:%Y-%m-%d}"
        "&time=01:30&tz=America/New_York"
    )
    expect(page.get_by_role("radiogroup")).to_be_visible()
    yesterday = timezone.now().astimezone(NEW_YORK) - datetime.timedelta(days=1)
    page.get_by_label("Date", exact=True).fill(f"{yesterday:%Y-%m-%d}")
    page.get_by_label("Time", exact=True).fill("10:00:00")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Select a backup to restore")).to_be_visible()
    expect(page.get_by_text(re.compile("happened twice"))).to_have_count(0)

    # Answering it picks that reading.
    page.goto(
        f"/environments/fabrikam-prod/backups/system/?date={repeated:%Y-%m-%d}"
        "&time=01:30&tz=America/New_York"
    )
    page.get_by_role("radio").nth(1).check()
    page.get_by_role("button", name="Continue").click()
    second = repeated.replace(fold=1).astimezone(datetime.UTC)
    expect(page.locator(f'time[datetime="{second.isoformat()}"]').first).to_be_visible()


def test_clicking_the_selected_tab_keeps_what_was_typed(signed_in_page, global_admin, tenant):
    page = signed_in_page(global_admin)
    page.goto("/environments/contoso-prod/backups/system/")
    page.get_by_label("Date", exact=True).fill("2026-01-02")
    page.get_by_label("Time", exact=True).fill("03:04:05")
    page.get_by_role("tab", name="System").click()
    expect(page.get_by_label("Date", exact=True)).to_have_value("2026-01-02")
    expect(page.get_by_label("Time", exact=True)).to_have_value("03:04:05")
    # The other tab still switches, and back again.
    page.get_by_role("tab", name="Manual").click()
    expect(page.get_by_role("tab", name="Manual")).to_have_attribute("aria-selected", "true")
    page.get_by_role("tab", name="System").click()
    expect(page.get_by_role("tab", name="System")).to_have_attribute("aria-selected", "true")


def test_undo_asks_first_and_puts_back_the_name_and_security_group(
    signed_in_page, global_admin, tenant, worker, axe_check, screenshot
):
    page = signed_in_page(global_admin)
    page.goto("/environments/contoso-sandbox/backups/system/")
    page.get_by_role("button", name="1 hour ago").click()
    page.get_by_role("button", name="Confirm").click()
    page.get_by_label("Restore to").select_option("contoso-sandbox")
    expect(
        page.get_by_role("heading", name="What will be overwritten in Contoso Sandbox")
    ).to_be_visible()
    page.get_by_text("Edit details").click()
    page.get_by_label("Name after restore").fill("Contoso Sandbox R")
    page.get_by_label("Security group after restore").fill("Auditors")
    page.get_by_role("button", name="Restore", exact=True).click()
    page.get_by_label(re.compile("to confirm")).fill("Contoso Sandbox")
    page.get_by_role("button", name="Overwrite Contoso Sandbox").click()
    restore = wait_for_restore(worker)
    # The page polls the restore and reloads itself when it ends (no navigation of ours, which
    # that reload could interrupt): the new name shows once it has.
    expect(page.get_by_role("heading", name="Contoso Sandbox R", exact=True)).to_be_visible()
    expect(page.locator("#details-card")).to_contain_text("Auditors")
    # The history reads as it happened, under the names of then, and never names the
    # environment as its own source.
    expect(page.locator("#restores-heading + .table-wrap table")).to_contain_text(
        "Contoso Sandbox from its own data"
    )

    page.get_by_role("link", name="Undo restore").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Undo the restore of Contoso Sandbox R?")
    expect(dialog).to_contain_text("Its name goes back to “Contoso Sandbox”.")
    expect(dialog).to_contain_text("Its security group goes back to Testers.")
    expect(dialog.get_by_label(re.compile("to confirm"))).to_be_focused()
    axe_check(page)
    screenshot(page, "undo-confirmation")
    dialog.get_by_label(re.compile("to confirm")).fill("Contoso Sandbox")  # the old name: no
    dialog.get_by_role("button", name="Undo restore of Contoso Sandbox R").click()
    expect(page.get_by_role("dialog")).to_contain_text("Type Contoso Sandbox R exactly")
    assert RestoreOperation.objects.count() == 1

    page.get_by_role("dialog").get_by_label(re.compile("to confirm")).fill("Contoso Sandbox R")
    page.get_by_role("dialog").get_by_role(
        "button", name="Undo restore of Contoso Sandbox R"
    ).click()
    undo = wait_for_restore(worker, count=2)
    assert undo.undo_of_id == restore.pk
    expect(page.get_by_role("heading", name="Contoso Sandbox", exact=True)).to_be_visible()
    expect(page.locator("#details-card")).to_contain_text("Testers")
    expect(page.locator("#details-card .switch-state").first).to_have_text("Off")
    screenshot(page, "undo-finished")
