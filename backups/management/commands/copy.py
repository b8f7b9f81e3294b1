"""manage.py copy: copy an environment as it is now over a sandbox, or into a new one.

    manage.py copy --as alex --source contoso-prod --target contoso-test [--schema-only] [--wait]
    manage.py copy --as alex --source contoso-prod --new contoso-archive \\
        --name "Contoso Archive" [--security-group GROUP] [--schema-only] [--wait]

A copy is a restore of the source's latest moment (see manage.py restore): the target gets a
"Before copy" backup and administration mode, and the copy can be undone. --schema-only copies
the tables and their columns without rows.
"""

from __future__ import annotations

from backups import copies
from backups.management.commands import restore
from backups.models import RestoreOperation
from environments.lookups import environment_for_admin, visible_environment


class Command(restore.Command):
    help = (
        "Copy an environment as it is now over a sandbox or into a new one "
        "(exit 0 done, 1 refused or failed, 2 bad usage)."
    )

    noun = "copy"

    def add_arguments(self, parser):
        self.add_source_and_target(parser)
        parser.add_argument("--name", help="with --new: the new environment's name")
        parser.add_argument("--security-group", default="", help="with --new: its security group")
        parser.add_argument(
            "--schema-only", action="store_true", help="the tables and columns, no rows"
        )
        self.add_following(parser)

    def start(self, user, options: dict) -> RestoreOperation:
        where: dict = {}
        if options["new"]:
            where["new"] = {
                "name": options["name"],
                "slug": options["new"],
                "security_group": options["security_group"],
            }
        else:
            where["target"] = environment_for_admin(user, options["target"])
        return copies.copy_start(
            source=visible_environment(user, options["source"]),
            requested_by=user,
            schema_only=options["schema_only"],
            idempotency_key=options["idempotency_key"],
            **where,
        )
