"""Browsing an environment's data as it was at a moment: tables, rows, search, paging and one
row read exactly what was there then, read only; a moment that cannot be shown is said, never
answered with a server error."""

import datetime
import re
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.urls import reverse

from environments import store
from environments.models import Environment, Membership
from environments.viewing import at_text
from portal import icons
from tests.factories import NOW, EnvironmentFactory, ago, make_member, make_table

pytestmark = pytest.mark.usefixtures("clock")

HTMX = {"HTTP_HX_REQUEST": "true"}
# In build_history's past: after a and b were made (3 days ago), before b was renamed and c
# added (2 days ago); and after that, before a was deleted (1 day ago).
EARLY = ago(days=2, hours=12)
LATER = ago(days=1, hours=12)


def url(name, env="contoso-prod", **kwargs):
    return reverse(f"environments:{name}", kwargs={"slug": env, **kwargs})


def at(moment):
    return {"at": at_text(moment)}


def keys(response):
    return [r["key"] for r in response.context["page_rows"]]


def names(response):
    return [r["cells"][0][0] for r in response.context["page_rows"]]


# -- what is read -----------------------------------------------------------------------------


def test_the_tables_page_lists_the_tables_of_the_moment_with_their_row_counts_then(
    client_admin, source
):
    def listed(params=None):
        page = client_admin.get(url("tables"), params or {})
        assert page.status_code == 200
        return [(t.name, rows) for t, rows in page.context["tables"]]

    assert listed(at(EARLY)) == [("accounts", 2)]
    assert listed(at(LATER)) == [("accounts", 3), ("contacts", 1)]
    assert listed() == [("accounts", 2), ("contacts", 1)]


def test_the_rows_of_a_moment_are_the_rows_there_were_then(client_admin, source):
    early = client_admin.get(url("rows", table="accounts"), at(EARLY))
    assert (keys(early), names(early)) == (["a", "b"], ["Alpha", "Beta"])
    later = client_admin.get(url("rows", table="accounts"), at(LATER))
    assert (keys(later), names(later)) == (["a", "b", "c"], ["Alpha", "Beta 2", "Gamma"])
    assert "3 rows at that moment" in later.content.decode()
    now = client_admin.get(url("rows", table="accounts"))
    assert (keys(now), names(now)) == (["b", "c"], ["Beta 2", "Gamma"])


def test_a_search_at_a_moment_finds_the_titles_of_that_moment(client_admin, source):
    def found(q, moment=None):
        params = {"q": q, **(at(moment) if moment else {})}
        return names(client_admin.get(url("rows", table="accounts"), params))

    assert found("beta", EARLY) == ["Beta"]
    assert found("beta") == ["Beta 2"]
    assert found("alpha", LATER) == ["Alpha"]
    assert found("alpha") == []
    assert found("b", LATER) == ["Beta 2"]  # the key "b", shown first as the key match


def test_a_table_dropped_since_is_browsed_at_a_moment_it_was_there(client_admin, source):
    with time_machine.travel(ago(hours=2), tick=False), store.changes(source) as cs:
        cs.drop_table(cs.table("contacts"))
    assert client_admin.get(url("rows", table="contacts")).status_code == 404
    then = client_admin.get(url("rows", table="contacts"), at(LATER))
    assert keys(then) == ["x"]


def test_a_table_that_did_not_exist_then_is_not_found_with_the_reason(client_admin, source):
    response = client_admin.get(url("rows", table="contacts"), at(EARLY))
    assert response.status_code == 404
    text = response.content.decode()
    assert "Contoso Prod had no table “contacts” at <time" in text
    assert "it was made later, or dropped before" in text and ">Now</a>" in text
    row = client_admin.get(url("row", table="contacts", key="x"), at(EARLY))
    assert row.status_code == 404 and "had no table “contacts”" in row.content.decode()


