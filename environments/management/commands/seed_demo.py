"""Load the demo tenant: users for every role and environments with a month of history."""

from __future__ import annotations

import datetime
import zlib

from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from environments import services
from environments.models import Environment, Membership
from portal.models import SUPPORT_GROUP, User

# username, password, name, tenant role, staff. Demo sign-ins only: never created in production
# unless someone runs this command there.
USERS = [
    ("admin", "admin", "Avery Admin", User.TenantRole.GLOBAL_ADMIN, True, "Global admin"),
    (
        "ppadmin",
        "ppadmin",
        "Pat Platform",
        User.TenantRole.SERVICE_ADMIN,
        False,
        "Power Platform admin",
    ),
    (
        "alex",
        "alex",
        "Alex Environment-Admin",
        User.TenantRole.NONE,
        False,
        "Environment admin of the sandboxes and Alex's Dev",
    ),
    (
        "morgan",
        "morgan",
        "Morgan Maker",
        User.TenantRole.NONE,
        False,
        "Environment maker (data only)",
    ),
    (
        "support",
        "support",
        "Sam Support",
        User.TenantRole.NONE,
        True,
        "Support staff (Django admin only)",
    ),
]

# name, slug, type, region, age in days, security group, tables with row counts
ENVIRONMENTS = [
    (
        "Contoso (default)",
        "contoso",
        "default",
        "unitedstates",
        60,
        "",
        {"accounts": 300, "contacts": 500, "activities": 400},
    ),
    (
        "Contoso Sales",
        "contoso-sales",
        "production",
        "unitedstates",
        45,
        "Sales team",
        {"accounts": 600, "contacts": 900, "opportunities": 700, "activities": 500},
    ),
    (
        "Contoso Sales Sandbox",
        "contoso-sales-sandbox",
        "sandbox",
        "unitedstates",
        40,
        "Sales team",
        {"accounts": 250, "contacts": 300, "opportunities": 200},
    ),
    (
        "Contoso Service",
        "contoso-service",
        "production",
        "europe",
        50,
        "Service desk",
        {"accounts": 400, "contacts": 600, "cases": 900, "products": 150, "activities": 500},
    ),
    (
        "Contoso Service UAT",
        "contoso-service-uat",
        "sandbox",
        "europe",
        35,
        "Service desk",
        {"accounts": 200, "contacts": 250, "cases": 400, "products": 100},
    ),
    (
        "Marketing Trial",
        "marketing-trial",
        "trial",
        "unitedstates",
        20,
        "",
        {"accounts": 150, "contacts": 400, "activities": 200},
    ),
    (
        "Alex's Dev",
        "alex-dev",
        "developer",
        "europe",
        25,
        "",
        {"accounts": 100, "contacts": 120, "cases": 150},
    ),
    (
        "Finance Sandbox",
        "finance-sandbox",
        "sandbox",
        "unitedstates",
        12,
        "Finance",
        {"accounts": 200, "opportunities": 300, "products": 120},
    ),
    (
        "Field Service",
        "field-service",
        "production",
        "europe",
        30,
        "Field technicians",
        {
            "accounts": 300,
            "cases": 500,
            "products": 200,
            "activities": 600,
            "contacts": 300,
            "opportunities": 150,
        },
    ),
]

ADMIN_OF = {"alex": ["contoso-sales-sandbox", "contoso-service-uat", "alex-dev", "finance-sandbox"]}
MAKER_OF = {"morgan": ["contoso", "contoso-sales", "contoso-sales-sandbox", "contoso-service-uat"]}


class Command(BaseCommand):
    help = "Create the demo users and environments (idempotent: existing ones are kept)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--rows",
            type=int,
            default=None,
            metavar="N",
            help="Give the 'Contoso Sales' environment about N current rows (for benchmarks).",
        )

    def handle(self, *args, rows: int | None = None, **options):
        if rows is not None and rows < 1:
            raise CommandError("--rows must be a positive number.")
        try:  # the demo extra: make run installs it, a production install does not
            from environments import demo
        except ImportError:
            raise CommandError(
                "The demo data needs the demo extra (factory-boy and Faker): "
                "pip install -r requirements-demo.lock, or pip install '.[demo]'. "
                "make run installs it."
            ) from None
        now = timezone.now()
        users = self._users()
        created = []
        for name, slug, kind, region, age, group, tables in ENVIRONMENTS:
            if Environment.objects.filter(slug=slug).exists():
                continue
            if rows is not None and slug == "contoso-sales":
                tables = self._scaled(tables, rows)
            with transaction.atomic():
                env = services.environment_insert(
                    name=name,
                    slug=slug,
                    type=kind,
                    region=region,
                    created_by=users["admin"],
                    security_group=group,
                    created_at=now - datetime.timedelta(days=age),
                )
                demo.load_environment(
                    environment=env,
                    tables=tables,
                    now=now,
                    seed=zlib.crc32(slug.encode()),
                    authors=[users["alex"], users["morgan"], users["admin"]],
                )
            created.append(name)
        if rows is not None and "Contoso Sales" not in created:
            self.stderr.write(
                "Contoso Sales already exists; --rows applies only when it is "
                "created (delete it, or start from an empty database)."
            )
        self._memberships(users)
        if created:
            self.stdout.write(f"Created {len(created)} environments: {', '.join(created)}")
        else:
            self.stdout.write("Demo data already loaded; nothing to add.")
        self.stdout.write("Demo sign-ins (demo only):")
        for username, password, _, _, _, role in USERS:
            self.stdout.write(f"  {username:<8} / {password:<8}  {role}")

    def _scaled(self, tables: dict[str, int], rows: int) -> dict[str, int]:
        total = sum(tables.values())
        scaled = {name: max(1, count * rows // total) for name, count in tables.items()}
        first = next(iter(scaled))
        scaled[first] += rows - sum(scaled.values())
        return scaled

    def _users(self) -> dict[str, User]:
        users = {}
        support_group = Group.objects.filter(name=SUPPORT_GROUP).first()
        for username, password, full_name, role, staff, _ in USERS:
            user = User.objects.filter(username=username).first()
            if user is None:
                first, _, last = full_name.partition(" ")
                user = User(
                    username=username,
                    first_name=first,
                    last_name=last,
                    tenant_role=role,
                    is_staff=staff,
                    email=f"{username}@example.test",
                    is_superuser=username == "admin",
                )
                user.set_password(password)
                user.save()
                if username == "support" and support_group:
                    user.groups.add(support_group)
            users[username] = user
        return users

    def _memberships(self, users: dict[str, User]) -> None:
        for role, assignments in (
            (Membership.Role.ADMIN, ADMIN_OF),
            (Membership.Role.MAKER, MAKER_OF),
        ):
            for username, slugs in assignments.items():
                for env in Environment.objects.filter(slug__in=slugs):
                    Membership.objects.get_or_create(
                        environment=env, user=users[username], defaults={"role": role}
                    )
