"""manage.py restore_rows: chosen rows, all matching, a whole table, a preview, an undo; bad
usage exits 2, refusals 1, and nothing changes."""

import pytest

from backups.models import RestoreOperation
from environments import store
from tests.factories import ago

pytestmark = pytest.mark.django_db

NAMES = [{"name": "name", "label": "Name", "type": "text"}]


def names(env):
    return {k: v["name"] for k, v in store.current(env).as_dict()["accounts"].items()}


def rows(run, *args, user="envadmin"):
    return run("restore_rows", "--as", user, *args)


@pytest.fixture
def as_admin(env_admin):
    return env_admin.username


def test_chosen_rows_go_back_and_the_undo_brings_today_back(
    run, as_admin, incident, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        result = rows(
            run,
            "sales-sandbox",
            "--table",
            "accounts",
            "--keys",
            "a,b,x",
            "--at",
            ago(hours=3).isoformat(),
            user=as_admin,
        )
    assert result.code == 0, result.err
    op = RestoreOperation.objects.get()
    assert f"Restore rows #{op.pk}: 3 chosen rows of accounts in Sales Sandbox" in result.out
    op.refresh_from_db()
    assert (op.status, op.rows_copied) == ("succeeded", 3)
    assert names(incident) == {"a": "A", "b": "B", "c": "C", "d": "D"}
    with django_capture_on_commit_callbacks(execute=True):
        undone = rows(run, "--undo", str(op.pk), user=as_admin)
    assert undone.code == 0, undone.err
    assert names(incident) == {"a": "oops", "c": "C", "d": "D", "x": "junk"}


def test_the_preview_changes_nothing(run, as_admin, maker, incident):
    result = rows(
        run,
        "sales-sandbox",
        "--table",
        "accounts",
        "--matching",
        "--who",
        maker.username,
        "--from",
        ago(hours=3).isoformat(),
        "--to",
        ago(hours=1).isoformat(),
        "--preview",
        user=as_admin,
    )
    assert result.code == 0, result.err
    assert "3 rows of Accounts as they were at" in result.out
    assert "1 come back, 1 get their old values, 1 go" in result.out
    assert not RestoreOperation.objects.exists() and names(incident)["a"] == "oops"


def test_a_whole_table(run, as_admin, incident, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        result = rows(
            run,
            "sales-sandbox",
            "--table",
            "accounts",
            "--whole-table",
            "--at",
            ago(hours=3).isoformat(),
            user=as_admin,
        )
    assert result.code == 0, result.err
    assert names(incident) == {"a": "A", "b": "B", "c": "C", "d": "D"}


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["sales-sandbox", "--table", "accounts"], 2, "--keys, --matching or --whole-table"),
        (["--table", "accounts", "--keys", "a"], 2, "Name the environment"),
        (["sales-sandbox", "--table", "accounts", "--keys", "a", "--at", "yesterday"], 2, "--at"),
        (
            [
                "sales-sandbox",
                "--table",
                "accounts",
                "--matching",
                "--at",
                ago(hours=3).isoformat(),
            ],
            2,
            "--from and --to",
        ),
        (
            ["sales-sandbox", "--table", "ghosts", "--keys", "a", "--at", ago(hours=3).isoformat()],
            1,
            "no table 'ghosts' now",
        ),
        (["--undo", "999999"], 1, "no operation 999999"),
    ],
)
def test_bad_usage_and_refusals_change_nothing(run, as_admin, incident, args, code, message):
    result = rows(run, *args, user=as_admin)
    assert result.code == code, (result.out, result.err)
    assert message in result.err
    assert not RestoreOperation.objects.exists() and names(incident)["a"] == "oops"


def test_a_maker_is_refused(run, maker, incident):
    result = rows(
        run,
        "sales-sandbox",
        "--table",
        "accounts",
        "--keys",
        "a",
        "--at",
        ago(hours=3).isoformat(),
        user=maker.username,
    )
    assert result.code == 1 and "admin center is for" in result.err