@pytest.fixture
def many(source, settings):
    """Thirty numbered rows made 3 hours ago; then 2 hours ago every third renamed and every
    fifth deleted, and ten more added."""
    settings.DATA_PAGE_SIZE = 4
    with time_machine.travel(ago(hours=3), tick=False):
        numbers = make_table(source, "numbers", columns=[{"name": "name", "type": "text"}])
        with store.changes(source) as cs:
            for n in range(30):
                cs.create_row(numbers, {"name": f"Row {n:02d}"}, key=f"k{n:02d}")
    with time_machine.travel(ago(hours=2), tick=False), store.changes(source) as cs:
        for n in range(30):
            if n % 5 == 0:
                cs.delete_row(numbers, f"k{n:02d}")
            elif n % 3 == 0:
                cs.update_row(numbers, f"k{n:02d}", {"name": f"Renamed {n:02d}"})
        for n in range(30, 40):
            cs.create_row(numbers, {"name": f"Row {n:02d}"}, key=f"k{n:02d}")
    return numbers


def walk(client, first, link="next"):
    """Every page from `first` on, following its Next (or Previous) links, which keep the
    moment."""
    pages = [first]
    while target := getattr(pages[-1].context["page"], f"{link}_url"):
        assert parse_qs(target[1:]).get("at") == (
            [first.context["viewing"].params["at"]] if first.context["viewing"].moment else None
        ), target
        pages.append(client.get(url("rows", table="numbers") + target))
    return pages


def test_paging_at_a_moment_walks_exactly_the_rows_of_the_moment_both_ways(
    client_admin, source, many
):
    moment = ago(hours=2, minutes=30)
    pages = walk(client_admin, client_admin.get(url("rows", table="numbers"), at(moment)))
    assert [k for p in pages for k in keys(p)] == [f"k{n:02d}" for n in range(30)]
    assert [n for p in pages for n in names(p)] == [f"Row {n:02d}" for n in range(30)]
    back = walk(client_admin, pages[-1], "previous")
    assert [keys(p) for p in reversed(back)] == [keys(p) for p in pages]
    now = walk(client_admin, client_admin.get(url("rows", table="numbers")))
    assert len([k for p in now for k in keys(p)]) == 30 - 6 + 10


def test_going_to_a_key_and_searching_at_a_moment_keep_to_the_moment(client_admin, source, many):
    moment = ago(hours=2, minutes=30)
    gone = client_admin.get(url("rows", table="numbers"), {"from": "k10", **at(moment)})
    assert keys(gone) == ["k10", "k11", "k12", "k13"]
    pages = walk(client_admin, client_admin.get(url("rows", table="numbers"), {"q": "row 1"}))
    assert [n for p in pages for n in names(p)] == [f"Row {n}" for n in (11, 13, 14, 16, 17, 19)]
    then = walk(
        client_admin, client_admin.get(url("rows", table="numbers"), {"q": "row 1", **at(moment)})
    )
    assert [n for p in then for n in names(p)] == [f"Row {n}" for n in range(10, 20)]
    renamed = client_admin.get(url("rows", table="numbers"), {"q": "renamed", **at(moment)})
    assert names(renamed) == []


def test_one_row_at_a_moment_shows_its_values_then(client_admin, source):
    early = client_admin.get(url("row", table="accounts", key="b"), at(EARLY))
    assert early.status_code == 200
    assert dict(early.context["cells"])["Account name"] == "Beta"
    now = client_admin.get(url("row", table="accounts", key="b"))
    assert dict(now.context["cells"])["Account name"] == "Beta 2"
    gone = client_admin.get(url("row", table="accounts", key="a"))
    assert gone.status_code == 200 and gone.context["row"] is None
    assert "is not in Accounts any more" in gone.content.decode()
    before = client_admin.get(url("row", table="accounts", key="c"), at(EARLY))
    assert before.context["row"] is None and "was not in Accounts at that moment" in (
        before.content.decode()
    )
    assert client_admin.get(url("row", table="accounts", key="zz"), at(EARLY)).status_code == 404


