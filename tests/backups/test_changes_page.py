"""The Changes page (and Deleted records), and putting rows back from it: Restore selected,
Restore all matching, Restore table, each confirmed, run, shown and undone; bad input gets a
clear message and changes nothing."""

import datetime
import html

import pytest
from django.urls import reverse

from backups.models import RestoreOperation
from environments import store
from tests.factories import ago, make_member, make_table

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
NAMES = [{"name": "name", "label": "Name", "type": "text"}]


def changes_url(**params):
    from urllib.parse import urlencode

    return reverse("backups:changes", args=["sales-sandbox"]) + (
        "?" + urlencode(params, doseq=True) if params else ""
    )


def put_back_url(**params):
    from urllib.parse import urlencode

    return reverse("backups:put-back", args=["sales-sandbox"]) + "?" + urlencode(params, doseq=True)


def names(env):
    return {k: v["name"] for k, v in store.current(env).as_dict()["accounts"].items()}


def page_text(response):
    return html.unescape(response.content.decode())


def test_the_changes_page_shows_the_last_24_hours_row_by_row(login, env_admin, incident):
    response = login(env_admin).get(changes_url())
    assert response.status_code == 200
    text = page_text(response)
    assert "Changes to Sales Sandbox" in text
    assert "Accounts 1 added, 1 changed, 1 deleted" in text
    page = response.context["page"]
    assert [(c.key, c.kind) for c in page.changes] == [
        ("x", "added"),
        ("b", "deleted"),
        ("a", "changed"),
    ]
    assert "oops" in text and "(empty)" in text


def test_deleted_records_is_the_same_page_filtered_to_deletes(login, env_admin, incident):
    response = login(env_admin).get(changes_url(kind="deleted"))
    text = page_text(response)
    assert "Deleted records of Sales Sandbox" in text
    assert [c.key for c in response.context["page"].changes] == ["b"]


def test_the_environment_page_offers_changes_and_deleted_records(login, env_admin, incident):
    text = page_text(login(env_admin).get(reverse("environments:detail", args=["sales-sandbox"])))
    assert changes_url() in text and f"{changes_url()}?kind=deleted" in text


def test_filters_by_who_and_search(login, env_admin, maker, incident):
    client = login(env_admin)
    by_maker = client.get(changes_url(who=maker.username)).context["page"].changes
    assert len(by_maker) == 3
    assert [c.key for c in client.get(changes_url(q="junk")).context["page"].changes] == ["x"]
    assert "No change matches these filters" in page_text(client.get(changes_url(who="nobody")))


@pytest.mark.parametrize(
    "params, message",
    [
        (
            {
                "from_date": "2026-11-20",
                "from_time": "11:00",
                "to_date": "2026-11-19",
                "to_time": "11:00",
                "tz": "UTC",
            },
            "must be before its end",
        ),
        ({"to_date": "2026-11-25", "to_time": "11:00", "tz": "UTC"}, "cannot be in the future"),
        (
            {"from_date": "2026-01-01", "from_time": "11:00", "tz": "UTC"},
            "no longer kept",
        ),
        (
            {"from_date": "2026-03-29", "from_time": "02:30", "tz": "Europe/Paris"},
            "does not exist in Europe/Paris",
        ),
        ({"table": "ghosts"}, "no table 'ghosts'"),
        ({"after": "garbage"}, "not valid"),
        ({"start": "yesterday", "end": "today"}, "not valid"),
        ({"tz": "Mars/Olympus"}, ""),
    ],
)
def test_bad_ranges_and_filters_are_said_clearly(login, env_admin, incident, params, message):
    response = login(env_admin).get(changes_url(**params))
    assert response.status_code == 200
    if message:
        assert message in page_text(response)


def test_paging_with_htmx_answers_the_list_alone(login, env_admin, incident):
    client = login(env_admin)
    first = client.get(changes_url())
    response = client.get(changes_url(), **HTMX)
    assert 'id="changes-list"' in response.content.decode()
    assert "<html" not in response.content.decode() and "<html" in first.content.decode()


def test_makers_cannot_open_the_changes_page_and_strangers_do_not_see_it(
    login, maker, outsider, incident
):
    assert login(maker).get(changes_url()).status_code == 403
    assert login(outsider).get(changes_url()).status_code in (403, 404)


def test_restore_selected_is_confirmed_then_puts_the_rows_back_and_can_be_undone(
    login, env_admin, incident, django_capture_on_commit_callbacks
):
    client = login(env_admin)
    span = {"start": ago(hours=3).isoformat(), "end": ago(hours=1).isoformat(), "table": "accounts"}
    confirm = client.get(put_back_url(mode="selected", keys=["a", "b", "x"], **span))
    text = page_text(confirm)
    assert confirm.status_code == 200
    assert "3 rows of Accounts go back" in text
    assert "1 deleted since comes back" in text and "1 added since is deleted" in text
    assert names(incident)["a"] == "oops"  # the confirmation changes nothing
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("backups:put-back", args=["sales-sandbox"]),
            {
                "mode": "selected",
                "keys": ["a", "b", "x"],
                **span,
                "keep_newer": "keep",
                "idempotency_key": "k1",
            },
        )
    op = RestoreOperation.objects.get()
    assert response.status_code == 302 and response.url == reverse(
        "backups:operation", args=[op.pk]
    )
    assert names(incident) == {"a": "A", "b": "B", "c": "C", "d": "D"}
    shown = page_text(client.get(response.url))
    assert "3 rows were put back" in shown and "Undo" in shown
    assert "3 chosen rows of accounts" in shown
    dialog = page_text(client.get(reverse("backups:undo", args=[op.pk])))
    assert f"Undo {op.label} of Sales Sandbox?" in dialog
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("backups:undo", args=[op.pk]), {"keep_newer": "keep", "idempotency_key": "u1"}
        )
    assert names(incident) == {"a": "oops", "c": "C", "d": "D", "x": "junk"}


