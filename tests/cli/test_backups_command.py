import pytest

from backups import services
from backups.models import ManualBackup
from tests.cli.conftest import manage
from tests.factories import EnvironmentFactory, ago


@pytest.fixture
def checkpoint(sandbox, env_admin):
    return services.backup_create(environment=sandbox, label="Checkpoint", actor=env_admin)


def test_it_lists_the_window_and_the_manual_backups(run, env_admin, checkpoint):
    result = run("backups", "list", "sales-sandbox", "--as", "envadmin")
    assert result.code == 0
    assert "Sales Sandbox (sales-sandbox): any moment from" in result.out
    assert "(7 days of system backups)" in result.out
    assert f"{checkpoint.pk} " in result.out and "Checkpoint" in result.out
    assert "envadmin" in result.out


def test_it_creates_edits_and_deletes_a_backup(run, env_admin, sandbox):
    result = run(
        "backups",
        "create",
        "sales-sandbox",
        "--label",
        "Before deploy",
        "--notes",
        "v2",
        "--as",
        "envadmin",
    )
    assert result.code == 0 and "Created backup" in result.out
    backup = ManualBackup.objects.get()
    assert (backup.label, backup.notes, backup.created_by) == ("Before deploy", "v2", env_admin)
    result = run(
        "backups", "edit", str(sandbox.pk), str(backup.pk), "--notes", "v3", "--as", "envadmin"
    )
    assert result.code == 0
    backup.refresh_from_db()
    assert (backup.label, backup.notes) == ("Before deploy", "v3")
    result = run("backups", "delete", "sales-sandbox", str(backup.pk), "--as", "envadmin")
    assert result.code == 0 and "Deleted backup" in result.out
    assert not ManualBackup.objects.exists()


def test_a_rule_refusal_exits_1_with_the_message(run, global_admin, db):
    EnvironmentFactory(slug="trial-1", type="trial", created_at=ago(days=3))
    result = run("backups", "create", "trial-1", "--label", "x", "--as", "global")
    assert result.code == 1 and "no manual backups" in result.err
    assert not ManualBackup.objects.exists()


def test_someone_who_does_not_manage_it_is_refused(run, maker, env_admin, sandbox, production):
    result = run("backups", "list", "sales", "--as", "envadmin")
    assert result.code == 1 and "no environment 'sales'" in result.err
    result = run("backups", "list", "sales", "--as", "maker")
    assert result.code == 1


def test_an_unknown_backup_is_refused(run, env_admin, sandbox):
    result = run("backups", "delete", "sales-sandbox", "999999", "--as", "envadmin")
    assert result.code == 1 and "has no backup 999999" in result.err


def test_edit_without_a_change_is_bad_usage(run, env_admin, checkpoint):
    result = run("backups", "edit", "sales-sandbox", str(checkpoint.pk), "--as", "envadmin")
    assert result.code == 2 and "--label, --notes" in result.err


def test_bad_arguments_exit_2_in_a_real_process():
    done = manage("backups", "edit", "sales-sandbox", "not-a-number", "--as", "x")
    assert done.returncode == 2 and "invalid int value" in done.stderr
    done = manage("backups", "create", "sales-sandbox", "--as", "x")
    assert done.returncode == 2 and "--label" in done.stderr


@pytest.mark.parametrize("ref", ["²", "①", "٣"])
def test_non_ascii_digits_name_no_environment(run, global_admin, sandbox, ref):
    result = run("backups", "list", ref, "--as", "global")
    assert result.code == 1 and "no environment" in result.err
