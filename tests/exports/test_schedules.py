"""Scheduled exports: the slots (time zones, changes of offset), one export a due slot, the last
`keep` kept, and a failure said on the page, in the audit log and by one email to the admins."""

import datetime
import itertools

import pytest
from django.core import mail

from backups import archive_storage, export_schedules, exports
from backups.export_schedules import latest_slot, next_slot
from backups.models import Export, ExportSchedule
from environments.models import Membership
from portal.errors import NotAllowed, Refused
from portal.models import AuditEvent
from tests.factories import NOW, EnvironmentFactory, ago, make_member

UTC = datetime.UTC


def at(*args) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=UTC)


def schedule(frequency="daily", hour=2, weekday=6, time_zone="UTC") -> ExportSchedule:
    return ExportSchedule(
        frequency=frequency, hour=hour, weekday=weekday, time_zone=time_zone, keep=7
    )


# -- the slots ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sched", "now", "latest", "following"),
    [
        # Daily at 02:00 UTC: before and after the hour, and on it.
        (schedule(), at(2026, 11, 20, 1, 59), at(2026, 11, 19, 2), at(2026, 11, 20, 2)),
        (schedule(), at(2026, 11, 20, 2), at(2026, 11, 20, 2), at(2026, 11, 21, 2)),
        (schedule(), at(2026, 11, 20, 23), at(2026, 11, 20, 2), at(2026, 11, 21, 2)),
        # Weekly on Sundays (2026-11-22 is one) at 02:00 UTC.
        (schedule("weekly"), at(2026, 11, 20, 12), at(2026, 11, 15, 2), at(2026, 11, 22, 2)),
        (schedule("weekly"), at(2026, 11, 22, 2), at(2026, 11, 22, 2), at(2026, 11, 29, 2)),
        (schedule("weekly"), at(2026, 11, 22, 1), at(2026, 11, 15, 2), at(2026, 11, 22, 2)),
        # Weekly on Mondays at 23:00 in Paris (+01:00 in November): 22:00 UTC.
        (
            schedule("weekly", hour=23, weekday=0, time_zone="Europe/Paris"),
            at(2026, 11, 24, 12),
            at(2026, 11, 23, 22),
            at(2026, 11, 30, 22),
        ),
        # Half an hour off UTC: 02:00 in Kolkata (+05:30) is 20:30 UTC the day before.
        (
            schedule(time_zone="Asia/Kolkata"),
            at(2026, 11, 20, 20, 29),
            at(2026, 11, 19, 20, 30),
            at(2026, 11, 20, 20, 30),
        ),
        (
            schedule(time_zone="Asia/Kolkata"),
            at(2026, 11, 20, 20, 30),
            at(2026, 11, 20, 20, 30),
            at(2026, 11, 21, 20, 30),
        ),
        # Paris in March: on the 29th 02:00 jumps to 03:00; the 02:00 slot that day is the
        # moment the clocks change (01:00 UTC), once; the offset then is +02:00.
        (
            schedule(time_zone="Europe/Paris"),
            at(2026, 3, 28, 12),
            at(2026, 3, 28, 1),
            at(2026, 3, 29, 1),
        ),
        (
            schedule(time_zone="Europe/Paris"),
            at(2026, 3, 29, 1, 30),
            at(2026, 3, 29, 1),
            at(2026, 3, 30, 0),
        ),
        (
            schedule(hour=9, time_zone="Europe/Paris"),
            at(2026, 3, 29, 12),
            at(2026, 3, 29, 7),
            at(2026, 3, 30, 7),
        ),
        # Paris in October: on the 25th 03:00 goes back to 02:00; the 02:00 slot is the first
        # 02:00 (00:00 UTC), and only that one.
        (
            schedule(time_zone="Europe/Paris"),
            at(2026, 10, 24, 12),
            at(2026, 10, 24, 0),
            at(2026, 10, 25, 0),
        ),
        (
            schedule(time_zone="Europe/Paris"),
            at(2026, 10, 25, 1, 30),  # 02:30 the second time
            at(2026, 10, 25, 0),
            at(2026, 10, 26, 1),
        ),
        (
            schedule(hour=9, time_zone="Europe/Paris"),
            at(2026, 10, 25, 12),
            at(2026, 10, 25, 8),
            at(2026, 10, 26, 8),
        ),
        # Weekly across the change: Sunday 2026-10-25 at 02:00 in Paris.
        (
            schedule("weekly", time_zone="Europe/Paris"),
            at(2026, 10, 27, 12),
            at(2026, 10, 25, 0),
            at(2026, 11, 1, 1),
        ),
    ],
)
def test_latest_and_next_slot(sched, now, latest, following):
    assert latest_slot(sched, now) == latest
    assert next_slot(sched, now) == following
    assert latest <= now < following


