"""The API puts chosen rows, the rows matching a filter, or a whole table back in place, shows
what it would do first, and undoes it; bad requests get a clear 4xx and change nothing."""

import pytest

from backups.models import RestoreOperation
from environments import store
from tests.factories import ago, make_member, make_table

pytestmark = pytest.mark.django_db

NAMES = [{"name": "name", "label": "Name", "type": "text"}]
BASE = "/environments/sales-sandbox/restore-rows"


def names(env):
    return {k: v["name"] for k, v in store.current(env).as_dict()["accounts"].items()}


RANGE = {"fromDateTime": ago(hours=3).isoformat(), "toDateTime": ago(hours=1).isoformat()}


def test_it_puts_chosen_rows_back_and_the_operation_can_be_undone(
    api_as, env_admin, incident, run_on_commit
):
    api = api_as(env_admin)
    response = run_on_commit(
        api.post, BASE, {"table": "accounts", "keys": ["a", "b", "x"], **RANGE}
    )
    assert response.status_code == 202, response.content
    op = response.json()
    assert (op["kind"], op["selection"]["keys"]) == ("rows", ["a", "b", "x"])
    polled = api.get(f"/operations/{op['id']}").json()
    assert polled["status"] == "succeeded" and polled["rowsCopied"] == 3
    assert names(incident) == {"a": "A", "b": "B", "c": "C", "d": "D"}
    undo = run_on_commit(api.post, f"/operations/{op['id']}/undo")
    assert undo.status_code == 202 and undo.json()["undoOfId"] == op["id"]
    assert names(incident) == {"a": "oops", "c": "C", "d": "D", "x": "junk"}


def test_the_preview_says_what_would_happen_and_changes_nothing(api_as, env_admin, maker, incident):
    response = api_as(env_admin).post(
        f"{BASE}/preview", {"table": "accounts", "matching": True, "who": maker.username, **RANGE}
    )
    assert response.status_code == 200, response.content
    assert {k: response.json()[k] for k in ("rows", "comeBack", "change", "go")} == {
        "rows": 3,
        "comeBack": 1,
        "change": 1,
        "go": 1,
    }
    assert names(incident)["a"] == "oops"


def test_all_matching_and_the_whole_table(api_as, env_admin, maker, incident, run_on_commit):
    api = api_as(env_admin)
    body = {"table": "accounts", "matching": True, "kind": "deleted", **RANGE}
    assert run_on_commit(api.post, BASE, body).status_code == 202
    assert names(incident)["b"] == "B" and names(incident)["a"] == "oops"
    whole = {
        "table": "accounts",
        "wholeTable": True,
        "restorePointDateTime": ago(hours=3).isoformat(),
    }
    op = run_on_commit(api.post, BASE, whole).json()
    assert op["kind"] == "table"
    assert names(incident) == {"a": "A", "b": "B", "c": "C", "d": "D"}


@pytest.mark.parametrize(
    "body, status, code, match",
    [
        ({"table": "accounts", "keys": [], **RANGE}, 400, "invalid", "at least 1 item"),
        ({"table": "accounts", "keys": ["a\u0000"], **RANGE}, 400, "invalid", "pattern"),
        (
            {
                "table": "accounts",
                "keys": ["a"],
                "fromDateTime": RANGE["toDateTime"],
                "toDateTime": RANGE["fromDateTime"],
            },
            422,
            "invalid",
            "before its end",
        ),
        ({"table": "accounts", "keys": ["a"]}, 422, "invalid", "Say the moment"),
        ({"table": "ghosts", "keys": ["a"], **RANGE}, 422, "invalid", "no table 'ghosts' now"),
        ({"table": "accounts", "matching": True}, 422, "invalid", "fromDateTime and toDateTime"),
        (
            {"table": "accounts", "keys": ["a"], "restorePointDateTime": ago(days=60).isoformat()},
            422,
            "invalid",
            "outside it",
        ),
        ({"table": "accounts", "keys": ["a"], "wholeTable": "yes"}, 400, "invalid", "boolean"),
    ],
)
def test_bad_requests_are_refused_and_change_nothing(
    api_as, env_admin, incident, body, status, code, match
):
    response = api_as(env_admin).post(BASE, body)
    assert response.status_code == status, response.content
    if code:
        assert match in response.json()["message"]
    assert not RestoreOperation.objects.exists()
    assert names(incident)["a"] == "oops"


def test_a_maker_is_refused(api_as, maker, incident):
    response = api_as(maker).post(BASE, {"table": "accounts", "keys": ["a"], **RANGE})
    assert response.status_code == 403


def test_on_production_too(api_as, env_admin, production, clock, run_on_commit):
    make_member(production, env_admin, "admin")
    clock.move_to(ago(days=1))
    make_table(production, "accounts", columns=NAMES)
    store.row_create(environment=production, table_name="accounts", values={"name": "A"}, key="a")
    clock.move_to(ago(hours=1))
    store.row_delete(environment=production, table_name="accounts", key="a")
    clock.move_to(ago(seconds=0))
    response = run_on_commit(
        api_as(env_admin).post,
        "/environments/sales/restore-rows",
        {"table": "accounts", "keys": ["a"], "restorePointDateTime": ago(hours=2).isoformat()},
    )
    assert response.status_code == 202, response.content
    assert store.current(production).as_dict()["accounts"]["a"]["name"] == "A"
