"""The layout of the admin center at 1440, 1280, 1024 and 400 px in Chromium: no main page
overflows the window sideways (a table scrolls inside its card), the left navigation folds into
a Menu under 1024 px and highlights the section of every page, the restore panel opens beside
the page with JavaScript and as a page without, and the focus goes where the next step is.
Each page at each width is saved under tests/artifacts/layout-<page>-<width>.png."""

import datetime
import re
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from backups import restores
from environments import store
from tests.browser.conftest import VIEWER_TIME_ZONE, wait_for_restore
from tests.factories import EnvironmentFactory

WIDTHS = (1440, 1280, 1024, 400)
DAY = datetime.timedelta(days=1)

# Everything past the right edge of the window, outside a region that scrolls on its own (a
# table's wrapper, the timeline); what is not drawn (display: none, a closed dialog) has no box.
OVERFLOW = """() => {
  const width = window.innerWidth;
  const found = [];
  const page = document.documentElement.scrollWidth;
  if (page > width) found.push(`the page is ${page} px wide`);
  for (const el of document.querySelectorAll("body *")) {
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.right <= width + 0.5) continue;
    const inside = el.parentElement.closest(".table-wrap, .timeline-scroll");
    if (inside && !(window.overflowInside && !(el instanceof SVGElement))) continue;
    const cls = typeof el.className === "string" && el.className ? "." + el.className : "";
    const where = inside ? " (inside a scrolling region)" : "";
    found.push(`${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}${cls}${where}`
      + ` ends at ${Math.round(box.right)} px`);
  }
  return found;
}"""


def assert_no_overflow(page: Page, what: str) -> None:
    found = page.evaluate(OVERFLOW)
    if found:  # again, naming what sticks out inside the scrolling regions too, to find the cause
        page.evaluate("() => { window.overflowInside = true; }")
        found = page.evaluate(OVERFLOW)
    assert not found, f"{what} at {page.viewport_size['width']} px overflows: {found[:30]}"


@pytest.fixture
def long_labels(tenant):
    """A long unbroken name and a wide table, the content that pushed pages past the window."""
    store.row_create(
        environment=tenant["sandbox"],
        table_name="accounts",
        values={"name": "Wide" * 12, "employees": 123456789},
    )
    return tenant


def open_restore_panel(page: Page) -> None:
    page.goto("/environments/contoso-sandbox/backups/system/")
    page.get_by_role("button", name="1 hour ago").click()
    expect(page.get_by_role("heading", name="Select a backup to restore")).to_be_focused()
    page.get_by_role("button", name="Confirm").click()
    expect(page.locator("#panel")).to_be_visible()


def test_no_main_page_overflows_the_window_at_any_width(
    signed_in_page, global_admin, long_labels, worker, axe_check, screenshot
):
    page = signed_in_page(global_admin)
    sandbox = long_labels["sandbox"]
    op = restores.restore_start(  # the sandbox over itself, as it is: its rows stay
        restores.RestoreRequest(
            source=sandbox,
            target=sandbox,
            requested_by=global_admin,
            moment=timezone.now(),
            idempotency_key="layout",
        )
    )
    wait_for_restore(worker)
    pages = {
        "environments": "/environments/",
        "environment": "/environments/contoso-sandbox/",
        "backups-system": "/environments/contoso-sandbox/backups/system/?preset=1h",
        "backups-manual": "/environments/contoso-prod/backups/manual/",
        "changes": "/environments/contoso-sandbox/changes/",
        "data": "/environments/contoso-sandbox/data/accounts/",
        "operation": f"/restores/{op.pk}/",
        "exports": "/environments/contoso-sandbox/exports/",
        "restore-from-file": "/restore-from-file/",
    }
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        for name, url in pages.items():
            page.goto(url)
            expect(page.locator("h1")).to_be_visible()
            assert_no_overflow(page, name)
            if width == 400:  # the narrowest layout is the one most rearranged
                axe_check(page)
            screenshot(page, f"layout-{name}-{width}")
        open_restore_panel(page)
        expect(page.locator("h1")).to_be_visible()  # the page behind stays in view
        page.get_by_label("Restore to").select_option("contoso-sandbox")
        expect(page.locator("#panel").get_by_role("heading", level=3)).to_be_visible()
        assert_no_overflow(page, "the restore panel")
        screenshot(page, f"layout-restore-panel-{width}")


