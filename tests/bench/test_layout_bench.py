"""bench/layout.py runs (at a few thousand rows: the figures come from runs at real sizes)."""

import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the benchmark is PostgreSQL's")
def test_the_layout_benchmark_prints_both_tables():
    s = connection.settings_dict
    server = f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}"
    run = subprocess.run(
        [
            sys.executable,
            "bench/layout.py",
            "--rows",
            "2000",
            "--tables",
            "12",
            "--runs",
            "1",
            "--server",
            server,
            "--database",
            f"{s['NAME']}_layout",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    for line in (
        "| partitioned: load a bare table, then its key |",
        "| one table, the planner's choice |",
        "| + trigram GIN over the values' text |",
    ):
        assert line in run.stdout
