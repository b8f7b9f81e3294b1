"""The data browser: list, search, page (by key), add, edit, delete rows; bad input writes
nothing and bad links are said, never sent to the database."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from environments import store
from environments.models import DataTable, Environment, EnvironmentState, RowVersion
from tests.factories import make_table

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def rows(sandbox, accounts):
    with store.changes(sandbox) as cs:
        for n in range(30):
            cs.create_row(accounts, {"name": f"Company {n:02d}", "employees": n})
    return accounts


def url(name, **kwargs):
    return reverse(f"environments:{name}", kwargs={"slug": "sales-sandbox", **kwargs})


def test_the_tables_page_lists_tables_with_row_counts(login, maker, rows):
    response = login(maker).get(url("tables"))
    assert [(t.name, rows) for t, rows in response.context["tables"]] == [("accounts", 30)]


# -- the row list: pages by key, never by OFFSET ---------------------------------------------


def keys(response):
    return [r["key"] for r in response.context["page_rows"]]


def names(response):
    return [r["cells"][0][0] for r in response.context["page_rows"]]


def follow(client, response, link, **extra):
    """The page a Previous / Next / First link of `response` leads to."""
    target = (
        getattr(response.context["page"], f"{link}_url", None) or response.context[f"{link}_url"]
    )
    assert target.startswith("?"), target
    return client.get(url("rows", table="accounts") + target, **extra)


@pytest.fixture
def small_pages(settings):
    settings.DATA_PAGE_SIZE = 10


def test_the_first_page_shows_the_first_keys_with_a_next_link_and_no_previous(
    login, maker, rows, small_pages
):
    response = login(maker).get(url("rows", table="accounts"))
    assert keys(response) == [f"{n:06d}" for n in range(1, 11)]
    assert response.context["page"].next_url == "?after=000010"
    assert response.context["page"].previous_url == ""
    assert b'Rows <span class="mono">000001</span>\xe2\x80\x93<span class="mono">000010</span>' in (
        response.content
    )


def test_next_and_previous_cross_the_page_boundaries_by_key(login, maker, rows, small_pages):
    client = login(maker)
    first = client.get(url("rows", table="accounts"))
    second = follow(client, first, "next")
    assert keys(second) == [f"{n:06d}" for n in range(11, 21)]
    third = follow(client, second, "next")
    assert keys(third) == [f"{n:06d}" for n in range(21, 31)]
    assert third.context["page"].next_url == ""  # the last page
    back = follow(client, third, "previous")
    assert keys(back) == keys(second)
    assert back.context["page"].previous_url == "?before=000011"
    assert back.context["page"].next_url == "?after=000020"
    assert keys(follow(client, back, "first")) == keys(first)


def test_going_to_a_key_starts_the_page_at_the_first_key_at_or_after_it(
    login, maker, rows, small_pages
):
    client = login(maker)
    exact = client.get(url("rows", table="accounts"), {"from": "000015"})
    assert keys(exact)[0] == "000015" and len(keys(exact)) == 10
    assert exact.context["page"].previous_url == "?before=000015"
    between = client.get(url("rows", table="accounts"), {"from": "00002"})
    assert keys(between) == [f"{n:06d}" for n in range(20, 30)]
    assert between.context["start"] == "00002"
    assert b'value="00002"' in between.content


def test_going_to_the_first_key_shows_no_previous_link(login, maker, rows, small_pages):
    response = login(maker).get(url("rows", table="accounts"), {"from": "000001"})
    assert keys(response)[0] == "000001" and response.context["page"].previous_url == ""


def test_a_key_past_the_end_shows_the_last_rows_and_says_so(login, maker, rows, small_pages):
    response = login(maker).get(url("rows", table="accounts"), {"from": "zzz"})
    assert response.status_code == 200
    assert keys(response) == [f"{n:06d}" for n in range(21, 31)]
    assert "No row has a key at or after “zzz”" in response.content.decode()
    assert response.context["page"].next_url == ""


def test_a_row_deleted_between_two_pages_is_neither_shown_nor_skipped_over(
    login, maker, rows, small_pages, sandbox
):
    client = login(maker)
    first = client.get(url("rows", table="accounts"))
    store.row_delete(environment=sandbox, table_name="accounts", key="000010")  # the cursor
    store.row_delete(environment=sandbox, table_name="accounts", key="000011")
    second = follow(client, first, "next")
    assert keys(second) == [f"{n:06d}" for n in range(12, 22)]
    back = follow(client, second, "previous")
    # Less than a page was left before it: the first page, full.
    assert keys(back) == [f"{n:06d}" for n in range(1, 10)] + ["000012"]
    assert back.context["page"].previous_url == ""


def test_a_previous_link_with_less_than_a_page_before_it_shows_the_first_page(
    login, maker, rows, small_pages
):
    response = login(maker).get(url("rows", table="accounts"), {"before": "000004"})
    assert keys(response) == [f"{n:06d}" for n in range(1, 11)]
    assert response.context["page"].previous_url == ""


def test_the_row_count_is_the_stored_figure(login, maker, rows):
    DataTable.objects.filter(pk=rows.pk).update(live_rows=1234567)
    response = login(maker).get(url("rows", table="accounts"))
    assert "1,234,567 rows" in response.content.decode()


def walk_every_kind_of_page(client):
    """First, next, previous, go to key, search, its next and previous pages: the SQL of each."""
    table_url = url("rows", table="accounts")
    with CaptureQueriesContext(connection) as queries:
        first = client.get(table_url)
        follow(client, follow(client, first, "next"), "previous")
        client.get(table_url, {"from": "000015"})
        found = client.get(table_url, {"q": "company 0"})
        follow(client, follow(client, found, "next"), "previous")
    return [q["sql"] for q in queries.captured_queries if "environments_rowversion" in q["sql"]]


def test_no_page_reads_rows_with_offset_or_counts_them(login, maker, rows, settings):
    settings.DATA_PAGE_SIZE = 4
    sql = [s.upper() for s in walk_every_kind_of_page(login(maker))]
    assert len(sql) > 10
    assert not [s for s in sql if "OFFSET" in s or "COUNT(" in s]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="plans of PostgreSQL")
def test_on_postgresql_each_page_reads_an_index_in_its_order_and_sorts_nothing(
    login, maker, rows, settings
):
    settings.DATA_PAGE_SIZE = 4
    queries = walk_every_kind_of_page(login(maker))
    with connection.cursor() as cursor:
        # The test's table is tiny: make the planner show which index it would use at scale,
        # knowing (as it would there) that one title is a few rows and a range of keys many.
        cursor.execute("ANALYZE environments_rowversion")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        for sql in queries:
            cursor.execute(f"EXPLAIN {sql}")
            plan = "\n".join(row[0] for row in cursor.fetchall())
            assert "Index Scan" in plan and "Sort" not in plan, (sql, plan)
            if "LIKE" in sql:  # the prefix is a range of the search index (COLLATE "C")
                assert "(upper((title)::text))::text >= 'COMPANY 0'::text" in plan, plan
                assert "(upper((title)::text))::text < 'COMPANY 1'::text" in plan, plan


# -- search -------------------------------------------------------------------------------


def test_search_finds_titles_by_prefix_in_any_case_and_pages_through_them(
    login, maker, rows, settings
):
    settings.DATA_PAGE_SIZE = 4
    client = login(maker)
    pages = [client.get(url("rows", table="accounts"), {"q": "cOMPANY 1"})]
    while pages[-1].context["page"].next_url:
        pages.append(follow(client, pages[-1], "next"))
    assert [names(p) for p in pages] == [
        ["Company 10", "Company 11", "Company 12", "Company 13"],
        ["Company 14", "Company 15", "Company 16", "Company 17"],
        ["Company 18", "Company 19"],
    ]
    assert (
        pages[1]
        .context["page"]
        .next_url.startswith("?q=cOMPANY+1&after=000018&after_title=COMPANY+17")
    )
    back = follow(client, pages[2], "previous")
    assert names(back) == names(pages[1])
    assert names(follow(client, back, "previous")) == names(pages[0])


def test_search_pages_through_rows_that_share_a_title_without_loss_or_repeat(
    login, maker, accounts, sandbox, settings
):
    settings.DATA_PAGE_SIZE = 2
    with store.changes(sandbox) as cs:
        for key, name in [
            ("k5", "acme"), ("k1", "Acme"), ("k9", "ACME"), ("k2", "Acme Corp"), ("k7", "Acme"),
            ("k3", "Acmes"), ("k4", "Beta"), ("k8", "acme corp"),
        ]:  # fmt: skip
            cs.create_row(accounts, {"name": name}, key=key)
    client = login(maker)
    pages = [client.get(url("rows", table="accounts"), {"q": "acme"})]
    while pages[-1].context["page"].next_url:
        pages.append(follow(client, pages[-1], "next"))
    assert [keys(p) for p in pages] == [["k1", "k5"], ["k7", "k9"], ["k2", "k8"], ["k3"]]
    backwards = [pages[-1]]
    while backwards[-1].context["page"].previous_url:
        backwards.append(follow(client, backwards[-1], "previous"))
    assert [keys(p) for p in reversed(backwards)] == [keys(p) for p in pages]


def test_search_upper_cases_the_query_as_the_database_does_the_titles(
    login, maker, accounts, sandbox
):
    with store.changes(sandbox) as cs:
        cs.create_row(accounts, {"name": "Straße 1"}, key="k1")  # Python upper-cases ß to SS
        cs.create_row(accounts, {"name": "STRASSE 2"}, key="k2")
        cs.create_row(accounts, {"name": "Straw_man"}, key="k3")
        cs.create_row(accounts, {"name": "Strawman"}, key="k4")
    client = login(maker)
    assert keys(client.get(url("rows", table="accounts"), {"q": "straß"})) == ["k1"]
    assert keys(client.get(url("rows", table="accounts"), {"q": "straw_"})) == ["k3"]


def test_search_by_exact_key_shows_that_row_first_and_once(login, maker, rows, sandbox):
    with store.changes(sandbox) as cs:
        cs.create_row(rows, {"name": "000003 Widgets"}, key="x1")
        cs.create_row(rows, {"name": "000003"}, key="000003b")
    response = login(maker).get(url("rows", table="accounts"), {"q": "000003"})
    assert keys(response) == ["000003", "000003b", "x1"]
    assert [r["key_match"] for r in response.context["page_rows"]] == [True, False, False]
    assert b"Key match" in response.content


def test_search_says_what_it_looks_in(login, maker, rows):
    response = login(maker).get(url("rows", table="accounts"))
    assert b"Searches the key (exact) and Account name (starts with)." in response.content
    assert b'aria-describedby="row-search-scope"' in response.content


def test_search_in_a_table_without_a_text_column_looks_at_keys_only(login, maker, sandbox):
    numbers = make_table(sandbox, "numbers", columns=[{"name": "n", "type": "integer"}])
    with store.changes(sandbox) as cs:
        for n in (1, 2, 12):
            cs.create_row(numbers, {"n": n}, key=f"n{n}")
    client = login(maker)
    page = client.get(url("rows", table="numbers"))
    assert "Searches the key (exact); this table has no text column to search." in (
        page.content.decode()
    )
    assert keys(client.get(url("rows", table="numbers"), {"q": "n1"})) == ["n1"]
    nothing = client.get(url("rows", table="numbers"), {"q": "n"})
    assert keys(nothing) == [] and "No rows match “n”." in nothing.content.decode()


def test_an_empty_search_browses(login, maker, rows, small_pages):
    response = login(maker).get(url("rows", table="accounts"), {"q": "   "})
    assert keys(response)[0] == "000001" and response.context["q"] == ""


# -- bad input, escaping, htmx ----------------------------------------------------------------


@pytest.mark.parametrize(
    "params, said",
    [
        ({"after": "0000\x0005"}, "The page link was ignored: Null characters are not allowed."),
        ({"before": "9" * 500}, "The page link was ignored: A key is letters"),
        ({"from": "no such key!"}, "The key to go to was ignored: A key is letters"),
        ({"q": "Company\x00"}, "The search was ignored: Null characters are not allowed."),
        ({"q": "x" * 500}, "The search was ignored: Ensure this value has at most 100"),
        ({"q": "Company", "after": "000003"}, "The page link was ignored: It lacks the key"),
        ({"q": "Company", "after_title": "COMPANY 03"}, "The page link was ignored: It lacks"),
    ],
)
def test_a_bad_parameter_is_said_and_the_first_page_shown(
    login, maker, rows, small_pages, params, said
):
    response = login(maker).get(url("rows", table="accounts"), params)
    assert response.status_code == 200
    assert said in response.content.decode()
    assert b'role="alert"' in response.content
    first = keys(response)[0]
    assert first == "000001" or names(response)[0] == "Company 00"


def test_keys_and_titles_are_escaped(login, maker, accounts, sandbox):
    with store.changes(sandbox) as cs:
        cs.create_row(accounts, {"name": "<b>bold</b> & co"}, key="x")
    client = login(maker)
    page = client.get(url("rows", table="accounts"), {"q": "<b>"})
    assert b"&lt;b&gt;bold&lt;/b&gt; &amp; co" in page.content
    assert b"<b>bold" not in page.content
    assert b'value="&lt;b&gt;"' in page.content


def test_paging_with_htmx_returns_only_the_rows_table_and_without_the_whole_page(
    login, maker, rows, small_pages
):
    client = login(maker)
    full = client.get(url("rows", table="accounts"))
    assert b"<html" in full.content and b'id="row-from"' in full.content
    assert (
        b'<a href="?after=000010" hx-get="?after=000010" hx-target="#rows-table" '
        b'hx-swap="outerHTML" hx-push-url="true" rel="next"' in full.content
    )
    partial = follow(client, full, "next", **HTMX)
    assert b"<html" not in partial.content and b'id="row-from"' not in partial.content
    assert partial.content.lstrip().startswith(b'<div id="rows-table"')
    assert keys(partial)[0] == "000011"
    found = client.get(url("rows", table="accounts"), {"q": "Company 1"}, **HTMX)
    assert found.content.lstrip().startswith(b'<div id="rows-table"')


def test_an_unknown_table_or_row_is_not_found(login, maker, rows):
    client = login(maker)
    assert client.get(url("rows", table="nope")).status_code == 404
    assert client.get(url("row-edit", table="accounts", key="999999")).status_code == 404


def test_adding_a_row(login, maker, rows):
    response = login(maker).post(
        url("row-create", table="accounts"),
        {"name": "Northwind", "employees": "40", "tier": "Gold"},
    )
    assert response.status_code == 302
    row = store.current(rows.generation.environment).rows(rows).get(key="000031")
    assert row.values["name"] == "Northwind" and row.values["employees"] == 40


def test_bad_input_gets_field_messages_and_writes_nothing(login, maker, rows):
    before = RowVersion.objects.count()
    response = login(maker).post(
        url("row-create", table="accounts"),
        {
            "name": "x" * 51,
            "employees": "lots",
            "revenue": "1.234",
            "founded": "31/31/2020",
            "tier": "Bronze",
            "email": "not-an-email",
        },
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert set(errors) == {"name", "employees", "revenue", "founded", "tier", "email"}
    assert b"Ensure this value has at most 50 characters" in response.content
    assert RowVersion.objects.count() == before


def test_editing_a_row_keeps_its_history(login, maker, rows, sandbox):
    response = login(maker).post(
        url("row-edit", table="accounts", key="000003"), {"name": "Renamed", "employees": "2"}
    )
    assert response.status_code == 302
    history = list(store.row_history(rows, "000003"))
    assert [v.values["name"] for v in history] == ["Company 02", "Renamed"]
    assert history[0].valid_to == history[1].valid_from


def test_editing_with_bad_input_changes_nothing(login, maker, rows):
    response = login(maker).post(
        url("row-edit", table="accounts", key="000003"), {"name": "", "employees": "2.5"}
    )
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"name", "employees"}
    assert len(store.row_history(rows, "000003")) == 1


def test_the_edit_form_shows_current_values(login, maker, rows):
    response = login(maker).get(url("row-edit", table="accounts", key="000003"))
    assert response.context["form"].initial["name"] == "Company 02"


def test_deleting_a_row_asks_first_then_closes_it(login, maker, rows):
    client = login(maker)
    confirm = client.get(url("row-delete", table="accounts", key="000004"))
    assert b"Delete row 000004" in confirm.content and b"Company 03" in confirm.content
    assert client.post(url("row-delete", table="accounts", key="000004")).status_code == 302
    assert not store.current(rows.generation.environment).rows(rows).filter(key="000004").exists()
    version, tombstone = store.row_history(rows, "000004")
    assert version.valid_to == tombstone.valid_from == tombstone.valid_to  # closed, and marked


def test_writes_are_refused_while_the_environment_is_restoring(login, maker, rows, sandbox):
    Environment.objects.filter(pk=sandbox.pk).update(state=EnvironmentState.RESTORING)
    client = login(maker)
    response = client.post(url("row-create", table="accounts"), {"name": "X"})
    assert response.status_code == 403
    assert b"restoring" in response.content
    page = client.get(url("rows", table="accounts"))
    assert page.status_code == 200 and b"+ New row" not in page.content


def test_a_signed_in_user_is_told_about_csrf(client, maker, rows):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(maker)
    response = strict.post(url("row-create", table="accounts"), {"name": "X"})
    assert response.status_code == 403
    assert (
        not store.current(rows.generation.environment).rows(rows).filter(values__name="X").exists()
    )


# -- New table: what makes a new environment usable without the demo data --


def new_table_data(**columns):
    data = {
        "name": "projects",
        "display_name": "Projects",
        "columns-TOTAL_FORMS": "3",
        "columns-INITIAL_FORMS": "0",
        "columns-0-name": "title",
        "columns-0-type": "text",
        "columns-0-required": "on",
        "columns-1-name": "stage",
        "columns-1-type": "choice",
        "columns-1-choices": "Idea, Doing, Done",
        "columns-2-type": "text",  # left blank: no column
    }
    return {**data, **columns}


def test_an_admin_adds_a_table_and_rows_can_be_added_to_it(login, env_admin, sandbox):
    client = login(env_admin)
    page = client.get(url("tables")).content.decode()
    assert f'href="{url("table-create")}">+ New table</a>' in page
    response = client.post(url("table-create"), new_table_data(), follow=True)
    assert response.redirect_chain == [(url("rows", table="projects"), 302)]
    table = store.current(sandbox).table("projects")
    assert [(c["name"], c["type"], c["required"]) for c in table.columns] == [
        ("title", "text", True),
        ("stage", "choice", False),
    ]
    assert table.columns[1]["choices"] == ["Idea", "Doing", "Done"]
    store.row_create(environment=sandbox, table_name="projects", values={"title": "Portal"})
    assert store.storage_used(sandbox).current_rows == 1


def test_a_bad_table_is_refused_with_a_message_and_nothing_made(login, env_admin, sandbox):
    client = login(env_admin)
    bad_name = client.post(url("table-create"), new_table_data(name="Projects!"))
    assert "lowercase" in bad_name.context["form"].errors["name"][0]
    no_columns = client.post(
        url("table-create"), new_table_data(**{"columns-0-name": "", "columns-1-name": ""})
    )
    assert no_columns.context["form"].non_field_errors() == ["A table needs at least one column."]
    no_choices = client.post(url("table-create"), new_table_data(**{"columns-1-choices": " , "}))
    assert "needs a list of text choices" in no_choices.context["form"].non_field_errors()[0]
    assert store.current(sandbox).table("projects") is None


def test_makers_cannot_add_tables(login, maker, sandbox):
    client = login(maker)
    assert ">+ New table</a>" not in client.get(url("tables")).content.decode()
    assert client.post(url("table-create"), new_table_data()).status_code == 403
    assert store.current(sandbox).table("projects") is None
