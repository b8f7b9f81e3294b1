"""Scheduled exports: an environment's archive made daily or weekly at a set hour, the last
`keep` of them kept.

Every worker's housekeeping calls run_due(): for each schedule whose latest slot has no export
yet, it asks for one for that slot. The slot is part of the export's row, under a unique
constraint (environment, slot), so however many workers look at once, one export is made a slot
and the others' inserts are refused by the database. A slot before the schedule was last set is
never run (changing a schedule does not make up for the past). When a scheduled export
succeeds, the scheduled ones beyond the last `keep` expire: their files are deleted. When one
fails, the environment page says so until the next one succeeds, the audit log has a line, and
the environment's admins get an email.
"""

from __future__ import annotations

import datetime
import logging
import zoneinfo

from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.dispatch import receiver
from django.urls import reverse
from django.utils import timezone

from backups import archive_storage, exports
from backups.models import Export, ExportSchedule
from environments import permissions
from environments.models import Environment, EnvironmentType, Membership
from portal.audit import audit_record
from portal.errors import Refused
from portal.models import User

log = logging.getLogger(__name__)

SCHEDULED_TYPES = (EnvironmentType.PRODUCTION, EnvironmentType.SANDBOX)
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
KEEP_MAX = 100


def schedule_of(environment: Environment) -> ExportSchedule | None:
    return ExportSchedule.objects.filter(environment=environment).first()


def describe(schedule: ExportSchedule | None) -> str:
    """How the environment page says the schedule: "Daily at 02:00 (Europe/Paris), keeping
    the last 7"."""
    if schedule is None or schedule.frequency == ExportSchedule.Frequency.OFF:
        return "Off"
    when = f"at {schedule.hour:02d}:00 ({schedule.time_zone})"
    if schedule.frequency == ExportSchedule.Frequency.WEEKLY:
        when = f"on {WEEKDAYS[schedule.weekday]}s {when}"
    return f"{schedule.get_frequency_display()} {when}, keeping the last {schedule.keep}"