def test_restore_all_matching_puts_back_every_row_the_filter_finds(
    login, env_admin, maker, incident, django_capture_on_commit_callbacks
):
    client = login(env_admin)
    params = {
        "mode": "matching",
        "start": ago(hours=3).isoformat(),
        "end": ago(hours=1).isoformat(),
        "table": "accounts",
        "who": maker.username,
        "keep_newer": "keep",
        "idempotency_key": "m1",
    }
    assert "3 rows of Accounts go back" in page_text(client.get(put_back_url(**params)))
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("backups:put-back", args=["sales-sandbox"]), params)
    assert names(incident) == {"a": "A", "b": "B", "c": "C", "d": "D"}


def test_restore_table_goes_back_whole(
    login, env_admin, incident, django_capture_on_commit_callbacks
):
    client = login(env_admin)
    params = {
        "mode": "table",
        "table": "accounts",
        "start": ago(hours=3).isoformat(),
        "end": ago(hours=1).isoformat(),
    }
    text = page_text(client.get(put_back_url(**params)))
    assert "Accounts will read as it did at" in text and "4 rows" in text
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("backups:put-back", args=["sales-sandbox"]),
            {**params, "keep_newer": "keep", "idempotency_key": "t1"},
        )
    assert names(incident) == {"a": "A", "b": "B", "c": "C", "d": "D"}
    assert RestoreOperation.objects.get().kind == "table"


def test_on_production_the_name_is_typed_and_a_wrong_one_changes_nothing(
    login, env_admin, production, clock, django_capture_on_commit_callbacks
):
    make_member(production, env_admin, "admin")
    clock.move_to(ago(days=1))
    table = make_table(production, "accounts", columns=NAMES)
    store.row_create(environment=production, table_name="accounts", values={"name": "A"}, key="a")
    clock.move_to(ago(hours=1))
    store.row_update(
        environment=production, table_name="accounts", key="a", values={"name": "oops"}
    )
    clock.move_to(ago(seconds=0))
    client = login(env_admin)
    url = reverse("backups:put-back", args=["sales"])
    params = {
        "mode": "selected",
        "keys": ["a"],
        "table": "accounts",
        "start": ago(hours=2).isoformat(),
        "end": ago(minutes=30).isoformat(),
        "keep_newer": "keep",
        "idempotency_key": "p1",
    }
    confirm = page_text(
        client.get(url + "?" + __import__("urllib.parse").parse.urlencode(params, doseq=True))
    )
    assert "Type Sales to confirm" in html.unescape(confirm).replace("<strong>", "").replace(
        "</strong>", ""
    )
    wrong = client.post(url, {**params, "confirm_name": "sales"})
    assert "Type Sales exactly" in page_text(wrong)
    assert not RestoreOperation.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(url, {**params, "confirm_name": "Sales"})
    assert store.current(production).as_dict()["accounts"]["a"]["name"] == "A"
    del table


def test_a_put_back_of_nothing_chosen_or_of_a_dropped_table_is_refused_on_the_page(
    login, env_admin, incident
):
    client = login(env_admin)
    span = {"start": ago(hours=3).isoformat(), "end": ago(hours=1).isoformat()}
    assert "Choose at least one row" in page_text(
        client.get(put_back_url(mode="selected", table="accounts", **span))
    )
    assert "has no table 'ghosts' now" in page_text(
        client.get(put_back_url(mode="selected", table="ghosts", keys=["a"], **span))
    )
    response = client.post(
        reverse("backups:put-back", args=["sales-sandbox"]),
        {"mode": "selected", "table": "ghosts", "keys": ["a"], **span, "keep_newer": "keep"},
    )
    assert response.status_code == 200 and "has no table 'ghosts' now" in page_text(response)
    assert not RestoreOperation.objects.exists()


def test_a_maker_cannot_put_rows_back(login, maker, incident):
    response = login(maker).get(put_back_url(mode="selected", table="accounts", keys=["a"]))
    assert response.status_code == 403


def test_the_restore_panel_links_the_rows_a_restore_would_replace(
    client_admin, source, target, clock
):
    page = client_admin.post(
        reverse("backups:restore", args=[source.slug]),
        {"pick": f"at:{ago(days=6).isoformat()}", "target": target.slug, "step": "preview"},
    )
    text = page_text(page)
    assert "See these changes to Contoso Test row by row" in text
    link = text.split("See these changes")[0].rsplit('href="', 1)[1].split('"')[0]
    listed = client_admin.get(link)
    assert listed.status_code == 200 and "Changes to Contoso Test" in page_text(listed)


def test_every_attribute_holds_plain_text(login, env_admin, incident):
    import re

    body = login(env_admin).get(changes_url(table="accounts")).content.decode()
    assert 'aria-label="Select row' in body
    assert not re.search(r'="[^"]*<', body), "markup inside an attribute"


def test_a_range_ending_at_a_time_takes_in_that_whole_second(login, env_admin, incident, clock):
    """The page fills To with now to the second; a change made later in that second is in."""
    clock.move_to(ago(seconds=0) + datetime.timedelta(milliseconds=400))
    store.row_delete(environment=incident, table_name="accounts", key="c")
    clock.move_to(ago(seconds=0) + datetime.timedelta(milliseconds=900))
    params = {"kind": "deleted", "to_date": "2026-11-20", "to_time": "12:00:00", "tz": "UTC"}
    changes = login(env_admin).get(changes_url(**params)).context["page"].changes
    assert [c.key for c in changes] == ["c", "b"]
