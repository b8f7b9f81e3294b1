from __future__ import annotations

import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone


class ManualBackup(models.Model):
    """A named moment of an environment. Capture is continuous, so it copies no data."""

    class Kind(models.TextChoices):
        MANUAL = "manual", "Manual backup"
        VERSION_UPDATE = "version_update", "Before version update"
        PRE_RESTORE = "pre_restore", "Before restore"
        PRE_COPY = "pre_copy", "Before copy"

    # What a restore or a copy records of its target just before it overwrites it.
    BEFORE_OVERWRITE = (Kind.PRE_RESTORE, Kind.PRE_COPY)

    environment = models.ForeignKey(
        "environments.Environment", on_delete=models.CASCADE, related_name="manual_backups"
    )
    label = models.CharField(max_length=100)
    notes = models.TextField(max_length=2000, blank=True)
    backup_at = models.DateTimeField("backup time")
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.MANUAL)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField("expires on")

    class Meta:
        ordering = ["-backup_at", "-id"]
        indexes = [
            models.Index(fields=["environment", "backup_at"], name="backup_env_at"),
            models.Index(fields=["expires_at"], name="backup_expires"),
        ]

    def __str__(self) -> str:
        return self.label


class RestoreOperation(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    class Phase(models.TextChoices):
        QUEUED = "queued", "Waiting for a worker"
        PREPARING = "preparing", "Preparing"
        COPYING = "copying", "Copying tables"
        FINISHING = "finishing", "Finishing"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    class Kind(models.TextChoices):
        RESTORE = "restore", "Restore"
        COPY = "copy", "Copy (everything)"
        COPY_SCHEMA = "copy_schema", "Copy (schema only)"
        ROWS = "rows", "Restore rows"
        TABLE = "table", "Restore table"

    ACTIVE = (Status.QUEUED, Status.RUNNING)
    COPIES = (Kind.COPY, Kind.COPY_SCHEMA)
    # Rows or one table put back in place, on the environment itself (backups.put_backs).
    PUT_BACKS = (Kind.ROWS, Kind.TABLE)

    # A copy is a restore of the source as it is now; schema only: its tables, none of its rows.
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.RESTORE)
    source = models.ForeignKey(
        "environments.Environment", on_delete=models.PROTECT, related_name="restores_from"
    )
    target = models.ForeignKey(
        "environments.Environment", on_delete=models.PROTECT, related_name="restores_to"
    )
    moment = models.DateTimeField("restore point")
    backup = models.ForeignKey(
        ManualBackup, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    idempotency_key = models.CharField(max_length=100)
    # The restore point as the request named it ("latest", a moment, "backup:<id>"): a repeat
    # of the same key is the same request only if it named the same point.
    requested_point = models.CharField(max_length=64, blank=True)
    # Names as they were when the restore was asked for: the history reads as it happened,
    # whatever the environments are called later.
    source_name = models.CharField(max_length=100, blank=True)
    target_name = models.CharField(max_length=100, blank=True)
    new_name = models.CharField(max_length=100, blank=True)
    new_security_group = models.CharField(max_length=100, blank=True)
    change_security_group = models.BooleanField(default=False)
    # The target's details just before the overwrite (set by the engine): undo puts them back.
    before_name = models.CharField(max_length=100, blank=True)
    before_security_group = models.CharField(max_length=100, blank=True)
    before_admin_mode = models.BooleanField(null=True, blank=True)

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    phase = models.CharField(max_length=10, choices=Phase.choices, default=Phase.QUEUED)
    tables_done = models.PositiveIntegerField(default=0)
    tables_total = models.PositiveIntegerField(default=0)
    rows_copied = models.BigIntegerField(default=0)
    rows_total = models.BigIntegerField(default=0)
    created_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    task_id = models.CharField(max_length=64, blank=True)
    generation = models.ForeignKey(
        "environments.Generation",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # The moment just before the overwrite, on the target: undo restores the target to it.
    pre_restore_backup = models.ForeignKey(
        ManualBackup, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Storage the operation will add, held from its request until it ends (a copy of rows).
    reservation = models.OneToOneField(
        "environments.CapacityReservation",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # The target is a new sandbox made for this operation: if the operation fails, the sandbox
    # goes too (removed, its URL name free), so a failure leaves nothing behind.
    made_target = models.BooleanField(default=False)
    undo_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="undone_by"
    )
    retry_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retried_by"
    )
    # A put-back's rows: {"table": name, and "keys": [...], or "start"/"end" and "filters" of
    # the changes whose rows go back, or "whole": true; "keep_newer": rows changed again
    # after the range keep their newer value}. Empty for the other kinds.
    selection = models.JSONField(default=dict, blank=True)
    # When a put-back wrote: its write transaction's moment (what its undo reads back from).
    written_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # The database, not only Python, guarantees one restore at a time per target.
            models.UniqueConstraint(
                fields=["target"],
                condition=Q(status__in=["queued", "running"]),
                name="one_active_restore_per_target",
            ),
            models.UniqueConstraint(
                fields=["requested_by", "idempotency_key"], name="one_restore_per_idempotency_key"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "heartbeat_at"], name="restore_status_beat"),
            # The Operations page and the API's list, newest first from a cursor: a range of
            # one of these whatever the filter (backups.operation_log).
            models.Index(fields=["created_at", "id"], name="operation_created"),
            models.Index(fields=["target", "created_at", "id"], name="operation_target_created"),
            models.Index(fields=["requested_by", "created_at", "id"], name="operation_who_created"),
            # The new sandboxes that went with their failure, by the source they were made from.
            models.Index(
                fields=["source", "created_at", "id"],
                condition=Q(made_target=True),
                name="operation_made_from_created",
            ),
        ]
        permissions = [
            ("retry_restoreoperation", "Can retry a failed restore"),
            ("fail_restoreoperation", "Can mark a stale restore as failed"),
        ]

    def __str__(self) -> str:
        return f"Restore of {self.target} from {self.source} at {self.moment:%Y-%m-%d %H:%M}"

    @property
    def label(self) -> str:
        """How pages name it: "Restore #12", "Copy #14", or "Undo #13" for an undo."""
        if self.undo_of_id:
            return f"Undo #{self.pk}"
        if self.is_put_back:
            return f"{self.get_kind_display()} #{self.pk}"
        return f"{'Copy' if self.is_copy else 'Restore'} #{self.pk}"

    @property
    def is_put_back(self) -> bool:
        return self.kind in self.PUT_BACKS

    @property
    def selection_summary(self) -> str:
        """A put-back's rows, as its page says them: "3 chosen rows of accounts"."""
        chosen = self.selection
        table = chosen.get("table", "")
        if chosen.get("whole"):
            return f"The whole table {table}"
        if "filters" in chosen:
            f = chosen["filters"]
            parts = [
                {"added": "added", "changed": "changed", "deleted": "deleted"}.get(
                    f.get("kind", ""), "changed in any way"
                ),
            ]
            if f.get("who"):
                parts.append(f"by {f['who']}")
            if f.get("q"):
                parts.append(f"matching “{f['q']}”")
            start, end = (
                datetime.datetime.fromisoformat(chosen[side]).astimezone(datetime.UTC)
                for side in ("start", "end")
            )
            # In UTC with its word: pages show such times in the viewer's zone (local_times).
            return (
                f"The rows of {table} {' '.join(parts)} between "
                f"{start:%Y-%m-%d %H:%M:%S} UTC and {end:%Y-%m-%d %H:%M:%S} UTC"
            )
        n = len(chosen.get("keys", []))
        return f"{n} chosen row{'s' * (n != 1)} of {table}"

    @property
    def is_copy(self) -> bool:
        return self.kind in self.COPIES

    @property
    def noun(self) -> str:
        """How sentences name it: "the copy failed", "Undo restore", "the undo finishes"."""
        if self.undo_of_id:
            return "undo"
        return "copy" if self.is_copy else "restore"

    @property
    def source_words(self) -> str:
        """How sentences name where its data came from: the source's name then, or, for an
        environment restored from an earlier moment of its own, never its own name."""
        if self.source_id == self.target_id:
            return "its own data"
        return self.source_name or self.source.name

    @property
    def target_url(self) -> str:
        """Its target's page, where its progress and outcome show."""
        return reverse("environments:detail", args=[self.target.slug])

    @property
    def target_removed(self) -> bool:
        """Its target was the new sandbox made for it, removed when it failed: the operation
        is shown to those who manage its source, and links to no target."""
        return self.made_target and self.target.removed_at is not None

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def elapsed(self) -> datetime.timedelta:
        """Running time: until it finished, or until now."""
        if self.started_at is None:
            return datetime.timedelta(0)
        return (self.finished_at or timezone.now()) - self.started_at

    @property
    def eta(self) -> datetime.timedelta | None:
        """Time left while it copies rows, at the pace so far."""
        if self.is_active and self.rows_copied and self.rows_total:
            return self.elapsed * (self.rows_total - self.rows_copied) / self.rows_copied
        return None

    def mark_failed(self, *, error: str, at: datetime.datetime) -> None:
        """Queued or running -> failed, for good (the caller holds its row): its reservation
        goes back to the tenant (the caller releases it), its target is the caller's to free."""
        if not self.is_active:
            raise ValueError(f"{self.label} has already ended ({self.status}).")
        self.status, self.phase = self.Status.FAILED, self.Phase.FAILED
        self.error, self.finished_at, self.reservation = error[:5000], at, None
        self.save(update_fields=["status", "phase", "error", "finished_at", "reservation"])

    @property
    def percent(self) -> int:
        if self.status == self.Status.SUCCEEDED:
            return 100
        if not self.rows_total:
            return 0
        return min(99, int(100 * self.rows_copied / self.rows_total))