def test_a_wide_table_scrolls_inside_its_card_and_takes_the_focus_to_scroll(
    signed_in_page, global_admin, long_labels, axe_check
):
    page = signed_in_page(global_admin)
    page.set_viewport_size({"width": 400, "height": 800})
    page.goto("/environments/contoso-sandbox/data/accounts/")
    wrapper = page.get_by_role("region", name="Rows of Accounts")
    assert wrapper.evaluate("el => el.scrollWidth > el.clientWidth")
    wrapper.focus()
    page.keyboard.press("ArrowRight")
    expect(wrapper).to_be_focused()
    # The keyboard scrolls it (smoothly: wait for it to move).
    page.wait_for_function("el => el.scrollLeft > 0", arg=wrapper.element_handle())
    axe_check(page)


@pytest.mark.parametrize("width", [1440, 1024])
def test_the_navigation_is_a_column_from_1024_px(signed_in_page, global_admin, tenant, width):
    page = signed_in_page(global_admin)
    page.set_viewport_size({"width": width, "height": 800})
    page.goto("/environments/contoso-sandbox/changes/")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Environments")).to_be_visible()
    expect(nav.get_by_role("link", name="Environments")).to_have_attribute("aria-current", "true")
    expect(page.locator("summary.navmenu-button")).to_be_hidden()


@pytest.mark.parametrize("javascript", [True, False])
def test_under_1024_px_the_navigation_folds_into_a_menu(
    new_context, page_problems, global_admin, tenant, javascript, axe_check, screenshot
):
    context = new_context(java_script_enabled=javascript)
    page_problems.watch(context)
    page = context.new_page()
    page.set_viewport_size({"width": 1023, "height": 800})
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(global_admin.username)
    page.get_by_label("Password").fill("secret-pass-1")
    page.get_by_role("button", name="Sign in").click()
    page.goto("/environments/contoso-sandbox/backups/manual/")
    menu = page.locator("summary.navmenu-button")
    environments = page.locator("#leftnav").get_by_role("link", name="Environments")
    expect(menu).to_be_visible()
    expect(environments).to_be_hidden()
    if javascript:
        expect(menu).to_have_attribute("aria-expanded", "false")
    menu.focus()
    page.keyboard.press("Enter")
    expect(environments).to_be_visible()
    expect(environments).to_have_attribute("aria-current", "true")
    if javascript:
        expect(menu).to_have_attribute("aria-expanded", "true")
        axe_check(page)
        screenshot(page, "layout-menu-open-1023")
        page.keyboard.press("Tab")
        expect(page.locator("#leftnav").get_by_role("link", name="Home")).to_be_focused()
        page.keyboard.press("Escape")
        expect(environments).to_be_hidden()
        expect(menu).to_be_focused()
        expect(menu).to_have_attribute("aria-expanded", "false")
    else:
        environments.click()
        expect(page).to_have_url(re.compile(r"/environments/$"))


