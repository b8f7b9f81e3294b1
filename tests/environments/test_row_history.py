"""A row's page: its values now or at a moment, and its History: the changes newest first, when,
who, and the fields each changed; in a restored table it goes on into the table it was restored
from, up to the moment it was restored at."""

import re

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from environments import flatten, store
from environments.models import ChangeBatch, Environment
from environments.viewing import at_text
from tests.factories import NOW, ago, make_table

pytestmark = pytest.mark.usefixtures("clock")

HTMX = {"HTTP_HX_REQUEST": "true"}


def url(name, env="contoso-prod", **kwargs):
    return reverse(f"environments:{name}", kwargs={"slug": env, **kwargs})


def history(client, key, env="contoso-prod", table="accounts", **params):
    response = client.get(url("row", env=env, table=table, key=key), params)
    assert response.status_code == 200, response.content
    return response


def told(response):
    """Each change as (kind, when, who, fields)."""
    return [
        (c.kind, c.at, c.author, [(f.label, f.before, f.after) for f in c.fields])
        for c in response.context["history"].changes
    ]


@pytest.fixture
def authored(source, admin, maker):
    """Changes to b of accounts made by named people, after build_history's."""
    by_admin, by_maker = store.Author.person(admin), store.Author.person(maker)
    with time_machine.travel(ago(hours=5), tick=False):
        store.row_update(
            environment=source,
            table_name="accounts",
            key="b",
            values={"name": "Beta 2", "employees": 12, "active": True},
            by=by_admin,
        )
    with time_machine.travel(ago(hours=4), tick=False):
        store.row_update(
            environment=source,
            table_name="accounts",
            key="b",
            values={"name": "Beta 3", "employees": 12, "active": False, "tier": "Gold"},
            by=store.Author.person(maker, via=ChangeBatch.Via.API),
        )
    with time_machine.travel(ago(hours=3), tick=False):
        store.row_delete(environment=source, table_name="accounts", key="b", by=by_maker)


def test_the_history_lists_the_changes_newest_first_with_who_and_the_fields(
    client_admin, source, authored, admin, maker
):
    response = history(client_admin, "b")
    assert told(response) == [
        ("deleted", ago(hours=3), maker.username, [
            ("Account name", "Beta 3", ""), ("Employees", "12", ""), ("Active", "No", ""),
            ("Tier", "Gold", ""),
        ]),
        ("changed", ago(hours=4), f"{maker.username} (API)", [
            ("Account name", "Beta 2", "Beta 3"), ("Active", "Yes", "No"), ("Tier", "", "Gold"),
        ]),
        ("changed", ago(hours=5), admin.username, [
            ("Employees", "", "12"), ("Active", "No", "Yes"),
        ]),
        ("changed", ago(days=2) + store.TICK, "Unknown", [("Account name", "Beta", "Beta 2")]),
        ("added", ago(days=3) + store.TICK, "Unknown", [
            ("Account name", "", "Beta"), ("Active", "", "No"),
        ]),
    ]  # fmt: skip
    text = response.content.decode()
    assert '<span class="before">Beta 2</span> <span aria-hidden="true">→</span>' in text
    assert "by an unknown author" in text
    assert "is not in Accounts any more" in text


def test_the_authors_of_a_page_are_found_in_one_query(client_admin, source, authored):
    with CaptureQueriesContext(connection) as queries:
        history(client_admin, "b")
    batches = [q for q in queries.captured_queries if "environments_changebatch" in q["sql"]]
    assert len(batches) == 1


def test_the_version_shown_is_marked_in_the_history(client_admin, source, authored):
    response = history(client_admin, "b", at=at_text(ago(hours=4, minutes=30)))
    assert [c.shown for c in response.context["history"].changes] == [
        False, False, True, False, False,
    ]  # fmt: skip
    assert dict(response.context["cells"])["Account name"] == "Beta 2"
    assert b'<span class="badge">Shown above</span>' in response.content


def test_a_row_deleted_and_added_again_shows_both(client_admin, source):
    with time_machine.travel(ago(hours=2), tick=False):
        store.row_create(
            environment=source, table_name="accounts", values={"name": "Alpha again"}, key="a"
        )
    kinds = [(kind, at) for kind, at, _, _ in told(history(client_admin, "a"))]
    assert kinds == [
        ("added", ago(hours=2)),
        ("deleted", ago(days=1)),
        ("added", ago(days=3) + store.TICK),
    ]


# -- a restored table: its row goes on into the source's history -------------------------------


@pytest.fixture
def restored(admin, source, target, run_restore, clock):
    """The target restored from the source as it was 1.5 days ago, an hour ago; then b changed
    and a deleted in the target. The source deleted a a day ago, after that moment."""
    clock.move_to(ago(hours=1))
    op = run_restore(source=source, target=target, moment=ago(days=1, hours=12), requested_by=admin)
    assert op.status == "succeeded", op.error
    clock.move_to(ago(minutes=30))
    by = store.Author.person(admin)
    store.row_update(
        environment=target, table_name="accounts", key="b", values={"name": "Beta 3"}, by=by
    )
    clock.move_to(ago(minutes=20))
    store.row_delete(environment=target, table_name="accounts", key="a", by=by)
    clock.move_to(NOW)
    return op


