"""The System tab's timeline and time zone field in Chromium: targets wide enough to point at,
one tab stop moved through with the arrow keys, and a zone found by typing part of it. The
screens are checked with axe and saved under tests/artifacts/."""

import datetime
import re
from urllib.parse import parse_qs

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from environments.models import Activity
from tests.browser.conftest import tab_to
from tests.factories import EnvironmentFactory


def with_activity(env):
    """A change or two in most hours of the last 28 days, more in the daytime."""
    first = timezone.now().replace(minute=0, second=0, microsecond=0) - datetime.timedelta(days=28)
    Activity.objects.bulk_create(
        Activity(
            environment=env,
            hour=first + datetime.timedelta(hours=h),
            changes=(h * 7) % 5 + (6 if 8 <= (first.hour + h) % 24 <= 17 else 0),
        )
        for h in range(28 * 24)
        if h % 11
    )
    return env


@pytest.fixture
def tenant(db):
    created = timezone.now() - datetime.timedelta(days=40)
    return {
        "prod": with_activity(
            EnvironmentFactory(
                name="Contoso Production",
                slug="contoso-prod",
                type="production",
                created_at=created,
            )
        ),
        "sandbox": with_activity(
            EnvironmentFactory(
                name="Contoso Sandbox", slug="contoso-sandbox", type="sandbox", created_at=created
            )
        ),
    }


def open_system_tab(page: Page, slug: str) -> None:
    page.goto(f"/environments/{slug}/backups/system/")
    expect(page.get_by_role("tab", name="System")).to_have_attribute("aria-selected", "true")


def targets(page: Page):
    return page.locator("a.timeline-target")


@pytest.mark.parametrize("slug", ["contoso-prod", "contoso-sandbox"])
def test_every_timeline_target_is_at_least_24_px_wide(
    signed_in_page, global_admin, tenant, slug, axe_check, screenshot
):
    page = signed_in_page(global_admin)
    open_system_tab(page, slug)
    # 28 days (a target a day) or 7 (one every 6 hours); a short part of a day or span where
    # the window opens or closes joins its neighbour.
    assert 26 <= targets(page).count() <= 29
    widths = [box["width"] for box in (t.bounding_box() for t in targets(page).all())]
    assert min(widths) >= 24, widths
    # The axis names the days.
    labels = page.locator("svg.timeline-chart text.day-label")
    assert labels.count() >= 7
    if slug == "contoso-sandbox":
        expect(labels.first).to_have_text(re.compile(r"^\w{3}, \w{3} \d{1,2}$"))
    axe_check(page)
    screenshot(page, f"timeline-{slug}")


def test_a_keyboard_user_picks_a_day_on_the_timeline(
    signed_in_page, global_admin, tenant, screenshot
):
    page = signed_in_page(global_admin)
    open_system_tab(page, "contoso-prod")
    # One tab stop: the most recent day.
    assert page.locator("a.timeline-target[tabindex='0']").count() == 1
    last = targets(page).last
    tab_to(page, last)
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    chosen = targets(page).nth(targets(page).count() - 3)
    expect(chosen).to_be_focused()
    expect(chosen).to_have_attribute("tabindex", "0")
    expect(last).to_have_attribute("tabindex", "-1")
    # It says which hours it covers (in the browser's zone) and how many changes they had.
    expect(chosen).to_have_accessible_name(
        re.compile(r"^\w{3} \d{1,2}, 00:30 – \w{3} \d{1,2}, 00:30: \d+ changes?$")
    )
    screenshot(page, "timeline-keyboard-focus")

    page.keyboard.press("Enter")
    query = parse_qs(chosen.get_attribute("href").split("?", 1)[1])
    expect(page.get_by_label("Date", exact=True)).to_have_value(query["date"][0])
    expect(page.get_by_label("Time", exact=True)).to_have_value(query["time"][0])
    expect(page.get_by_label("Time zone")).to_have_value(re.compile(r"^Asia/(Kolkata|Calcutta)$"))
    continue_button = page.get_by_role("button", name="Continue")
    expect(continue_button).to_be_focused()
    expect(page).to_have_url(re.compile(r"/backups/system/$"))  # filled, not followed

    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Select a backup to restore")).to_be_visible()
    assert query["time"] == ["23:59:59"]  # the day's last second on the viewer's clock
    # The timeline htmx brought back is one tab stop again.
    expect(page.locator("a.timeline-target[tabindex='0']")).to_have_count(1)
    expect(page.locator("a.timeline-target[tabindex='-1']")).to_have_count(
        targets(page).count() - 1
    )


def test_home_and_end_move_to_the_first_and_last_day(signed_in_page, global_admin, tenant):
    page = signed_in_page(global_admin)
    open_system_tab(page, "contoso-sandbox")
    tab_to(page, targets(page).last)
    page.keyboard.press("Home")
    expect(targets(page).first).to_be_focused()
    page.keyboard.press("ArrowLeft")  # stays at the first
    expect(targets(page).first).to_be_focused()
    page.keyboard.press("End")
    expect(targets(page).last).to_be_focused()


def test_a_click_on_a_target_fills_the_date_and_time(signed_in_page, global_admin, tenant):
    page = signed_in_page(global_admin)
    open_system_tab(page, "contoso-sandbox")
    target = targets(page).nth(5)
    target.click()
    query = parse_qs(target.get_attribute("href").split("?", 1)[1])
    expect(page.get_by_label("Date", exact=True)).to_have_value(query["date"][0])
    expect(page.get_by_label("Time", exact=True)).to_have_value(query["time"][0])
    expect(target).to_have_attribute("aria-current", "true")


def test_a_zone_is_found_by_typing_part_of_its_name(
    signed_in_page, global_admin, tenant, axe_check, screenshot
):
    page = signed_in_page(global_admin)
    open_system_tab(page, "contoso-prod")
    zone = page.get_by_label("Time zone")
    # A text field with the zones to pick from, the browser's own first.
    expect(zone).to_have_value(re.compile(r"^Asia/(Kolkata|Calcutta)$"))
    assert zone.evaluate("el => el.list.options[0].value") == zone.input_value()
    assert zone.evaluate("el => el.list.options.length") > 590

    yesterday = timezone.now() - datetime.timedelta(days=1)
    page.get_by_label("Date", exact=True).fill(f"{yesterday:%Y-%m-%d}")
    page.get_by_label("Time", exact=True).fill("09:30:00")
    zone.fill("")
    zone.press_sequentially("new york")
    screenshot(page, "zone-field-typed")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Select a backup to restore")).to_be_visible()
    expect(page.get_by_label("Time zone")).to_have_value("America/New_York")
    expect(page.get_by_role("radio").first).to_be_checked()

    page.get_by_label("Time zone").fill("Atlantis")
    page.get_by_role("button", name="Continue").click()
    error = page.locator("#id_tz_error")
    expect(error).to_have_text(re.compile("“Atlantis” is not a time zone we know"))
    expect(page.get_by_label("Time zone")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_role("heading", name="Select a backup to restore")).to_have_count(0)
    axe_check(page)
    screenshot(page, "zone-field-error")
