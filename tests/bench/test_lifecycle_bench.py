"""The restore-into-new and copy benchmark (bench/lifecycle.py) works: a small run of it on a
database of its own (PostgreSQL only). The real figures (1,000,000 rows) are in
docs/benchmarks.md."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from tests.bench.test_scale_bench import scale_database_url, table_rows  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
ROWS = 2000

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the benchmark runs on PostgreSQL"
)


def test_small_lifecycle_benchmark_times_each_operation_to_usable(scale_database_url):  # noqa: F811
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SECRET_KEY")}
    done = subprocess.run(
        [
            sys.executable,
            "bench/lifecycle.py",
            "--rows",
            str(ROWS),
            "--runs",
            "1",
            "--database-url",
            scale_database_url,
        ],
        cwd=ROOT,
        env={**env, "DEBUG": "true"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    rows = table_rows(done.stdout, "## Restore into a new environment and copy")
    assert [row[0] for row in rows] == [
        "restore into a new sandbox",
        "copy everything into a new sandbox",
        "copy the schema only into a new sandbox",
        "copy everything over an existing sandbox",
    ], done.stdout
    shown = {row[0]: row[3] for row in rows}
    assert shown["restore into a new sandbox"] == "25 rows"  # its data read back
    assert shown["copy the schema only into a new sandbox"] == "0 rows"
    assert all(row[4] in ("yes", "**no**") for row in rows)
