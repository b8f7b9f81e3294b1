import datetime

import factory
import time_machine
from django.db.models import Count, Q, Sum
from django.utils import timezone

from environments import columns as cols
from environments import services, store
from environments.models import DataTable, Environment, EnvironmentType, Membership, RowVersion
from portal.models import User

ACCOUNT_COLUMNS = [
    {"name": "name", "label": "Account name", "type": "text", "required": True, "max_length": 50},
    {"name": "employees", "label": "Employees", "type": "integer"},
    {"name": "revenue", "label": "Revenue", "type": "decimal"},
    {"name": "active", "label": "Active", "type": "boolean"},
    {"name": "founded", "label": "Founded", "type": "date"},
    {"name": "tier", "label": "Tier", "type": "choice", "choices": ["Gold", "Silver"]},
    {"name": "email", "label": "Email", "type": "email"},
]


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.test")
    password = factory.PostGenerationMethodCall("set_password", "secret-pass-1")

    @classmethod
    def _after_postgeneration(cls, instance, create, results=None):
        if create:
            instance.save()


class EnvironmentFactory(factory.Factory):
    """Environments are made through the service, so each gets its first generation."""

    class Meta:
        model = Environment

    name = factory.Sequence(lambda n: f"Environment {n}")
    slug = factory.Sequence(lambda n: f"env-{n}")
    type = EnvironmentType.SANDBOX
    region = "unitedstates"
    created_by = None
    created_at = factory.LazyFunction(lambda: timezone.now() - datetime.timedelta(days=40))

    @classmethod
    def _create(cls, model_class, **kwargs):
        return services.environment_create(**kwargs)

    @classmethod
    def _build(cls, model_class, **kwargs):
        return model_class(**kwargs)


def make_member(environment: Environment, user: User, role: str) -> Membership:
    return Membership.objects.create(environment=environment, user=user, role=role)


def make_table(environment: Environment, name: str = "accounts", columns=None):
    with store.changes(environment) as cs:
        return cs.create_table(
            name=name, display_name=name.capitalize(), columns=columns or ACCOUNT_COLUMNS
        )


# -- a fixed clock and a history of changes, for the tests that restore ---------------------

NOW = datetime.datetime(2026, 11, 20, 12, 0, tzinfo=datetime.UTC)


def ago(**kwargs) -> datetime.datetime:
    return NOW - datetime.timedelta(**kwargs)


def build_history(env):
    """accounts: a, b made 3 days ago; at 2 days ago b renamed, c added; at 1 day ago a deleted.
    contacts: made 2 days ago with one row."""
    with time_machine.travel(ago(days=3), tick=False):
        accounts = make_table(env, "accounts")
        with store.changes(env) as cs:
            cs.create_row(accounts, {"name": "Alpha"}, key="a")
            cs.create_row(accounts, {"name": "Beta"}, key="b")
    with time_machine.travel(ago(days=2), tick=False):
        contacts = make_table(
            env, "contacts", columns=[{"name": "email", "type": "email", "required": True}]
        )
        with store.changes(env) as cs:
            cs.update_row(accounts, "b", {"name": "Beta 2"})
            cs.create_row(accounts, {"name": "Gamma"}, key="c")
            cs.create_row(contacts, {"email": "x@example.com"}, key="x")
    with time_machine.travel(ago(days=1), tick=False):
        store.row_delete(environment=env, table_name="accounts", key="a")
    return accounts, contacts


# -- the store's kept figures against a count of the versions themselves ---------------------


def assert_stored_figures(env, moments=()):
    """The figures the store keeps (per table: live rows and bytes, closed versions and bytes,
    and the row count at each moment) equal what counting the versions gives."""
    tables = DataTable.objects.filter(generation__environment=env)
    for table in tables:
        versions = RowVersion.objects.filter(table=table)
        counted = versions.aggregate(
            live_rows=Count("key", filter=Q(valid_to__isnull=True)),
            live_bytes=Sum("size", filter=Q(valid_to__isnull=True), default=0),
            closed_versions=Count("key", filter=Q(valid_to__isnull=False)),
            closed_bytes=Sum("size", filter=Q(valid_to__isnull=False), default=0),
        )
        kept = {name: getattr(table, name) for name in counted}
        assert kept == counted, table
        for version in versions:
            assert version.size == store.version_size(version.key, version.values)
            assert version.title == cols.title(table.columns, version.values)
    for moment in moments:
        live = store.as_of(env, moment).tables()
        expected = {
            t.pk: RowVersion.objects.filter(table=t).filter(store.live_at(moment)).count()
            for t in live
        }
        assert store.rows_at(live, moment) == expected, moment
    is_current = Q(valid_to__isnull=True, table__valid_to__isnull=True) & Q(
        table__generation__valid_to__isnull=True
    )
    every = RowVersion.objects.filter(table__generation__environment=env)
    assert store.storage_used(env) == store.Storage(
        current_rows=every.filter(is_current).count(),
        current_bytes=every.filter(is_current).aggregate(n=Sum("size", default=0))["n"],
        history_versions=every.exclude(is_current).count(),
        history_bytes=every.exclude(is_current).aggregate(n=Sum("size", default=0))["n"],
    )
