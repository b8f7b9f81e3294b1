"""The parts of the environment page that are about backups and restores. The environments app
does not know this app: its page loads these tags, and they do the reading here."""

from __future__ import annotations

import datetime

from django import template
from django.utils import timezone

from backups import export_schedules, exports, selectors
from backups.models import ArchiveImport, RestoreOperation
from environments.models import Environment, EnvironmentState

register = template.Library()

# The outcome of a restore stays on its target's page this long after it ends.
BANNER_AFTER_END = datetime.timedelta(minutes=15)
# Audit events that queued a restore: they show that restore's state now.
QUEUED_ACTIONS = ("restore.start", "restore.undo")


@register.inclusion_tag("backups/_menu.html")
def backups_menu(environment: Environment) -> dict:
    """The command bar's Backups menu: Restore or manage, and Create (or why not)."""
    return {"environment": environment, "refusal": selectors.manual_backups_refusal(environment)}


# How many of the latest restores the environment page lists.
RECENT = 6


def _latest_restores(environment: Environment) -> list[RestoreOperation]:
    """The environment's latest restores, read once per page: the banner, the Recent restores
    card and the Recent operations card all show them as of the same moment, so a restore that
    ends while the page renders is never "Preparing" in one place and "Succeeded" in another."""
    if not hasattr(environment, "_latest_restores"):
        environment._latest_restores = list(
            RestoreOperation.objects.filter(target=environment)
            .select_related("source", "target", "pre_restore_backup", "requested_by", "undo_of")
            .order_by("-created_at", "-id")[:RECENT]
        )
    return environment._latest_restores


@register.inclusion_tag("backups/_banner.html")
def restore_banner(environment: Environment) -> dict:
    """The latest restore of the environment while it runs, and its outcome for a while."""
    latest = next(iter(_latest_restores(environment)), None)
    if latest is None:
        return {}
    ended = latest.finished_at or timezone.now()
    if not latest.is_active and ended <= timezone.now() - BANNER_AFTER_END:
        return {}
    # The page read the environment while it was still being restored, and the restore ended
    # since: poll once more, so that the page reloads with its new state.
    stale = not latest.is_active and environment.state == EnvironmentState.RESTORING
    return {"operation": latest, "poll": stale}


@register.inclusion_tag("backups/_recent_restores.html")
def recent_restores(environment: Environment) -> dict:
    restores = _latest_restores(environment)
    # Only the target's latest succeeded restore can be undone: check that one, not each row.
    latest_done = next(
        (op for op in restores if op.status == RestoreOperation.Status.SUCCEEDED), None
    )
    for op in restores:
        op.can_undo = op is latest_done and selectors.undo_possible(op)
    return {"restores": restores}


@register.filter
def with_restore_states(events, environment: Environment | None = None) -> list:
    """Audit events, those that queued a restore carrying it (`event.operation`), so that the
    page shows the restore's state now (queued, running, succeeded or failed); one query for
    those the page has not read already (`environment`'s latest restores, as the rest of the
    page shows them)."""
    events = list(events)
    known = {op.pk: op for op in _latest_restores(environment)} if environment else {}
    wanted = [
        e.details.get("operation")
        for e in events
        if e.action in QUEUED_ACTIONS and isinstance(e.details.get("operation"), int)
    ]
    operations = {
        **RestoreOperation.objects.in_bulk([pk for pk in wanted if pk not in known]),
        **known,
    }
    for event in events:
        event.operation = (
            operations.get(event.details.get("operation"))
            if event.action in QUEUED_ACTIONS
            else None
        )
    return events


# -- exports -------------------------------------------------------------------------------------


@register.inclusion_tag("backups/_exports_card.html")
def exports_card(environment: Environment) -> dict:
    """Last export and Last verified (exports.last_exports), the schedule, and its failure
    when the last scheduled export failed."""
    last, verified = exports.last_exports(environment)
    schedule = export_schedules.schedule_of(environment)
    return {
        "environment": environment,
        "last": last,
        "verified": verified,
        "schedule": schedule,
        "schedule_words": export_schedules.describe(schedule),
    }


@register.inclusion_tag("backups/_import_banner.html")
def import_banner(environment: Environment) -> dict:
    """A restore from a file into this (new) sandbox while it runs, and its outcome for a
    while: what the sandbox holds, and that its history starts there."""
    op = (
        ArchiveImport.objects.filter(target=environment)
        .select_related("target", "requested_by")
        .order_by("-created_at", "-id")
        .first()
    )
    if op is None:
        return {}
    ended = op.finished_at or timezone.now()
    if not op.is_active and ended <= timezone.now() - BANNER_AFTER_END:
        return {}
    return {"operation": op}
