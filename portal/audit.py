"""The audit log: one function records every event, whichever door (page, admin, API, command)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from portal.models import AuditEvent, User


def audit_record(
    *,
    action: str,
    summary: str,
    actor: User | None,
    environment: Any = None,
    related_environment: Any = None,
    outcome: str = AuditEvent.Outcome.SUCCEEDED,
    details: dict | None = None,
    at: Any = None,
    environment_name: str | None = None,
) -> AuditEvent:
    """Write one line of the audit log. The keyword-only parameters are the line's fields,
    one each (only action, summary and actor are always given); `environment_name` keeps the
    name the environment had when it happened (a restore may rename it)."""
    return AuditEvent.objects.create(
        at=at or timezone.now(),
        actor=actor if actor is not None and actor.is_authenticated else None,
        action=action,
        environment=environment,
        related_environment=related_environment,
        environment_name=(
            environment_name if environment_name is not None else getattr(environment, "name", "")
        )
        or "",
        outcome=outcome,
        summary=summary[:300],
        details=details or {},
    )
