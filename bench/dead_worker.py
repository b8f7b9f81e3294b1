"""How long a dead worker's target stays locked, with the default settings (PostgreSQL; not a
test). Each run: a restore whose worker is held inside its copy, killed with SIGKILL, and a new
worker started at once (what `make run` does); it prints the seconds until the target is Ready.

    .venv/bin/python bench/dead_worker.py --runs 3

It uses its own database (default envportal_dead_worker on 127.0.0.1, created and migrated if
missing) and two small environments it makes there.
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/envportal_dead_worker"
    )
    args = parser.parse_args()
    base, dbname = args.database_url.rsplit("/", 1)
    # Made if missing (an error that it exists already is fine).
    subprocess.run(
        ["psql", "-d", f"{base}/postgres", "-c", f'CREATE DATABASE "{dbname}"'],
        capture_output=True,
    )
    os.environ.update(DATABASE_URL=args.database_url, DJANGO_SETTINGS_MODULE="portal.settings")
    os.environ.setdefault("DEBUG", "true")  # a development tool: the dev settings
    import django

    django.setup()
    import psycopg
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from backups import restores
    from backups.models import RestoreOperation
    from environments import services, store
    from environments.models import Environment
    from portal.models import User

    call_command("migrate", verbosity=0)
    admin, _ = User.objects.get_or_create(
        username="bench", defaults={"tenant_role": "global_admin"}
    )

    def environment(slug: str, kind: str) -> Environment:
        env = Environment.objects.filter(slug=slug).first()
        if env is None:
            env = services.environment_insert(
                name=slug,
                slug=slug,
                type=kind,
                region="unitedstates",
                created_by=None,
                created_at=timezone.now() - datetime.timedelta(days=2),
            )
            with store.changes(env) as cs:
                table = cs.create_table(
                    name="t", display_name="T", columns=[{"name": "n", "type": "integer"}]
                )
                for n in range(100):
                    cs.create_row(table, {"n": n})
        return env

    source, target = environment("bench-src", "production"), environment("bench-dst", "sandbox")
    command = [sys.executable, "manage.py", "worker", "--no-reload"]
    seconds = []
    for run in range(args.runs):
        op = restores.restore_start(
            restores.RestoreRequest(
                source=source, target=target, moment=timezone.now(), requested_by=admin
            )
        )
        lock = psycopg.connect(args.database_url)
        lock.execute("LOCK TABLE environments_rowversion IN EXCLUSIVE MODE")
        worker = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        while not RestoreOperation.objects.filter(pk=op.pk, phase="copying").exists():
            time.sleep(0.1)
        worker.kill()
        worker.wait()
        killed = time.monotonic()
        with connection.cursor() as cursor:  # what PostgreSQL does when it notices the client
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                "wait_event_type = 'Lock' AND query ILIKE %s",
                ["%INSERT INTO environments_rowversion%"],
            )
        lock.rollback()
        lock.close()
        replacement = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        while not Environment.objects.get(pk=target.pk).is_ready:
            time.sleep(0.2)
        seconds.append(time.monotonic() - killed)
        replacement.kill()
        replacement.wait()
        print(f"run {run + 1}: {target.name} Ready {seconds[-1]:.1f} s after the kill")
    print(f"median {statistics.median(seconds):.1f} s over {len(seconds)} runs")


if __name__ == "__main__":
    main()
