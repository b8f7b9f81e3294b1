"""A row's History: the changes made to it, newest first (added, changed, deleted), when, who,
and the fields each changed, before -> after. Read from the row's versions
(store.key_versions): a restored table's row goes on into the history of the table it was
restored from, up to the moment it was restored at. Paged by version (keyset), since a row can
have thousands. The one source of a row's history: the row page, the API and `manage.py data
history` all read it."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q

from environments import columns as cols
from environments import lineage, store
from environments.models import ChangeBatch, DataTable, RowVersion
from environments.viewing import at_text, parse_moment

ADDED, CHANGED, DELETED, RESTORED = "added", "changed", "deleted", "restored"
KINDS = (ADDED, CHANGED, DELETED, RESTORED)


@dataclass(frozen=True)
class FieldChange:
    column: str
    label: str
    before: str  # as the browser shows the value
    after: str
    stored_before: Any = None  # the value itself (the API's)
    stored_after: Any = None


@dataclass
class Change:
    kind: str  # ADDED, CHANGED, DELETED; RESTORED: from here down, the table's base
    at: datetime.datetime
    author: str = ""
    fields: list[FieldChange] = field(default_factory=list)
    before: dict | None = None  # the row's values before (None: it was not there)
    after: dict | None = None  # ... and after (None: deleted)
    shown: bool = False  # the version the page shows
    source: str = ""  # RESTORED: the environment the table was restored from
    source_at: datetime.datetime | None = None  # ... as it was at this moment


@dataclass
class History:
    changes: list[Change]
    older: tuple[int, datetime.datetime] | None  # where the next (older) page starts
    first: bool  # this is the newest page


def _tombstone(v: RowVersion) -> bool:
    """A branch's version that hides its base's row from valid_from on (live at no moment)."""
    return v.valid_to is not None and v.valid_to == v.valid_from


def _end(kv: store.KeyVersion, newer: store.KeyVersion | None) -> datetime.datetime | None:
    """When the version stopped being the row in the table read: its own end, or, for a base's
    version still live at the moment it is read at, the first version above it."""
    end = kv.version.valid_to
    if kv.read_at is None or (end is not None and end <= kv.read_at):
        return end
    return newer.version.valid_from if newer is not None and newer.layer < kv.layer else None


def history(
    table: DataTable,
    key: str,
    *,
    size: int,
    start: tuple[int, datetime.datetime] | None = None,
    shown: RowVersion | None = None,
) -> History:
    """One page of the row's changes, from the version `start` names on (None: the newest).
    The page reads one version more on each side: the newer one says how the first ended, the
    older one what the last changed."""
    versions = store.key_versions(table, key, limit=size + (2 if start else 1), start=start)
    newer = None
    if start is not None and versions and _where(versions[0]) == start:
        newer = versions.pop(0)
    page, older = versions[:size], versions[size] if len(versions) > size else None
    tables = _layer_tables(table)
    columns = table.columns
    changes: list[Change] = []
    authors: list[tuple[int, datetime.datetime, Change]] = []  # (environment, at, change)

    def add(kind: str, at: datetime.datetime, layer: int, before: dict, after: dict, **kw) -> None:
        change = Change(
            kind,
            at,
            fields=_fields(columns, kind, before, after),
            before=before if kind != ADDED else None,
            after=after if kind != DELETED else None,
            **kw,
        )
        changes.append(change)
        authors.append((tables[layer].generation.environment_id, at, change))

    carry_shown = False  # a copy of the version below it (flattening) stands for it
    for i, kv in enumerate(page):
        above = page[i - 1] if i else newer
        below = page[i + 1] if i + 1 < len(page) else older
        v = kv.version
        is_shown = carry_shown or (shown is not None and _same(v, shown))
        carry_shown = False
        for layer in range(above.layer if above else (0 if start is None else kv.layer), kv.layer):
            branch = tables[layer]
            changes.append(
                Change(
                    RESTORED,
                    branch.valid_from,
                    source=tables[layer + 1].generation.environment.name,
                    source_at=branch.base_at,
                )
            )
        if _tombstone(v):
            before = below.version.values if below is not None else {}
            add(DELETED, v.valid_from, kv.layer, before, {})
            continue
        end = _end(kv, above)
        if end is not None and (above is None or above.version.valid_from != end):
            add(DELETED, end, kv.layer, v.values, {})
        previous = below.version if below is not None else None
        if previous is not None and not _tombstone(previous) and _end(below, kv) == v.valid_from:
            if previous.values == v.values:
                carry_shown = is_shown  # flattening copied it over: no change was made
                continue
            add(CHANGED, v.valid_from, kv.layer, previous.values, v.values, shown=is_shown)
        else:
            add(ADDED, v.valid_from, kv.layer, {}, v.values, shown=is_shown)
    _name_authors(authors)
    last = page[-1] if page else None
    return History(
        changes=changes,
        older=_where(last) if older is not None and last else None,
        first=start is None,
    )


def start_of(params: dict[str, str]) -> tuple[int, datetime.datetime] | None:
    """The page a History link asks for: `older` (the moment a version started) and `layer`
    (0: the table's own, 1: its base, ...); None for the newest page, or a link that is not
    one of ours."""
    older, layer = params.get("older", ""), params.get("layer", "0")
    if not (layer.isascii() and layer.isdigit() and int(layer) <= lineage.MAX_DEPTH):
        return None
    moment = parse_moment(older)
    return (int(layer), moment) if moment is not None else None


def query_of(start: tuple[int, datetime.datetime]) -> dict[str, str]:
    layer, moment = start
    return {"older": at_text(moment), **({"layer": str(layer)} if layer else {})}


def token(start: tuple[int, datetime.datetime]) -> str:
    """The API's `next` for the page from `start` on: "<layer>~<moment>"."""
    layer, moment = start
    return f"{layer}~{moment.isoformat()}"


def parse_token(text: str) -> tuple[int, datetime.datetime] | None:
    """The start a `next` names; None for text that is not one of ours."""
    layer, _, moment = text.partition("~")
    if not (layer.isascii() and layer.isdigit() and int(layer) <= lineage.MAX_DEPTH):
        return None
    try:
        at = datetime.datetime.fromisoformat(moment)
    except ValueError:
        return None
    return (int(layer), at) if at.tzinfo is not None else None


def _where(kv: store.KeyVersion) -> tuple[int, datetime.datetime]:
    return (kv.layer, kv.version.valid_from)


def _same(a: RowVersion, b: RowVersion) -> bool:
    return (a.table_id, a.key, a.valid_from) == (b.table_id, b.key, b.valid_from)


def _layer_tables(table: DataTable) -> list[DataTable]:
    """The table and each base it reads (with their environments), in layer order: one query."""
    ids = [layer.table_id for layer in lineage.layers(table, None)]
    found = DataTable.objects.select_related("generation__environment").in_bulk(ids)
    return [found[pk] for pk in ids]


def _fields(columns: list[dict], kind: str, before: dict, after: dict) -> list[FieldChange]:
    """The fields a change set (added), changed, or took away (deleted), as the browser shows
    them."""
    found = []
    for column in columns:
        old, new = before.get(column["name"]), after.get(column["name"])
        shown_old, shown_new = cols.display(column, old), cols.display(column, new)
        if kind == CHANGED and old == new:
            continue
        if kind != CHANGED and not (shown_old or shown_new):
            continue
        found.append(FieldChange(column["name"], column["label"], shown_old, shown_new, old, new))
    return found


def _name_authors(authors: list[tuple[int, datetime.datetime, Any]]) -> None:
    """Who made each change: the batch of its environment at its moment, one query for all."""
    if not authors:
        return
    moments: dict[int, set[datetime.datetime]] = {}
    for environment_id, at, _ in authors:
        moments.setdefault(environment_id, set()).add(at)
    where = Q()
    for environment_id, ats in moments.items():
        where |= Q(environment_id=environment_id, at__in=sorted(ats))
    batches = {
        (b.environment_id, b.at): b.author_label
        for b in ChangeBatch.objects.filter(where).only("environment", "at", "via", "author_name")
    }
    for environment_id, at, change in authors:
        change.author = batches.get((environment_id, at), "Unknown")
