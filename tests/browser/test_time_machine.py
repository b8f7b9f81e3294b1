"""The time machine as an admin meets it in Chromium: a bad bulk edit found on Changes and put
back with Restore all matching, then undone; a deleted record put back from Deleted records;
the same with the keyboard alone, and without JavaScript."""

import datetime
import re
import zoneinfo
from urllib.parse import quote

from django.utils import timezone
from playwright.sync_api import Page, expect

from environments import store
from environments.models import Membership
from tests.browser.conftest import PASSWORD, VIEWER_TIME_ZONE, tab_to
from tests.factories import UserFactory, make_member

VIEWER = zoneinfo.ZoneInfo(VIEWER_TIME_ZONE)


def since_two_hours_ago() -> str:
    """The range's start, after the accounts were made (three hours ago)."""
    return "start=" + quote((timezone.now() - datetime.timedelta(hours=2)).isoformat())


def names(env) -> set[str]:
    return {row["name"] for row in store.current(env).as_dict()["accounts"].values()}


def bulk_edit_by(env, user) -> None:
    """Someone renames every account of the environment in one write."""
    with store.changes(env, by=store.Author.person(user)) as cs:
        accounts = cs.table("accounts")
        for row in store.table_rows(accounts, None):
            cs.update_row(accounts, row.key, {**row.values, "name": "BROKEN"})


def wait_for_put_back(worker, count: int = 1):
    from backups.models import RestoreOperation

    def finished():
        ops = list(RestoreOperation.objects.filter(kind__in=["rows", "table"]).order_by("id"))
        return len(ops) >= count and not ops[count - 1].is_active and ops[count - 1]

    op = worker.wait_until(finished, what="the put-back to finish")
    assert op.status == "succeeded", op.error
    return op


def test_a_bad_bulk_edit_is_found_on_changes_put_back_with_restore_all_matching_then_undone(
    signed_in_page, global_admin, tenant, worker, axe_check, screenshot
):
    sandbox = tenant["sandbox"]
    bob = UserFactory(username="bob")
    make_member(sandbox, bob, Membership.Role.MAKER)
    bulk_edit_by(sandbox, bob)
    page = signed_in_page(global_admin)

    page.goto("/environments/contoso-sandbox/")
    page.get_by_role("link", name="Changes", exact=True).click()
    expect(page.get_by_role("heading", name="Changes to Contoso Sandbox")).to_be_visible()
    # The last 24 hours take in the table's making, 3 hours ago: start the range after it.
    start = timezone.localtime(timezone.now() - datetime.timedelta(hours=2), VIEWER)
    page.get_by_label("From date").fill(start.strftime("%Y-%m-%d"))
    page.get_by_label("From time").fill(start.strftime("%H:%M:%S"))
    page.get_by_label("Table").select_option("accounts")
    page.get_by_label("Made by").select_option("bob")
    page.get_by_role("button", name="Show changes").click()
    changes = page.locator("table.changes tbody tr")
    expect(changes).to_have_count(2)
    expect(changes.first).to_contain_text("BROKEN")
    expect(changes.first).to_contain_text("bob")
    axe_check(page)
    screenshot(page, "time-machine-changes")

    page.get_by_role("button", name="Restore all matching").click()
    expect(page.get_by_role("heading", name=re.compile("Restore rows of Accounts"))).to_be_visible()
    expect(page.get_by_text("2 rows of Accounts go back")).to_be_visible()
    axe_check(page)
    page.get_by_role("button", name="Restore rows").click()
    # The worker may finish before the browser has followed the redirect: reload only
    # once the operation's page is the one shown, or the reload races the navigation.
    expect(page).to_have_url(re.compile(r"/restores/\d+/$"))
    op = wait_for_put_back(worker)
    page.reload()
    expect(page.get_by_text("2 rows were put back")).to_be_visible()
    assert names(sandbox) == {"Coho Winery", "Fourth Coffee"}

    page.get_by_role("link", name="Undo").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(f"Undo {op.label} of Contoso Sandbox?")
    dialog.get_by_role("button", name=f"Undo {op.label}").click()
    wait_for_put_back(worker, count=2)
    assert names(sandbox) == {"BROKEN"}


def test_a_deleted_record_comes_back_from_deleted_records(
    signed_in_page, global_admin, tenant, worker
):
    sandbox = tenant["sandbox"]
    store.row_delete(environment=sandbox, table_name="accounts", key="000002")
    page = signed_in_page(global_admin)
    page.goto("/environments/contoso-sandbox/")
    page.get_by_role("link", name="Deleted records").click()
    expect(page.get_by_role("heading", name="Deleted records of Contoso Sandbox")).to_be_visible()
    expect(page.locator("table.changes tbody tr")).to_have_count(1)
    expect(page.locator("table.changes")).to_contain_text("Fourth Coffee")
    page.goto(f"/environments/contoso-sandbox/changes/?kind=deleted&{since_two_hours_ago()}")
    page.get_by_label("Table").select_option("accounts")
    page.get_by_role("button", name="Show changes").click()
    page.get_by_label(re.compile("Select row 000002")).check()
    page.get_by_role("button", name="Restore selected").click()
    expect(page.get_by_text("1 deleted since comes back")).to_be_visible()
    page.get_by_role("button", name="Restore rows").click()
    wait_for_put_back(worker)
    assert names(sandbox) == {"Coho Winery", "Fourth Coffee"}


def test_with_the_keyboard_alone(signed_in_page, global_admin, tenant, worker):
    sandbox = tenant["sandbox"]
    store.row_delete(environment=sandbox, table_name="accounts", key="000001")
    page = signed_in_page(global_admin)
    page.goto(
        f"/environments/contoso-sandbox/changes/?kind=deleted&table=accounts&{since_two_hours_ago()}"
    )
    box = page.get_by_label(re.compile("Select row 000001"))
    tab_to(page, box)
    page.keyboard.press("Space")
    expect(box).to_be_checked()
    tab_to(page, page.get_by_role("button", name="Restore selected"))
    page.keyboard.press("Enter")
    restore = page.get_by_role("button", name="Restore rows")
    expect(restore).to_be_visible()
    tab_to(page, restore)
    page.keyboard.press("Enter")
    wait_for_put_back(worker)
    assert names(sandbox) == {"Coho Winery", "Fourth Coffee"}


def test_without_javascript(new_context, global_admin, tenant, worker):
    sandbox = tenant["sandbox"]
    store.row_delete(environment=sandbox, table_name="accounts", key="000001")
    page: Page = new_context(java_script_enabled=False).new_page()
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(global_admin.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"/environments/contoso-sandbox/changes/?kind=deleted&{since_two_hours_ago()}")
    page.get_by_label("Table").select_option("accounts")
    page.get_by_role("button", name="Show changes").click()
    page.get_by_label(re.compile("Select row 000001")).check()
    page.get_by_role("button", name="Restore selected").click()
    page.get_by_role("button", name="Restore rows").click()
    expect(page.get_by_role("heading", name=re.compile("Restore rows #"))).to_be_visible()
    wait_for_put_back(worker)
    assert names(sandbox) == {"Coho Winery", "Fourth Coffee"}