@pytest.mark.parametrize(
    ("time_zone", "day"),
    [
        ("Europe/Paris", at(2026, 3, 28)),
        ("Europe/Paris", at(2026, 10, 24)),
        ("America/New_York", at(2026, 11, 1)),
        ("Australia/Lord_Howe", at(2026, 4, 4)),  # goes back half an hour
        ("Asia/Kolkata", at(2026, 11, 19)),
    ],
)
@pytest.mark.parametrize("hour", [0, 1, 2, 3, 23])
def test_across_a_change_of_offset_one_slot_a_day_and_never_back(time_zone, day, hour):
    """Minute by minute over three days: the latest slot never goes back, and changes once a
    day (so run_due asks once a day)."""
    sched = schedule(hour=hour, time_zone=time_zone)
    seen = []
    now = day
    while now < day + datetime.timedelta(days=3):
        slot = latest_slot(sched, now)
        assert slot <= now
        if seen:
            assert slot >= seen[-1], (now, slot, seen[-1])
        if not seen or slot != seen[-1]:
            seen.append(slot)
        now += datetime.timedelta(minutes=10)
    assert len(seen) in (3, 4), seen
    assert all(b - a >= datetime.timedelta(hours=22) for a, b in itertools.pairwise(seen)), seen


def test_off_has_no_slot():
    assert latest_slot(schedule("off"), NOW) is None
    assert next_slot(schedule("off"), NOW) is None


# -- run_due ----------------------------------------------------------------------------------


@pytest.fixture
def mailed_admin(source, env_admin):
    make_member(source, env_admin, Membership.Role.ADMIN)
    return env_admin


@pytest.fixture
def daily(clock, source, admin):
    return export_schedules.schedule_set(
        environment=source, actor=admin, frequency="daily", hour=2, keep=2
    )


def run_due_at(clock, run_tasks, moment) -> int:
    clock.move_to(moment)
    return run_tasks(export_schedules.run_due)


def scheduled(env):
    return list(Export.objects.filter(environment=env, scheduled_for__isnull=False).order_by("pk"))


def test_a_slot_before_the_schedule_was_set_is_not_run(clock, source, daily, run_tasks):
    # Set at 12:00: today's 02:00 has gone by, and is not made up for.
    assert run_due_at(clock, run_tasks, NOW) == 0
    assert scheduled(source) == []
    assert run_due_at(clock, run_tasks, at(2026, 11, 21, 2, 5)) == 1
    [export] = scheduled(source)
    assert export.scheduled_for == at(2026, 11, 21, 2)
    assert export.status == Export.Status.SUCCEEDED, export.error


def test_one_export_a_due_slot_and_none_twice(clock, source, daily, run_tasks):
    moments = [
        at(2026, 11, 21, 2, 0),
        at(2026, 11, 21, 2, 1),
        at(2026, 11, 21, 13),
        at(2026, 11, 22, 1, 59),
        at(2026, 11, 22, 2, 0),
        at(2026, 11, 22, 2, 30),
    ]
    made = [run_due_at(clock, run_tasks, m) for m in moments]
    assert made == [1, 0, 0, 0, 1, 0]
    assert [e.scheduled_for for e in scheduled(source)] == [
        at(2026, 11, 21, 2),
        at(2026, 11, 22, 2),
    ]
    # A slot missed (the workers were down for two days) is not made up: only the latest.
    assert run_due_at(clock, run_tasks, at(2026, 11, 25, 9)) == 1
    assert scheduled(source)[-1].scheduled_for == at(2026, 11, 25, 2)
    assert len(scheduled(source)) == 3


def test_beyond_keep_scheduled_exports_expire_and_manual_ones_never(
    clock, source, admin, daily, run_tasks
):
    manual = run_tasks(exports.export_start, environment=source, requested_by=admin)
    manual.refresh_from_db()
    assert manual.status == Export.Status.SUCCEEDED
    for day in (21, 22, 23, 24):
        assert run_due_at(clock, run_tasks, at(2026, 11, day, 2, 10)) == 1
    every = scheduled(source)
    assert [e.status for e in every] == ["expired", "expired", "succeeded", "succeeded"]
    for old in every[:2]:
        assert old.expired_at is not None
        assert not archive_storage.exists(old.file_name)
        assert AuditEvent.objects.filter(
            action="export.expire", environment=source, details__export=old.pk
        ).exists()
    for kept in every[2:]:
        assert archive_storage.exists(kept.file_name)
    manual.refresh_from_db()
    assert manual.status == Export.Status.SUCCEEDED
    assert archive_storage.exists(manual.file_name)
    assert AuditEvent.objects.filter(action="export.expire").count() == 2


