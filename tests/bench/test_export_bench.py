"""The CSV export benchmark (bench/export.py) works: a small run of it on a database of its own
(PostgreSQL only): both ways of exporting timed at both moments, their rows checked against each
other, and the peak memory reported. The real figures (1,000,000 rows) are in
docs/benchmarks.md."""

import os
import re
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


def test_small_export_benchmark_times_the_export_beside_copy_and_checks_the_rows(
    scale_database_url,  # noqa: F811
):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SECRET_KEY")}
    done = subprocess.run(
        [
            sys.executable,
            "bench/export.py",
            "--rows",
            str(ROWS),
            "--runs",
            "1",
            "--chunk",
            "500",
            "--database-url",
            scale_database_url,
        ],
        cwd=ROOT,
        env={**env, "DEBUG": "true"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    # Non-zero when the export's rows differ from COPY's, or are not --rows.
    assert done.returncode == 0, done.stdout + done.stderr
    rows = table_rows(done.stdout, f"## CSV export of a table ({ROWS:,} rows")
    assert [row[0] for row in rows] == ["latest", "7 days back"], done.stdout
    for row in rows:
        export_s, export_rate, copy_s, copy_rate = (float(c.replace(",", "")) for c in row[1:5])
        assert export_s > 0 and copy_s > 0 and export_rate > 0 and copy_rate > 0
        assert row[5].endswith("x") and row[6].endswith(" MB") and row[8].endswith(" MB")
    assert "reads 500 rows a statement" in done.stdout
    assert re.search(r"ru_maxrss\): \d+ MB after the build, \d+ MB after", done.stdout)
    assert "both outputs parse back to the same rows" in done.stdout
