"""The API's reads of an environment's data: tables and rows now or at a moment, one row, one
row's history, the changes between two moments and their counts, and the CSV exports; with the
refusals each gets (a moment outside the window, a reversed range, unknown tables and keys, a
bad page link), never a 500.

`source` (tests/factories.build_history): accounts a, b made 3 days ago; 2 days ago b renamed
"Beta 2", c added, contacts made with x; 1 day ago a deleted."""

import csv
import io

import pytest
from django.http import StreamingHttpResponse

from environments import store
from environments.models import ChangeBatch
from tests.api.conftest import assert_error
from tests.factories import NOW, EnvironmentFactory, ago, make_table

pytestmark = pytest.mark.usefixtures("clock")

BASE = "/environments/contoso-prod"


def iso(moment):
    return moment.isoformat().replace("+00:00", "Z")


def keys(body):
    return [r["key"] for r in body["rows"]]


def csv_of(response):
    assert isinstance(response, StreamingHttpResponse)
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


# -- tables and rows ---------------------------------------------------------------------------


def test_it_lists_the_tables_now_with_their_row_counts(api, source):
    body = api.get(f"{BASE}/tables").json()
    assert body["asOfDateTime"] is None and body["environmentId"] == source.pk
    assert [(t["name"], t["rows"]) for t in body["tables"]] == [("accounts", 2), ("contacts", 1)]
    accounts = body["tables"][0]
    assert accounts["displayName"] == "Accounts"
    assert accounts["columns"][0] == {"name": "name", "label": "Account name", "type": "text"}


def test_it_lists_the_tables_as_they_were_at_a_moment(api, source):
    moment = ago(days=2, hours=12)  # before contacts was made
    body = api.get(f"{BASE}/tables", params={"asOf": iso(moment)}).json()
    assert body["asOfDateTime"] == iso(moment)
    assert [(t["name"], t["rows"]) for t in body["tables"]] == [("accounts", 2)]


def test_it_pages_a_tables_rows_by_key_at_a_moment(api, source):
    params = {"asOf": iso(ago(hours=36)), "limit": 2}
    first = api.get(f"{BASE}/tables/accounts/rows", params=params).json()
    assert keys(first) == ["a", "b"] and first["next"] == "b"
    assert first["rows"][1] == {"key": "b", "title": "Beta 2", "values": first["rows"][1]["values"]}
    second = api.get(f"{BASE}/tables/accounts/rows", params={**params, "after": "b"}).json()
    assert keys(second) == ["c"] and second["next"] is None
    # Now, a is gone.
    assert keys(api.get(f"{BASE}/tables/accounts/rows").json()) == ["b", "c"]


def test_a_page_after_the_last_key_is_empty(api, source):
    body = api.get(f"{BASE}/tables/accounts/rows", params={"after": "zzz"}).json()
    assert body == {"asOfDateTime": None, "table": "accounts", "rows": [], "next": None}


def test_it_searches_rows_by_key_and_by_the_start_of_their_title_at_a_moment(api, source):
    then = api.get(
        f"{BASE}/tables/accounts/rows", params={"q": "beta", "asOf": iso(ago(days=2, hours=1))}
    ).json()
    assert [(r["key"], r["title"]) for r in then["rows"]] == [("b", "Beta")]
    now = api.get(f"{BASE}/tables/accounts/rows", params={"q": "beta"}).json()
    assert [(r["key"], r["title"]) for r in now["rows"]] == [("b", "Beta 2")]
    by_key = api.get(f"{BASE}/tables/accounts/rows", params={"q": "c"}).json()
    assert keys(by_key) == ["c"]


def test_search_pages_go_on_from_the_next_token_or_a_bare_key(api, sandbox, accounts):
    with store.changes(sandbox) as cs:
        for i in range(5):
            cs.create_row(accounts, {"name": f"Acme {i}"}, key=f"k{i}")
        cs.create_row(accounts, {"name": "Other"}, key="z")
    url = "/environments/sales-sandbox/tables/accounts/rows"
    first = api.get(url, params={"q": "acme", "limit": 2}).json()
    assert keys(first) == ["k0", "k1"] and first["next"] == "k1~ACME 1"
    second = api.get(url, params={"q": "acme", "limit": 2, "after": first["next"]}).json()
    assert keys(second) == ["k2", "k3"]
    from_key = api.get(url, params={"q": "acme", "limit": 2, "after": "k3"}).json()
    assert keys(from_key) == ["k4"] and from_key["next"] is None