# -- a restored environment: its tables read the source as it was ----------------------------


@pytest.fixture
def restored(admin, source, target, run_restore, clock):
    """The target restored from the source as it was LATER (a, b "Beta 2", c), an hour ago;
    then b changed in the target."""
    clock.move_to(ago(hours=1))
    op = run_restore(source=source, target=target, moment=LATER, requested_by=admin)
    assert op.status == "succeeded", op.error
    Environment.objects.filter(pk=target.pk).update(admin_mode=False)
    clock.move_to(ago(minutes=30))
    store.row_update(environment=target, table_name="accounts", key="b", values={"name": "Beta 3"})
    clock.move_to(NOW)
    return op


def test_a_restored_environment_is_browsed_at_each_moment_as_it_was(client_admin, target, restored):
    def rows_of(table, moment=None):
        response = client_admin.get(
            url("rows", env="contoso-test", table=table), at(moment) if moment else {}
        )
        return dict(zip(keys(response), names(response), strict=True))

    # Before the restore: the target's own old data.
    before = client_admin.get(url("tables", env="contoso-test"), at(ago(hours=2)))
    assert [t.name for t, _ in before.context["tables"]] == ["leads"]
    assert rows_of("leads", ago(hours=2)) == {"l1": "Old lead"}
    # Between the restore and the change: the source as it was at the restore's moment,
    # although the source deleted a since.
    assert rows_of("accounts", ago(minutes=45)) == {"a": "Alpha", "b": "Beta 2", "c": "Gamma"}
    assert rows_of("accounts") == {"a": "Alpha", "b": "Beta 3", "c": "Gamma"}
    tables = client_admin.get(url("tables", env="contoso-test"), at(ago(minutes=45)))
    assert [(t.name, n) for t, n in tables.context["tables"]] == [("accounts", 3), ("contacts", 1)]
    search = client_admin.get(
        url("rows", env="contoso-test", table="accounts"), {"q": "beta", **at(ago(minutes=45))}
    )
    assert names(search) == ["Beta 2"]
    row = client_admin.get(url("row", env="contoso-test", table="accounts", key="a"))
    assert dict(row.context["cells"])["Account name"] == "Alpha"


# -- read only ----------------------------------------------------------------------------------


WRITES = ("+ New row", "+ New table", ">Edit<", ">Delete<", "/edit/", "/delete/", "/new/")


def test_no_page_at_a_moment_offers_or_links_a_write(client_admin, source):
    pages = [
        client_admin.get(url("tables"), at(LATER)),
        client_admin.get(url("rows", table="accounts"), at(LATER)),
        client_admin.get(url("row", table="accounts", key="b"), at(LATER)),
    ]
    for page in pages:
        text = page.content.decode()
        assert page.status_code == 200
        assert not [w for w in WRITES if w in text], (page.request["PATH_INFO"], text)
    now = client_admin.get(url("row", table="accounts", key="b")).content.decode()
    assert f'href="{url("row-edit", table="accounts", key="b")}">{icons.svg("edit")}Edit</a>' in now


def test_a_maker_who_may_not_write_sees_no_edit_button_on_a_row(client, maker, source):
    make_member(source, maker, Membership.Role.MAKER)
    Environment.objects.filter(pk=source.pk).update(state="restoring")
    client.force_login(maker)
    page = client.get(url("row", table="accounts", key="b")).content.decode()
    assert "/edit/" not in page and "Beta 2" in page


