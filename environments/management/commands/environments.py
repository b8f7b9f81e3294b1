"""manage.py environments list: the environments the acting user manages."""

from __future__ import annotations

import json

from django.conf import settings
from django.core.management.base import BaseCommand

from environments.models import EnvironmentType
from portal import cli, permissions
from portal.lookups import require_admin_center


class Command(BaseCommand):
    help = "List the environments you manage (exit 0 done, 1 refused, 2 bad usage)."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="list")
        listing = actions.add_parser("list", help="list environments")
        listing.add_argument("--type", choices=EnvironmentType.values)
        listing.add_argument("--region", choices=[code for code, _ in settings.REGIONS])
        listing.add_argument("--json", action="store_true", help="print JSON")
        cli.add_actor_argument(listing)

    def handle(self, *args, **options):
        user = cli.actor(options)
        try:
            require_admin_center(user)
        except Exception as exc:
            raise cli.refusal(exc) from None
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
