"""Live environments' names are unique, case and spacing folded.

Each environment gets `name_key`, its name folded (environments.models.fold_name: runs of spaces
made one, case folded), and the database refuses two live (not deleted) environments with the
same key. Deleted environments keep their names: recovering one whose name was taken meanwhile
asks for a new name.

Existing duplicates among live environments are renamed here, before the constraint: the
earliest made (then the lowest id) keeps its name; each later one gets the first free suffix
" (2)", " (3)", ..., cut to fit 100 characters, so "Contoso Sales" made twice becomes
"Contoso Sales" and "Contoso Sales (2)". Nothing else about them changes (URL names stay).
Going back drops the key and the constraint and leaves the new names."""

from django.db import migrations, models

MAX_NAME = 100


def fold(name):
    return " ".join(name.split()).casefold()


def fill_and_rename(apps, schema_editor):
    Environment = apps.get_model("environments", "Environment")
    taken = set()
    for env in Environment.objects.order_by("created_at", "pk").iterator():
        env.name_key = fold(env.name)
        live = env.deleted_at is None
        if live and env.name_key in taken:
            n = 2
            while True:
                suffix = f" ({n})"
                name = env.name.strip()[: MAX_NAME - len(suffix)] + suffix
                if fold(name) not in taken:
                    break
                n += 1
            env.name, env.name_key = name, fold(name)
        if live:
            taken.add(env.name_key)
        env.save(update_fields=["name", "name_key"])


class Migration(migrations.Migration):
    dependencies = [("environments", "0023_environment_slug_not_reserved")]

    operations = [
        migrations.AddField(
            model_name="environment",
            name="name_key",
            field=models.CharField(default="", editable=False, max_length=300),
        ),
        migrations.RunPython(fill_and_rename, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="environment",
            constraint=models.UniqueConstraint(
                condition=models.Q(("deleted_at__isnull", True)),
                fields=("name_key",),
                name="unique_live_environment_name",
                violation_error_message="An environment with this name already exists; "
                "choose another name.",
            ),
        ),
    ]
