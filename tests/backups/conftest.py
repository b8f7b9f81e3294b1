import datetime

import pytest
import time_machine

from backups import restores
from environments import store
from environments.models import Membership
from tests.factories import EnvironmentFactory, make_member, make_table

NOW = datetime.datetime(2026, 11, 20, 12, 0, tzinfo=datetime.UTC)


def ago(**kwargs) -> datetime.datetime:
    return NOW - datetime.timedelta(**kwargs)


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
            op = restores.restore_start(**kwargs)
        op.refresh_from_db()
        return op

    return _run
