"""manage.py data: tables, rows, one row, a row's history, the changes and their counts, now or
at a moment, and the CSV exports, as the acting user reads them; exit 1 with the reason when
refused, 2 for bad usage.

`source` (tests/factories.build_history): accounts a, b made 3 days ago; 2 days ago b renamed
"Beta 2", c added, contacts made with x; 1 day ago a deleted."""

import csv
import io
import json

import pytest

from tests.cli.conftest import manage
from tests.factories import ago

pytestmark = pytest.mark.usefixtures("clock")

AS = ("--as", "global")
AT_36H = ("--at", "2026-11-19T00:00:00Z")


@pytest.fixture
def reader(run, global_admin, source):
    def _data(*args):
        return run("data", *args, *AS)

    return _data


def test_it_lists_the_tables_now_and_at_a_moment(reader):
    now = reader("tables", "contoso-prod")
    assert now.code == 0
    assert "Contoso Prod, as it is now:" in now.out
    assert "accounts  Accounts  2" in now.out and "contacts" in now.out
    then = reader("tables", "contoso-prod", "--at", "2026-11-17T23:00:00+00:00")
    assert "as it was at 2026-11-17 23:00:00 UTC" in then.out
    assert "accounts" in then.out and "contacts" not in then.out


def test_it_pages_rows_at_a_moment_and_says_how_to_read_the_next_page(reader):
    first = reader("rows", "contoso-prod", "accounts", *AT_36H, "--limit", "2")
    assert first.code == 0
    lines = first.out.splitlines()
    assert lines[0] == "Accounts in Contoso Prod, as it was at 2026-11-19 00:00:00 UTC:"
    assert lines[1].startswith("KEY  ACCOUNT NAME  EMPLOYEES")
    assert [line.split()[0] for line in lines[2:4]] == ["a", "b"]
    assert lines[-1] == "More: --after b"
    rest = reader("rows", "contoso-prod", "accounts", *AT_36H, "--after", "b")
    assert "Gamma" in rest.out and "More:" not in rest.out


def test_it_searches_rows_and_prints_json_as_the_api_does(reader):
    result = reader("rows", "contoso-prod", "accounts", "--search", "gam", "--json")
    body = json.loads(result.out)
    assert body["asOfDateTime"] is None and body["next"] is None
    assert [r["key"] for r in body["rows"]] == ["c"]
    assert body["rows"][0]["values"]["name"] == "Gamma"


def test_it_shows_one_row_at_a_moment(reader):
    result = reader("row", "contoso-prod", "accounts", "a", *AT_36H)
    assert result.code == 0 and "Account name  Alpha" in result.out
    gone = reader("row", "contoso-prod", "accounts", "a")
    assert gone.code == 1 and "no row 'a'" in gone.err


def test_it_shows_a_rows_history(reader):
    result = reader("history", "contoso-prod", "accounts", "b")
    assert result.code == 0
    assert "changed  Unknown  Account name: 'Beta' -> 'Beta 2'" in result.out
    assert "added" in result.out
    body = json.loads(reader("history", "contoso-prod", "accounts", "b", "--json").out)
    assert [e["kind"] for e in body["entries"]] == ["changed", "added"]


def test_it_lists_the_changes_and_their_counts_with_the_filters(reader):
    result = reader("changes", "contoso-prod", "--from", "2026-11-16T00:00:00Z", "--limit", "2")
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[1].split() == ["WHEN", "TABLE", "KEY", "TITLE", "KIND", "WHO", "FIELDS"]
    assert lines[2].split()[3:7] == ["accounts", "a", "Alpha", "deleted"]
    token = result.out.splitlines()[-1].removeprefix("More: --after ")
    rest = reader("changes", "contoso-prod", "--from", "2026-11-16T00:00:00Z", "--after", token)
    assert "Gamma" in rest.out and "deleted" not in rest.out
    counts = reader("counts", "contoso-prod", "--from", "2026-11-16T00:00:00Z", "--json")
    body = json.loads(counts.out)
    assert [(t["table"], t["added"], t["changed"], t["deleted"]) for t in body["tables"]] == [
        ("accounts", 3, 1, 1),
        ("contacts", 1, 0, 0),
    ]
    deletes = reader("changes", "contoso-prod", "--from", "2026-11-16T00:00:00Z", "--kind",
                     "deleted", "--json")  # fmt: skip
    assert [c["key"] for c in json.loads(deletes.out)["changes"]] == ["a"]


