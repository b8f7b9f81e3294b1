"""The data browser's row list in a browser: pages by key with the keyboard alone (the focus
stays on the link used), "Go to key", and a search that says what it searches."""

import re

import pytest
from playwright.sync_api import expect

from environments import store
from tests.browser.conftest import tab_to
from tests.factories import EnvironmentFactory, make_table


@pytest.fixture
def sandbox(db, settings):
    settings.DATA_PAGE_SIZE = 5  # the live server runs in this process, with these settings
    env = EnvironmentFactory(name="Contoso Sandbox", slug="contoso-sandbox", type="sandbox")
    accounts = make_table(env)
    with store.changes(env) as cs:
        for n in range(12):
            cs.create_row(accounts, {"name": f"Company {n:02d}", "employees": n})
    return env


def keys(start: int, stop: int) -> list[str]:
    return [f"{n:06d}" for n in range(start, stop)]


def test_rows_page_by_key_with_the_keyboard_and_the_search_says_what_it_searches(
    signed_in_page, global_admin, sandbox, axe_check, screenshot
):
    page = signed_in_page(global_admin)
    page.goto("/environments/contoso-sandbox/data/accounts/")
    shown = page.locator("#rows-table tbody tr td:first-child")
    expect(shown).to_have_text(keys(1, 6))
    expect(page.get_by_role("status").filter(has_text="12 rows")).to_contain_text(
        "Rows 000001–000005"
    )
    expect(page.get_by_role("searchbox", name="Search rows")).to_have_accessible_description(
        "Searches the key (exact) and Account name (starts with)."
    )
    axe_check(page)

    tab_to(page, page.get_by_role("link", name="Next"))
    page.keyboard.press("Enter")
    expect(shown).to_have_text(keys(6, 11))
    expect(page).to_have_url(re.compile(r"\?after=000005$"))
    expect(page.get_by_role("link", name="Next")).to_be_focused()
    page.keyboard.press("Enter")
    expect(shown).to_have_text(keys(11, 13))
    expect(page.get_by_role("link", name="Previous")).to_be_focused()  # no Next on the last
    page.keyboard.press("Enter")
    expect(shown).to_have_text(keys(6, 11))
    expect(page).to_have_url(re.compile(r"\?before=000011$"))
    # the swap settles with the focus back on Previous; only then type elsewhere
    expect(page.get_by_role("link", name="Previous")).to_be_focused()

    page.get_by_label("Go to key").fill("000008")
    page.keyboard.press("Enter")
    expect(shown).to_have_text(keys(8, 13))
    expect(page).to_have_url(re.compile(r"\?from=000008$"))

    page.get_by_label("Search rows").fill("company 1")
    expect(page.locator("#rows-table tbody tr td:nth-child(2)")).to_have_text(
        ["Company 10", "Company 11"]
    )
    axe_check(page)
    screenshot(page, "data-rows-search")

    page.goto("/environments/contoso-sandbox/data/accounts/?after=%00")
    expect(page.get_by_role("alert")).to_contain_text("The page link was ignored")
    expect(shown).to_have_text(keys(1, 6))