def test_every_link_of_a_page_at_a_moment_keeps_the_moment(client_admin, source, many):
    moment = at_text(ago(hours=2, minutes=30))
    pages = [
        client_admin.get(url("tables"), {"at": moment}),
        client_admin.get(url("rows", table="numbers"), {"at": moment}),
        client_admin.get(url("rows", table="numbers"), {"at": moment, "q": "row"}),
        client_admin.get(url("row", table="numbers", key="k03"), {"at": moment}),
    ]
    data = url("tables")
    for page in pages:
        text = page.content.decode()
        links = [
            href.replace("&amp;", "&")
            for href in re.findall(r'href="([^"]+)"', text)
            if href.startswith((data, "?"))
        ]
        assert links, text
        for link in links:
            query = parse_qs(urlsplit(link).query)
            if link == urlsplit(page.request["PATH_INFO"]).path:
                continue  # Now
            assert query.get("at") == [moment], link
        # The search and Go to key forms carry it too.
        assert text.count(f'<input type="hidden" name="at" value="{moment}">') in (0, 2)


def test_the_banner_names_the_moment_in_the_viewers_zone_with_a_now_link(client_admin, source):
    client_admin.cookies["tz"] = "Europe/Paris"
    page = client_admin.get(url("rows", table="accounts"), at(LATER)).content.decode()
    assert re.search(
        r"Viewing Contoso Prod as it was at <time [^>]*>Nov 19, 2026, 01:00:00 "
        r'<span class="tz">UTC\+01:00</span></time>',
        page,
    )
    assert f'<a href="{url("rows", table="accounts")}">Now</a>' in page
    now = client_admin.get(url("rows", table="accounts")).content.decode()
    assert "Viewing Contoso Prod" not in now


def test_htmx_paging_at_a_moment_returns_the_rows_table_with_links_that_keep_it(
    client_admin, source, many
):
    moment = ago(hours=2, minutes=30)
    first = client_admin.get(url("rows", table="numbers"), at(moment))
    partial = client_admin.get(
        url("rows", table="numbers") + first.context["page"].next_url, **HTMX
    )
    assert partial.content.lstrip().startswith(b'<div id="rows-table"')
    assert keys(partial) == ["k04", "k05", "k06", "k07"]
    assert f"?at={at_text(moment)}".replace(":", "%3A") in partial.content.decode()


# -- the As of control ------------------------------------------------------------------------


def test_the_as_of_control_leads_to_the_address_of_the_moment(client_admin, source):
    response = client_admin.get(
        url("rows", table="accounts"),
        {"date": "2026-11-19", "time": "01:00:00", "tz": "Europe/Paris", "q": "a"},
    )
    assert response.status_code == 302
    target = urlsplit(response.url)
    assert target.path == url("rows", table="accounts") and target.fragment == "as-of"
    assert parse_qs(target.query) == {"at": ["2026-11-19T00:00:00Z"], "q": ["a"]}
    shown = client_admin.get(response.url)
    assert shown.context["viewing"].moment == LATER
    # The control shows the moment it shows the data at.
    assert shown.context["viewing"].form.initial["time"] == datetime.time(0, 0)


def test_the_control_is_a_labelled_form_that_works_without_javascript(client_admin, source):
    page = client_admin.get(url("tables")).content.decode()
    assert "<summary>As of</summary>" in page
    assert '<form method="get" action="/environments/contoso-prod/data/"' in page
    for field in ("as-of-date", "as-of-time", "as-of-tz"):
        assert f'<label for="{field}">' in page, field
    assert '<datalist id="as-of-tz-list"><option value="UTC">' in page


def test_a_time_repeated_by_daylight_saving_asks_which_when_both_can_be_shown(client_admin, source):
    asked = {"date": "2026-11-01", "time": "01:30", "tz": "America/New_York"}
    page = client_admin.get(url("tables"), asked)
    assert page.status_code == 200 and "happened twice in America/New_York" in (
        page.content.decode()
    )
    assert len(page.context["ambiguous"]) == 2 and 'name="fold"' in page.content.decode()
    chosen = client_admin.get(url("tables"), {**asked, "fold": "1"})
    assert parse_qs(urlsplit(chosen.url).query)["at"] == ["2026-11-01T06:30:00Z"]


# -- moments that cannot be shown ---------------------------------------------------------------


