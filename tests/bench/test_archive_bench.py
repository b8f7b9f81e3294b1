"""The archive benchmark (bench/archive.py) works: a small run on a database of its own
(PostgreSQL only): the archive timed beside COPY at both moments, its size and a child
process's peak memory reported, and the restore from it timed beside COPY FROM and checked
row for row. The real figures (1,000,000 rows) are in docs/benchmarks.md."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from tests.bench.test_scale_bench import scale_database_url, table_rows  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
ROWS = 3000

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="the benchmark runs on PostgreSQL (CI runs the suite there as well as on SQLite)",
)


def test_small_archive_benchmark_times_export_and_restore_and_checks_the_rows(
    scale_database_url,  # noqa: F811
):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SECRET_KEY")}
    done = subprocess.run(
        [
            sys.executable,
            "bench/archive.py",
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
        timeout=180,
    )
    # Non-zero when the restored sandbox's rows differ from the source's.
    assert done.returncode == 0, done.stdout + done.stderr
    rows = table_rows(done.stdout, f"## Export archives ({ROWS:,} rows")
    assert [row[0] for row in rows[:2]] == ["latest", "7 days back"], done.stdout
    assert "Peak resident memory of a process that does one export" in done.stdout
    assert "COPY FROM STDIN, then the same primary key, indexes and ANALYZE" in done.stdout
    assert "holds exactly the source's rows" in done.stdout
