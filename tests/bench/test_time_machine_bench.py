"""The time machine's benchmark (bench/time_machine.py) works: a small run of it on a database
of its own (PostgreSQL only), whose plans must read index ranges, never a partition whole. The
real figures (1,000,000 rows) are in docs/benchmarks.md."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from tests.bench.test_scale_bench import scale_database_url, table_rows  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="the benchmark runs on PostgreSQL (CI runs the suite there as well as on SQLite)",
)


def test_small_time_machine_benchmark_times_changes_and_put_backs(scale_database_url):  # noqa: F811
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SECRET_KEY")}
    done = subprocess.run(
        [
            sys.executable,
            "bench/time_machine.py",
            "--rows",
            "5000",
            "--runs",
            "1",
            "--put-back-runs",
            "1",
            "--database-url",
            scale_database_url,
        ],
        cwd=ROOT,
        env={**env, "DEBUG": "true"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    changes = table_rows(done.stdout, "## The Changes page")
    assert [row[0] for row in changes] == [
        "source, ~100 changes",
        "source, ~100,000 changes",
        "restored sandbox, 100 changes",
    ]
    assert all(cell.endswith(" ms") for row in changes for cell in row[2:]), changes
    as_of = table_rows(done.stdout, "## Browsing as of a moment")
    assert {row[1] for row in as_of} == {
        "now",
        "1 hour back",
        "7 days back",
        "26 days back",
        "just after the restore",
    }
    assert all(row[3].endswith(" ms") for row in as_of), as_of
    plans = table_rows(done.stdout, "## Plans of one table's first page")
    assert plans and all(row[3] == "index ranges only" for row in plans), plans
    put_backs = table_rows(done.stdout, "## Putting rows back")
    assert [row[1] for row in put_backs] == ["500", "500", "500"], put_backs
