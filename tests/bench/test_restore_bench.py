"""The restore benchmark (bench/restore.py) works: a small run of it, a few thousand rows and
one round, on a database of its own (PostgreSQL only). The real figures take minutes to build
and are not part of the suite (see docs/benchmarks.md)."""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
ROWS = 3000

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the restore benchmark runs on PostgreSQL"
)


@pytest.fixture
def bench_database_url(django_db_setup):
    """A database named after the test database (so that two runs side by side, each with its
    own test database, never share it), dropped afterwards whatever happened."""
    s = connection.settings_dict
    host, port, user = s["HOST"] or "127.0.0.1", s["PORT"] or 5432, s["USER"]
    name = f"{s['NAME']}_bench"
    server = f"postgres://{user}@{host}:{port}"
    drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(drop)
    yield f"{server}/{name}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(drop)


def test_small_restore_benchmark_runs_and_checks_each_restore(bench_database_url):
    started = time.monotonic()
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    done = subprocess.run(
        [
            sys.executable,
            "bench/restore.py",
            "--rows",
            str(ROWS),
            "--runs",
            "1",
            "--tables",
            "3",
            "--other-environments",
            "1",
            "--database-url",
            bench_database_url,
        ],
        cwd=ROOT,
        env={**env, "DEBUG": "true"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    # The script exits non-zero if a restore failed or its target differs from the source.
    assert done.returncode == 0, done.stdout + done.stderr
    row = re.search(rf"^\| {ROWS:,} \| (.+) \|$", done.stdout, re.MULTILINE)
    assert row, done.stdout
    cells = [c.strip() for c in row.group(1).split("|")]
    source_versions, store_versions, restore_s = cells[0], cells[1], float(cells[2])
    assert source_versions == f"{4 * ROWS:,}"  # three older versions and the current one
    assert int(store_versions.replace(",", "")) > 4 * ROWS  # the store holds other data
    assert restore_s > 0
    assert float(cells[4]) > 0  # CREATE TABLE AS + primary key
    assert "Seq scan of the versions table:" in done.stdout
    assert time.monotonic() - started < 30
