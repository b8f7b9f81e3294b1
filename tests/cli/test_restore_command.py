import os
import subprocess
import sys
import time

import pytest
from django.db import connection

from backups import services
from backups.models import RestoreOperation
from environments import store
from tests.cli.conftest import ROOT, database_url, manage
from tests.factories import EnvironmentFactory, UserFactory, ago, build_history


@pytest.fixture
def pair(db):
    admin = UserFactory(username="boss", tenant_role="global_admin")
    source = EnvironmentFactory(
        name="Contoso Prod", slug="contoso-prod", type="production", created_at=ago(days=40)
    )
    target = EnvironmentFactory(
        name="Contoso Test", slug="contoso-test", type="sandbox", created_at=ago(days=30)
    )
    return admin, source, target


def test_without_wait_it_says_the_restore_is_queued(run, settings, pair):
    settings.TASKS_BACKEND = "default"  # the database queue: nothing runs without a worker
    result = run(
        "restore",
        "--as",
        "boss",
        "--source",
        "contoso-prod",
        "--target",
        "contoso-test",
        "--latest",
        "--name",
        "Copy",
    )
    assert result.code == 0, result.err
    op = RestoreOperation.objects.get()
    assert f"Restore {op.pk}: Contoso Prod as of" in result.out
    assert "Queued. A worker (manage.py worker) runs it" in result.out
    assert f"/api/v1/operations/{op.pk}" in result.out
    assert (op.status, op.new_name) == ("queued", "Copy")


@pytest.mark.django_db(transaction=True)
def test_with_wait_it_prints_progress_until_done(run):
    admin = UserFactory(username="boss", tenant_role="global_admin")
    source = EnvironmentFactory(
        name="Contoso Prod", slug="contoso-prod", type="production", created_at=ago(days=40)
    )
    target = EnvironmentFactory(
        name="Contoso Test", slug="contoso-test", type="sandbox", created_at=ago(days=30)
    )
    build_history(source)
    moment = ago(days=2, hours=-1)
    expected = store.as_of(source, moment).as_dict()
    result = run(
        "restore",
        "--as",
        "boss",
        "--source",
        "contoso-prod",
        "--target",
        str(target.pk),
        "--at",
        moment.isoformat(),
        "--wait",
        "--poll-interval",
        "0.01",
    )
    assert result.code == 0, result.err
    assert "[100%] Done" in result.out
    assert "Done: restored 4 rows in 2 tables" in result.out
    assert "Contoso Test is in administration mode." in result.out
    assert store.current(target).as_dict() == expected
    assert admin.pk and RestoreOperation.objects.get().status == "succeeded"


def test_a_backup_can_be_named(run, settings, pair):
    admin, source, target = pair
    settings.TASKS_BACKEND = "default"
    backup = services.backup_create(environment=source, label="b", actor=admin)
    result = run(
        "restore",
        "--as",
        "boss",
        "--source",
        "contoso-prod",
        "--target",
        "contoso-test",
        "--backup",
        str(backup.pk),
    )
    assert result.code == 0, result.err
    assert RestoreOperation.objects.get().backup == backup


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--source", "contoso-prod", "--target", "contoso-prod", "--latest"],
            "Only sandbox environments can be restored to",
        ),
        (
            [
                "--source",
                "contoso-prod",
                "--target",
                "contoso-test",
                "--at",
                "2000-01-01T00:00:00+00:00",
            ],
            "outside that window",
        ),
        (["--source", "nowhere", "--target", "contoso-test", "--latest"], "no environment"),
        (
            ["--source", "contoso-prod", "--target", "contoso-test", "--backup", "424242"],
            "no backup 424242",
        ),
        (
            ["--source", "contoso-prod", "--target", "contoso-test", "--latest", "--name", " "],
            "1 to 100",
        ),
    ],
)
def test_refusals_exit_1_with_the_message_and_change_nothing(run, pair, args, message):
    result = run("restore", "--as", "boss", *args)
    assert result.code == 1 and message in result.err
    assert not RestoreOperation.objects.exists()


def test_a_busy_target_is_refused(run, settings, pair):
    settings.TASKS_BACKEND = "default"
    args = [
        "restore",
        "--as",
        "boss",
        "--source",
        "contoso-prod",
        "--target",
        "contoso-test",
        "--latest",
    ]
    assert run(*args).code == 0
    result = run(*args)
    assert result.code == 1 and "restoring" in result.err


def test_someone_who_does_not_manage_the_target_is_refused(run, pair, env_admin, sandbox):
    result = run(
        "restore",
        "--as",
        "envadmin",
        "--source",
        "contoso-prod",
        "--target",
        "contoso-test",
        "--latest",
    )
    assert result.code == 1 and "no environment 'contoso-test'" in result.err


@pytest.mark.parametrize(
    "at, message",
    [
        ("yesterday", "is not an ISO 8601"),
        ("2026-11-20T09:30:00", "give the offset too"),
    ],
)
def test_a_malformed_moment_is_bad_usage(run, pair, at, message):
    result = run(
        "restore",
        "--as",
        "boss",
        "--source",
        "contoso-prod",
        "--target",
        "contoso-test",
        "--at",
        at,
    )
    assert result.code == 2 and message in result.err


