"""The round trip is exact: random environments (tables of every column type, rows with any
text, updates, deletes, and restores that make a table a branch reading its base), exported at
a random moment of their window and restored into a new sandbox, read there exactly as their
source did at that moment: every table's rows, display name and columns."""

import datetime
import itertools

import pytest
import time_machine
from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backups import archive_storage, archives, engine, exports, imports, restores
from backups.models import ArchiveImport, Export
from environments import columns as cols
from environments import store
from environments.models import Environment
from tests.factories import EnvironmentFactory, UserFactory

T0 = datetime.datetime(2026, 9, 1, tzinfo=datetime.UTC)
HOUR = datetime.timedelta(hours=1)
CHOICES = ["Gold", "Silver", 'Ünïcode "quoted" \\ choice']
DISPLAY_NAMES = ["Accounts", "Comptes à régler", 'Say "hi"', "Back\\slash", "日本語の表", "😀 x"]
TRICKY = ['"', "\\", "\n", "\r\n", "\t", "'", "é", "日本", "😀", "\u200b", "{", "}", "\\n", "null"]
CHARACTERS = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")
TEXT = st.lists(
    st.one_of(st.sampled_from(TRICKY), st.text(CHARACTERS, max_size=8)),
    max_size=8,
).map("".join)
EMAILS = ["a@example.com", "o'neil@example.org", "josé@exämple.com", "x.y+z@sub.example.net"]
_counter = itertools.count()


def value_of(column: dict):
    """A strategy of values the store takes for the column, empty ones included."""
    kind = column["type"]
    empty = st.sampled_from([None, ""])
    match kind:
        case "text":
            return st.one_of(empty, TEXT.map(lambda s: s[:200]))
        case "long_text":
            return st.one_of(empty, TEXT, st.text(CHARACTERS, max_size=3).map(lambda s: s * 300))
        case "email":
            return st.one_of(empty, st.sampled_from(EMAILS))
        case "integer":
            return st.one_of(empty, st.integers(-(2**53), 2**53))
        case "decimal":
            return st.one_of(
                empty,
                st.decimals(min_value=-(10**15), max_value=10**15, places=2, allow_nan=False).map(
                    str
                ),
            )
        case "boolean":
            return st.one_of(st.none(), st.booleans())
        case "date":
            return st.one_of(
                empty,
                st.dates(datetime.date(1000, 1, 1), datetime.date(9999, 12, 31)).map(
                    datetime.date.isoformat
                ),
            )
        case "choice":
            return st.one_of(empty, st.sampled_from(CHOICES))
    raise AssertionError(kind)


def columns_of(data) -> list[dict]:
    kinds = data.draw(st.lists(st.sampled_from(cols.COLUMN_TYPES), min_size=1, max_size=6))
    columns = []
    for n, kind in enumerate(kinds):
        column = {"name": f"c{n}", "label": f"Column {n} ({kind})", "type": kind}
        if kind == "choice":
            column["choices"] = CHOICES
        columns.append(column)
    return columns


def values_of(data, table) -> dict:
    return {c["name"]: data.draw(value_of(c)) for c in table.columns}


def layout_of(snapshot) -> dict:
    return {t.name: (t.display_name, t.columns) for t in snapshot.tables()}


STEP = st.sampled_from(["create", "create", "create", "update", "update", "delete", "restore"])


@pytest.mark.django_db
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_an_export_restored_elsewhere_reads_as_its_source_did_at_the_moment(data):
    admin = UserFactory(tenant_role="global_admin")
    env = EnvironmentFactory(type="sandbox", created_at=T0)
    clock = T0
    with time_machine.travel(clock, tick=False), store.changes(env) as cs:
        for n in range(data.draw(st.integers(1, 3), label="tables")):
            cs.create_table(
                name=f"t{n}",
                display_name=data.draw(st.sampled_from(DISPLAY_NAMES)),
                columns=columns_of(data),
            )
    moments = [clock]
    steps = data.draw(st.lists(st.tuples(STEP, st.floats(0.05, 8)), min_size=1, max_size=14))
    for action, wait_hours in steps:
        clock += wait_hours * HOUR
        with time_machine.travel(clock, tick=False):
            env.refresh_from_db()
            if action == "restore":
                window = env.restorable_window()
                moment = window.start + (window.end - window.start) * data.draw(st.floats(0, 1))
                op = restores.restore_start(
                    restores.RestoreRequest(
                        source=env, target=env, moment=moment, requested_by=admin
                    )
                )
                assert engine.restore_run(op.pk) == "succeeded"
            else:
                live = list(store.current(env).tables().order_by("name"))
                if not live:
                    continue
                table = data.draw(st.sampled_from(live))
                keys = [row.key for row in store.current(env).rows(table)]
                try:
                    with store.changes(env) as cs:
                        # One to three writes in one transaction.
                        for _ in range(data.draw(st.integers(1, 3))):
                            if action == "create" or not keys:
                                cs.create_row(table, values_of(data, table))
                            elif action == "update":
                                cs.update_row(
                                    table, data.draw(st.sampled_from(keys)), values_of(data, table)
                                )
                            else:
                                key = data.draw(st.sampled_from(keys))
                                cs.delete_row(table, key)
                                keys.remove(key)
                except ValidationError:  # a value the store refuses: nothing written
                    pass
        moments += [clock - store.TICK, clock, clock + store.TICK]
    now = clock + data.draw(st.floats(0, 4)) * HOUR
    env.refresh_from_db()
    window = env.restorable_window(now=now)
    moment = data.draw(
        st.one_of(
            st.floats(0, 1).map(lambda f: window.start + (window.end - window.start) * f),
            st.sampled_from([m for m in moments if window.start <= m <= window.end]),
        ),
        label="moment",
    )
    with time_machine.travel(now, tick=False):
        export = exports.export_start(environment=env, requested_by=admin, moment=moment)
        assert exports.export_run(export.pk) == Export.Status.SUCCEEDED
    export.refresh_from_db()
    with archive_storage.open_stream(export.file_name) as stream:
        checked = archives.verify(stream)
    assert (checked.size, checked.sha256) == (export.size, export.sha256)

    slug = f"round-trip-{next(_counter)}"
    with time_machine.travel(now + HOUR, tick=False):
        op = imports.import_start(
            requested_by=admin, file_name=export.file_name, name=slug.title(), slug=slug
        )
        assert imports.import_run(op.pk) == ArchiveImport.Status.SUCCEEDED, (
            ArchiveImport.objects.get(pk=op.pk).error
        )
    new = Environment.objects.get(slug=slug)
    source = store.as_of(env, moment)
    assert store.current(new).as_dict() == source.as_dict()
    assert layout_of(store.current(new)) == layout_of(source)
    assert export.rows == sum(len(rows) for rows in source.as_dict().values())
