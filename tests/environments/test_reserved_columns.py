"""A column cannot take a name the portal uses itself: every row has a key of its own (shown
under "Key" beside the columns), the row form sends its CSRF token and keeps its columns, and a
row's title is its table's first text column (shown under "Title" by the Changes page and the
API). The New table page says so beside the field; the store refuses the same for every door."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from environments import store
from environments.models import DataTable

TEXT = {"type": "text"}


@pytest.mark.parametrize(
    "columns, message",
    [
        ([{"name": "key", **TEXT}], "'key' is a name the portal uses itself"),
        ([{"name": "name", **TEXT}, {"name": "columns", **TEXT}], "'columns' is a name"),
        ([{"name": "csrfmiddlewaretoken", **TEXT}], "'csrfmiddlewaretoken' is a name"),
        ([{"name": "code", "label": " KEY ", **TEXT}], "'KEY' is the heading of each row's own"),
        (
            [{"name": "name", **TEXT}, {"name": "title", **TEXT}],
            "Column 'title' cannot be called Title: a row's title is its table's first text or "
            "email column (name)",
        ),
        (
            [{"name": "name", **TEXT}, {"name": "heading", "label": "Title", **TEXT}],
            "Column 'heading' cannot be called Title",
        ),
        ([{"name": "title", "type": "integer"}], "first text or email column (none here)"),
    ],
)
def test_the_store_refuses_a_column_named_like_a_built_in(sandbox, columns, message):
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        store.table_create(environment=sandbox, name="things", display_name="", columns=columns)
    assert not DataTable.objects.filter(name="things").exists()


def test_the_title_column_may_be_called_title(sandbox):
    table = store.table_create(
        environment=sandbox,
        name="leads",
        display_name="",
        columns=[{"name": "title", **TEXT}, {"name": "owner_key", "label": "Owner key", **TEXT}],
    )
    assert [c["name"] for c in table.columns] == ["title", "owner_key"]


def _new_table(client, sandbox, *columns):
    data = {
        "name": "things",
        "columns-TOTAL_FORMS": str(len(columns)),
        "columns-INITIAL_FORMS": "0",
    }
    for n, (name, label) in enumerate(columns):
        data.update({f"columns-{n}-name": name, f"columns-{n}-label": label})
        data[f"columns-{n}-type"] = "text"
    return client.post(reverse("environments:table-create", args=[sandbox.slug]), data)


def test_the_new_table_page_says_it_beside_the_field_once(login, env_admin, sandbox):
    client = login(env_admin)
    page = _new_table(client, sandbox, ("name", ""), ("key", ""), ("code", "Key"))
    assert page.status_code == 200
    forms = page.context["columns"].forms
    assert forms[1].errors == {
        "name": [
            "'key' is a name the portal uses itself (every row has a key of its own); choose "
            "another column name."
        ]
    }
    assert forms[2].errors == {
        "label": ["'Key' is the heading of each row's own key; choose another label."]
    }
    html = page.content.decode()
    assert html.count("is a name the portal uses itself") == 1
    assert html.count("is the heading of each row&#x27;s own key") == 1
    # The title rule needs every column: it is the table's message, above them.
    page = _new_table(client, sandbox, ("name", ""), ("title", ""))
    assert page.context["form"].non_field_errors() == [
        "Column 'title' cannot be called Title: a row's title is its table's first text or "
        "email column (name). Call it otherwise, or make it the first text column."
    ]
    assert page.content.decode().count("cannot be called Title") == 1
    assert not DataTable.objects.filter(name="things").exists()
