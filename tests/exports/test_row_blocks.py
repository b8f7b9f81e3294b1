"""An archive's rows read by COPY (PostgreSQL, when nothing else writes on the connection) and
from a cursor give the same bytes, for values that COPY's text format escapes."""

import pytest
from django.db import connection

from environments import archive_rows, store
from tests.exports.test_round_trip import TRICKY
from tests.factories import EnvironmentFactory, ago, make_table


def _read(table, moment, *, by_copy):
    blocks = list(archive_rows.row_blocks(table, moment, by_copy=by_copy))
    return (
        b"".join(b for b, _, _ in blocks),
        sum(n for _, n, _ in blocks),
        sum(s for _, _, s in blocks),
    )


@pytest.mark.skipif(connection.vendor != "postgresql", reason="COPY is PostgreSQL's")
@pytest.mark.parametrize("debug", [False, True])
def test_copy_and_cursor_read_the_same_lines(db, clock, monkeypatch, settings, debug):
    settings.DEBUG = debug  # Django's debug cursor wrapper has a copy() of its own
    monkeypatch.setattr(archive_rows, "BLOCK_BYTES", 200)  # many blocks, lines split anywhere
    env = EnvironmentFactory(name="Escapes", slug="escapes", created_at=ago(days=3))
    make_table(env, "accounts")
    table = store.current(env).table("accounts")
    with store.changes(env) as cs:
        for i, text in enumerate(TRICKY * 20):
            cs.create_row(table, {"name": text or "x", "tier": "Gold"}, key=f"k{i:03d}")
    moment = store.current(env).environment.last_change_at
    by_copy = _read(table, moment, by_copy=True)
    by_cursor = _read(table, moment, by_copy=False)
    assert by_copy == by_cursor
    lines, rows, size = by_copy
    assert rows == len(TRICKY) * 20 == lines.count(b"\n")
    assert size == sum(v.size for v in store.current(env).rows(table))
    assert b"\\\\" in lines  # a backslash in a value, escaped once, as JSON does