def test_one_row_now_or_at_a_moment(api, source):
    then = api.get(f"{BASE}/tables/accounts/rows/a", params={"asOf": iso(ago(hours=36))})
    assert then.status_code == 200
    assert then.json()["values"]["name"] == "Alpha"
    assert_error(api.get(f"{BASE}/tables/accounts/rows/a"), 404, "not_found", match="no row 'a'")


def test_unknown_tables_and_keys_are_404_with_a_message(api, source):
    assert_error(api.get(f"{BASE}/tables/ghosts/rows"), 404, "not_found", match="no table")
    assert_error(
        api.get(f"{BASE}/tables/contacts/rows", params={"asOf": iso(ago(days=2, hours=1))}),
        404,
        "not_found",
        match="no table 'contacts' at",
    )
    assert_error(api.get(f"{BASE}/tables/accounts/rows/nope"), 404, "not_found")
    assert_error(api.get(f"{BASE}/tables/accounts/rows/bad%20key"), 404, "not_found")
    assert_error(api.get(f"{BASE}/tables/Bad%20Name/rows"), 404, "not_found")


# -- moments the history cannot be read at -------------------------------------------------------


def test_a_moment_in_the_future_is_refused(api, source):
    response = api.get(f"{BASE}/tables", params={"asOf": iso(ago(hours=-1))})
    assert_error(response, 422, "refused", field="asOf", match="is in the future")


def test_a_moment_before_the_window_is_refused(api, source):
    response = api.get(f"{BASE}/tables/accounts/rows", params={"asOf": iso(ago(days=29))})
    assert_error(response, 422, "refused", field="asOf", match="no longer kept")


def test_a_moment_before_the_environment_existed_is_refused(api, db):
    EnvironmentFactory(slug="young", name="Young", created_at=ago(days=2))
    response = api.get("/environments/young/tables", params={"asOf": iso(ago(days=3))})
    assert_error(response, 422, "refused", field="asOf", match="Young was created at")


def test_a_moment_that_is_not_iso_text_is_bad_input(api, source):
    for bad in ("yesterday", "2026-11-19", "1700000000"):
        response = api.get(f"{BASE}/tables", params={"asOf": bad})
        assert_error(response, 400, "invalid", field="asOf")


def test_a_nul_in_a_search_is_bad_input(api, source):
    response = api.get(f"{BASE}/tables/accounts/rows", params={"q": "a\x00"})
    assert_error(response, 400, "invalid", field="q")


def test_a_search_page_link_for_a_row_that_is_not_there_is_refused(api, source):
    response = api.get(f"{BASE}/tables/accounts/rows", params={"q": "b", "after": "nope"})
    assert_error(response, 422, "refused", field="after", match="page link is not valid")


# -- who may read ------------------------------------------------------------------------------


def test_a_maker_reads_the_data_of_their_environment_and_nobody_else_sees_it(
    api_as, maker, outsider, sandbox, accounts
):
    assert api_as(maker).get("/environments/sales-sandbox/tables").status_code == 200
    assert_error(api_as(outsider).get("/environments/sales-sandbox/tables"), 404, "not_found")
    sandbox.admin_mode = True
    sandbox.save(update_fields=["admin_mode"])
    assert_error(
        api_as(maker).get("/environments/sales-sandbox/tables/accounts/rows"),
        403,
        "forbidden",
        match="administration mode",
    )


# -- one row's history -------------------------------------------------------------------------


def test_a_rows_history_lists_its_changes_newest_first_with_the_fields_before_and_after(
    api, source
):
    body = api.get(f"{BASE}/tables/accounts/rows/b/history").json()
    assert body["table"] == "accounts" and body["key"] == "b"
    changed, added = body["entries"]
    assert (changed["kind"], added["kind"]) == ("changed", "added")
    assert changed["who"] == "Unknown" and changed["dateTime"].startswith("2026-11-18T12:00:00")
    assert changed["changedFields"] == [
        {"column": "name", "label": "Account name", "before": "Beta", "after": "Beta 2"}
    ]
    assert changed["before"]["name"] == "Beta" and changed["after"]["name"] == "Beta 2"
    assert added["before"] is None and added["restoredFrom"] is None and body["next"] is None


