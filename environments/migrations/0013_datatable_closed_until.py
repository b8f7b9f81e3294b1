"""Each table's closed_until: the latest end of any of its versions, so that a page reading a
base as of a moment knows without a query whether the base has changed since."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("environments", "0012_index_of_closed_versions")]

    operations = [
        migrations.AddField(
            model_name="datatable",
            name="closed_until",
            field=models.DateTimeField(blank=True, null=True),
        ),
        # One index range per table on PostgreSQL (the closed versions' index of 0012).
        migrations.RunSQL(
            "UPDATE environments_datatable SET closed_until = (SELECT MAX(v.valid_to) "
            "FROM environments_rowversion v WHERE v.table_id = environments_datatable.id)",
            migrations.RunSQL.noop,
        ),
    ]
