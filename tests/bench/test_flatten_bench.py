"""The flattening benchmark with autovacuum off (bench/flatten.py) works: a small run of it on a
database of its own (PostgreSQL only). The real figures (200,000 rows, 10,000-row chunks) are in
docs/benchmarks.md."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from tests.bench.test_scale_bench import scale_database_url, table_rows  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the benchmark runs on PostgreSQL"
)


def test_small_flatten_benchmark_times_a_page_and_chunks_both_ways(scale_database_url):  # noqa: F811
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SECRET_KEY")}
    done = subprocess.run(
        [
            sys.executable,
            "bench/flatten.py",
            "--rows",
            "2000",
            "--chunk",
            "200",
            "--chunks",
            "2",
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
    rows = table_rows(done.stdout, "## A flattening chunk with autovacuum off")
    assert [row[0] for row in rows] == [
        "never analysed (before)",
        "analysed by what fills it (now)",
    ], done.stdout
    for row in rows:
        assert row[2].endswith(" ms"), row
        assert all(cell.endswith((" s", " s)")) for cell in [row[1], *row[3:]]), row