def schedule_set(
    *,
    environment: Environment,
    actor: User,
    frequency: str,
    hour: int = 2,
    weekday: int = 6,
    time_zone: str = "UTC",
    keep: int = 7,
) -> ExportSchedule:
    """Set (or turn off) the environment's export schedule. Production and sandbox
    environments only; the hour is in `time_zone`."""
    permissions.can_export(actor, environment).require()
    if environment.type not in SCHEDULED_TYPES:
        raise Refused(
            "Scheduled exports are for production and sandbox environments; export "
            f"{environment.name} by hand instead.",
            field="frequency",
        )
    if frequency not in ExportSchedule.Frequency.values:
        raise Refused("Choose Off, Daily or Weekly.", field="frequency")
    if not isinstance(hour, int) or not 0 <= hour <= 23:
        raise Refused("Choose an hour from 0 to 23.", field="hour")
    if not isinstance(weekday, int) or not 0 <= weekday <= 6:
        raise Refused("Choose a day of the week.", field="weekday")
    if not isinstance(keep, int) or not 1 <= keep <= KEEP_MAX:
        raise Refused(f"Keep from 1 to {KEEP_MAX} exports.", field="keep")
    try:
        zoneinfo.ZoneInfo(time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise Refused(
            f"{time_zone[:64]!r} is not a time zone this portal knows.", field="time_zone"
        ) from None
    now = timezone.now()
    with transaction.atomic():
        schedule, _ = ExportSchedule.objects.update_or_create(
            environment=environment,
            defaults={
                "frequency": frequency,
                "hour": hour,
                "weekday": weekday,
                "time_zone": time_zone,
                "keep": keep,
                "updated_at": now,
                "updated_by": actor,
            },
        )
        audit_record(
            action="export.schedule",
            actor=actor,
            environment=environment,
            summary=f"Set the export schedule of {environment.name}: {describe(schedule)}",
        )
    return schedule


def _wall_slot(schedule: ExportSchedule, now: datetime.datetime) -> datetime.datetime:
    """The latest slot at or before `now` on the zone's wall clock (naive), and the step."""
    local = now.astimezone(zoneinfo.ZoneInfo(schedule.time_zone)).replace(tzinfo=None)
    slot = local.replace(hour=schedule.hour, minute=0, second=0, microsecond=0, fold=0)
    if schedule.frequency == ExportSchedule.Frequency.WEEKLY:
        slot -= datetime.timedelta(days=(local.weekday() - schedule.weekday) % 7)
    if slot > local:
        slot -= _step(schedule)
    return slot


def _step(schedule: ExportSchedule) -> datetime.timedelta:
    return datetime.timedelta(
        days=7 if schedule.frequency == ExportSchedule.Frequency.WEEKLY else 1
    )


def _utc(schedule: ExportSchedule, wall: datetime.datetime) -> datetime.datetime:
    """A wall-clock time of the zone in UTC. When the clocks go back, the first of an hour that
    happens twice (fold 0); when they jump, an hour that does not exist is the moment of the
    jump: either way a slot a day."""
    zone = zoneinfo.ZoneInfo(schedule.time_zone)
    return wall.replace(tzinfo=zone, fold=0).astimezone(datetime.UTC)


def latest_slot(schedule: ExportSchedule, now: datetime.datetime) -> datetime.datetime | None:
    """The schedule's last slot at or before `now` (in UTC), or None when it is off."""
    if schedule.frequency == ExportSchedule.Frequency.OFF:
        return None
    # Wall-clock arithmetic in the zone: the hour stays the hour across a change of offset.
    return _utc(schedule, _wall_slot(schedule, now))


def next_slot(schedule: ExportSchedule, now: datetime.datetime) -> datetime.datetime | None:
    if schedule.frequency == ExportSchedule.Frequency.OFF:
        return None
    return _utc(schedule, _wall_slot(schedule, now) + _step(schedule))


def run_due(*, now: datetime.datetime | None = None) -> int:
    """Ask for the export of every schedule's latest slot that has none yet. Returns how many
    were asked for by this call (another worker's are not counted)."""
    now = now or timezone.now()
    made = 0
    schedules = (
        ExportSchedule.objects.exclude(frequency=ExportSchedule.Frequency.OFF)
        .filter(environment__deleted_at__isnull=True)
        .select_related("environment")
    )
    for schedule in schedules:
        slot = latest_slot(schedule, now)
        if slot is None or slot < schedule.updated_at:
            continue
        if Export.objects.filter(environment=schedule.environment, scheduled_for=slot).exists():
            continue
        try:
            with transaction.atomic():
                exports.export_start(
                    environment=schedule.environment, requested_by=None, scheduled_for=slot
                )
            made += 1
        except IntegrityError:
            continue  # another worker asked for this slot first
        except Refused as refusal:
            _failed(schedule, f"The scheduled export could not start: {refusal.message}", now)
    return made


@receiver(exports.export_ended)
def after_export(*, export: Export, succeeded: bool, **_) -> None:
    if export.scheduled_for is None:
        return
    if succeeded:
        after_success(export)
    else:
        after_failure(export)


def after_success(export: Export) -> None:
    """A scheduled export is done: the failure note goes, and the scheduled exports beyond
    the last `keep` expire (their files are deleted; the rows stay, saying so)."""
    schedule = schedule_of(export.environment)
    if schedule is None:
        return
    ExportSchedule.objects.filter(pk=schedule.pk).update(last_failure_at=None, last_failure="")
    done = Export.objects.filter(
        environment=export.environment,
        scheduled_for__isnull=False,
        status=Export.Status.SUCCEEDED,
    ).order_by("-scheduled_for", "-id")
    for old in done[schedule.keep :]:
        archive_storage.delete(old.file_name)
        Export.objects.filter(pk=old.pk, status=Export.Status.SUCCEEDED).update(
            status=Export.Status.EXPIRED, expired_at=timezone.now()
        )
        audit_record(
            action="export.expire",
            actor=None,
            environment=export.environment,
            summary=f"Deleted {old.label} of {old.environment_name}: the schedule keeps the "
            f"last {schedule.keep}",
            details={"export": old.pk, "file": old.file_name},
        )


def after_failure(export: Export) -> None:
    schedule = schedule_of(export.environment)
    if schedule is not None:
        _failed(schedule, export.error, timezone.now())


def _failed(schedule: ExportSchedule, error: str, now: datetime.datetime) -> None:
    """Shown on the environment page (until one succeeds) and mailed to its admins."""
    ExportSchedule.objects.filter(pk=schedule.pk).update(last_failure_at=now, last_failure=error)
    env = schedule.environment
    recipients = sorted(
        {
            email
            for email in Membership.objects.filter(
                environment=env, role=Membership.Role.ADMIN
            ).values_list("user__email", flat=True)
            if email
        }
    )
    if not recipients:
        return
    page = reverse("environments:detail", args=[env.slug])
    try:
        send_mail(
            subject=f"Scheduled export of {env.name} failed",
            message=(
                f"The scheduled export of {env.name} ({env.slug}) failed at "
                f"{now.astimezone(datetime.UTC):%Y-%m-%d %H:%M} UTC.\n\n{error}\n\n"
                "Its earlier exports are unchanged. The next scheduled export will try again; "
                f"to export now, open the environment's page ({page}) and choose Export.\n"
            ),
            from_email=None,
            recipient_list=recipients,
        )
    except Exception:
        log.exception("Could not mail the failure of the export schedule %s", schedule.pk)
