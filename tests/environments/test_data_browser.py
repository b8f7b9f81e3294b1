"""The data browser: list, search, page, add, edit, delete rows; bad input writes nothing."""

import pytest
from django.urls import reverse

from environments import store
from environments.models import Environment, EnvironmentState, RowVersion

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
    assert response.context["tables"][0].live_rows == 30


def test_rows_are_paged_and_searchable(login, maker, rows, settings):
    settings.DATA_PAGE_SIZE = 25
    client = login(maker)
    first = client.get(url("rows", table="accounts"))
    assert len(first.context["page_rows"]) == 25
    second = client.get(url("rows", table="accounts"), {"page": 2})
    assert [r["key"] for r in second.context["page_rows"]] == [f"{n:06d}" for n in range(26, 31)]
    found = client.get(url("rows", table="accounts"), {"q": "company 07"})
    assert [r["cells"][0][0] for r in found.context["page_rows"]] == ["Company 07"]


def test_a_search_with_htmx_returns_only_the_rows_table(login, maker, rows):
    response = login(maker).get(url("rows", table="accounts"), {"q": "Company 1"}, **HTMX)
    assert b"<html" not in response.content
    assert response.content.lstrip().startswith(b'<div id="rows-table"')


def test_a_bad_page_number_shows_the_first_page(login, maker, rows):
    response = login(maker).get(url("rows", table="accounts"), {"page": "-3"})
    assert response.status_code == 200 and response.context["page"].number == 1


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
    assert store.row_history(rows, "000004").get().valid_to is not None


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
