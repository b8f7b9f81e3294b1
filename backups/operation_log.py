"""The tenant's Operations page: every restore, copy, undo and put-back (RestoreOperation) and
every create, delete and recover of an environment (their audit events), newest first, a page
at a time. Both are read from a cursor in the order of their own index and merged, so a page
costs the same at any depth (keyset, never OFFSET); who sees what is environments.permissions'."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db.models import Q, QuerySet
from django.urls import reverse

from backups.models import RestoreOperation
from environments import permissions
from environments.models import Environment
from portal.errors import Refused
from portal.models import AuditEvent, User

PAGE_SIZE = 25

# What the Kind filter offers, in the words of the pages that start each.
KINDS = [
    ("restore", "Restore"),
    ("copy", "Copy"),
    ("undo", "Undo"),
    ("rows", "Restore rows"),
    ("table", "Restore table"),
    ("create", "Create"),
    ("delete", "Delete"),
    ("recover", "Recover"),
]
EVENT_KINDS = {
    "create": "environment.create",
    "delete": "environment.delete",
    "recover": "environment.recover",
}

# Ties of one moment: an operation before an environment event (newest first), then by id.
OPERATION, EVENT = 1, 0


@dataclass(frozen=True)
class Filters:
    environment: Environment | None = None
    kind: str = ""
    status: str = ""
    who: User | None = None


@dataclass(frozen=True, order=True)
class Cursor:
    at: datetime.datetime
    source: int
    id: int

    def token(self) -> str:
        return f"{self.at.astimezone(datetime.UTC).isoformat()}~{self.source}~{self.id}"

    @classmethod
    def parse(cls, token: str) -> Cursor:
        try:
            at, source, pk = token.split("~")
            moment = datetime.datetime.fromisoformat(at)
            if moment.tzinfo is None or int(source) not in (OPERATION, EVENT):
                raise ValueError
            return cls(moment, int(source), int(pk))
        except (ValueError, OverflowError):
            raise Refused(
                "This page link is not one the Operations page made; here are the newest "
                "operations instead.",
                field="after",
            ) from None


@dataclass
class Entry:
    """One line of the page, whichever kind of thing it is."""

    kind: str
    name: str  # "Restore #12", or "Create" for an environment event
    note: str  # what the name leaves out: "Copy (schema only)", "Undoes Restore #12"
    url: str
    environment: str
    environment_url: str
    source: str  # a restore's or a copy's source, when it is another environment
    status: str
    status_label: str
    who: str
    requested_at: datetime.datetime
    finished_at: datetime.datetime | None
    active: bool
    cursor: Cursor


@dataclass
class Page:
    entries: list[Entry]
    has_previous: bool
    has_next: bool


# -- the two sources -----------------------------------------------------------------------------


def _operations(user: User, f: Filters) -> list[QuerySet[RestoreOperation]]:
    if f.kind in EVENT_KINDS:
        return []
    ops = RestoreOperation.objects.all()
    if f.kind == "undo":
        ops = ops.filter(undo_of__isnull=False)
    elif f.kind == "copy":
        ops = ops.filter(kind__in=RestoreOperation.COPIES, undo_of__isnull=True)
    elif f.kind:
        ops = ops.filter(kind=f.kind, undo_of__isnull=True)
    if f.status:
        ops = ops.filter(status=f.status)
    if f.who is not None:
        ops = ops.filter(requested_by=f.who)
    if f.environment is not None:
        parts = [ops.filter(target=f.environment)]
    elif permissions.is_tenant_admin(user):
        parts = [ops]
    else:
        # One index range per environment they administer (its operations, and the new
        # sandboxes made from it that went with their failure), merged: a page costs the same
        # however many operations the rest of the tenant has.
        ids = list(permissions.administered_environments(user).values_list("pk", flat=True))
        parts = [ops.filter(target_id=pk) for pk in ids] + [
            ops.filter(source_id=pk, made_target=True, target__removed_at__isnull=False)
            for pk in ids
        ]
    return [
        permissions.visible_operations(user, part).select_related(
            "source", "target", "requested_by", "undo_of"
        )
        for part in parts
    ]


def _events(user: User, f: Filters) -> list[QuerySet[AuditEvent]]:
    # An environment event is done when it is recorded: it is never queued, running or failed.
    if (f.kind and f.kind not in EVENT_KINDS) or f.status not in ("", "succeeded"):
        return []
    events = permissions.visible_environment_events(user)
    if f.kind:
        events = events.filter(action=EVENT_KINDS[f.kind])
    if f.who is not None:
        events = events.filter(actor=f.who)
    if f.environment is not None:
        parts = [events.filter(environment=f.environment)]
    elif permissions.is_tenant_admin(user):
        parts = [events]
    else:  # as for their operations: one range per environment
        ids = permissions.manageable_environments(user).values_list("pk", flat=True)
        parts = [events.filter(environment_id=pk) for pk in ids]
    return [part.select_related("actor", "environment") for part in parts]


def _from(rows: QuerySet, field: str, rank: int, cursor: Cursor | None, older: bool) -> QuerySet:
    """The rows strictly older (or newer) than the cursor, in that order. The bound on the
    moment alone is what the index range starts from; the rest only settles ties."""
    if cursor is not None:
        strictly, inclusive = ("lt", "lte") if older else ("gt", "gte")
        if (rank < cursor.source) == older and rank != cursor.source:
            rows = rows.filter(**{f"{field}__{inclusive}": cursor.at})
        elif rank != cursor.source:
            rows = rows.filter(**{f"{field}__{strictly}": cursor.at})
        else:
            rows = rows.filter(**{f"{field}__{inclusive}": cursor.at}).filter(
                Q(**{f"{field}__{strictly}": cursor.at}) | Q(**{f"id__{strictly}": cursor.id})
            )
    return rows.order_by(*((f"-{field}", "-id") if older else (field, "id")))


def _read(user: User, f: Filters, cursor: Cursor | None, *, older: bool, limit: int) -> list[Entry]:
    """Up to `limit` entries from the cursor on, in order: each part read as a range of its
    index, at most `limit` of each, merged."""
    found: list[Entry] = []
    for ops in _operations(user, f):
        rows = _from(ops, "created_at", OPERATION, cursor, older)[:limit]
        found += [_op_entry(op) for op in rows]
    for events in _events(user, f):
        found += [_event_entry(user, e) for e in _from(events, "at", EVENT, cursor, older)[:limit]]
    found.sort(key=lambda e: e.cursor, reverse=older)
    return found[:limit]


def page(
    user: User,
    f: Filters = Filters(),
    *,
    after: Cursor | None = None,
    before: Cursor | None = None,
    size: int | None = None,
) -> Page:
    """A page of entries older than `after` (or newer than `before`), newest first."""
    size = size or PAGE_SIZE
    if before is not None:
        found = _read(user, f, before, older=False, limit=size + 1)
        if len(found) > size:
            return Page(found[:size][::-1], True, True)
        after = None  # not a whole page before it: the first page
    found = _read(user, f, after, older=True, limit=size + 1)
    entries = found[:size]
    has_previous = after is not None and (
        not entries or bool(_read(user, f, entries[0].cursor, older=False, limit=1))
    )
    return Page(entries, has_previous, len(found) > size)


# -- what a line says ----------------------------------------------------------------------------


def _kind_of(op: RestoreOperation) -> str:
    if op.undo_of_id:
        return "undo"
    if op.is_copy:
        return "copy"
    return op.kind


def _op_entry(op: RestoreOperation) -> Entry:
    kind = _kind_of(op)
    target_url = "" if op.target.deleted_at else op.target_url
    note = ""
    if kind == "undo":
        note = f"Undoes {op.undo_of.label}" if op.undo_of else "Undo"
    elif kind == "copy":
        note = op.get_kind_display()
    return Entry(
        kind=kind,
        name=op.label,
        note=note,
        url=reverse("backups:operation", args=[op.pk]),
        environment=op.target_name or op.target.name,
        environment_url=target_url,
        source="" if op.source_id == op.target_id else (op.source_name or op.source.name),
        status=op.status,
        status_label=op.get_status_display(),
        who=str(op.requested_by) if op.requested_by else "System",
        requested_at=op.created_at,
        finished_at=op.finished_at,
        active=op.is_active,
        cursor=Cursor(op.created_at, OPERATION, op.pk),
    )


def _event_entry(user: User, event: AuditEvent) -> Entry:
    kind = event.action.removeprefix("environment.")
    url = _environment_url(user, event.environment)
    return Entry(
        kind=kind,
        name=kind.title(),
        note="",
        url=url,
        environment=event.environment_name,
        environment_url=url,
        source="",
        status=event.outcome,
        status_label=event.get_outcome_display(),
        who=str(event.actor) if event.actor else "System",
        requested_at=event.at,
        finished_at=event.at,
        active=False,
        cursor=Cursor(event.at, EVENT, event.pk),
    )


def _environment_url(user: User, env: Environment | None) -> str:
    """Where an environment is now: its page; while deleted, the Deleted environments list
    (for those who may recover it); once removed for good, nowhere."""
    if env is None or env.removed_at is not None:
        return ""
    if env.deleted_at is None:
        return reverse("environments:detail", args=[env.slug])
    if permissions.can_recover_environments(user):
        return reverse("environments:deleted")
    return ""
