"""Server time of the Restore-or-manage pages and partials on the demo data, and of the
candidate lookup on an environment with 28 days of one change per second (not a test).

    .venv/bin/python bench/pages.py            # the database in DATABASE_URL, or var/ SQLite

It needs the demo data (`manage.py seed_demo`, which `make run` loads). The busy environment
("bench-busy", 2.4M row versions made with set-based SQL) is created once and kept.
"""

from __future__ import annotations

import datetime
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
os.environ.setdefault("DEBUG", "true")  # a development tool: the dev settings
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import reverse  # noqa: E402
from django.utils import timezone  # noqa: E402

RUNS = 15


def timed(fn, runs: int = RUNS) -> float:
    fn()  # warm up
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def busy_environment():
    """28 days of one change per second: 2,419,200 row versions over 1,000 keys."""
    from environments import services, store
    from environments.models import Activity, ChangeBatch, Environment, RowVersion

    env = Environment.objects.filter(slug="bench-busy").first()
    if env is not None and ChangeBatch.objects.filter(environment=env).exists():
        return env
    if env is not None:  # built before the store kept its write batches: build it afresh
        RowVersion.objects.filter(table__generation__environment=env).delete()
        env.delete()
    now = timezone.now()
    start = now - datetime.timedelta(days=28)
    env = services.environment_insert(
        name="Bench busy",
        slug="bench-busy",
        type="production",
        region="unitedstates",
        created_by=None,
        created_at=start - datetime.timedelta(days=1),
    )
    with store.changes(env) as cs:
        table = cs.create_table(
            name="events", display_name="Events", columns=[{"name": "n", "type": "integer"}]
        )
    seconds = 28 * 24 * 3600
    print(f"building {seconds:,} versions ...", file=sys.stderr)
    with connection.cursor() as cursor:
        # Version i of key k lives from second i to second i + 1000 (the next write to k).
        if connection.vendor == "postgresql":
            series = "SELECT g AS i FROM generate_series(0, %s - 1) AS g"
            stamp = "%s::timestamptz + make_interval(secs => {})"
        else:
            series = (
                "WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s "
                "WHERE i + 1 < %s) SELECT i FROM s"
            )
            stamp = "strftime('%%Y-%%m-%%d %%H:%%M:%%f', %s, '+' || ({}) || ' seconds')"
        base = start if connection.vendor == "postgresql" else start.strftime("%Y-%m-%d %H:%M:%S")
        cursor.execute(
            f"INSERT INTO {RowVersion._meta.db_table} (table_id, key, valid_from, valid_to, "
            f"\"values\") SELECT %s, printf('%%06d', i %% 1000), {stamp.format('i')}, "
            f"CASE WHEN i + 1000 < %s THEN {stamp.format('i + 1000')} END, '{{\"n\": 1}}' "
            f"FROM ({series}) AS s"
            if connection.vendor != "postgresql"
            else f"INSERT INTO {RowVersion._meta.db_table} (table_id, key, valid_from, valid_to, "
            f"\"values\") SELECT %s, lpad((i %% 1000)::text, 6, '0'), {stamp.format('i')}, "
            f"CASE WHEN i + 1000 < %s THEN {stamp.format('i + 1000')} END, '{{\"n\": 1}}' "
            f"FROM ({series}) AS s",
            [table.pk, base, seconds, base, seconds],
        )
        # One write transaction a second, as store.changes() would have recorded each.
        cursor.execute(
            f"INSERT INTO {ChangeBatch._meta.db_table} (environment_id, at, changes) "
            f"SELECT %s, {stamp.format('i')}, 1 FROM ({series}) AS s",
            [env.pk, base, seconds],
        )
    Activity.objects.bulk_create(
        Activity(
            environment=env,
            hour=start.replace(minute=0, second=0, microsecond=0) + datetime.timedelta(hours=h),
            changes=3600,
        )
        for h in range(28 * 24)
    )
    return env


def main() -> None:
    from backups import selectors
    from environments import store
    from environments.models import Environment
    from portal.models import User

    admin = User.objects.get(username="admin")
    client = Client()
    client.force_login(admin)
    source = Environment.objects.get(slug="contoso-sales")
    target = Environment.objects.get(slug="contoso-sales-sandbox")
    moment = timezone.now() - datetime.timedelta(days=1, minutes=17)
    pick = f"at:{moment.isoformat()}"
    htmx = {"HTTP_HX_REQUEST": "true"}
    system = reverse("backups:system", kwargs={"slug": source.slug})
    restore = reverse("backups:restore", kwargs={"slug": source.slug})
    cases = [
        (
            "environment page",
            lambda: client.get(reverse("environments:detail", kwargs={"slug": target.slug})),
        ),
        ("System tab (page)", lambda: client.get(system)),
        ("System tab (htmx partial)", lambda: client.get(system, **htmx)),
        (
            "Continue: candidates (partial)",
            lambda: client.get(
                system,
                {"date": f"{moment:%Y-%m-%d}", "time": f"{moment:%H:%M:%S}", "tz": "UTC"},
                **htmx,
            ),
        ),
        (
            "Manual tab (page)",
            lambda: client.get(reverse("backups:manual", kwargs={"slug": source.slug})),
        ),
        (
            "Manual tab (htmx partial)",
            lambda: client.get(reverse("backups:manual", kwargs={"slug": source.slug}), **htmx),
        ),
        (
            "Create backup form",
            lambda: client.get(reverse("backups:create", kwargs={"slug": source.slug})),
        ),
        ("restore panel (page)", lambda: client.get(restore, {"pick": pick})),
        (
            "restore panel with target (partial)",
            lambda: client.get(restore, {"pick": pick, "target": target.slug}, **htmx),
        ),
        (
            "Restore: overwrite confirmation (partial)",
            lambda: client.post(
                restore,
                {"pick": pick, "target": target.slug, "idempotency_key": "bench", "step": "review"},
                **htmx,
            ),
        ),
    ]
    print("| page or partial | median server time |")
    print("|---|---:|")
    for name, fn in cases:
        response = fn()
        assert response.status_code == 200, (name, response.status_code)
        print(f"| {name} | {timed(fn):.1f} ms |")

    busy = busy_environment()
    at = timezone.now() - datetime.timedelta(days=13, minutes=7)

    def lookup():
        found = selectors.restore_candidates(busy, at)
        store.changes_in_hour_before(busy, [c.moment for c in found.items])

    print(f"\n| 28 days of one change per second ({connection.vendor}) | median |")
    print("|---|---:|")
    print(
        f"| candidate lookup with exact changes in the hour before each | "
        f"{timed(lookup, 50):.2f} ms |"
    )
    print(
        f"| changes since a moment 13 days ago (exact) | "
        f"{timed(lambda: store.changes_since(busy, at), 50):.2f} ms |"
    )


if __name__ == "__main__":
    main()