def test_a_restored_rows_history_goes_on_into_its_source_as_its_page_shows_it(
    api, admin, source, target, run_restore, clock
):
    clock.move_to(ago(hours=1))
    op = run_restore(source=source, target=target, moment=ago(days=1, hours=12), requested_by=admin)
    assert op.status == "succeeded", op.error
    clock.move_to(ago(minutes=30))
    store.row_update(
        environment=target, table_name="accounts", key="b", values={"name": "Beta 3"},
        by=store.Author.person(admin),
    )  # fmt: skip
    clock.move_to(NOW)
    body = api.get(f"/environments/{target.slug}/tables/accounts/rows/b/history").json()
    assert [(e["kind"], e["who"]) for e in body["entries"]] == [
        ("changed", admin.username),
        ("restored", None),
        ("changed", "Unknown"),
        ("added", "Unknown"),
    ]
    restored = body["entries"][1]
    assert restored["restoredFrom"] == {
        "environment": "Contoso Prod",
        "dateTime": iso(ago(days=1, hours=12)),
    }
    assert restored["changedFields"] == [] and restored["before"] is None
    # The same entries, one a page, through `next` (which crosses into the source's versions).
    kinds, after = [], None
    while True:
        params = {"limit": 1, **({"after": after} if after else {})}
        page = api.get(f"/environments/{target.slug}/tables/accounts/rows/b/history", params=params)
        kinds += [e["kind"] for e in page.json()["entries"]]
        after = page.json()["next"]
        if after is None:
            break
    assert kinds == ["changed", "restored", "changed", "added"]


def test_the_history_of_a_row_of_a_table_as_of_a_moment(api, source):
    # contacts was made 2 days ago: before that, the environment had no such table.
    early = {"asOf": iso(ago(days=2, hours=12))}
    response = api.get(f"{BASE}/tables/contacts/rows/x/history", params=early)
    assert_error(response, 404, "not_found", match="has no table 'contacts' at")
    body = api.get(f"{BASE}/tables/contacts/rows/x/history", params={"asOf": iso(ago(hours=1))})
    assert [e["kind"] for e in body.json()["entries"]] == ["added"]


def test_a_deleted_rows_history_is_still_there_and_pages(api, source):
    first = api.get(f"{BASE}/tables/accounts/rows/a/history", params={"limit": 1}).json()
    assert [e["kind"] for e in first["entries"]] == ["deleted"] and first["next"]
    assert first["entries"][0]["after"] is None
    rest = api.get(f"{BASE}/tables/accounts/rows/a/history", params={"after": first["next"]}).json()
    assert [e["kind"] for e in rest["entries"]] == ["added"] and rest["next"] is None


def test_the_history_says_who_made_each_change(api, sandbox, accounts, maker, clock):
    store.row_create(
        environment=sandbox,
        table_name="accounts",
        values={"name": "Fabrikam"},
        key="f",
        by=store.Author.person(maker, via=ChangeBatch.Via.API),
    )
    body = api.get("/environments/sales-sandbox/tables/accounts/rows/f/history").json()
    assert [e["who"] for e in body["entries"]] == ["maker (API)"]


def test_a_row_with_no_history_and_no_row_is_404(api, source, clock):
    assert_error(api.get(f"{BASE}/tables/accounts/rows/zz/history"), 404, "not_found")
    assert_error(api.get(f"{BASE}/tables/ghosts/rows/a/history"), 404, "not_found")
    quiet = EnvironmentFactory(slug="quiet", name="Quiet", created_at=ago(days=40))
    make_table(quiet)
    body = api.get("/environments/quiet/tables/accounts/rows/q/history")
    assert_error(body, 404, "not_found")
    store.row_create(environment=quiet, table_name="accounts", values={"name": "A"}, key="q")
    body = api.get("/environments/quiet/tables/accounts/rows/q/history").json()
    assert [e["kind"] for e in body["entries"]] == ["added"]


