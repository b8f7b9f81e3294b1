from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from environments.columns import UnicodeJSONEncoder
from portal.errors import Conflict


class EnvironmentType(models.TextChoices):
    PRODUCTION = "production", "Production"
    SANDBOX = "sandbox", "Sandbox"
    TRIAL = "trial", "Trial"
    DEVELOPER = "developer", "Developer"
    DEFAULT = "default", "Default"


class EnvironmentState(models.TextChoices):
    READY = "ready", "Ready"
    RESTORING = "restoring", "Restoring"
    DISABLED = "disabled", "Disabled"


slug_validator = RegexValidator(
    r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$",
    "Use lowercase letters, digits and hyphens; start and end with a letter or digit.",
)

# URL names of the portal's own pages under /environments/ (environments/urls.py): an
# environment so named would have a page nobody can reach. The services refuse them and so
# does the database (Environment's check constraint), whatever door the name comes through.
RESERVED_SLUGS = frozenset({"new", "deleted"})


def fold_name(name: str) -> str:
    """The form of a display name that tells environments apart: case and runs of spaces do
    not ("Contoso  Sales" and "contoso sales" are one name to the admin reading a list)."""
    return " ".join(name.split()).casefold()


@dataclass(frozen=True)
class Window:
    """The moments an environment can be restored to, both ends included."""

    start: datetime.datetime
    end: datetime.datetime

    def __contains__(self, moment: datetime.datetime) -> bool:
        return self.start <= moment <= self.end


class Environment(models.Model):
    name = models.CharField(max_length=100)
    # fold_name(name), kept by save(): the database's unique key over live environments' names
    # (casefold can lengthen a name, so it has more room than the name).
    name_key = models.CharField(max_length=300, editable=False, default="")
    slug = models.CharField(
        "URL name",
        max_length=63,
        unique=True,
        validators=[slug_validator],
        help_text="The environment's address is https://<URL name>.example.test",
    )
    type = models.CharField(max_length=20, choices=EnvironmentType.choices)
    state = models.CharField(
        max_length=20, choices=EnvironmentState.choices, default=EnvironmentState.READY
    )
    region = models.CharField(max_length=30, choices=settings.REGIONS)
    version = models.CharField(max_length=30, default="9.2.24101.00180")
    security_group = models.CharField(max_length=100, blank=True)
    admin_mode = models.BooleanField("administration mode", default=False)
    background_operations = models.BooleanField(default=True)
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The timestamp of the newest write to this environment's data: each write transaction takes
    # a later one, so versions stay ordered even when the clock stands still or steps back.
    last_change_at = models.DateTimeField(null=True, blank=True)
    # History before this moment may have been purged: the restorable window never reaches back
    # past it, whatever the retention (converting sandbox -> production does not revive it).
    purged_before = models.DateTimeField(null=True, blank=True)
    # A trial's end (settings.TRIAL_DAYS after it was made): the worker disables it then.
    expires_at = models.DateTimeField("expires on", null=True, blank=True)
    # Deleted: hidden everywhere but the Deleted environments list, from which a tenant admin
    # can recover it for settings.RECOVERY_DAYS; then a purge removes its data for good.
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    removed_at = models.DateTimeField(null=True, blank=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="environments"
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["type"], condition=Q(type="default"), name="exactly_one_default_environment"
            ),
            models.CheckConstraint(
                condition=~Q(slug__in=sorted(RESERVED_SLUGS)),
                name="environment_slug_not_reserved",
                violation_error_message="That URL name is reserved for the portal's own pages.",
            ),
            # Two live environments never share a name an admin would read as the same: every
            # typed confirmation and target list names environments by name alone. A deleted
            # one keeps its name; recovering it asks for a new one when it is taken meanwhile.
            models.UniqueConstraint(
                fields=["name_key"],
                condition=Q(deleted_at__isnull=True),
                name="unique_live_environment_name",
                violation_error_message="An environment with this name already exists; "
                "choose another name.",
            ),
        ]
        indexes = [models.Index(fields=["type", "region"], name="environment_type_region")]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        self.name_key = fold_name(self.name)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "name" in update_fields:
            kwargs["update_fields"] = {*update_fields, "name_key"}
        super().save(*args, **kwargs)

    def validate_constraints(self, exclude=None) -> None:
        # A form that edits the name (the Django admin's) has neither name_key nor deleted_at
        # (the constraint's condition), which would leave the unique live name unchecked and
        # the save to fail in the database: check it with the values the instance has.
        self.name_key = fold_name(self.name)
        if exclude is not None and "name" not in exclude:
            exclude = set(exclude) - {"name_key", "deleted_at"}
        super().validate_constraints(exclude=exclude)

    @property
    def url(self) -> str:
        return settings.ENVIRONMENT_URL_TEMPLATE.format(slug=self.slug)

    @property
    def is_ready(self) -> bool:
        return self.state == EnvironmentState.READY

    def refuse_unless_ready(self, doing: str) -> None:
        """Refuse `doing` ("restore over it", ...) while the environment is being restored or
        is disabled: a Conflict, which every door shows as "busy, try later"."""
        if self.state != EnvironmentState.READY:
            raise Conflict(
                f"{self.name} is {self.get_state_display().lower()}; "
                f"you cannot {doing} until that finishes."
            )

    # Which state may follow which: a restore locks a Ready environment and gives it back;
    # a trial whose time is up is disabled. Anything else is a mistake in the caller.
    STATE_CHANGES = {
        (EnvironmentState.READY, EnvironmentState.RESTORING),
        (EnvironmentState.RESTORING, EnvironmentState.READY),
        (EnvironmentState.READY, EnvironmentState.DISABLED),
    }

    def set_state(self, state: str) -> None:
        """Move to `state` (saved by the caller, in its transaction, with the row locked)."""
        if (self.state, state) not in self.STATE_CHANGES:
            raise ValueError(f"{self.name} cannot go from {self.state} to {state}.")
        self.state = state

    # -- backups: the policy table in settings.BACKUP_RETENTION -----------------------------

    @staticmethod
    def retention_of(environment_type: str) -> datetime.timedelta:
        """How far back an environment of this type can be restored."""
        return settings.BACKUP_RETENTION["system"][environment_type]

    @property
    def retention(self) -> datetime.timedelta:
        return self.retention_of(self.type)

    @property
    def manual_retention(self) -> datetime.timedelta | None:
        """How long its manual backups are kept; None: this type has none."""
        return settings.BACKUP_RETENTION["manual"].get(self.type)

    @property
    def backed_up(self) -> bool:
        """Whether it has system backups at all (trials have none)."""
        return self.retention > datetime.timedelta(0)

    def restorable_window(self, *, now: datetime.datetime | None = None) -> Window:
        """[max(created, now - retention), now], never before history that was purged."""
        now = now or timezone.now()
        start = max(self.created_at, now - self.retention)
        if self.purged_before is not None:
            start = max(start, self.purged_before)
        return Window(start=min(start, now), end=now)

    @property
    def recoverable_until(self) -> datetime.datetime | None:
        if self.deleted_at is None or self.removed_at is not None:
            return None
        return self.deleted_at + datetime.timedelta(days=settings.RECOVERY_DAYS)