class Export(models.Model):
    """An archive of an environment as it was at a moment (backups.archives), written by the
    worker to the backups storage (backups.archive_storage): asked for by a person, or by the
    environment's export schedule for one slot."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        EXPIRED = "expired", "Expired"

    ACTIVE = (Status.QUEUED, Status.RUNNING)

    environment = models.ForeignKey(
        "environments.Environment", on_delete=models.PROTECT, related_name="exports"
    )
    # As the environment was named when the export was asked for.
    environment_name = models.CharField(max_length=100)
    moment = models.DateTimeField("backup time")
    backup = models.ForeignKey(
        ManualBackup, null=True, blank=True, on_delete=models.SET_NULL, related_name="exports"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    idempotency_key = models.CharField(max_length=100, blank=True)
    # The schedule's slot this export is for (None: asked for by a person): one export a slot,
    # whichever worker gets there first (the unique constraint below).
    scheduled_for = models.DateTimeField(null=True, blank=True)

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    tables_done = models.PositiveIntegerField(default=0)
    tables_total = models.PositiveIntegerField(default=0)
    rows_done = models.BigIntegerField(default=0)
    rows_total = models.BigIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    task_id = models.CharField(max_length=64, blank=True)

    # The archive, once written: its name in the backups storage, size and SHA-256.
    file_name = models.CharField(max_length=255, blank=True)
    size = models.BigIntegerField(default=0)
    sha256 = models.CharField("SHA-256", max_length=64, blank=True)
    rows = models.BigIntegerField(default=0)
    # The last check of the stored archive against its manifest (Verify).
    verify_requested_at = models.DateTimeField(null=True, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    verified_ok = models.BooleanField(null=True, blank=True)
    verify_error = models.TextField(blank=True)
    expired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["environment", "scheduled_for"],
                condition=Q(scheduled_for__isnull=False),
                name="one_export_per_slot",
            ),
            models.UniqueConstraint(
                fields=["requested_by", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="one_export_per_idempotency_key",
            ),
        ]
        indexes = [
            models.Index(fields=["environment", "created_at", "id"], name="export_env_created"),
            models.Index(fields=["status", "heartbeat_at"], name="export_status_beat"),
        ]

    def __str__(self) -> str:
        return f"Export #{self.pk} of {self.environment_name}"

    @property
    def label(self) -> str:
        return f"Export #{self.pk}"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def is_done(self) -> bool:
        return self.status == self.Status.SUCCEEDED

    @property
    def is_verifying(self) -> bool:
        return self.verify_requested_at is not None and (
            self.verified_at is None or self.verified_at < self.verify_requested_at
        )

    @property
    def download_name(self) -> str:
        return self.file_name.rsplit("/", 1)[-1]

    @property
    def percent(self) -> int:
        if self.status == self.Status.SUCCEEDED:
            return 100
        if not self.rows_total:
            return 0
        return min(99, int(100 * self.rows_done / self.rows_total))


class ExportSchedule(models.Model):
    """When an environment's exports are made on their own: daily or weekly at an hour (in the
    schedule's time zone), keeping the last `keep` of them."""

    class Frequency(models.TextChoices):
        OFF = "off", "Off"
        DAILY = "daily", "Daily"
        WEEKLY = "weekly", "Weekly"

    environment = models.OneToOneField(
        "environments.Environment", on_delete=models.CASCADE, related_name="export_schedule"
    )
    frequency = models.CharField(max_length=10, choices=Frequency.choices, default=Frequency.OFF)
    hour = models.PositiveSmallIntegerField(default=2)
    # Monday is 0, as Python counts; used by weekly schedules.
    weekday = models.PositiveSmallIntegerField(default=6)
    time_zone = models.CharField(max_length=64, default="UTC")
    keep = models.PositiveSmallIntegerField(default=7)
    updated_at = models.DateTimeField()
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The last scheduled export that failed (shown on the environment page until one succeeds).
    last_failure_at = models.DateTimeField(null=True, blank=True)
    last_failure = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(hour__lte=23), name="export_schedule_hour"),
            models.CheckConstraint(condition=Q(weekday__lte=6), name="export_schedule_weekday"),
            models.CheckConstraint(
                condition=Q(keep__gte=1) & Q(keep__lte=100), name="export_schedule_keep"
            ),
        ]

    def __str__(self) -> str:
        return f"Export schedule of {self.environment}"