def test_a_bad_history_page_link_is_refused(api, source):
    response = api.get(f"{BASE}/tables/accounts/rows/a/history", params={"after": "garbage"})
    assert_error(response, 422, "refused", field="after", match="page link is not valid")


# -- the changes between two moments -------------------------------------------------------------


def test_the_changes_default_to_the_last_24_hours(api, source, clock):
    clock.move_to(ago(hours=23))
    body = api.get(f"{BASE}/changes").json()
    assert body["fromDateTime"] == iso(ago(hours=47)) and body["toDateTime"] == iso(ago(hours=23))
    assert [(c["table"], c["key"], c["kind"]) for c in body["changes"]] == [
        ("accounts", "a", "deleted")
    ]
    deleted = body["changes"][0]
    assert deleted["title"] == "Alpha" and deleted["after"] is None
    assert deleted["changedFields"][0] == {
        "column": "name",
        "label": "Account name",
        "before": "Alpha",
        "after": None,
    }


def test_the_changes_between_two_moments_page_newest_first_with_the_filters(api, source):
    params = {"from": iso(ago(days=4)), "to": iso(NOW), "limit": 3}
    first = api.get(f"{BASE}/changes", params=params).json()
    # Newest first; changes of one moment by table, then key, descending.
    listed = [(c["key"], c["kind"]) for c in first["changes"]]
    assert listed == [("a", "deleted"), ("x", "added"), ("c", "added")]
    second = api.get(f"{BASE}/changes", params={**params, "after": first["next"]}).json()
    assert [(c["key"], c["kind"]) for c in second["changes"]] == [
        ("b", "changed"),
        ("b", "added"),
        ("a", "added"),
    ]
    assert second["next"] is None
    only = api.get(f"{BASE}/changes", params={**params, "table": "contacts"}).json()
    assert [c["key"] for c in only["changes"]] == ["x"]
    deletes = api.get(f"{BASE}/changes", params={**params, "kind": "deleted"}).json()
    assert [c["key"] for c in deletes["changes"]] == ["a"]
    # The start of the title as written: changelog compares it as the database does (LIKE).
    searched = api.get(f"{BASE}/changes", params={**params, "q": "Gam"}).json()
    assert [c["key"] for c in searched["changes"]] == ["c"]
    nobody = api.get(f"{BASE}/changes", params={**params, "who": "nobody"}).json()
    assert nobody["changes"] == [] and nobody["next"] is None


def test_the_counts_say_per_table_how_many_rows_were_added_changed_and_deleted(api, source):
    params = {"from": iso(ago(days=4))}
    body = api.get(f"{BASE}/changes/counts", params=params).json()
    assert body["toDateTime"] == iso(NOW)
    assert body["tables"] == [
        {
            "table": "accounts",
            "displayName": "Accounts",
            "added": 3,
            "changed": 1,
            "deleted": 1,
            "total": 5,
        },
        {
            "table": "contacts",
            "displayName": "Contacts",
            "added": 1,
            "changed": 0,
            "deleted": 0,
            "total": 1,
        },
    ]
    deletes = api.get(f"{BASE}/changes/counts", params={**params, "kind": "deleted"}).json()
    assert [(t["table"], t["total"]) for t in deletes["tables"]] == [("accounts", 1)]


def test_restores_in_the_range_are_listed_apart(api, source, target, admin, run_restore):
    run_restore(source=source, target=target, requested_by=admin, moment=ago(hours=36))
    body = api.get("/environments/contoso-test/changes").json()
    assert [r["reason"] for r in body["restores"]] and body["changes"] == []


def test_a_reversed_range_is_refused(api, source):
    response = api.get(f"{BASE}/changes", params={"from": iso(ago(days=1)), "to": iso(ago(days=2))})
    assert_error(response, 422, "refused", field="from", match="before its end")


def test_a_range_outside_the_window_is_refused(api, source):
    too_old = api.get(f"{BASE}/changes/counts", params={"from": iso(ago(days=30))})
    assert_error(too_old, 422, "refused", field="from", match="no longer kept")
    future = api.get(f"{BASE}/changes", params={"to": iso(ago(days=-1))})
    assert_error(future, 422, "refused", field="to", match="future")


def test_a_table_filter_the_range_never_had_is_refused(api, source):
    response = api.get(f"{BASE}/changes", params={"table": "ghosts"})
    assert_error(response, 422, "refused", field="table", match="no table 'ghosts'")


