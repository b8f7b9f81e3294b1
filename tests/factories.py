import datetime

import factory
import time_machine
from django.db.models import F, Max, Q, Sum
from django.utils import timezone

from environments import columns as cols
from environments import lineage, services, store
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
        return services.environment_insert(**kwargs)

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
    the live rows and bytes read from a base, and the row count at each moment) equal what
    counting the versions gives (through the lineage, for a restored table)."""
    tables = DataTable.objects.filter(generation__environment=env)
    own_current = {"rows": 0, "bytes": 0}
    for table in tables:
        versions = RowVersion.objects.filter(table=table)
        # A version's end is its valid_to, or its table's (a table a restore of it retired).
        closed = versions if table.valid_to is not None else versions.filter(valid_to__isnull=False)
        live = list(lineage.rows(table, None)) if table.valid_to is None else []
        shared = [v for v in live if v.table_id != table.pk]
        counted = {
            "live_rows": len(live),
            "live_bytes": sum(v.size for v in live),
            "closed_versions": closed.count(),
            "closed_bytes": closed.aggregate(n=Sum("size", default=0))["n"],
            "shared_rows": len(shared),
            "shared_bytes": sum(v.size for v in shared),
        }
        kept = {name: getattr(table, name) for name in counted}
        assert kept == counted, table
        # closed_until bounds every end, or pages would skip a base's changed rows.
        ended = closed.aggregate(last=Max("valid_to"))["last"]
        assert ended is None or (table.closed_until and table.closed_until >= ended), table
        for version in versions.filter(Q(valid_to__isnull=True) | Q(valid_to__gt=F("valid_from"))):
            assert version.size == store.version_size(version.key, version.values)
            assert version.title == cols.title(table.columns, version.values)
        if table.valid_to is None and table.generation.valid_to is None:
            own_current["rows"] += len(live) - len(shared)
            own_current["bytes"] += counted["live_bytes"] - counted["shared_bytes"]
    for moment in moments:
        snapshot = store.as_of(env, moment)
        live = snapshot.tables()
        expected = {t.pk: snapshot.rows(t).count() for t in live}
        assert store.rows_at(live, moment) == expected, moment
    current = store.current(env)
    # (the table reading it, the version): a version in another table is shared (read from a base)
    read = [(t, r) for t in current.tables() for r in current.rows(t)]
    rows = [r for _, r in read]
    every = RowVersion.objects.filter(table__generation__environment=env)
    assert store.storage_used(env) == store.Storage(
        current_rows=len(rows),
        current_bytes=sum(r.size for r in rows),
        history_versions=every.count() - own_current["rows"],
        history_bytes=every.aggregate(n=Sum("size", default=0))["n"] - own_current["bytes"],
        shared_rows=sum(1 for t, r in read if r.table_id != t.pk),
        shared_bytes=sum(r.size for t, r in read if r.table_id != t.pk),
    )


def stores_gigabytes(env, gigabytes: float) -> DataTable:
    """Make `env` store that much: a table's stored figure (what capacity reads), no rows."""
    return DataTable.objects.create(
        generation=store.current(env).generation,
        name="big",
        display_name="Big",
        columns=[],
        valid_from=env.created_at,
        live_bytes=int(gigabytes * 1024**3),
    )
