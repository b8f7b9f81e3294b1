"""The pages that exist today, used as a person would: sign in, the environments list, an
environment's page, the data browser, the keyboard alone, a refusal, and a restore run by a real
worker process. Each main screen is checked with axe and saved under tests/artifacts/."""

import re

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from backups import restores
from backups.models import RestoreOperation
from environments import store
from tests.browser.conftest import tab_to
from tests.factories import EnvironmentFactory, make_table


@pytest.fixture
def tenant(db):
    """Four environments of different types, the sandbox with a few accounts."""
    envs = {
        "prod": EnvironmentFactory(
            name="Contoso Production", slug="contoso-prod", type="production", region="europe"
        ),
        "sandbox": EnvironmentFactory(
            name="Contoso Sandbox", slug="contoso-sandbox", type="sandbox", security_group="Testers"
        ),
        "dev": EnvironmentFactory(name="Fabrikam Dev", slug="fabrikam-dev", type="developer"),
        "trial": EnvironmentFactory(
            name="Northwind Trial", slug="northwind-trial", type="trial", region="asia"
        ),
    }
    accounts = make_table(envs["sandbox"])
    with store.changes(envs["sandbox"]) as cs:
        for name in ("Adatum", "Blue Yonder", "Coho Winery"):
            cs.create_row(accounts, {"name": name, "employees": 10, "tier": "Gold"})
    return envs


def table_rows(page: Page):
    return page.locator("#environment-table tbody tr")


def environment_names(page: Page):
    return page.locator("#environment-table tbody tr td:first-child")


def test_a_global_admin_signs_in_through_the_sign_in_form(
    anonymous_page, global_admin, axe_check, screenshot
):
    page = anonymous_page
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    axe_check(page)
    screenshot(page, "sign-in")

    page.get_by_label("Username").fill(global_admin.username)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("enter a correct username and password")
    axe_check(page)
    screenshot(page, "sign-in-refused")

    page.get_by_label("Password").fill("secret-pass-1")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/environments/$"))
    expect(page.get_by_role("heading", name="Environments", level=1)).to_be_visible()
    expect(page.get_by_text("Global admin")).to_be_visible()


def test_the_environments_list_searches_filters_and_sorts(
    signed_in_page, global_admin, tenant, axe_check, screenshot
):
    page = signed_in_page(global_admin)
    page.goto("/environments/")
    expect(environment_names(page)).to_have_text(
        ["Contoso Production", "Contoso Sandbox", "Fabrikam Dev", "Northwind Trial"]
    )
    axe_check(page)
    screenshot(page, "environments-list")

    page.get_by_label("Search environments").fill("contoso")
    expect(environment_names(page)).to_have_text(["Contoso Production", "Contoso Sandbox"])
    expect(page).to_have_url(re.compile(r"q=contoso"))

    page.get_by_label("Type").select_option(label="Sandbox")
    expect(environment_names(page)).to_have_text(["Contoso Sandbox"])
    expect(page.get_by_role("status").filter(has_text="environment")).to_have_text("1 environment")

    page.get_by_label("Search environments").fill("")
    page.get_by_label("Type").select_option(label="All types")
    expect(table_rows(page)).to_have_count(4)
    page.get_by_role("link", name="Region", exact=True).click()
    expect(page.get_by_role("columnheader", name="Region")).to_have_attribute(
        "aria-sort", "ascending"
    )
    # By region code (asia, europe, unitedstates), then by name.
    expect(environment_names(page)).to_have_text(
        ["Northwind Trial", "Contoso Production", "Contoso Sandbox", "Fabrikam Dev"]
    )
    page.get_by_role("link", name="Region", exact=True).click()
    expect(page.get_by_role("columnheader", name="Region")).to_have_attribute(
        "aria-sort", "descending"
    )
    expect(environment_names(page).first).to_have_text("Contoso Sandbox")
    expect(page).to_have_url(re.compile(r"sort=-region"))
    axe_check(page)
    screenshot(page, "environments-list-sorted")


def details(page: Page, label: str):
    return page.locator("#details-card").locator(f"dt:text-is('{label}') + dd")


def test_an_environment_page_shows_its_details_card(
    signed_in_page, global_admin, tenant, axe_check, screenshot
):
    page = signed_in_page(global_admin)
    page.goto("/environments/")
    page.get_by_role("link", name="Contoso Sandbox").click()
    expect(page.get_by_role("heading", name="Contoso Sandbox", level=1)).to_be_visible()
    for label, value in (
        ("Type", "Sandbox"),
        ("State", "Ready"),
        ("Region", "United States"),
        ("URL", "contoso-sandbox"),
        ("Security group", "Testers"),
        ("Restorable window", "7 days"),
        ("Storage used", "3 rows"),
        ("Administration mode", "Off"),
    ):
        expect(details(page, label)).to_contain_text(value)
    expect(details(page, "Created")).to_contain_text(re.compile(r"UTC[+-]\d\d:\d\d"))
    axe_check(page)
    screenshot(page, "environment-details")