def test_the_restore_panel_opens_beside_the_page_and_escape_gives_the_focus_back(
    signed_in_page, global_admin, tenant, axe_check, screenshot
):
    page = signed_in_page(global_admin)
    # Tall enough for the heading and the candidates (each with Browse and Export) at once.
    page.set_viewport_size({"width": 1280, "height": 1000})
    open_restore_panel(page)
    panel = page.get_by_role(
        "complementary", name=re.compile("^Restore Contoso Sandbox as it was at")
    )
    expect(panel).to_be_visible()
    expect(panel.get_by_role("heading", level=2)).to_be_focused()
    # The page stays where it was behind the panel (no navigation), its heading in view.
    expect(page).to_have_url(re.compile(r"/backups/system/"))
    expect(
        page.get_by_role("heading", name="Restore or manage backups of Contoso Sandbox")
    ).to_be_in_viewport()
    box = panel.bounding_box()
    assert box["x"] > 0 and box["x"] + box["width"] == pytest.approx(1280, abs=1)
    axe_check(page)
    screenshot(page, "layout-restore-panel-open")

    # The confirmation over the panel: Escape closes it, the focus is back on Restore.
    panel.get_by_label("Restore to").select_option("contoso-sandbox")
    expect(
        panel.get_by_role("heading", name="What will be overwritten in Contoso Sandbox")
    ).to_be_visible()
    restore = panel.get_by_role("button", name="Restore", exact=True)
    restore.click()
    confirm = page.get_by_role("dialog", name="Overwrite Contoso Sandbox?")
    expect(confirm).to_be_visible()
    expect(page.locator("dialog:modal")).to_have_count(1)  # shown as a modal: focus inside
    page.keyboard.press("Escape")
    expect(confirm).to_have_count(0)
    expect(restore).to_be_focused()
    # A wrong name brings the dialog back with its message: Escape still returns to Restore.
    restore.click()
    page.get_by_label(re.compile("to confirm")).fill("Contoso")
    confirm.get_by_role("button", name="Overwrite Contoso Sandbox").click()
    expect(confirm.locator(".error")).to_be_visible()
    expect(page.locator("dialog:modal")).to_have_count(1)
    page.keyboard.press("Escape")
    expect(confirm).to_have_count(0)
    expect(restore).to_be_focused()

    # Escape closes the panel: the focus is back on Confirm, the page as it was.
    page.keyboard.press("Escape")
    expect(page.locator("#panel")).to_be_hidden()
    expect(page.get_by_role("button", name="Confirm")).to_be_focused()
    expect(page.locator("#panel-slot")).to_be_empty()

    # Cancel in the panel closes it too.
    page.get_by_role("button", name="Confirm").click()
    page.locator("#panel").get_by_role("link", name="Cancel").click()
    expect(page.locator("#panel")).to_be_hidden()
    expect(page.get_by_role("button", name="Confirm")).to_be_focused()


def test_without_javascript_the_restore_panel_is_a_page_of_its_own(
    new_context, page_problems, global_admin, tenant
):
    context = new_context(java_script_enabled=False)
    page_problems.watch(context)
    page = context.new_page()
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(global_admin.username)
    page.get_by_label("Password").fill("secret-pass-1")
    page.get_by_role("button", name="Sign in").click()
    page.goto("/environments/contoso-sandbox/backups/system/?preset=1h")
    page.get_by_role("button", name="Confirm").click()
    expect(page).to_have_url(re.compile(r"/backups/restore/\?pick="))
    expect(page.get_by_role("heading", name="Restore Contoso Sandbox", level=1)).to_be_visible()
    expect(page.locator("#panel")).to_be_hidden()
    expect(page.get_by_label("Restore to")).to_be_visible()


def test_a_manual_backups_delete_dialog_gives_the_focus_back_on_escape(
    signed_in_page, global_admin, tenant
):
    page = signed_in_page(global_admin)
    page.goto("/environments/contoso-prod/backups/create/")
    page.get_by_label("Label").fill("Before go-live")
    page.get_by_role("button", name="Create").click()
    delete = page.get_by_role("link", name="Delete Before go-live")
    delete.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(page.locator("dialog:modal")).to_have_count(1)  # opened as a modal: the focus inside
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    expect(delete).to_be_focused()


def test_the_timeline_has_a_span_for_today_and_a_day_picks_its_last_second(
    signed_in_page, global_admin
):
    # 20 days of a production environment's window: a target a day.
    EnvironmentFactory(
        name="Fabrikam", slug="fabrikam", type="production", created_at=timezone.now() - DAY * 20
    )
    page = signed_in_page(global_admin)
    page.goto("/environments/fabrikam/backups/system/")
    targets = page.locator("a.timeline-target")
    today, yesterday = targets.last, targets.nth(targets.count() - 2)
    now = timezone.localtime(timezone.now(), ZoneInfo(VIEWER_TIME_ZONE))
    # The chart's hours are the store's (UTC hours: :30 to :30 in Kolkata); the span that holds
    # now is the day the current hour began in (before 00:30 there, still yesterday's).
    began = timezone.localtime(
        timezone.now().replace(minute=0, second=0, microsecond=0), ZoneInfo(VIEWER_TIME_ZONE)
    )
    expect(today).to_have_accessible_name(re.compile(rf"^{began:%b %-d}, 00:30–now: "))
    assert today.bounding_box()["width"] >= 24
    yesterday.click()
    day = (began - DAY).date()
    expect(page.get_by_label("Date", exact=True)).to_have_value(day.isoformat())
    expect(page.get_by_label("Time", exact=True)).to_have_value("23:59:59")
    today.click()
    expect(page.get_by_label("Date", exact=True)).to_have_value(now.date().isoformat())
