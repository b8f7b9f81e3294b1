"""The restore engine with real concurrency: threads racing restore_start, and a real
`manage.py db_worker` process that runs a restore, or is killed in the middle of one."""

import datetime
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.db import connections
from django.utils import timezone

from backups import housekeeping, restores
from backups.models import ManualBackup, RestoreOperation
from environments import store
from environments.models import Generation
from portal.errors import Conflict
from tests.backups.workers import (
    POSTGRES_ONLY,
    blocker,
    wait_until,
    waiting_on_lock,
    worker_env,
)
from tests.factories import EnvironmentFactory, UserFactory, make_table

ROOT = Path(__file__).resolve().parents[2]

pytestmark = POSTGRES_ONLY


@pytest.fixture(autouse=True)
def _real_queue(settings):
    settings.TASKS_BACKEND = "default"  # the database queue: nothing runs until a worker does


@pytest.fixture
def pair(db):
    admin = UserFactory(tenant_role="global_admin")
    source = EnvironmentFactory(
        type="production", slug="src", created_at=timezone.now() - datetime.timedelta(days=3)
    )
    target = EnvironmentFactory(
        type="sandbox", slug="dst", created_at=timezone.now() - datetime.timedelta(days=3)
    )
    for env, prefix in ((source, "s"), (target, "t")):
        table = make_table(env, "accounts")
        with store.changes(env) as cs:
            for n in range(300):
                cs.create_row(table, {"name": f"{prefix}{n}"})
    return admin, source, target


def _start_worker() -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "db_worker",
            "--batch",
            "--no-startup-delay",
            "--no-reload",
            "--interval",
            "0.2",
        ],
        cwd=ROOT,
        env=worker_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_concurrent_restore_starts_on_one_target_start_exactly_one(pair):
    admin, source, target = pair
    moment = timezone.now() - datetime.timedelta(minutes=1)
    barrier = threading.Barrier(6)
    outcomes: list[str] = []

    def attempt(n: int) -> None:
        try:
            barrier.wait()
            restores.restore_start(
                restores.RestoreRequest(
                    source=source,
                    target=target,
                    moment=moment,
                    requested_by=admin,
                    idempotency_key=f"k{n}",
                )
            )
            outcomes.append("started")
        except Conflict:
            outcomes.append("conflict")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict"] * 5 + ["started"]
    assert RestoreOperation.objects.filter(target=target).count() == 1


def test_a_real_worker_runs_the_restore(pair):
    admin, source, target = pair
    moment = timezone.now()
    expected = store.as_of(source, moment).as_dict()
    op = restores.restore_start(
        restores.RestoreRequest(source=source, target=target, moment=moment, requested_by=admin)
    )
    worker = _start_worker()
    output, _ = worker.communicate(timeout=120)
    assert worker.returncode == 0, output
    op.refresh_from_db()
    assert op.status == "succeeded", (op.error, output)
    assert op.rows_copied == op.rows_total == 300
    assert store.current(target).as_dict() == expected


def test_a_worker_killed_mid_restore_leaves_the_target_unchanged_and_the_sweep_frees_it(pair):
    admin, source, target = pair
    before = store.current(target).as_dict()
    generations = list(Generation.objects.filter(environment=target).values_list("pk", "valid_to"))
    op = restores.restore_start(
        restores.RestoreRequest(
            source=source, target=target, moment=timezone.now(), requested_by=admin
        )
    )
    lock = blocker()
    worker = None
    try:
        # The restore's last step writes the audit log: hold that table so the worker stops
        # there, with every row already copied inside its open transaction.
        lock.execute("LOCK TABLE portal_auditevent IN EXCLUSIVE MODE")
        worker = _start_worker()
        wait_until(lambda: waiting_on_lock("portal_auditevent"), what="the worker to block")
        # Progress is readable from here while the restore's transaction is still open.
        progress = RestoreOperation.objects.get(pk=op.pk)
        assert (progress.status, progress.phase) == ("running", "finishing")
        assert progress.rows_copied == progress.rows_total == 300
        assert store.current(target).as_dict() == before  # nothing visible yet
        worker.kill()
        worker.wait(timeout=30)
    finally:
        lock.rollback()
        lock.close()
        if worker and worker.poll() is None:
            worker.kill()
    assert (
        housekeeping.restore_sweep_stale(now=timezone.now() + datetime.timedelta(minutes=10)) == 1
    )
    op.refresh_from_db()
    target.refresh_from_db()
    assert op.status == "failed" and "stopped reporting" in op.error
    assert target.state == "ready" and not target.admin_mode
    assert store.current(target).as_dict() == before
    assert (
        list(Generation.objects.filter(environment=target).values_list("pk", "valid_to"))
        == generations
    )
    assert not ManualBackup.objects.filter(environment=target).exists()
