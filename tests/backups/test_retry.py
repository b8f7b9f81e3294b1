"""Support's Retry goes through the rules of a new request and says what really happened."""

import pytest

from backups import console, copies, engine, restores, undos
from backups.models import RestoreOperation
from portal.errors import Conflict, Refused
from tests.factories import ago

pytestmark = pytest.mark.usefixtures("clock")


def boom(operation, table):
    raise RuntimeError("boom")


@pytest.fixture
def failing(monkeypatch):
    """Restores fail while on; `failing(False)` lets them succeed."""

    def switch(on: bool = True):
        monkeypatch.setattr(engine, "after_table_copied", boom if on else lambda op, t: None)

    switch()
    return switch


def retry(staff, op, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        new = console.restore_retry(operation=op, actor=staff)
    new.refresh_from_db()
    return new


def test_a_retry_that_failed_can_be_retried_again_as_a_new_operation(
    admin, staff, source, target, run_restore, failing, django_capture_on_commit_callbacks
):
    failed = run_restore(source=source, target=target, moment=ago(days=1), requested_by=admin)
    first = retry(staff, failed, django_capture_on_commit_callbacks)
    assert first.status == "failed" and first.retry_of == failed
    failing(False)
    second = retry(staff, failed, django_capture_on_commit_callbacks)
    assert second.pk not in (failed.pk, first.pk) and second.status == "succeeded"
    with pytest.raises(Refused, match=f"already retried, successfully, as {second.pk}"):
        console.restore_retry(operation=failed, actor=staff)


def test_a_retry_under_way_is_not_started_twice(admin, staff, source, target, run_restore, failing):
    failed = run_restore(source=source, target=target, moment=ago(days=1), requested_by=admin)
    queued = console.restore_retry(operation=failed, actor=staff)  # on_commit not run: queued
    with pytest.raises(Conflict, match=f"already being retried as {queued.pk}"):
        console.restore_retry(operation=failed, actor=staff)


def test_a_failed_undo_is_not_retried_once_the_restore_was_undone_another_way(
    admin, staff, source, target, run_restore, failing, django_capture_on_commit_callbacks
):
    failing(False)
    restore = run_restore(source=source, target=target, moment=ago(days=1), requested_by=admin)
    failing()
    with django_capture_on_commit_callbacks(execute=True):
        failed_undo = undos.restore_undo(operation=restore, actor=admin)
    failed_undo.refresh_from_db()
    assert failed_undo.status == "failed"
    failing(False)
    with django_capture_on_commit_callbacks(execute=True):
        undos.restore_undo(operation=restore, actor=admin)  # undone from the page instead
    with pytest.raises(Refused, match="This undo cannot run again"):
        console.restore_retry(operation=failed_undo, actor=staff)
    assert RestoreOperation.objects.filter(retry_of=failed_undo).count() == 0


def test_a_retried_undo_is_still_an_undo(
    admin, staff, target, run_restore, failing, django_capture_on_commit_callbacks
):
    failing(False)
    restore = run_restore(
        source=target, target=target, moment=ago(days=1), requested_by=admin, new_name="Renamed"
    )
    failing()
    with django_capture_on_commit_callbacks(execute=True):
        failed_undo = undos.restore_undo(operation=restore, actor=admin)
    failed_undo.refresh_from_db()
    failing(False)
    again = retry(staff, failed_undo, django_capture_on_commit_callbacks)
    assert again.status == "succeeded" and again.undo_of == restore
    target.refresh_from_db()
    assert target.name == "Contoso Test" and not target.admin_mode


def test_a_failed_restore_into_a_new_sandbox_is_not_retried_into_the_removed_sandbox(
    admin, staff, source, failing, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        failed = copies.restore_to_new(
            restores.RestoreRequest(source=source, requested_by=admin, moment=ago(days=1)),
            name="Lab",
            slug="lab",
        )
    failed.refresh_from_db()
    assert failed.status == "failed"
    with pytest.raises(Refused, match="restore into a new sandbox again instead"):
        console.restore_retry(operation=failed, actor=staff)
