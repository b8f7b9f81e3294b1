from __future__ import annotations

import zoneinfo

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q


def validate_time_zone(value: str) -> None:
    if value and value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not a known time zone.")


# The group whose members use the Django admin (portal.apps gives it its permissions).
SUPPORT_GROUP = "Support staff"


class User(AbstractUser):
    """A person who signs in. Tenant-wide roles live here; per-environment roles are memberships."""

    class TenantRole(models.TextChoices):
        NONE = "", "None"
        GLOBAL_ADMIN = "global_admin", "Global admin"
        SERVICE_ADMIN = "service_admin", "Power Platform admin"

    tenant_role = models.CharField(
        max_length=20, choices=TenantRole.choices, blank=True, default=TenantRole.NONE
    )
    # Empty means "follow the browser": the portal reads the zone the browser reports.
    time_zone = models.CharField(max_length=64, blank=True, validators=[validate_time_zone])

    @property
    def is_tenant_admin(self) -> bool:
        return self.tenant_role in {self.TenantRole.GLOBAL_ADMIN, self.TenantRole.SERVICE_ADMIN}

    def __str__(self) -> str:
        return self.get_full_name() or self.username


# The audit events that are operations of their own (the Operations page lists them).
ENVIRONMENT_EVENTS = ("environment.create", "environment.delete", "environment.recover")


class AuditEvent(models.Model):
    """One thing that happened to an environment or its backups: who, what, when, outcome."""

    class Outcome(models.TextChoices):
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        REFUSED = "refused", "Refused"

    at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=50, db_index=True)
    environment = models.ForeignKey(
        "environments.Environment",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="audit_events",
    )
    related_environment = models.ForeignKey(
        "environments.Environment",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # Kept as text so the record survives the environment's deletion.
    environment_name = models.CharField(max_length=100, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.SUCCEEDED)
    summary = models.CharField(max_length=300)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["environment", "-at"], name="audit_env_at"),
            # The Operations page's creates, deletes and recoveries, newest first from a cursor,
            # without reading the rest of the log (environments.permissions.ENVIRONMENT_EVENTS).
            models.Index(
                fields=["at", "id"],
                condition=Q(action__in=ENVIRONMENT_EVENTS),
                name="audit_environment_events",
            ),
            models.Index(
                fields=["environment", "at", "id"],
                condition=Q(action__in=ENVIRONMENT_EVENTS),
                name="audit_environment_events_env",
            ),
            models.Index(
                fields=["actor", "at", "id"],
                condition=Q(action__in=ENVIRONMENT_EVENTS),
                name="audit_environment_events_who",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.action}: {self.summary}"


class ApiToken(models.Model):
    """A personal API token. Only a hash of the secret is kept: the token is shown once, when it
    is made. The prefix (in clear) finds the row; the hash proves the rest."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class RateCounter(models.Model):
    """A count that every process shares (portal.counters): the API's limits per minute and the
    once-per-pause lockout audit. Kept in the database because `make serve` runs several
    processes and a per-process cache would multiply each limit by their number."""

    key = models.CharField(max_length=255, primary_key=True)
    hits = models.PositiveIntegerField()
    # Past this the count starts again at 1; housekeeping deletes rows that are past it.
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.key}: {self.hits} until {self.expires_at:%Y-%m-%d %H:%M:%S}"
