"""Never stuck: real `manage.py worker` processes killed (SIGKILL) at the claim and in the middle
of the copy, and real concurrent connections racing restores. On PostgreSQL only: it has the
concurrent writers and the separate progress connection these need (CI runs it there)."""

import contextlib
import datetime
import functools
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from backups import console, copies, engine, housekeeping, restores, undos
from backups.models import RestoreOperation
from environments import lineage, store
from environments.models import Environment
from portal.errors import Conflict
from tests.backups.workers import (
    POSTGRES_ONLY,
    at_once,
    blocker,
    wait_until,
    waiting_on_lock,
    worker_env,
)
from tests.factories import EnvironmentFactory, UserFactory, make_table

ROOT = Path(__file__).resolve().parents[2]
STALE_SECONDS = 2  # the workers here take a restore for dead after 2 s without a heartbeat

pytestmark = POSTGRES_ONLY


@pytest.fixture(autouse=True)
def _real_queue(settings):
    settings.TASKS_BACKEND = "default"  # the database queue: nothing runs until a worker does


def _environment(slug: str, env_type: str, rows: int, tables: int = 1):
    env = EnvironmentFactory(
        type=env_type,
        slug=slug,
        name=slug.title(),
        created_at=timezone.now() - datetime.timedelta(days=3),
    )
    for t in range(tables):
        table = make_table(env, f"table{t}")
        with store.changes(env) as cs:
            for n in range(rows):
                cs.create_row(table, {"name": f"{slug}-{t}-{n}"})
    return env


@pytest.fixture
def admin(db):
    return UserFactory(tenant_role="global_admin")


@pytest.fixture
def pair(admin):
    return _environment("src", "production", 200), _environment("dst", "sandbox", 50)


