"""CSV exports from the browser (environments/export_views.py): a table as it was at a moment
and the Changes list, streamed a chunk of rows at a time; bad input and refusals get a page
that says what is wrong."""

import csv
import io

import pytest
from django.db import connection
from django.http import StreamingHttpResponse
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from environments import csv_export, data_reads, store
from tests.factories import NOW, ago, make_table

pytestmark = pytest.mark.usefixtures("clock")


def table_url(slug="contoso-prod", table="accounts"):
    return reverse("environments:table-export", args=[slug, table])


def changes_url(slug="contoso-prod"):
    return reverse("environments:changes-export", args=[slug])


def parsed(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8"), newline="")))


@pytest.fixture
def many_rows(sandbox, clock):
    """1,000 rows made 2 hours ago, then every tenth renamed and the first hundred deleted an
    hour ago: the table as it was 90 minutes ago differs from now."""
    clock.move_to(ago(hours=2))
    accounts = make_table(sandbox)
    with store.changes(sandbox) as cs:
        for i in range(1000):
            cs.create_row(
                accounts,
                {"name": f'Company {i}, "quoted"\nline', "employees": i, "active": i % 2 == 0},
                key=f"{i:06d}",
            )
    clock.move_to(ago(hours=1))
    with store.changes(sandbox) as cs:
        for i in range(0, 1000, 10):
            cs.update_row(accounts, f"{i:06d}", {"name": f"Renamed {i}"})
        for i in range(100):
            cs.delete_row(accounts, f"{i:06d}")
    clock.move_to(NOW)
    return accounts


def test_a_table_of_many_rows_streams_in_pieces_and_equals_the_rows_at_the_moment(
    client_admin, sandbox, many_rows, monkeypatch
):
    monkeypatch.setattr(data_reads, "EXPORT_CHUNK", 128)
    monkeypatch.setattr(csv_export, "PIECE_BYTES", 4 * 1024)
    moment = ago(minutes=90)
    response = client_admin.get(
        table_url("sales-sandbox"), {"at": moment.isoformat().replace("+00:00", "Z")}
    )
    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        'attachment; filename="sales-sandbox-accounts-20261120T103000Z.csv"'
    )
    # Nothing is read before the response is iterated; then a statement per chunk of rows.
    with CaptureQueriesContext(connection) as queries:
        pieces = list(response.streaming_content)
    reads = [q["sql"] for q in queries.captured_queries if "LIMIT 128" in q["sql"]]
    assert len(reads) == 8  # 1,000 rows, 128 a statement
    assert len(pieces) > 10 and all(len(p) < 5 * 1024 for p in pieces)

    rows = parsed(b"".join(pieces))
    snapshot = store.as_of(sandbox, moment)
    expected = [
        [r.key, *(csv_export.cell(r.values.get(c["name"])) for c in many_rows.columns)]
        for r in snapshot.rows(many_rows)
    ]
    assert rows[0] == ["Key", *(c["label"] for c in many_rows.columns)]
    assert rows[1:] == expected and len(expected) == 1000
    assert rows[1][:5] == ["000000", 'Company 0, "quoted"\nline', "0", "", "true"]


def test_a_table_without_a_moment_is_exported_as_it_is_now(client_admin, sandbox, many_rows):
    response = client_admin.get(table_url("sales-sandbox"))
    rows = parsed(b"".join(response.streaming_content))
    assert len(rows) == 1 + 900 and rows[1][0] == "000100" and rows[1][1] == "Renamed 100"


def test_the_changes_export_lists_every_matching_change(client_admin, sandbox, many_rows):
    response = client_admin.get(
        changes_url("sales-sandbox"), {"from": ago(minutes=90).isoformat(), "kind": "deleted"}
    )
    assert isinstance(response, StreamingHttpResponse)
    rows = parsed(b"".join(response.streaming_content))
    assert rows[0] == csv_export.CHANGE_HEADER
    deleted = {(r[1], r[3]) for r in rows[1:]}
    assert deleted == {(f"{i:06d}", "deleted") for i in range(100)}
    # One line per field each deleted row had: its name, employees and active (false is a value).
    assert len(rows) - 1 == 100 * 3


