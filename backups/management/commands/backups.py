"""manage.py backups list|create|edit|delete: manual backups, as the acting user."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from backups import lookups, selectors, services
from environments.lookups import environment_for_backups
from portal import cli


class Command(BaseCommand):
    help = (
        "Manual backups of an environment: list, create, edit, delete "
        "(exit 0 done, 1 refused, 2 bad usage)."
    )

    def add_arguments(self, parser):
        actions = parser.add_subparsers(
            dest="action", required=True, metavar="{list,create,edit,delete}"
        )
        listing = actions.add_parser("list", help="the restorable window and manual backups")
        listing.add_argument("environment", help="slug or id")
        create = actions.add_parser("create", help="make a manual backup of this moment")
        create.add_argument("environment", help="slug or id")
        create.add_argument("--label", required=True)
        create.add_argument("--notes", default="")
        edit = actions.add_parser("edit", help="change a backup's label or notes")
        edit.add_argument("environment", help="slug or id")
        edit.add_argument("backup", type=int, help="backup id")
        edit.add_argument("--label")
        edit.add_argument("--notes")
        delete = actions.add_parser("delete", help="delete a manual backup")
        delete.add_argument("environment", help="slug or id")
        delete.add_argument("backup", type=int, help="backup id")
        for sub in (listing, create, edit, delete):
            cli.add_actor_argument(sub)

    def handle(self, *args, **options):
        user = cli.actor(options)
        try:
            env = environment_for_backups(user, options["environment"])
            getattr(self, f"_{options['action']}")(user, env, options)
        except CommandError:
            raise
        except Exception as exc:
            raise cli.refusal(exc) from None

    def _list(self, user, env, options):
        window = env.restorable_window()
        days = env.retention.days
        self.stdout.write(
            f"{env.name} ({env.slug}): any moment from {cli.when(window.start)} "
            f"to now can be restored ({days} days of system backups)."
        )
        backups = selectors.unexpired_backups(env).select_related("created_by")
        rows = [
            [
                str(b.pk),
                cli.when(b.backup_at),
                cli.when(b.expires_at),
                b.label,
                b.created_by.username if b.created_by else "-",
            ]
            for b in backups
        ]
        if rows:
            self.stdout.write(
                cli.table(rows, ["ID", "BACKUP TIME", "EXPIRES", "LABEL", "CREATED BY"])
            )
        else:
            self.stdout.write("No manual backups.")

    def _create(self, user, env, options):
        backup = services.backup_create(
            environment=env, label=options["label"], notes=options["notes"], actor=user
        )
        self.stdout.write(
            f"Created backup {backup.pk} of {env.name} at "
            f"{cli.when(backup.backup_at)}: {backup.label} "
            f"(expires {cli.when(backup.expires_at)})."
        )

    def _edit(self, user, env, options):
        if options["label"] is None and options["notes"] is None:
            raise CommandError("Give --label, --notes or both.", returncode=cli.USAGE)
        backup = lookups.backup_of(env, options["backup"])
        backup = services.backup_update(
            backup=backup,
            actor=user,
            label=backup.label if options["label"] is None else options["label"],
            notes=backup.notes if options["notes"] is None else options["notes"],
        )
        self.stdout.write(f"Updated backup {backup.pk}: {backup.label}.")

    def _delete(self, user, env, options):
        backup = lookups.backup_of(env, options["backup"])
        label = backup.label
        services.backup_delete(backup=backup, actor=user)
        self.stdout.write(f"Deleted backup {options['backup']} of {env.name}: {label}.")