def test_it_exports_a_table_as_csv_to_stdout(reader):
    result = reader("export", "contoso-prod", "accounts", *AT_36H)
    assert result.code == 0
    rows = list(csv.reader(io.StringIO(result.out)))
    assert rows[0][:2] == ["Key", "Account name"]
    assert [r[:2] for r in rows[1:]] == [["a", "Alpha"], ["b", "Beta 2"], ["c", "Gamma"]]


def test_it_exports_the_changes_to_a_file_whole(reader, tmp_path):
    path = tmp_path / "changes.csv"
    result = reader("export-changes", "contoso-prod", "--from", "2026-11-16T00:00:00Z",
                    "--table", "contacts", "--output", str(path))  # fmt: skip
    assert result.code == 0 and str(path) in result.err
    rows = list(csv.reader(path.open(newline="", encoding="utf-8")))
    assert [r[:4] for r in rows[1:]] == [["contacts", "x", "x@example.com", "added"]]
    assert list(tmp_path.iterdir()) == [path]


def test_a_refused_export_writes_no_file(reader, tmp_path):
    path = tmp_path / "old.csv"
    result = reader("export", "contoso-prod", "accounts", "--at", ago(days=29).isoformat(),
                    "--output", str(path))  # fmt: skip
    assert result.code == 1 and "no longer kept" in result.err
    assert list(tmp_path.iterdir()) == []
    unwritable = reader("export", "contoso-prod", "accounts", "-o", str(tmp_path / "no" / "x"))
    assert unwritable.code == 1 and "Cannot write" in unwritable.err


@pytest.mark.parametrize(
    "args, message",
    [
        (("tables", "contoso-prod", "--at", "2026-11-21T00:00:00Z"), "in the future"),
        (("rows", "contoso-prod", "ghosts"), "no table 'ghosts'"),
        (("history", "contoso-prod", "accounts", "zz"), "no row 'zz'"),
        (
            (
                "changes",
                "contoso-prod",
                "--from",
                "2026-11-20T00:00:00Z",
                "--to",
                "2026-11-19T00:00:00Z",
            ),
            "before its end",
        ),  # fmt: skip
        (("changes", "contoso-prod", "--after", "nonsense"), "page link is not valid"),
        (("counts", "contoso-prod", "--table", "ghosts"), "no table 'ghosts'"),
        (("tables", "nowhere"), "no environment 'nowhere'"),
    ],
)
def test_refusals_exit_1_with_the_reason(reader, args, message):
    result = reader(*args)
    assert result.code == 1 and message in result.err


def test_a_maker_reads_their_environment_but_not_in_administration_mode(
    run, maker, sandbox, accounts
):
    assert run("data", "tables", "sales-sandbox", "--as", "maker").code == 0
    sandbox.admin_mode = True
    sandbox.save(update_fields=["admin_mode"])
    refused = run("data", "tables", "sales-sandbox", "--as", "maker")
    assert refused.code == 1 and "administration mode" in refused.err


def test_bad_usage_exits_2():
    not_a_moment = manage("data", "tables", "contoso-prod", "--at", "tomorrow", "--as", "global")
    assert not_a_moment.returncode == 2 and "--at" in not_a_moment.stderr
    no_actor = manage("data", "tables", "contoso-prod")
    assert no_actor.returncode == 2 and "--as" in no_actor.stderr
    bad_limit = manage("data", "rows", "contoso-prod", "accounts", "--limit", "0", "--as", "global")
    assert bad_limit.returncode == 2 and "--limit" in bad_limit.stderr
