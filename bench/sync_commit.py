"""What `synchronous_commit = off` would save a restore (PostgreSQL; not a test): in-process
restores of the bench source over the bench target, the session's setting alternating on, off,
on, off...; the median of each. Run `bench/restore.py --rows N` first: it builds the data.

    .venv/bin/python bench/sync_commit.py --pairs 7
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=7)
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/envportal_bench"
    )
    args = parser.parse_args()
    os.environ.update(DATABASE_URL=args.database_url, DJANGO_SETTINGS_MODULE="portal.settings")
    os.environ.setdefault("DEBUG", "true")  # a development tool: the dev settings
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection
    from django.utils import timezone

    from backups import engine
    from backups.models import RestoreOperation
    from environments.models import Environment
    from portal.models import User

    settings.RESTORE_PROGRESS_DATABASE = "default"  # in-process: no second connection needed
    source = Environment.objects.get(slug="bench-source")
    target = Environment.objects.get(slug="bench-target")
    admin = User.objects.filter(tenant_role="global_admin").first()
    moment = timezone.now()
    times: dict[str, list[float]] = {"on": [], "off": []}
    for n in range(args.pairs):
        for mode in ("on", "off"):
            op = RestoreOperation.objects.create(
                source=source,
                target=target,
                moment=moment,
                requested_by=admin,
                idempotency_key=f"sync-{mode}-{n}-{time.time()}",
                created_at=timezone.now(),
                requested_point=moment.isoformat(),
            )
            with connection.cursor() as cursor:
                cursor.execute(f"SET synchronous_commit = {mode}")
            started = time.perf_counter()
            status = engine.restore_run(op.pk)
            times[mode].append(time.perf_counter() - started)
            assert status == "succeeded", RestoreOperation.objects.get(pk=op.pk).error
    for mode, runs in times.items():
        print(
            f"synchronous_commit = {mode}: median {statistics.median(runs) * 1000:.0f} ms "
            f"(min {min(runs) * 1000:.0f}, max {max(runs) * 1000:.0f}, {len(runs)} runs)"
        )


if __name__ == "__main__":
    main()
