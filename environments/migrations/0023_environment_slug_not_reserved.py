"""The database refuses an environment whose URL name is one of the portal's own pages under
/environments/ (environments.models.RESERVED_SLUGS); the previous migration renamed any."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("environments", "0022_environment_reserved_slugs_renamed")]

    operations = [
        migrations.AddConstraint(
            model_name="environment",
            constraint=models.CheckConstraint(
                condition=models.Q(("slug__in", ["deleted", "new"]), _negated=True),
                name="environment_slug_not_reserved",
                violation_error_message="That URL name is reserved for the portal's own pages.",
            ),
        ),
    ]