def test_a_restored_rows_history_goes_on_into_its_source_up_to_the_moment(
    client_admin, admin, target, restored
):
    branch = store.current(target).table("accounts")
    b = told(history(client_admin, "b", env="contoso-test"))
    assert [(kind, at, who) for kind, at, who, _ in b] == [
        ("changed", ago(minutes=30), admin.username),
        ("restored", branch.valid_from, ""),
        ("changed", ago(days=2) + store.TICK, "Unknown"),
        ("added", ago(days=3) + store.TICK, "Unknown"),
    ]
    assert b[0][3] == [("Account name", "Beta 2", "Beta 3")]
    # a: deleted in the target (a tombstone over the source's row); the source's own deletion
    # came after the moment restored, so it is not part of this row.
    a = told(history(client_admin, "a", env="contoso-test"))
    assert [(kind, at) for kind, at, _, _ in a] == [
        ("deleted", ago(minutes=20)),
        ("restored", branch.valid_from),
        ("added", ago(days=3) + store.TICK),
    ]
    assert a[0][3] == [("Account name", "Alpha", ""), ("Active", "No", "")]
    page = history(client_admin, "a", env="contoso-test").content.decode()
    assert re.search(
        r"Restored</span> <time [^>]*>[^<]*<span[^>]*>[^<]*</span></time> from Contoso Prod as "
        r"it was at <time [^>]*>Nov 19, 2026, 00:00:00 .*Below, the row's changes there",
        page,
    )


def test_a_restored_row_read_from_the_source_shows_the_restore_first(
    client_admin, target, restored
):
    kinds = [kind for kind, _, _, _ in told(history(client_admin, "c", env="contoso-test"))]
    assert kinds == ["restored", "added"]


def test_flattening_a_restored_table_changes_nothing_in_a_rows_history(
    client_admin, target, restored
):
    before = told(history(client_admin, "c", env="contoso-test"))
    flatten.flatten_chunk(store.current(target).table("accounts").pk, rows=3)  # a, b, c copied
    assert told(history(client_admin, "c", env="contoso-test")) == before
    shown = history(client_admin, "c", env="contoso-test").context["history"].changes
    assert [c.shown for c in shown] == [False, True]


# -- long histories: a page at a time ---------------------------------------------------------


def when(n):
    """The moment of the nth change of c in `busy`: every 10 minutes from 20 hours ago."""
    return ago(hours=20, minutes=-10 * n)


@pytest.fixture
def busy(source, settings):
    settings.DATA_PAGE_SIZE = 10
    for n in range(1, 26):
        with time_machine.travel(when(n), tick=False):
            store.row_update(
                environment=source, table_name="accounts", key="c", values={"name": f"C{n}"}
            )
    return source


def test_a_long_history_pages_by_version_with_links_that_keep_the_moment(client_admin, busy):
    moment = at_text(ago(hours=1))
    pages = [history(client_admin, "c", at=moment)]
    while older := pages[-1].context["older_url"]:
        assert f"at={moment}".replace(":", "%3A") in older
        pages.append(client_admin.get(url("row", table="accounts", key="c") + older))
    changes = [(kind, at) for p in pages for kind, at, _, _ in told(p)]
    expected = [("changed", when(n)) for n in range(25, 0, -1)]
    assert changes == [*expected, ("added", ago(days=2) + store.TICK)]
    assert len(pages) == 3 and pages[0].context["newest_url"] == ""
    assert pages[1].context["newest_url"] == f"?at={moment}".replace(":", "%3A")
    # The first change of a page says what it changed from: the last of the page before.
    assert told(pages[1])[0][3] == [("Account name", "C14", "C15")]


def test_paging_the_history_with_htmx_returns_only_the_history(client_admin, busy):
    first = history(client_admin, "c")
    partial = client_admin.get(
        url("row", table="accounts", key="c") + first.context["older_url"], **HTMX
    )
    assert partial.content.lstrip().startswith(b'<section id="history"')
    assert b"<html" not in partial.content
    assert "Newest changes" in partial.content.decode()


def test_no_history_page_reads_every_version_of_the_row(client_admin, busy):
    """Each page reads its versions from a cursor with a limit: never the whole history."""
    with CaptureQueriesContext(connection) as queries:
        history(client_admin, "c")
    reads = [q["sql"] for q in queries.captured_queries if "environments_rowversion" in q["sql"]]
    versions = [s for s in reads if '"key" = ' in s and "LIMIT" in s.upper()]
    assert versions and all("LIMIT 11" in s or "LIMIT 1" in s for s in versions), reads


def test_a_maker_without_access_cannot_see_a_rows_history(client, outsider, source):
    client.force_login(outsider)
    assert client.get(url("row", table="accounts", key="b")).status_code == 404


def test_the_edit_form_is_apart_from_the_row_page(client_admin, source):
    Environment.objects.filter(pk=source.pk).update(admin_mode=False)
    page = client_admin.get(url("row-edit", table="accounts", key="b"))
    assert page.status_code == 200 and page.context["form"].initial["name"] == "Beta 2"
    assert f'href="{url("row", table="accounts", key="b")}">Cancel</a>' in page.content.decode()
    table = make_table(source, "empty")
    assert client_admin.get(url("row", table=table.name, key="nope")).status_code == 404
