import pytest
import time_machine

from backups import restores
from environments import store
from environments.models import Membership
from tests.factories import (
    NOW,
    EnvironmentFactory,
    UserFactory,
    ago,
    build_history,
    make_member,
    make_table,
)

pytest_plugins = ["tests.storage_fixtures"]


@pytest.fixture(autouse=True)
def _test_settings(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Tasks run in-process when their transaction commits; progress shares the test's
    # connection (its transaction is never committed). Tests of the real worker undo both.
    settings.TASKS_BACKEND = "immediate"
    settings.RESTORE_PROGRESS_DATABASE = "default"


@pytest.fixture
def global_admin(db):
    return UserFactory(username="global", tenant_role="global_admin")


@pytest.fixture
def service_admin(db):
    return UserFactory(username="ppadmin", tenant_role="service_admin")


@pytest.fixture
def env_admin(db):
    return UserFactory(username="envadmin")


@pytest.fixture
def maker(db):
    return UserFactory(username="maker")


@pytest.fixture
def support(db):
    return UserFactory(username="support", is_staff=True)


@pytest.fixture
def outsider(db):
    return UserFactory(username="outsider")


@pytest.fixture
def sandbox(db, env_admin, maker):
    env = EnvironmentFactory(name="Sales Sandbox", slug="sales-sandbox", type="sandbox")
    make_member(env, env_admin, Membership.Role.ADMIN)
    make_member(env, maker, Membership.Role.MAKER)
    return env


@pytest.fixture
def production(db, maker):
    env = EnvironmentFactory(name="Sales", slug="sales", type="production")
    make_member(env, maker, Membership.Role.MAKER)
    return env


@pytest.fixture
def accounts(sandbox):
    return make_table(sandbox)


@pytest.fixture
def login(client):
    def _login(user):
        client.force_login(user)
        return client

    return _login


# -- environments with a history, and restores (shared by the backups, API and CLI tests) --


@pytest.fixture
def clock():
    """Time stands still at NOW unless a test moves it."""
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def admin(global_admin):
    return global_admin


@pytest.fixture
def client_admin(client, admin):
    """The test client signed in as a global admin who views times in UTC."""
    client.force_login(admin)
    client.cookies["tz"] = "UTC"
    return client


@pytest.fixture
def source(db):
    env = EnvironmentFactory(
        name="Contoso Prod", slug="contoso-prod", type="production", created_at=ago(days=40)
    )
    build_history(env)
    return env


@pytest.fixture
def target(db, env_admin):
    env = EnvironmentFactory(
        name="Contoso Test",
        slug="contoso-test",
        type="sandbox",
        created_at=ago(days=30),
        security_group="Testers",
    )
    make_member(env, env_admin, Membership.Role.ADMIN)
    with time_machine.travel(ago(days=5), tick=False):
        make_table(env, "leads", columns=[{"name": "title", "type": "text"}])
        store.row_create(
            environment=env, table_name="leads", values={"title": "Old lead"}, key="l1"
        )
    return env


@pytest.fixture
def run_restore(django_capture_on_commit_callbacks):
    """restore_start, and the queued task run in-process when the transaction commits."""

    def _run(**kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            op = restores.restore_start(restores.RestoreRequest(**kwargs))
        op.refresh_from_db()
        return op

    return _run


@pytest.fixture
def staff(support):
    """Support staff in the "Support staff" group: may retry and mark restores failed."""
    from django.contrib.auth.models import Group

    support.groups.add(Group.objects.get(name="Support staff"))
    return support


# -- an incident for the time machine's tests --------------------------------------------------

INCIDENT_COLUMNS = [{"name": "name", "label": "Name", "type": "text"}]


@pytest.fixture
def incident(clock, sandbox, env_admin, maker):
    """accounts a..d of the sandbox two days ago; two hours ago the maker renamed a, deleted b
    and added x, in one write."""
    clock.move_to(ago(days=2))
    table = make_table(sandbox, "accounts", columns=INCIDENT_COLUMNS)
    with store.changes(sandbox) as cs:
        for key in "abcd":
            cs.create_row(table, {"name": key.upper()}, key=key)
    clock.move_to(ago(hours=2))
    with store.changes(sandbox, by=store.Author.person(maker)) as cs:
        cs.update_row(table, "a", {"name": "oops"})
        cs.delete_row(table, "b")
        cs.create_row(table, {"name": "junk"}, key="x")
    clock.move_to(ago(seconds=0))
    return sandbox
