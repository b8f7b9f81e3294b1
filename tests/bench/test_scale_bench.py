"""The every-page benchmark (bench/scale.py) works: a small run of it, a few thousand rows, a
few seconds of load, on a database of its own (PostgreSQL only). The real figures (1,000,000
rows) take minutes to build and are not part of the suite (see docs/benchmarks.md)."""

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
ROWS = 2000
PAGES = [
    "environment page (storage figures)",
    "data browser: table list",
    "data browser: rows, page 1",
    "data browser: deep page (?after=, keyset)",
    "data browser: search, one match (?q=)",
    "restore panel with What will be overwritten (page)",
    "restore panel with What will be overwritten (partial)",
    "overwrite confirmation (partial)",
    "environments list",
    "System tab (page)",
    "Continue: candidates (partial)",
    "Manual tab (page)",
    "API: environments list",
    "API: backups list",
    "API: one operation",
]
# The same page whichever environment: not timed again on the restored one.
SHARED_PAGES = {"environments list", "API: environments list", "API: one operation"}

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the scale benchmark runs on PostgreSQL"
)


@pytest.fixture
def scale_database_url(django_db_setup):
    """A database named after the test database (two runs side by side never share it),
    dropped afterwards whatever happened."""
    s = connection.settings_dict
    host, port, user = s["HOST"] or "127.0.0.1", s["PORT"] or 5432, s["USER"]
    name = f"{s['NAME']}_scale"
    server = f"postgres://{user}@{host}:{port}"
    drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(drop)
    yield f"{server}/{name}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(drop)


def table_rows(output: str, heading: str) -> list[list[str]]:
    """The body rows of the first Markdown table after a heading."""
    lines: list[str] = []
    for line in output[output.index(heading) :].splitlines():
        if line.startswith("|"):
            lines.append(line)
        elif lines:
            break
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]


def test_small_scale_benchmark_times_every_page_checks_plans_and_loads(scale_database_url):
    started = time.monotonic()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SECRET_KEY")}
    done = subprocess.run(
        [
            sys.executable,
            "bench/scale.py",
            "--rows",
            str(ROWS),
            "--repeat",
            "3",
            "--warmups",
            "1",
            "--duration",
            "3",
            "--database-url",
            scale_database_url,
        ],
        cwd=ROOT,
        env={**env, "DEBUG": "true"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    # Non-zero: a page answered other than 200, a plan read the versions wrongly, a request
    # under load failed or timed out, or the restore failed.
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout

    timed = table_rows(out, "## Server time of each page")
    assert [row[0] for row in timed] == PAGES, out
    for row in timed:
        assert float(row[1].removesuffix(" ms")) > 0  # large: median
        assert row[-1] in ("yes", "no")
    assert f"Large: {ROWS:,} current rows" in out

    assert "Plan check: passed" in out, out
    assert "### restore copy of Table 0" in out
    assert "actual time=" in out  # the plans were run (ANALYZE), not only estimated

    load = table_rows(out, "## Load:")
    assert [row[0] for row in load] == [
        "one client (reference)",
        "20 clients",
        "during the restore",
        "during flattening",
    ], out
    for row in load:
        assert int(row[1].replace(",", "")) > 0  # requests
        assert row[3] == "0" and row[4] == "0"  # errors, timeouts
    assert re.search(rf"restore \d+: {ROWS:,} rows in 10 tables, succeeded", out), out
    assert re.search(rf"then flattened {ROWS:,} rows in [0-9.]+ s", out), out

    lineage = table_rows(out, "## A restored environment (branch) against a flattened copy")
    assert [row[0] for row in lineage] == [p for p in PAGES if p not in SHARED_PAGES], out
    assert "Plans on the branch (its own partition and its base's): passed" in out, out
    assert time.monotonic() - started < 60