def test_times_show_in_the_time_zone_the_browser_reports(signed_in_page, global_admin, tenant):
    page = signed_in_page(global_admin)  # the sign-in page's script has set the zone cookie
    page.goto("/environments/contoso-sandbox/")
    # The browser's zone (VIEWER_TIME_ZONE) arrives URL-encoded, "Asia%2FCalcutta".
    expect(details(page, "Created")).to_contain_text("UTC+05:30")


def test_a_row_changed_in_the_data_browser_of_a_sandbox_shows_in_the_list(
    signed_in_page, global_admin, tenant, axe_check, screenshot
):
    page = signed_in_page(global_admin)
    page.goto("/environments/contoso-sandbox/")
    page.get_by_role("link", name="Open data").click()
    page.get_by_role("link", name="Accounts").first.click()
    expect(page.get_by_role("heading", name="Accounts", level=1)).to_be_visible()
    row = page.get_by_role("row").filter(has_text="Blue Yonder")
    expect(row).to_have_count(1)
    axe_check(page)

    row.get_by_role("link", name="Edit").click()
    name = page.get_by_label("Account name")
    expect(name).to_have_value("Blue Yonder")
    axe_check(page)
    screenshot(page, "data-row-edit")

    name.fill("Blue Yonder Airlines")
    page.get_by_label("Employees").fill("250")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").filter(has_text="saved")).to_contain_text("of Accounts saved")
    expect(page.locator("#rows-table tbody tr td:nth-child(2)")).to_have_text(
        ["Adatum", "Blue Yonder Airlines", "Coho Winery"]
    )
    expect(page.get_by_role("row").filter(has_text="Blue Yonder Airlines")).to_contain_text("250")
    axe_check(page)
    screenshot(page, "data-rows")
    current = store.current(tenant["sandbox"]).as_dict()["accounts"]
    assert sorted(v["name"] for v in current.values()) == [
        "Adatum",
        "Blue Yonder Airlines",
        "Coho Winery",
    ]


def test_the_keyboard_alone_reaches_and_uses_the_search_and_a_sort_header(
    signed_in_page, global_admin, tenant
):
    page = signed_in_page(global_admin)
    page.goto("/environments/")
    expect(table_rows(page)).to_have_count(4)

    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to main content")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()

    search = page.get_by_label("Search environments")
    tab_to(page, search)
    page.keyboard.type("fabrikam")
    page.keyboard.press("Enter")
    expect(environment_names(page)).to_have_text(["Fabrikam Dev"])

    page.keyboard.press("Control+A")
    page.keyboard.press("Backspace")
    page.keyboard.press("Enter")
    expect(table_rows(page)).to_have_count(4)
    sort_by_name = page.get_by_role("link", name="Name", exact=True)
    tab_to(page, sort_by_name)
    page.keyboard.press("Enter")
    expect(page.get_by_role("columnheader", name="Name")).to_have_attribute(
        "aria-sort", "descending"
    )
    expect(environment_names(page)).to_have_text(
        ["Northwind Trial", "Fabrikam Dev", "Contoso Sandbox", "Contoso Production"]
    )


def test_a_maker_is_refused_the_environments_list(
    signed_in_page, maker, sandbox, axe_check, screenshot
):
    page = signed_in_page(maker)
    expect(page.get_by_role("link", name="Sales Sandbox")).to_be_visible()  # their home
    expect(page.get_by_role("link", name="Environments", exact=True)).to_have_count(0)

    response = page.goto("/environments/")
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", name="You can't open this page")).to_be_visible()
    expect(page.get_by_text("for environment and tenant administrators")).to_be_visible()
    axe_check(page)
    screenshot(page, "refused-environments-list")


def test_a_restore_run_by_the_worker_shows_the_sources_rows_in_the_target(
    signed_in_page, global_admin, worker, screenshot
):
    source = EnvironmentFactory(name="Woodgrove Production", slug="woodgrove", type="production")
    target = EnvironmentFactory(name="Woodgrove Test", slug="woodgrove-test", type="sandbox")
    for env, names in ((source, ["Litware", "Proseware"]), (target, ["Scratch row"])):
        table = make_table(env)
        with store.changes(env) as cs:
            for name in names:
                cs.create_row(table, {"name": name})

    op = restores.restore_start(
        restores.RestoreRequest(
            source=source, target=target, moment=timezone.now(), requested_by=global_admin
        )
    )
    worker.wait_until(
        lambda: RestoreOperation.objects.filter(
            pk=op.pk, status__in=["succeeded", "failed"]
        ).first(),
        what="the restore to finish",
    )
    op.refresh_from_db()
    assert op.status == "succeeded", op.error

    page = signed_in_page(global_admin)
    page.goto("/environments/woodgrove-test/data/accounts/")
    expect(page.get_by_role("note")).to_contain_text("in administration mode")
    cells = page.locator("#rows-table tbody tr td:nth-child(2)")
    expect(cells).to_have_text(["Litware", "Proseware"])
    screenshot(page, "restored-rows")
