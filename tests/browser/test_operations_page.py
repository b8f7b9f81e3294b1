"""The Operations page in Chromium, by keyboard alone: the left navigation, the filters, Next
and Previous with the focus kept on them, and a running operation's status changing in place."""

import re

import pytest
from playwright.sync_api import expect

from backups import operation_log
from backups.models import RestoreOperation
from tests.backups.test_operations_page import make_op
from tests.browser.conftest import tab_to
from tests.factories import EnvironmentFactory, ago


@pytest.fixture
def history(db, global_admin):
    """Two sandboxes (their creations) and five operations, one of them still running."""
    first = EnvironmentFactory(name="Contoso Sandbox", slug="contoso-sandbox", type="sandbox")
    second = EnvironmentFactory(name="Fabrikam Sandbox", slug="fabrikam-sandbox", type="sandbox")
    ops = [make_op(first, by=global_admin, at=ago(hours=h)) for h in (5, 4, 3, 2)]
    ops.append(make_op(second, source=first, kind="copy", by=global_admin, status="running"))
    return ops


def wait_for_focus_on(page, pager: str) -> None:
    """Wait until the pager link `pager` (next, previous) of the new page has the focus."""
    page.wait_for_function(
        "which => document.activeElement && document.activeElement.dataset.pager === which",
        arg=pager,
        polling=100,
    )


def rows(page):
    return page.locator("#operations-list tbody tr")


def test_an_admin_filters_and_pages_the_operations_by_keyboard_and_sees_one_finish(
    signed_in_page, global_admin, history, monkeypatch, axe_check, screenshot
):
    monkeypatch.setattr(operation_log, "PAGE_SIZE", 3)
    page = signed_in_page(global_admin)
    nav = page.get_by_role("navigation", name="Main").get_by_role("link", name="Operations")
    tab_to(page, nav)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Operations", level=1)).to_be_visible()
    expect(nav).to_have_attribute("aria-current", "page")
    expect(rows(page)).to_have_count(3)
    expect(rows(page).first).to_contain_text(f"Copy #{history[-1].pk}")
    expect(rows(page).first).to_contain_text("Running")
    axe_check(page)
    screenshot(page, "operations")

    # Next, Next, then Previous: the focus stays on the link pressed (or its neighbour).
    next_link = page.get_by_role("link", name="Next")
    tab_to(page, next_link)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/operations/\?after="))
    expect(rows(page)).to_have_count(3)
    expect(rows(page).first).to_contain_text(f"Restore #{history[1].pk}")
    wait_for_focus_on(page, "next")
    page.keyboard.press("Enter")
    expect(rows(page)).to_have_count(1)
    expect(rows(page).first).to_contain_text("Create")
    wait_for_focus_on(page, "previous")  # no Next on the last page
    page.keyboard.press("Enter")
    expect(rows(page).first).to_contain_text(f"Restore #{history[1].pk}")

    # Filters: Kind by the arrow keys, Environment by typing, then Apply.
    kind = page.get_by_label("Kind")
    tab_to(page, kind)
    page.keyboard.press("ArrowDown")  # All kinds -> Restore
    environment = page.get_by_label("Environment")
    tab_to(page, environment)
    page.keyboard.type("Contoso")
    tab_to(page, page.get_by_role("button", name="Apply"))
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"environment=contoso-sandbox&kind=restore"))
    expect(rows(page)).to_have_count(3)
    for i in range(3):
        expect(rows(page).nth(i)).to_contain_text("Contoso Sandbox")
    expect(page.get_by_role("link", name="Next")).to_be_visible()
    axe_check(page)

    # The list is a bookmark: opened afresh, it is the same filtered list.
    page.goto("/operations/?kind=copy")
    expect(rows(page)).to_have_count(1)
    expect(page.get_by_label("Kind")).to_have_value("copy")

    # The running copy ends: the list says so in place, without a reload.
    RestoreOperation.objects.filter(pk=history[-1].pk).update(status="succeeded")
    expect(rows(page).first).to_contain_text("Succeeded")
    expect(page.locator("#operations-list[hx-trigger]")).to_have_count(0)


def test_the_operations_page_fits_a_400_pixel_screen(
    signed_in_page, global_admin, history, screenshot
):
    page = signed_in_page(global_admin)
    page.set_viewport_size({"width": 400, "height": 900})
    page.goto("/operations/")
    expect(rows(page)).to_have_count(7)
    # The table scrolls inside its card; the page itself never scrolls sideways.
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 400
    expect(page.get_by_label("Kind")).to_be_in_viewport()
    screenshot(page, "operations-400")