def _start_worker() -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "worker",
            "--no-startup-delay",
            "--no-reload",
            "--interval",
            "0.1",
        ],
        cwd=ROOT,
        env=worker_env(
            RESTORE_STALE_AFTER_SECONDS=str(STALE_SECONDS),
            RESTORE_HEARTBEAT_SECONDS="1",
            HOUSEKEEPING_INTERVAL_SECONDS="1",
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _stop(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        worker.kill()
    worker.wait(timeout=30)


def _end_dead_sessions(table: str) -> None:
    """The killed worker's database session is still waiting on the lock; PostgreSQL ends it
    once it notices the client is gone (on its next write, or TCP keepalive): end it now."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
            "wait_event_type = 'Lock' AND query ILIKE %s",
            [f"%{table}%"],
        )


def _freed(op: RestoreOperation):
    op.refresh_from_db()
    target = op.target
    target.refresh_from_db()
    return not op.is_active and target.is_ready and op


def _assert_freed_with_everything_closed(op, before, started):
    """The target reads as before, is Ready within the stale limit plus a round of
    housekeeping, and the operation and its task row say what happened."""
    freed = wait_until(lambda: _freed(op), timeout=STALE_SECONDS + 20, what="the sweep")
    took = time.monotonic() - started
    assert freed.status == "failed" and "Nothing was changed" in freed.error
    assert store.current(freed.target).as_dict() == before
    task = DBTaskResult.objects.get(pk=freed.task_id)
    assert task.status == TaskResultStatus.FAILED
    return took


def test_a_worker_killed_after_claiming_the_task_frees_the_target(admin, pair):
    source, target = pair
    before = store.current(target).as_dict()
    op = restores.restore_start(
        restores.RestoreRequest(
            source=source, target=target, moment=timezone.now(), requested_by=admin
        )
    )
    op.refresh_from_db()  # its task id, set once the queue took it
    lock = blocker()
    worker = None
    try:
        # Hold the operation's row: the worker claims the task, then waits to mark it running.
        lock.execute("SELECT 1 FROM backups_restoreoperation WHERE id = %s FOR UPDATE", [op.pk])
        worker = _start_worker()
        wait_until(
            lambda: DBTaskResult.objects.filter(
                pk=op.task_id, status=TaskResultStatus.RUNNING
            ).exists(),
            timeout=60,
            what="the worker to claim the task",
        )
        wait_until(
            lambda: waiting_on_lock("backups_restoreoperation"),
            timeout=30,
            what="the worker to wait on the operation",
        )
        worker.kill()
        worker.wait(timeout=30)
        _end_dead_sessions("backups_restoreoperation")
    finally:
        lock.rollback()
        lock.close()
        if worker is not None:
            _stop(worker)
    op.refresh_from_db()
    assert op.status == "queued"  # claimed, never started: what used to stay stuck for good
    killed = time.monotonic()
    replacement = _start_worker()  # what `make run` does when its worker dies
    try:
        took = _assert_freed_with_everything_closed(op, before, killed)
        assert "stopped before it began" in RestoreOperation.objects.get(pk=op.pk).error
        assert took < 60
        # Retry (support's action) restores exactly.
        support = UserFactory(is_staff=True)
        from django.contrib.auth.models import Group

        support.groups.add(Group.objects.get(name="Support staff"))
        retry = console.restore_retry(
            operation=RestoreOperation.objects.get(pk=op.pk), actor=support
        )
        done = wait_until(
            lambda: (
                not RestoreOperation.objects.get(pk=retry.pk).is_active
                and RestoreOperation.objects.get(pk=retry.pk)
            ),
            timeout=60,
            what="the retry",
        )
        assert done.status == "succeeded", done.error
        assert store.current(target).as_dict() == store.as_of(source, op.moment).as_dict()
    finally:
        _stop(replacement)


# The point inside a restore's transaction where a test holds its worker: once the new
# generation and its tables are made, attaching their partitions to the versions table (which
# waits while the test holds that table in SHARE UPDATE EXCLUSIVE mode; reads and writes go on).
COPY_STATEMENT = 'ALTER TABLE "environments_rowversion" ATTACH PARTITION'


@contextlib.contextmanager
def _held_mid_copy(op: RestoreOperation):
    """A worker that took `op` and is inside its transaction, past the generation's change,
    held there (attaching the new tables' partitions waits on the test's lock) until the block
    ends; yields the worker process. If the block leaves it alive, the restore is let go and
    run to its end."""
    lock = blocker()
    worker = _start_worker()
    try:
        lock.execute("LOCK TABLE environments_rowversion IN SHARE UPDATE EXCLUSIVE MODE")
        wait_until(
            lambda: (
                RestoreOperation.objects.filter(pk=op.pk, phase="copying").exists()
                and waiting_on_lock(COPY_STATEMENT)
            ),
            timeout=60,
            what="the worker to copy",
        )
        yield worker
    finally:
        alive = worker.poll() is None
        lock.rollback()
        lock.close()
        if alive:
            wait_until(lambda: _finished(op.pk), what="the held restore to end")
        _stop(worker)


def _kill_mid_copy(op: RestoreOperation, *, check_heartbeat=None) -> None:
    """A worker takes `op`, is held inside its copy, and is killed there (SIGKILL)."""
    with _held_mid_copy(op) as worker:
        if check_heartbeat:
            check_heartbeat()
        worker.kill()
        worker.wait(timeout=30)
        _end_dead_sessions(COPY_STATEMENT)


def test_a_worker_killed_mid_copy_frees_the_target_within_a_minute(admin, pair, settings):
    source, target = pair
    before = store.current(target).as_dict()
    op = restores.restore_start(
        restores.RestoreRequest(
            source=source, target=target, moment=timezone.now(), requested_by=admin
        )
    )
    op.refresh_from_db()  # its task id, set once the queue took it

    def heartbeat_outlives_the_stale_limit():
        progress = RestoreOperation.objects.get(pk=op.pk)
        assert (progress.status, progress.phase) == ("running", "copying")
        wait_until(
            lambda: (
                RestoreOperation.objects.get(pk=op.pk).heartbeat_at
                > progress.heartbeat_at + datetime.timedelta(seconds=STALE_SECONDS)
            ),
            timeout=30,
            what="heartbeats beyond the stale limit",
        )
        settings.RESTORE_STALE_AFTER = datetime.timedelta(seconds=STALE_SECONDS)
        assert housekeeping.restore_sweep_stale() == 0
        assert RestoreOperation.objects.get(pk=op.pk).status == "running"

    _kill_mid_copy(op, check_heartbeat=heartbeat_outlives_the_stale_limit)
    killed = time.monotonic()
    replacement = _start_worker()
    try:
        took = _assert_freed_with_everything_closed(op, before, killed)
        assert "stopped reporting" in RestoreOperation.objects.get(pk=op.pk).error
        assert took < 60
    finally:
        _stop(replacement)


def _finished(pk: int):
    op = RestoreOperation.objects.get(pk=pk)
    return not op.is_active and op


def test_an_undo_whose_worker_died_is_started_again_from_the_api_and_the_page(admin, pair, client):
    source, target = pair
    before = store.current(target).as_dict()
    client.force_login(admin)
    restore = restores.restore_start(
        restores.RestoreRequest(
            source=source, target=target, moment=timezone.now(), requested_by=admin
        )
    )
    worker = _start_worker()
    try:
        assert wait_until(lambda: _finished(restore.pk), what="the restore").status == "succeeded"
    finally:
        _stop(worker)
    undo_url = f"/api/v1/operations/{restore.pk}/undo"
    first = client.post(undo_url, content_type="application/json")
    assert first.status_code == 202, first.content
    undo = RestoreOperation.objects.get(pk=first.json()["id"])
    _kill_mid_copy(undo)
    worker = _start_worker()
    try:
        assert (
            wait_until(
                lambda: _finished(undo.pk), timeout=STALE_SECONDS + 20, what="the sweep"
            ).status
            == "failed"
        )
        # The API asks again: a new undo, not the failed one.
        again = client.post(undo_url, content_type="application/json")
        assert again.status_code == 202 and again.json()["id"] != undo.pk
        second = wait_until(lambda: _finished(again.json()["id"]), what="the second undo")
        assert second.status == "succeeded", second.error
        assert store.current(target).as_dict() == before
    finally:
        _stop(worker)
    # And the page: a failed undo there is asked for again the same way.
    undo_again = undos.restore_undo(operation=second, actor=admin)  # undo the undo
    _kill_mid_copy(undo_again)
    worker = _start_worker()
    try:
        wait_until(lambda: _finished(undo_again.pk), timeout=STALE_SECONDS + 20, what="the sweep")
        page = client.post(
            f"/restores/{second.pk}/undo/",
            {"confirm_name": target.name, "idempotency_key": "dialog-9"},
        )
        assert page.status_code == 302
        third = RestoreOperation.objects.filter(undo_of=second).exclude(pk=undo_again.pk).get()
        assert wait_until(lambda: _finished(third.pk), what="the page's undo").status == "succeeded"
    finally:
        _stop(worker)


@pytest.mark.parametrize(
    "requests",
    [
        # Crossed: A from B and B from A (each waited on the row the other had locked).
        [("sandbox-b", "sandbox-a"), ("sandbox-a", "sandbox-b")],
        # A chain: X over A while A over B (A would be overwritten while being read).
        [("prod-x", "sandbox-a"), ("sandbox-a", "sandbox-b")],
    ],
    ids=["crossed", "chain"],
)
def test_restores_that_meet_at_the_same_moment_each_get_an_answer(admin, requests):
    slugs = dict.fromkeys(slug for pair in requests for slug in pair)
    envs = {
        slug: _environment(slug, "production" if slug.startswith("prod") else "sandbox", 20)
        for slug in slugs
    }
    moment = timezone.now()
    for _ in range(5):
        results = at_once(
            [
                lambda s=source, t=target: restores.restore_start(
                    restores.RestoreRequest(
                        source=envs[s], target=envs[t], moment=moment, requested_by=admin
                    )
                )
                for source, target in requests
            ]
        )
        started = [r for r in results if isinstance(r, RestoreOperation)]
        refused = [r for r in results if isinstance(r, Conflict)]
        assert len(started) == 1 and len(refused) == 1, results  # no deadlock, no 500
        engine.restore_fail(operation=started[0], error="test: next round")


def test_the_same_request_twice_at_once_gets_the_one_operation(admin, pair):
    source, target = pair
    results = at_once(
        [
            lambda: restores.restore_start(
                restores.RestoreRequest(
                    source=source,
                    target=target,
                    moment=restores.LATEST,
                    requested_by=admin,
                    idempotency_key="deploy-9",
                )
            )
            for _ in range(4)
        ]
    )
    assert all(isinstance(r, RestoreOperation) for r in results), results
    assert len({r.pk for r in results}) == 1
    assert RestoreOperation.objects.count() == 1


def test_the_same_restore_into_a_new_sandbox_twice_at_once_makes_one(admin, pair):
    source, _ = pair
    results = at_once(
        [
            lambda: copies.restore_to_new(
                restores.RestoreRequest(
                    source=source,
                    moment=restores.LATEST,
                    requested_by=admin,
                    idempotency_key="deploy-10",
                ),
                name="Twice",
                slug="twice",
            )
            for _ in range(3)
        ]
    )
    assert all(isinstance(r, RestoreOperation) for r in results), results
    assert len({r.pk for r in results}) == 1
    assert Environment.objects.filter(slug="twice").count() == 1


def test_the_restore_commit_is_durable(admin, pair, monkeypatch):
    """A restore shown as Succeeded survives a crash of the database server: its transaction
    commits synchronously."""
    from backups import engine

    seen = []

    def look(operation, table):
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            seen.append(cursor.fetchone()[0])

    monkeypatch.setattr(engine, "after_table_copied", look)
    source, target = pair
    op = restores.restore_start(
        restores.RestoreRequest(
            source=source, target=target, moment=timezone.now(), requested_by=admin
        )
    )
    engine.restore_run(op.pk)
    assert seen == ["on"]


def _bulk_source(slug: str, tables: int, rows: int):
    """A production environment with `tables` tables of `rows` rows, written in SQL: big enough
    that a restore takes most of a second here, so that random kills land inside it."""
    env = EnvironmentFactory(
        type="production",
        slug=slug,
        name=slug.title(),
        created_at=timezone.now() - datetime.timedelta(days=3),
    )
    born = timezone.now() - datetime.timedelta(hours=1)
    for t in range(tables):
        table = make_table(env, f"table{t}")
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO environments_rowversion (table_id, key, valid_from, valid_to, "
                '"values", size, title) SELECT %s, key, %s, NULL, v, '
                "octet_length(key) + octet_length(v::text), v ->> 'name' "
                "FROM (SELECT lpad(g::text, 7, '0') AS key, jsonb_build_object('name', 'row ' || g)"
                " AS v FROM generate_series(1, %s) AS g) AS made",
                [table.pk, born, rows],
            )
    store.recount(env)
    return env


def _fingerprint(snapshot) -> list[tuple]:
    """Each table's name, row count and a digest of its keys and values, computed in SQL."""
    found = []
    for table in snapshot.tables():
        sql, params = lineage.copy_sql(table, snapshot.moment)  # through a branch's layers
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*), md5(coalesce(string_agg(r.key || '=' || r.\"values\"::text, "
                f"',' ORDER BY r.key), '')) FROM ({sql}) AS r",
                params,
            )
            found.append((table.name, *cursor.fetchone()))
    return found


# Points inside a restore's transaction where a round holds the worker before killing it: the
# lock a test connection takes, and the statement the worker then waits in.
HOLD_POINTS = {
    # mid-restore: the new generation and its tables are made, their partitions not attached
    "mid-restore": (
        "LOCK TABLE environments_rowversion IN SHARE UPDATE EXCLUSIVE MODE",
        COPY_STATEMENT,
    ),
}


@pytest.mark.slow
def test_killed_at_random_points_twenty_times_the_target_is_never_half_restored(admin):
    """Each round: a restore, its worker killed once it has claimed it, at a point held by a
    lock (mid-restore, with the generation changed) or at a random moment (at the claim, while it
    prepares, or just after the commit: a restore takes milliseconds), and a new worker. Every
    time the target either reads as before and is Ready within the stale limit, or holds
    exactly the restored data; after a failure a retry restores exactly."""
    source = _bulk_source("src", tables=4, rows=30_000)
    target = _environment("dst", "sandbox", 100)
    rng = random.Random(20261124)
    support = UserFactory(is_staff=True)
    from django.contrib.auth.models import Group

    support.groups.add(Group.objects.get(name="Support staff"))
    outcomes = []
    worker = _start_worker()
    try:
        for round_ in range(20):
            before = _fingerprint(store.current(target))
            moment = timezone.now()
            expected = _fingerprint(store.as_of(source, moment))
            point = rng.choice([*HOLD_POINTS, "anywhere"])
            lock = blocker()
            if point in HOLD_POINTS:
                lock.execute(HOLD_POINTS[point][0])
            op = restores.restore_start(
                restores.RestoreRequest(
                    source=source, target=target, moment=moment, requested_by=admin
                )
            )
            op.refresh_from_db()
            wait_until(
                lambda task_id=op.task_id: (
                    DBTaskResult.objects.filter(pk=task_id)
                    .exclude(status=TaskResultStatus.READY)
                    .exists()
                ),
                timeout=60,
                what=f"round {round_}: the worker to claim the restore",
            )
            if point in HOLD_POINTS:
                statement = HOLD_POINTS[point][1]
                wait_until(
                    lambda statement=statement: waiting_on_lock(statement),
                    what=f"round {round_}: the worker to reach {point}",
                )
            else:
                time.sleep(rng.uniform(0, 0.05))  # the random point of the kill, not a wait
            worker.kill()
            worker.wait(timeout=30)
            killed = time.monotonic()
            if point in HOLD_POINTS:
                _end_dead_sessions(HOLD_POINTS[point][1])
            lock.rollback()
            lock.close()
            worker = _start_worker()  # frees the target, runs the retry and the next round
            op = wait_until(
                functools.partial(_freed, op),
                timeout=STALE_SECONDS + 30,
                what=f"round {round_}: the restore to end or be freed",
            )
            if op.status == "succeeded":
                assert point == "anywhere", f"round {round_}: succeeded though held"
                assert _fingerprint(store.current(target)) == expected, (
                    f"round {round_}: half restored"
                )
            else:
                assert time.monotonic() - killed < STALE_SECONDS + 15
                assert _fingerprint(store.current(target)) == before, (
                    f"round {round_}: changed by a failed restore"
                )
                retry = console.restore_retry(operation=op, actor=support)
                done = wait_until(
                    functools.partial(_finished, retry.pk),
                    timeout=60,
                    what=f"round {round_}: the retry",
                )
                assert done.status == "succeeded", done.error
                assert _fingerprint(store.current(target)) == expected
            outcomes.append((point, op.status))
    finally:
        _stop(worker)
    held = [status for point, status in outcomes if point in HOLD_POINTS]
    assert len(held) >= 8 and set(held) == {"failed"}, outcomes


def test_a_restore_asked_for_while_another_copies_is_refused_at_once(admin, pair, settings):
    """A running restore holds its target's row for the whole copy: a new request over that
    target, or from it, is answered 409 at once instead of waiting behind it."""
    source, target = pair
    other = _environment("other", "sandbox", 10)
    op = restores.restore_start(
        restores.RestoreRequest(
            source=source, target=target, moment=timezone.now(), requested_by=admin
        )
    )
    with _held_mid_copy(op):
        results = at_once(
            [
                lambda: restores.restore_start(
                    restores.RestoreRequest(
                        source=source, target=target, moment=timezone.now(), requested_by=admin
                    )
                ),
                lambda: restores.restore_start(
                    restores.RestoreRequest(
                        source=target, target=other, moment=timezone.now(), requested_by=admin
                    )
                ),
            ]
        )
        assert all(isinstance(r, Conflict) for r in results), results
        assert RestoreOperation.objects.count() == 1
    assert RestoreOperation.objects.get(pk=op.pk).status == "succeeded"


def test_a_hung_worker_does_not_stop_the_sweep_freeing_a_dead_one(admin, pair, settings):
    """A worker that hangs (SIGSTOP) keeps its target's row: the sweep leaves that restore
    alone and still frees a dead one elsewhere."""
    source, target = pair
    other = _environment("other", "sandbox", 10)
    op = restores.restore_start(
        restores.RestoreRequest(
            source=source, target=target, moment=timezone.now(), requested_by=admin
        )
    )
    with _held_mid_copy(op) as worker:
        worker.send_signal(signal.SIGSTOP)
        try:
            # A second restore that will never run: recorded, but its queueing lost.
            dead = RestoreOperation.objects.create(
                source=source,
                target=other,
                moment=timezone.now(),
                requested_by=admin,
                idempotency_key="dead",
                created_at=timezone.now(),
                requested_point="x",
            )
            type(other).objects.filter(pk=other.pk).update(state="restoring")
            started = time.monotonic()
            later = timezone.now() + datetime.timedelta(minutes=5)
            assert housekeeping.restore_sweep_stale(now=later) == 1
            assert time.monotonic() - started < 10  # it did not wait on the hung worker's row
            dead.refresh_from_db()
            other.refresh_from_db()
            assert dead.status == "failed" and other.is_ready
            assert RestoreOperation.objects.get(pk=op.pk).status == "running"
        finally:
            worker.send_signal(signal.SIGCONT)
