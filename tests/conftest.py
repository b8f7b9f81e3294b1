import pytest

from environments.models import Membership
from tests.factories import EnvironmentFactory, UserFactory, make_member, make_table


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