class Membership(models.Model):
    class Role(models.TextChoices):
        ADMIN = "admin", "Environment admin"
        MAKER = "maker", "Environment maker"

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    role = models.CharField(max_length=10, choices=Role.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["environment", "user"], name="one_role_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.user} is {self.get_role_display()} of {self.environment}"


# --- The system-versioned store -----------------------------------------------------------------
#
# An environment's data lives in *generations*. A generation is live from valid_from until
# valid_to; a restore ends the live generation with one row change and starts a new one, so it
# never rewrites the old generation's rows. Tables and row versions belong to one generation;
# a version is visible at T when valid_from <= T < coalesce(valid_to, +inf).


class Generation(models.Model):
    environment = models.ForeignKey(
        Environment, on_delete=models.CASCADE, related_name="generations"
    )
    valid_from = models.DateTimeField()
    valid_to = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=200, default="Environment created")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["environment"],
                condition=Q(valid_to__isnull=True),
                name="one_live_generation_per_environment",
            ),
        ]
        indexes = [models.Index(fields=["environment", "valid_from"], name="generation_env_from")]

    def __str__(self) -> str:
        return f"{self.environment} from {self.valid_from:%Y-%m-%d %H:%M:%S}"


class DataTable(models.Model):
    """A table of an environment, in one generation. Its columns are fixed when it is made.

    A table made by a restore is a *branch*: it reads the rows of its `base` table as they were
    at `base_at` and stores only its own versions, written after it was made. A key the branch
    has written (at or before the moment read) is the branch's own from then on: its base row no
    longer shows through, and a deleted base row leaves a tombstone, an own version that ends
    where it starts (live at no moment). See environments.lineage."""

    generation = models.ForeignKey(Generation, on_delete=models.CASCADE, related_name="tables")
    name = models.CharField(max_length=63)
    display_name = models.CharField(max_length=100)
    # [{"name", "label", "type", "required", "max_length"?, "choices"?}], see environments.columns
    columns = models.JSONField()
    valid_from = models.DateTimeField()
    valid_to = models.DateTimeField(null=True, blank=True)
    # Figures the store keeps in each write's own transaction, so that no page counts rows:
    # the open versions (the table's rows while it is live) and the closed ones (history).
    live_rows = models.PositiveBigIntegerField(default=0)
    live_bytes = models.PositiveBigIntegerField(default=0)
    closed_versions = models.PositiveBigIntegerField(default=0)
    closed_bytes = models.PositiveBigIntegerField(default=0)
    # A branch's base, read as of base_at (both empty for a table that stores all its rows).
    # PROTECT: nothing deletes a table a branch still reads; purge waits until none does.
    base = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="branches"
    )
    base_at = models.DateTimeField(null=True, blank=True)
    # How many tables the reads go through: 0 for a plain table, base's depth + 1 for a branch.
    depth = models.PositiveSmallIntegerField(default=0)
    # Of the live rows and bytes, those read from the base (shared, stored once, in the base).
    shared_rows = models.PositiveBigIntegerField(default=0)
    shared_bytes = models.PositiveBigIntegerField(default=0)
    # Flattening (environments.flatten) copies a branch's base rows into it in key order, one
    # chunk per transaction: the last key copied, and how many base rows that made its own.
    flattened_to = models.CharField(max_length=64, blank=True, default="")
    flattened_rows = models.PositiveBigIntegerField(default=0)
    # When its first chunk began: with flattened_rows, the pace the environment page measures
    # to say when the table will no longer share storage with its base.
    flatten_started_at = models.DateTimeField(null=True, blank=True)
    # No version of this table ends later than this (empty: none has ended yet). A branch that
    # reads this table as of a moment at or after it needs only the versions still live, and a
    # page skips looking for rows changed since (environments.lineage). Only ever moves forward.
    closed_until = models.DateTimeField(null=True, blank=True)
    # Why a restore made this table ("Restored from Contoso Prod at ..."), or empty for a table
    # someone created: the rows it holds from valid_from on are then the restore's, not changes
    # anyone wrote (environments.changelog leaves them out and lists the restore instead).
    made_by = models.CharField(max_length=200, blank=True, default="", db_default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["generation", "name"],
                condition=Q(valid_to__isnull=True),
                name="one_live_table_per_name",
            ),
            models.CheckConstraint(
                condition=Q(base__isnull=True, base_at__isnull=True, depth=0)
                | Q(base__isnull=False, base_at__isnull=False, depth__gt=0),
                name="branch_has_base_and_moment",
            ),
        ]

    def __str__(self) -> str:
        return self.display_name