def test_a_failure_is_noted_audited_and_mailed_once_and_cleared_by_the_next_success(
    clock, source, daily, mailed_admin, run_tasks, monkeypatch, settings
):
    def broken(name, path):
        raise OSError("the storage said no")

    monkeypatch.setattr(archive_storage, "save", broken)
    mail.outbox.clear()
    assert run_due_at(clock, run_tasks, at(2026, 11, 21, 2, 5)) == 1
    [failed] = scheduled(source)
    assert (
        failed.status == Export.Status.FAILED
        and "could not be written or stored (OSError)" in failed.error
    )
    assert not archive_storage.listed("exports")  # nothing half-stored
    sched = export_schedules.schedule_of(source)
    assert sched.last_failure_at == at(2026, 11, 21, 2, 5)
    assert "could not be written or stored" in sched.last_failure
    assert AuditEvent.objects.filter(
        action="export.fail", environment=source, outcome="failed"
    ).exists()
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [mailed_admin.email]
    assert source.name in message.subject and source.name in message.body
    assert "Export" in message.body and f"/environments/{source.slug}" in message.body
    assert settings.SECRET_KEY not in message.body
    assert str(archive_storage.storage().location) not in message.body
    assert "the storage said no" not in message.body  # the raw error stays in the log
    # The same slot is not tried again (nor mailed again) by later rounds.
    assert run_due_at(clock, run_tasks, at(2026, 11, 21, 3)) == 0
    assert len(mail.outbox) == 1

    monkeypatch.undo()
    assert run_due_at(clock, run_tasks, at(2026, 11, 22, 2, 5)) == 1
    assert scheduled(source)[-1].status == Export.Status.SUCCEEDED
    sched.refresh_from_db()
    assert sched.last_failure_at is None and sched.last_failure == ""
    assert len(mail.outbox) == 1


def test_a_scheduled_export_whose_moment_left_the_window_fails_and_is_mailed(
    clock, source, daily, mailed_admin, run_tasks, monkeypatch
):
    from environments import archive_rows

    # The moment is purged before the worker gets to it.
    real = archive_rows.checked_moment
    calls = []

    def moved_on(env, moment, *, now):
        calls.append(moment)
        if len(calls) > 1:  # at the request it is fine; in the worker it is gone
            raise Refused("That moment is before the restorable window.", field="moment")
        return real(env, moment, now=now)

    monkeypatch.setattr(archive_rows, "checked_moment", moved_on)
    mail.outbox.clear()
    assert run_due_at(clock, run_tasks, at(2026, 11, 21, 2, 5)) == 1
    [failed] = scheduled(source)
    assert failed.status == Export.Status.FAILED
    assert "before the restorable window" in failed.error
    assert len(mail.outbox) == 1
    assert "before the restorable window" in export_schedules.schedule_of(source).last_failure


def test_an_export_refused_at_the_request_is_noted_and_mailed(
    clock, source, daily, mailed_admin, run_tasks, monkeypatch
):
    def refuse(**kwargs):
        raise Refused("Contoso Prod cannot be read now.")

    monkeypatch.setattr(exports, "export_start", refuse)
    mail.outbox.clear()
    assert run_due_at(clock, run_tasks, at(2026, 11, 21, 2, 5)) == 0
    assert "cannot be read now" in export_schedules.schedule_of(source).last_failure
    assert len(mail.outbox) == 1


def test_a_deleted_environment_is_not_exported(clock, source, daily, run_tasks):
    type(source).objects.filter(pk=source.pk).update(deleted_at=ago(hours=1))
    assert run_due_at(clock, run_tasks, at(2026, 11, 21, 2, 5)) == 0


# -- schedule_set refusals ------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["trial", "developer"])
def test_only_production_and_sandbox_environments_have_a_schedule(db, admin, kind):
    env = EnvironmentFactory(type=kind)
    with pytest.raises(Refused) as refused:
        export_schedules.schedule_set(environment=env, actor=admin, frequency="daily")
    assert refused.value.field == "frequency"
    assert not ExportSchedule.objects.exists()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"frequency": "hourly"}, "frequency"),
        ({"hour": 24}, "hour"),
        ({"hour": -1}, "hour"),
        ({"hour": "2"}, "hour"),
        ({"weekday": 7}, "weekday"),
        ({"keep": 0}, "keep"),
        ({"keep": export_schedules.KEEP_MAX + 1}, "keep"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"time_zone": "../../etc/passwd"}, "time_zone"),
        ({"time_zone": ""}, "time_zone"),
    ],
)
def test_schedule_set_refuses_what_it_cannot_keep(source, admin, changes, field):
    with pytest.raises(Refused) as refused:
        export_schedules.schedule_set(
            environment=source, actor=admin, **{"frequency": "daily", **changes}
        )
    assert refused.value.field == field and refused.value.message
    assert not ExportSchedule.objects.exists()


def test_schedule_set_needs_someone_who_manages_the_environment(source, maker, outsider):
    make_member(source, maker, Membership.Role.MAKER)
    for user in (maker, outsider):
        with pytest.raises(NotAllowed):
            export_schedules.schedule_set(environment=source, actor=user, frequency="daily")
    assert not ExportSchedule.objects.exists()


def test_schedule_set_is_audited_and_described(clock, source, admin):
    sched = export_schedules.schedule_set(
        environment=source,
        actor=admin,
        frequency="weekly",
        hour=3,
        weekday=0,
        time_zone="Europe/Paris",
        keep=4,
    )
    assert export_schedules.describe(sched) == (
        "Weekly on Mondays at 03:00 (Europe/Paris), keeping the last 4"
    )
    assert AuditEvent.objects.filter(action="export.schedule", environment=source).count() == 1
    export_schedules.schedule_set(environment=source, actor=admin, frequency="off")
    assert export_schedules.describe(export_schedules.schedule_of(source)) == "Off"
    assert ExportSchedule.objects.count() == 1