def test_a_bad_changes_page_link_or_kind_is_refused(api, source):
    assert_error(
        api.get(f"{BASE}/changes", params={"after": "not-a-cursor"}),
        422,
        "refused",
        match="page link is not valid",
    )
    assert_error(api.get(f"{BASE}/changes", params={"kind": "moved"}), 400, "invalid", "kind")


# -- CSV ---------------------------------------------------------------------------------------


def test_a_table_exports_as_csv_as_it_was_at_a_moment(api, source):
    response = api.get(f"{BASE}/tables/accounts/rows.csv", params={"asOf": iso(ago(hours=36))})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert (
        'filename="contoso-prod-accounts-20261119T000000Z.csv"' in response["Content-Disposition"]
    )
    rows = csv_of(response)
    assert rows[0] == [
        "Key",
        "Account name",
        "Employees",
        "Revenue",
        "Active",
        "Founded",
        "Tier",
        "Email",
    ]
    assert [r[:2] for r in rows[1:]] == [["a", "Alpha"], ["b", "Beta 2"], ["c", "Gamma"]]


def test_the_changes_export_as_csv_one_line_per_changed_field(api, source):
    params = {"from": iso(ago(days=4)), "table": "accounts"}
    response = api.get(f"{BASE}/changes.csv", params=params)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = csv_of(response)
    assert rows[0] == [
        "table", "key", "title", "kind", "when", "who", "field", "label", "before", "after",
    ]  # fmt: skip
    assert rows[1] == [
        "accounts", "a", "Alpha", "deleted", "2026-11-19T12:00:00+00:00", "Unknown", "name",
        "Account name", "Alpha", "",
    ]  # fmt: skip
    # A deletion lists the fields the row had, an addition those it was given (a boolean is
    # stored false when not ticked); a change only the fields that changed.
    assert [(r[1], r[3], r[6], r[8], r[9]) for r in rows[2:]] == [
        ("a", "deleted", "active", "false", ""),
        ("c", "added", "name", "", "Gamma"),
        ("c", "added", "active", "", "false"),
        ("b", "changed", "name", "Beta", "Beta 2"),
        ("b", "added", "name", "", "Beta"),
        ("b", "added", "active", "", "false"),
        ("a", "added", "name", "", "Alpha"),
        ("a", "added", "active", "", "false"),
    ]


def test_a_csv_export_is_refused_in_json_before_it_starts(api, source):
    assert_error(
        api.get(f"{BASE}/tables/accounts/rows.csv", params={"asOf": iso(ago(days=29))}),
        422,
        "refused",
        field="asOf",
    )
    assert_error(api.get(f"{BASE}/tables/ghosts/rows.csv"), 404, "not_found")
    ghosts = api.get(f"{BASE}/changes.csv", params={"table": "ghosts"})
    assert_error(ghosts, 422, "refused", "table")


def test_the_exports_are_in_the_schema_as_csv(api, db):
    paths = api.get("/openapi.json").json()["paths"]
    for path in (
        "/api/v1/environments/{environment}/tables/{table}/rows.csv",
        "/api/v1/environments/{environment}/changes.csv",
    ):
        assert list(paths[path]["get"]["responses"]["200"]["content"]) == ["text/csv"]


def test_the_counts_of_a_table_the_range_never_had_are_refused_too(api, source):
    response = api.get(f"{BASE}/changes/counts", params={"table": "ghosts"})
    assert_error(response, 422, "refused", field="table", match="no table 'ghosts'")


def test_a_trial_is_read_only_as_it_is_now_and_keeps_no_history_of_changes(api, db, clock):
    trial = EnvironmentFactory(slug="trial-1", name="Trial", type="trial", created_at=ago(days=2))
    make_table(trial)
    assert api.get("/environments/trial-1/tables").json()["tables"][0]["name"] == "accounts"
    then = api.get("/environments/trial-1/tables", params={"asOf": iso(ago(days=1))})
    assert_error(then, 422, "refused", field="asOf", match="Trial is a trial environment")
    changes = api.get("/environments/trial-1/changes")
    assert_error(changes, 422, "refused", match="keeps no history of its changes")