class RowVersion(models.Model):
    """One version of one row. The composite key is the only index: reads go by table and key,
    and a restore appends a new table's rows in key order at the end of the index."""

    pk = models.CompositePrimaryKey("table", "key", "valid_from")
    # No database-level foreign key: PostgreSQL would check it row by row when a restore
    # commits (4.6 s of a 1M-row restore). Only the store and the restore engine write here,
    # always into a table they hold, and purge deletes rows before their tables.
    table = models.ForeignKey(
        DataTable,
        on_delete=models.DO_NOTHING,
        db_index=False,
        db_constraint=False,
        related_name="+",
    )
    key = models.CharField(max_length=64)
    valid_from = models.DateTimeField()
    valid_to = models.DateTimeField(null=True, blank=True)
    values = models.JSONField(encoder=UnicodeJSONEncoder)
    # Bytes of the key and the values' JSON text, fixed when the version is written: the
    # storage figures add and subtract it, so they never need to measure rows again.
    size = models.PositiveIntegerField(default=0)
    # The value of the table's title column (columns.title_column), cut to TITLE_LENGTH: what
    # the data browser's search looks up, by prefix, in an index of the live versions.
    title = models.CharField(max_length=100, default="", blank=True)

    class Meta:
        # Not "ordering": the composite key already gives (key, valid_from) order inside a table.
        verbose_name = "row version"

    def __str__(self) -> str:
        return f"{self.key} @ {self.valid_from:%Y-%m-%d %H:%M:%S}"