@pytest.mark.parametrize(
    "args, message",
    [
        (["--source", "a", "--target", "b"], "one of the arguments --at --backup --latest"),
        (["--source", "a", "--target", "b", "--latest", "--backup", "1"], "not allowed with"),
        (["--source", "a", "--target", "b", "--at", "soon"], "is not an ISO 8601"),
        (["--target", "b", "--latest"], "--source"),
        (["--source", "a", "--latest"], "one of the arguments --target --new is required"),
        (["--source", "a", "--target", "b", "--new", "c", "--latest"], "not allowed with"),
        (["--source", "a", "--new", "c", "--latest"], "--new needs --name"),
    ],
)
def test_bad_usage_exits_2_in_a_real_process(args, message):
    done = manage("restore", "--as", "x", *args)
    assert done.returncode == 2 and message in done.stderr, done.stderr


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="a worker process and --wait reading progress need PostgreSQL",
)
def test_wait_follows_a_restore_run_by_a_separate_worker(settings):
    UserFactory(username="boss", tenant_role="global_admin")
    source = EnvironmentFactory(
        name="Contoso Prod", slug="contoso-prod", type="production", created_at=ago(days=40)
    )
    EnvironmentFactory(
        name="Contoso Test", slug="contoso-test", type="sandbox", created_at=ago(days=30)
    )
    build_history(source)
    env = {"TASKS_BACKEND": "default"}
    restore = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "restore",
            "--as",
            "boss",
            "--source",
            "contoso-prod",
            "--target",
            "contoso-test",
            "--latest",
            "--wait",
            "--poll-interval",
            "0.1",
        ],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": database_url(), "DEBUG": "true", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    # The worker runs in batch mode (it stops when the queue is empty): start it once the
    # restore is in the queue.
    while not RestoreOperation.objects.exclude(task_id="").exists():
        assert time.monotonic() < deadline and restore.poll() is None, restore.communicate()
        time.sleep(0.05)
    worker = manage(
        "db_worker", "--batch", "--no-startup-delay", "--no-reload", "--interval", "0.2", env=env
    )
    assert worker.returncode == 0, worker.stdout + worker.stderr
    try:
        out, err = restore.communicate(timeout=60)
    finally:
        restore.kill()
    assert restore.returncode == 0, err
    assert "Waiting for a worker" in out or "Preparing" in out or "Copying" in out
    assert "[100%] Done" in out and "Done: restored 3 rows in 2 tables" in out


def test_latest_with_the_same_key_twice_is_one_restore(run, settings, pair):
    settings.TASKS_BACKEND = "default"
    args = (
        "restore",
        "--as",
        "boss",
        "--source",
        "contoso-prod",
        "--target",
        "contoso-test",
        "--latest",
        "--idempotency-key",
        "nightly-7",
    )
    first, again = run(*args), run(*args)
    assert first.code == again.code == 0, again.err
    op = RestoreOperation.objects.get()
    assert f"Restore {op.pk}:" in first.out and f"Restore {op.pk}:" in again.out


def test_new_makes_a_sandbox_in_the_sources_region_and_restores_into_it(run, settings, pair):
    settings.TASKS_BACKEND = "default"
    admin, source, _ = pair
    result = run(
        "restore", "--as", "boss", "--source", "contoso-prod", "--new", "contoso-copy",
        "--name", "Contoso Copy", "--latest",
    )  # fmt: skip
    assert result.code == 0, result.err
    op = RestoreOperation.objects.get()
    assert f"Restore {op.pk}: Contoso Prod as of" in result.out
    assert "into the new sandbox Contoso Copy." in result.out
    assert (op.target.slug, op.target.type, op.target.region, op.target.created_by) == (
        "contoso-copy",
        "sandbox",
        source.region,
        admin,
    )


def test_new_refuses_a_taken_url_name_and_changes_nothing(run, pair):
    result = run(
        "restore", "--as", "boss", "--source", "contoso-prod", "--new", "contoso-test",
        "--name", "Again", "--latest",
    )  # fmt: skip
    assert (result.code, result.err) == (1, "The URL name 'contoso-test' is taken.")
    assert not RestoreOperation.objects.exists()


def test_copy_makes_a_schema_only_copy_in_a_new_sandbox(run, settings, pair):
    settings.TASKS_BACKEND = "default"
    result = run(
        "copy", "--as", "boss", "--source", "contoso-prod", "--new", "contoso-schema",
        "--name", "Contoso Schema", "--schema-only",
    )  # fmt: skip
    assert result.code == 0, result.err
    op = RestoreOperation.objects.get()
    assert result.out.startswith(f"Copy {op.pk}: Contoso Prod as of ")
    assert "into the new sandbox Contoso Schema." in result.out
    assert (op.kind, op.target.slug) == ("copy_schema", "contoso-schema")


def test_copy_over_a_sandbox_and_its_refusals(run, settings, pair):
    settings.TASKS_BACKEND = "default"
    ok = run("copy", "--as", "boss", "--source", "contoso-prod", "--target", "contoso-test")
    assert ok.code == 0, ok.err
    assert RestoreOperation.objects.get().kind == "copy"
    refused = run("copy", "--as", "boss", "--source", "contoso-test", "--target", "contoso-prod")
    assert refused.code == 1 and "Only sandbox environments" in refused.err
    usage = manage("copy", "--as", "boss", "--source", "contoso-prod")
    assert usage.returncode == 2 and "one of the arguments --target --new" in usage.stderr
