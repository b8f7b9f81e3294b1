"""Before the database refuses URL names of the portal's own pages under /environments/ (new,
deleted: migration 0023), an environment already so named (made through the Django admin or the
shell), whose page could never be reached, gets a free URL name, "<name>-env" (then -env-2,
...), and the audit log says so: the constraint can be added and the page reached at last."""

from django.db import migrations
from django.utils import timezone

RESERVED = ["deleted", "new"]


def rename_reserved(apps, schema_editor):
    Environment = apps.get_model("environments", "Environment")
    AuditEvent = apps.get_model("portal", "AuditEvent")
    for env in Environment.objects.filter(slug__in=RESERVED).order_by("pk"):
        old = env.slug
        candidate, n = f"{old}-env", 1
        while Environment.objects.filter(slug=candidate).exists():
            n += 1
            candidate = f"{old}-env-{n}"
        env.slug = candidate
        env.save(update_fields=["slug"])
        AuditEvent.objects.create(
            at=timezone.now(),
            action="environment.rename_url",
            environment=env,
            environment_name=env.name,
            outcome="succeeded",
            summary=(
                f"URL name of {env.name} changed from {old!r} to {candidate!r}: "
                f"{old!r} is one of the portal's own pages"
            )[:300],
            details={"from": old, "to": candidate},
        )


class Migration(migrations.Migration):
    dependencies = [
        ("environments", "0021_live_and_closed_search_indexes"),
        ("portal", "0003_rate_counter"),
    ]

    # The constraint comes in the next migration: PostgreSQL does not alter a table in the
    # transaction that queued checks of foreign keys to it (the audit events' rows).
    operations = [migrations.RunPython(rename_reserved, migrations.RunPython.noop)]