class TableCount(models.Model):
    """A table's row count and bytes after a write that changed them: the figures at any moment
    T are the newest entry at or before T (one index probe), which the overwrite preview, the
    restore's progress and a new branch's figures read instead of counting the rows live at T."""

    # The unique (table, at) index serves every lookup; no second one on table.
    table = models.ForeignKey(
        DataTable, on_delete=models.CASCADE, db_index=False, related_name="counts"
    )
    at = models.DateTimeField()
    rows = models.PositiveBigIntegerField()
    bytes = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["table", "at"], name="one_table_count_per_ts")
        ]

    def __str__(self) -> str:
        return f"{self.table} {self.at:%Y-%m-%d %H:%M:%S}: {self.rows}"


class Activity(models.Model):
    """Changes (row creates, updates, deletes) to an environment's data per hour: what the
    restore timeline draws and the candidate list counts, without scanning history."""

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="activity")
    hour = models.DateTimeField()
    changes = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name_plural = "activity"
        constraints = [
            models.UniqueConstraint(fields=["environment", "hour"], name="one_activity_per_hour")
        ]

    def __str__(self) -> str:
        return f"{self.environment} {self.hour:%Y-%m-%d %H:00}: {self.changes}"


class ChangeBatch(models.Model):
    """The changes of one write transaction, at its timestamp, and who made them. With the
    hourly Activity counts it makes "changes since a moment" exact and cheap: whole hours from
    Activity, the partial hour at the edge from these rows (an index range on (environment,
    at)). A version's change is its batch's: the one at the moment the version starts (a
    create or an update) or ends (a delete)."""

    class Via(models.TextChoices):
        PORTAL = "portal", "the portal"
        API = "api", "the API"
        COMMAND = "command", "the command line"
        RESTORE = "restore", "a restore of chosen rows"
        UNDO = "undo", "an undo"
        IMPORT = "import", "an import"
        UNKNOWN = "unknown", "unknown"

    # The unique (environment, at) index serves every lookup; no second one on environment.
    environment = models.ForeignKey(
        Environment, on_delete=models.CASCADE, db_index=False, related_name="change_batches"
    )
    at = models.DateTimeField()
    changes = models.PositiveIntegerField()
    # Who made them: a person (in the portal, through an API token of theirs, or a command run
    # as them), or the system on someone's behalf (a restore of chosen rows, an undo, an
    # import: `author` is who asked). The name is kept as it was, should the user go.
    # Database defaults too: bulk loads that write batches in SQL (benchmarks) need not name them.
    via = models.CharField(
        max_length=10, choices=Via.choices, default=Via.UNKNOWN, db_default=Via.UNKNOWN
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        db_index=False,
        related_name="+",
    )
    author_name = models.CharField(max_length=150, blank=True, default="", db_default="")

    class Meta:
        verbose_name_plural = "change batches"
        constraints = [
            # Each write transaction of an environment takes a strictly later timestamp.
            models.UniqueConstraint(fields=["environment", "at"], name="one_change_batch_per_ts")
        ]
        indexes = [
            # "Changes by alex": an index range over one environment's batches by one author.
            models.Index(fields=["environment", "author_name", "at"], name="change_batch_author"),
        ]

    def __str__(self) -> str:
        return f"{self.environment} {self.at:%Y-%m-%d %H:%M:%S}: {self.changes}"

    @property
    def author_label(self) -> str:
        return author_label(self.via, self.author_name)


def author_label(via: str, name: str) -> str:
    """Who made a change, as pages and exports say it: "alex", "alex (API)", "alex (undo)"."""
    if via == ChangeBatch.Via.UNKNOWN or not name:
        return "Unknown"
    if via == ChangeBatch.Via.PORTAL:
        return name
    suffix = {
        ChangeBatch.Via.API: "API",
        ChangeBatch.Via.COMMAND: "command line",
        ChangeBatch.Via.RESTORE: "restore",
        ChangeBatch.Via.UNDO: "undo",
        ChangeBatch.Via.IMPORT: "import",
    }[via]
    return f"{name} ({suffix})"


class CapacityReservation(models.Model):
    """Storage that an operation under way will add, counted as used from the moment it is
    granted until the operation ends (environments.capacity): a restore or copy that copies
    rows holds one from its request until it commits or fails, a flattening from its first
    chunk until its branch is flat. Granted under the tenant's capacity lock, so two operations
    can never each find the same free space."""

    action = models.CharField(max_length=100)
    bytes = models.PositiveBigIntegerField()
    created_at = models.DateTimeField()
    # A flattening's branch: it shrinks as the chunks make the base's rows the branch's own.
    table = models.OneToOneField(
        DataTable, null=True, blank=True, on_delete=models.CASCADE, related_name="reservation"
    )

    def __str__(self) -> str:
        return f"{self.bytes} bytes to {self.action}"