def test_the_changes_export_defaults_to_the_last_day(client_admin, source):
    response = client_admin.get(changes_url())
    rows = parsed(b"".join(response.streaming_content))
    assert response["Content-Disposition"] == (
        'attachment; filename="contoso-prod-changes-20261119T120000Z-20261120T120000Z.csv"'
    )
    assert rows == [csv_export.CHANGE_HEADER]  # a was deleted exactly 24 hours ago: not after


def test_an_unencoded_plus_in_the_offset_is_read_as_one(client_admin, source):
    response = client_admin.get(table_url() + "?at=2026-11-19T01:00:00+01:00")
    assert response.status_code == 200
    assert "20261119T000000Z" in response["Content-Disposition"]


@pytest.mark.parametrize(
    "query, message",
    [
        ({"at": "yesterday"}, "is not a moment"),
        ({"at": "2026-11-19T10:00:00"}, "has no offset"),
    ],
)
def test_bad_input_gets_a_page_that_says_what_is_wrong(client_admin, source, query, message):
    response = client_admin.get(table_url(), query)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert "This export cannot be made" in response.content.decode()


def test_a_moment_outside_the_window_or_a_reversed_range_is_refused_with_a_page(
    client_admin, source
):
    old = client_admin.get(table_url(), {"at": ago(days=29).isoformat()})
    assert old.status_code == 422 and "no longer kept" in old.content.decode()
    reversed_range = client_admin.get(
        changes_url(), {"from": ago(days=1).isoformat(), "to": ago(days=2).isoformat()}
    )
    assert reversed_range.status_code == 422
    assert "must be before its end" in reversed_range.content.decode()
    ghosts = client_admin.get(changes_url(), {"table": "ghosts"})
    assert ghosts.status_code == 422 and "no table" in ghosts.content.decode()
    bad_kind = client_admin.get(changes_url(), {"kind": "moved"})
    assert bad_kind.status_code == 400


def test_an_unknown_table_is_404(client_admin, source):
    assert client_admin.get(table_url(table="ghosts")).status_code == 404
    # contacts did not exist 2 days and an hour ago.
    then = client_admin.get(table_url(table="contacts"), {"at": ago(days=2, hours=1).isoformat()})
    assert then.status_code == 404


def test_makers_export_unless_in_administration_mode_and_outsiders_see_nothing(
    client, sandbox, accounts, maker, outsider
):
    client.force_login(outsider)
    assert client.get(table_url("sales-sandbox")).status_code == 404
    client.force_login(maker)
    assert client.get(table_url("sales-sandbox")).status_code == 200
    assert client.get(changes_url("sales-sandbox")).status_code == 200
    sandbox.admin_mode = True
    sandbox.save(update_fields=["admin_mode"])
    assert client.get(table_url("sales-sandbox")).status_code == 403
    assert client.get(changes_url("sales-sandbox")).status_code == 403


def test_an_export_needs_a_signed_in_user(client, source):
    response = client.get(table_url())
    assert response.status_code == 302 and "login" in response["Location"]


def test_a_restored_table_exports_the_rows_it_reads_from_its_source(
    client_admin, source, target, admin, run_restore, monkeypatch
):
    monkeypatch.setattr(data_reads, "EXPORT_CHUNK", 2)  # the layers merged chunk after chunk
    run_restore(source=source, target=target, requested_by=admin, moment=ago(hours=36))
    store.row_update(environment=target, table_name="accounts", key="b", values={"name": "Beta 3"})
    rows = parsed(b"".join(client_admin.get(table_url("contoso-test")).streaming_content))
    assert [r[:2] for r in rows[1:]] == [["a", "Alpha"], ["b", "Beta 3"], ["c", "Gamma"]]
    assert store.current(target).table("accounts").base_id is not None  # read through lineage


def test_the_changes_export_takes_the_changes_pages_query_string(client_admin, source):
    query = {"start": ago(days=4).isoformat(), "end": NOW.isoformat(), "table": "contacts"}
    response = client_admin.get(changes_url(), query)
    rows = parsed(b"".join(response.streaming_content))
    assert [r[:4] for r in rows[1:]] == [["contacts", "x", "x@example.com", "added"]]
