"""manage.py environments list | create | delete | deleted | recover: the environments the acting
user manages, a new one, deleting one and recovering it within 7 days."""

from __future__ import annotations

import json

from django.conf import settings
from django.core.management.base import BaseCommand

from environments import permissions, services
from environments.lookups import deleted_environment, environment_for_admin, require_admin_center
from environments.models import EnvironmentType
from portal import cli
from portal.errors import NotAllowed


class Command(BaseCommand):
    help = "List the environments you manage, or create one (exit 0 done, 1 refused, 2 bad usage)."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(
            dest="action", required=True, metavar="list|create|delete|deleted|recover"
        )
        listing = actions.add_parser("list", help="list environments")
        listing.add_argument("--type", choices=EnvironmentType.values)
        listing.add_argument("--region", choices=[code for code, _ in settings.REGIONS])
        listing.add_argument("--json", action="store_true", help="print JSON")
        cli.add_actor_argument(listing)
        create = actions.add_parser("create", help="create an empty environment")
        create.add_argument("--name", required=True)
        create.add_argument("--slug", required=True, help="the URL name")
        create.add_argument("--type", required=True, choices=EnvironmentType.values)
        create.add_argument("--region", required=True, choices=[c for c, _ in settings.REGIONS])
        create.add_argument("--security-group", default="")
        cli.add_actor_argument(create)
        delete = actions.add_parser("delete", help="delete an environment (recoverable 7 days)")
        delete.add_argument("environment", help="slug or id")
        delete.add_argument("--confirm-name", required=True, help="the environment's name")
        delete.add_argument(
            "--confirm-production", action="store_true", help="needed for a production one"
        )
        cli.add_actor_argument(delete)
        deleted = actions.add_parser("deleted", help="list deleted environments to recover")
        cli.add_actor_argument(deleted)
        recover = actions.add_parser("recover", help="recover a deleted environment")
        recover.add_argument("environment", help="slug or id")
        recover.add_argument("--name", help="a new name, if another environment now has its own")
        cli.add_actor_argument(recover)

    def handle(self, *args, **options):
        user = cli.actor(options)
        try:
            require_admin_center(user)
            if options["action"] == "delete":
                env = services.environment_delete(
                    environment=environment_for_admin(user, options["environment"]),
                    actor=user,
                    confirm_name=options["confirm_name"],
                    confirm_production=options["confirm_production"],
                )
                self.stdout.write(
                    f"Deleted {env.slug}; it can be recovered until "
                    f"{cli.when(env.recoverable_until)}."
                )
                return
            if options["action"] == "recover":
                env = services.environment_recover(
                    environment=deleted_environment(user, options["environment"]),
                    actor=user,
                    name=options["name"],
                )
                self.stdout.write(f"Recovered {env.slug}.")
                return
            if options["action"] == "deleted":
                decision = permissions.can_recover_environments(user)
                if not decision:
                    raise NotAllowed(decision.reason)
                rows = [
                    [e.slug, e.name, e.get_type_display(), cli.when(e.deleted_at),
                     cli.when(e.recoverable_until)]
                    for e in services.recoverable_environments()
                ]  # fmt: skip
                self.stdout.write(
                    cli.table(rows, ["SLUG", "NAME", "TYPE", "DELETED", "RECOVERABLE UNTIL"])
                    if rows
                    else "No deleted environments can be recovered."
                )
                return
            if options["action"] == "create":
                env = services.environment_create(
                    actor=user,
                    name=options["name"],
                    slug=options["slug"],
                    type=options["type"],
                    region=options["region"],
                    security_group=options["security_group"],
                )
        except Exception as exc:
            raise cli.refusal(exc) from None
        if options["action"] == "create":
            expires = f"; it expires {cli.when(env.expires_at)}" if env.expires_at else ""
            self.stdout.write(f"Created {env.slug} ({env.get_type_display().lower()}){expires}.")
            return
        environments = permissions.manageable_environments(user).order_by("name")
        if options["type"]:
            environments = environments.filter(type=options["type"])
        if options["region"]:
            environments = environments.filter(region=options["region"])
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    [
                        {
                            "id": e.pk,
                            "slug": e.slug,
                            "name": e.name,
                            "type": e.type,
                            "state": e.state,
                            "region": e.region,
                            "adminMode": e.admin_mode,
                        }
                        for e in environments
                    ],
                    indent=2,
                )
            )
            return
        rows = [
            [
                e.slug,
                e.name,
                e.get_type_display(),
                e.get_state_display(),
                e.get_region_display(),
                "on" if e.admin_mode else "off",
            ]
            for e in environments
        ]
        if not rows:
            self.stdout.write("No environments.")
            return
        self.stdout.write(
            cli.table(rows, ["SLUG", "NAME", "TYPE", "STATE", "REGION", "ADMIN MODE"])
        )
