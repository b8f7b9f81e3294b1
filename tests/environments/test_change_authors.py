"""Who made each change: every write transaction records its author beside its timestamp."""

import pytest
from django.urls import reverse

from environments import store
from environments.models import ChangeBatch, author_label


def batch_at(env):
    return ChangeBatch.objects.filter(environment=env).latest("at")


def test_a_row_added_in_the_data_browser_is_recorded_as_the_person_who_added_it(
    login, maker, sandbox, accounts
):
    response = login(maker).post(
        reverse("environments:row-create", args=["sales-sandbox", "accounts"]),
        {"name": "Fabrikam", "employees": "5"},
    )
    assert response.status_code == 302
    batch = batch_at(sandbox)
    assert (batch.via, batch.author, batch.author_name) == ("portal", maker, maker.username)
    assert batch.author_label == maker.username


def test_an_edit_and_a_delete_in_the_data_browser_record_their_author(
    login, env_admin, sandbox, accounts
):
    row = store.row_create(environment=sandbox, table_name="accounts", values={"name": "A"})
    client = login(env_admin)
    client.post(
        reverse("environments:row-edit", args=["sales-sandbox", "accounts", row.key]),
        {"name": "B"},
    )
    edited = batch_at(sandbox)
    client.post(reverse("environments:row-delete", args=["sales-sandbox", "accounts", row.key]))
    deleted = batch_at(sandbox)
    assert edited.at < deleted.at
    assert {edited.author, deleted.author} == {env_admin}


def test_a_write_without_a_named_author_is_recorded_as_unknown(sandbox, accounts):
    store.row_create(environment=sandbox, table_name="accounts", values={"name": "A"})
    batch = batch_at(sandbox)
    assert (batch.via, batch.author, batch.author_label) == ("unknown", None, "Unknown")


def test_the_system_writing_on_someones_behalf_says_so(sandbox, accounts, env_admin):
    by = store.Author.person(env_admin, via=ChangeBatch.Via.UNDO)
    with store.changes(sandbox, by=by) as cs:
        cs.create_row(accounts, {"name": "A"})
    assert batch_at(sandbox).author_label == f"{env_admin.username} (undo)"


def test_the_authors_name_stays_when_the_user_goes(sandbox, accounts, maker):
    store.row_create(
        environment=sandbox,
        table_name="accounts",
        values={"name": "A"},
        by=store.Author.person(maker),
    )
    name = maker.username
    maker.delete()
    batch = batch_at(sandbox)
    assert (batch.author, batch.author_label) == (None, name)


@pytest.mark.parametrize(
    "via, label",
    [("api", "alex (API)"), ("command", "alex (command line)"), ("restore", "alex (restore)")],
)
def test_each_door_is_named_after_the_person(via, label):
    assert author_label(via, "alex") == label