class ArchiveImport(models.Model):
    """A restore from an export archive into a new sandbox (Restore from a file): the archive
    is checked whole first, then its rows are loaded in one transaction."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    class Phase(models.TextChoices):
        QUEUED = "queued", "Waiting for a worker"
        CHECKING = "checking", "Checking the file"
        LOADING = "loading", "Loading the rows"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    ACTIVE = (Status.QUEUED, Status.RUNNING)

    file_name = models.CharField(max_length=255)
    file_size = models.BigIntegerField(default=0)
    target = models.ForeignKey(
        "environments.Environment", on_delete=models.PROTECT, related_name="imports"
    )
    target_name = models.CharField(max_length=100)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    idempotency_key = models.CharField(max_length=100, blank=True)
    # What the manifest says of the data: where it came from and its moment.
    source_name = models.CharField(max_length=100, blank=True)
    source_region = models.CharField(max_length=30, blank=True)
    moment = models.DateTimeField("backup time", null=True, blank=True)

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    phase = models.CharField(max_length=10, choices=Phase.choices, default=Phase.QUEUED)
    tables_done = models.PositiveIntegerField(default=0)
    tables_total = models.PositiveIntegerField(default=0)
    rows_done = models.BigIntegerField(default=0)
    rows_total = models.BigIntegerField(default=0)
    created_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    reservation = models.OneToOneField(
        "environments.CapacityReservation",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["requested_by", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="one_import_per_idempotency_key",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "heartbeat_at"], name="import_status_beat"),
            models.Index(fields=["target", "created_at", "id"], name="import_target_created"),
        ]

    def __str__(self) -> str:
        return f"Restore from a file #{self.pk} into {self.target_name}"

    @property
    def label(self) -> str:
        return f"Restore from a file #{self.pk}"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def percent(self) -> int:
        if self.status == self.Status.SUCCEEDED:
            return 100
        if not self.rows_total:
            return 0
        return min(99, int(100 * self.rows_done / self.rows_total))
