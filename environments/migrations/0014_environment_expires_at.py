"""A trial environment's end: TRIAL_DAYS after it was made, for the trials already there too."""

import datetime

from django.conf import settings
from django.db import migrations, models


def trials_expire(apps, schema_editor):
    Environment = apps.get_model("environments", "Environment")
    for env in Environment.objects.filter(type="trial", expires_at__isnull=True):
        env.expires_at = env.created_at + datetime.timedelta(days=settings.TRIAL_DAYS)
        env.save(update_fields=["expires_at"])


class Migration(migrations.Migration):
    dependencies = [
        ("environments", "0013_datatable_closed_until"),
    ]

    operations = [
        migrations.AddField(
            model_name="environment",
            name="expires_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="expires on"),
        ),
        migrations.RunPython(trials_expire, migrations.RunPython.noop),
    ]