@pytest.mark.parametrize(
    "params, status, said",
    [
        ({"at": "yesterday"}, 400, "“yesterday” in the address is not a moment"),
        ({"at": "2026-02-30T10:00:00Z"}, 400, "is not a moment"),
        ({"at": "2026-11-19T10:00:00"}, 400, "is not a moment with its time zone"),
        ({"at": "0001-01-01T00:00:00+14:00"}, 400, "is not a moment"),
        ({"at": "\x00"}, 400, "is not a moment"),
        ({"at": "2026-11-21T12:00:00Z"}, 400, "is in the future"),
        ({"at": "2026-10-01T12:00:00Z"}, 400, "is before the oldest moment kept"),
        (
            {"date": "2026-03-29", "time": "02:30", "tz": "Europe/Paris"},
            200,
            "does not exist in Europe/Paris: the clocks went forward",
        ),
        ({"date": "2026-11-19", "time": "25:00", "tz": "UTC"}, 200, "Enter a valid time."),
        ({"date": "", "time": "", "tz": "UTC"}, 200, "Choose a date."),
        ({"date": "2026-11-19", "time": "10:00", "tz": "Mars"}, 200, "not a time zone we know"),
        ({"date": "2026-11-29", "time": "10:00", "tz": "UTC"}, 200, "is in the future"),
    ],
)
@pytest.mark.parametrize("page", ["tables", "rows", "row"])
def test_a_moment_that_cannot_be_shown_is_said_and_nothing_else_shown(
    client_admin, source, params, status, said, page
):
    kwargs = {"rows": {"table": "accounts"}, "row": {"table": "accounts", "key": "b"}}
    response = client_admin.get(url(page, **kwargs.get(page, {})), params)
    text = response.content.decode()
    assert response.status_code == status
    assert said in text
    assert "Beta" not in text and "Alpha" not in text and "contacts" not in text
    assert "Viewing Contoso Prod" not in text
    assert ">Now</a>" in text


def test_the_window_is_said_in_the_viewers_zone(client_admin, source):
    client_admin.cookies["tz"] = "Asia/Kolkata"
    text = client_admin.get(url("tables"), {"at": "2026-10-01T12:00:00Z"}).content.decode()
    assert re.search(
        r"<time [^>]*>Oct 1, 2026, 17:30:00 <span class=\"tz\">UTC\+05:30</span></time> is before "
        r"the oldest moment kept: Contoso Prod can be seen as it was at any moment from "
        r"<time [^>]*>Oct 23, 2026, 17:30:00",
        text,
    ), text


def test_a_trial_environment_is_seen_only_as_it_is_now(client_admin, db):
    EnvironmentFactory(name="Trial one", slug="trial-one", type="trial", created_at=ago(days=3))
    response = client_admin.get(url("tables", env="trial-one"), at(ago(days=1)))
    assert response.status_code == 400
    assert "which is not backed up: its data can be seen only as it is now" in (
        response.content.decode()
    )


def test_a_bad_page_link_of_the_history_is_said(client_admin, source):
    response = client_admin.get(url("row", table="accounts", key="b"), {"older": "garbage"})
    assert response.status_code == 200
    assert "The page link was ignored" in response.content.decode()


# -- who may browse -------------------------------------------------------------------------------


@pytest.mark.parametrize("page", ["tables", "rows", "row"])
def test_browsing_a_moment_needs_what_reading_the_data_now_needs(
    client, maker, outsider, source, page
):
    kwargs = {"rows": {"table": "accounts"}, "row": {"table": "accounts", "key": "b"}}
    address = url(page, **kwargs.get(page, {}))
    client.force_login(outsider)
    assert client.get(address, at(LATER)).status_code == 404
    make_member(source, maker, Membership.Role.MAKER)
    client.force_login(maker)
    assert client.get(address, at(LATER)).status_code == 200
    Environment.objects.filter(pk=source.pk).update(admin_mode=True)
    refused = client.get(address, at(LATER))
    assert refused.status_code == 403 and b"administration mode" in refused.content
