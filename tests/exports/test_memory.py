"""Exporting keeps memory flat: rows are read in keyset chunks and compressed to a temporary
file, never held whole. A size check (tracemalloc's peak), not a timing one; PostgreSQL only
(the rows are made there in one statement)."""

import datetime
import tracemalloc

import pytest
from django.db import connection
from django.utils import timezone

from backups import exports
from backups.models import Export
from environments import store
from tests.factories import EnvironmentFactory, UserFactory, make_table

ROWS = 100_000
# Flat is about 10 MB here; a table's rows held whole is over 40 MB.
PEAK_LIMIT = 32 * 1024 * 1024

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="makes its rows in SQL on PostgreSQL"
)


@pytest.mark.django_db
def test_exporting_100000_rows_stays_under_32_mb():
    admin = UserFactory(tenant_role="global_admin")
    env = EnvironmentFactory(
        type="production", created_at=timezone.now() - datetime.timedelta(days=3)
    )
    born = timezone.now() - datetime.timedelta(hours=1)
    for number, rows in enumerate((ROWS, 10)):
        table = make_table(env, f"table{number}")
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO environments_rowversion (table_id, key, valid_from, valid_to, "
                '"values", size, title) SELECT %s, key, %s, NULL, v, '
                "octet_length(key) + octet_length(v::text), v ->> 'name' "
                "FROM (SELECT lpad(g::text, 7, '0') AS key, jsonb_build_object('name', "
                "'Account number ' || g || ' with a longer name', 'employees', g, "
                "'email', 'user' || g || '@example.com', 'tier', 'Gold') AS v "
                "FROM generate_series(1, %s) AS g) AS made",
                [table.pk, born, rows],
            )
    store.recount(env)
    export = exports.export_start(environment=env, requested_by=admin)
    tracemalloc.start()
    try:
        status = exports.export_run(export.pk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    export.refresh_from_db()
    assert status == Export.Status.SUCCEEDED, export.error
    assert export.rows == ROWS + 10
    assert export.size > 1_000_000  # what was written is far more than a few chunks
    assert peak < PEAK_LIMIT, f"peak {peak / 2**20:.1f} MB"
