"""Browsing a manual backup in a browser, with the keyboard alone: Browse on the Manual tab opens
the data browser at the backup's moment, read only, where the old value is; a row's History says
what changed since; Now goes back to the data as it is."""

import datetime
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from backups import services
from environments import store
from tests.browser.conftest import tab_to


@pytest.fixture
def backed_up(tenant, global_admin):
    """A manual backup of Contoso Production two hours ago; an hour later Blue Yonder renamed."""
    prod = tenant["prod"]
    services.backup_create(
        environment=prod,
        label="Before the rename",
        actor=global_admin,
        moment=timezone.now() - datetime.timedelta(hours=2),
    )
    store.row_update(
        environment=prod,
        table_name="accounts",
        key="000002",
        values={"name": "Blue Yonder Airlines", "employees": 10},
        by=store.Author.person(global_admin),
    )
    return prod


def test_a_manual_backup_is_browsed_with_the_keyboard_and_shows_the_old_value(
    signed_in_page, global_admin, backed_up, axe_check, screenshot
):
    page = signed_in_page(global_admin)
    page.goto("/environments/contoso-prod/backups/manual/")
    browse = page.get_by_role("link", name="Browse Before the rename")
    tab_to(page, browse)
    page.keyboard.press("Enter")

    banner = page.get_by_role("note").filter(has_text="Viewing Contoso Production")
    expect(banner).to_contain_text("as it was at")
    expect(banner).to_contain_text("UTC+05:30")  # the viewer's zone
    expect(page.get_by_role("link", name="+ New table")).to_have_count(0)
    axe_check(page)

    tab_to(page, page.get_by_role("link", name="Accounts"))
    page.keyboard.press("Enter")
    names = page.locator("#rows-table tbody tr td:nth-child(2)")
    expect(names).to_have_text(["Adatum", "Blue Yonder"])
    expect(page.get_by_role("link", name="+ New row")).to_have_count(0)
    expect(page.get_by_role("link", name="Edit")).to_have_count(0)
    axe_check(page)
    screenshot(page, "data-as-of")

    tab_to(page, page.get_by_role("link", name="000002"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Row 000002 of Accounts")).to_be_visible()
    values = page.get_by_role("region", name="Values at")
    expect(values).to_contain_text("Blue Yonder")
    expect(values).not_to_contain_text("Airlines")
    history = page.get_by_role("region", name="History")
    changed = history.get_by_role("listitem").filter(has_text="Changed").first
    # Seen as "before → after", heard as "before became after".
    expect(changed).to_contain_text(
        re.compile(r"Account name: Blue Yonder →\s*became Blue Yonder Airlines")
    )
    expect(changed).to_contain_text(f"by {global_admin.username}")
    expect(history.get_by_role("listitem").filter(has_text="Shown above")).to_contain_text("Added")
    axe_check(page)
    screenshot(page, "data-row-history")

    tab_to(page, page.get_by_role("link", name="Now", exact=True))
    page.keyboard.press("Enter")
    expect(page.get_by_role("region", name="Values now")).to_contain_text("Blue Yonder Airlines")
    expect(page.get_by_role("note").filter(has_text="Viewing")).to_have_count(0)
    expect(page.get_by_role("link", name="Edit", exact=True)).to_be_visible()


def test_the_as_of_control_is_used_with_the_keyboard_at_400_pixels(
    signed_in_page, global_admin, backed_up, axe_check, screenshot
):
    page = signed_in_page(global_admin)
    page.set_viewport_size({"width": 400, "height": 800})
    page.goto("/environments/contoso-prod/data/accounts/")
    tab_to(page, page.get_by_text("As of", exact=True))
    page.keyboard.press("Enter")  # opens the control
    moment = timezone.localtime(
        timezone.now() - datetime.timedelta(hours=1, minutes=30),
        datetime.timezone(datetime.timedelta(hours=5, minutes=30)),
    )
    tab_to(page, page.locator("#as-of-date"))
    page.keyboard.type(moment.strftime("%m%d%Y"))
    # Tab, not the mouse, to each field (Chromium may stop on a date field's picker first)
    tab_to(page, page.locator("#as-of-time"), limit=5)
    page.keyboard.type(moment.strftime("%I%M%S%p"))
    tab_to(page, page.get_by_label("Time zone"), limit=5)
    expect(page.get_by_label("Time zone")).to_have_value(re.compile("Asia/(Calcutta|Kolkata)"))
    page.keyboard.press("Enter")
    banner = page.get_by_role("note").filter(has_text="Viewing Contoso Production")
    expect(banner).to_be_focused()  # the address of the moment ends in #as-of
    expect(page.locator("#rows-table tbody tr td:nth-child(2)")).to_have_text(
        ["Adatum", "Blue Yonder"]
    )
    assert page.evaluate("document.documentElement.scrollWidth") <= 400
    axe_check(page)
    screenshot(page, "data-as-of-400px")

    page.goto("/environments/contoso-prod/data/accounts/?at=2026-02-30T10:00:00Z")
    expect(page.get_by_role("alert")).to_contain_text("is not a moment")
    expect(page.locator("#rows-table")).to_have_count(0)
    axe_check(page)
    page.get_by_role("link", name="Now", exact=True).focus()
    page.keyboard.press("Enter")
    expect(page.locator("#rows-table tbody tr td:nth-child(2)")).to_have_text(
        ["Adatum", "Blue Yonder Airlines"]
    )
