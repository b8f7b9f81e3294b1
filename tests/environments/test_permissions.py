"""Every page for every role: 200, 302 to sign-in, 403 or 404."""

import pytest
from django.urls import reverse

from environments import permissions
from tests.factories import EnvironmentFactory

ROLES = ["anonymous", "global_admin", "service_admin", "env_admin", "maker", "support", "outsider"]


def _pages(row_key):
    s = {"slug": "sales-sandbox"}
    t = {**s, "table": "accounts"}
    r = {**t, "key": row_key}
    return {
        "home": reverse("home"),
        "list": reverse("environments:list"),
        "detail": reverse("environments:detail", kwargs=s),
        "convert": reverse("environments:convert", kwargs=s),
        "update-version": reverse("backups:update-version", kwargs=s),
        "tables": reverse("environments:tables", kwargs=s),
        "rows": reverse("environments:rows", kwargs=t),
        "row-create": reverse("environments:row-create", kwargs=t),
        "row": reverse("environments:row", kwargs=r),
        "row-edit": reverse("environments:row-edit", kwargs=r),
        "row-delete": reverse("environments:row-delete", kwargs=r),
        "django-admin": reverse("admin:index"),
    }


# page: expected status per role, in ROLES order. 302 = to the sign-in page (or a redirect
# the role should get: the home page sends admins to the environments list).
EXPECTED = {
    "home": [302, 302, 302, 302, 200, 302, 403],
    "list": [302, 200, 200, 200, 403, 403, 403],
    "detail": [302, 200, 200, 200, 403, 403, 403],
    "convert": [302, 200, 200, 200, 403, 403, 403],
    "update-version": [302, 200, 200, 200, 403, 403, 403],
    "tables": [302, 200, 200, 200, 200, 404, 404],
    "rows": [302, 200, 200, 200, 200, 404, 404],
    "row-create": [302, 200, 200, 200, 200, 404, 404],
    "row": [302, 200, 200, 200, 200, 404, 404],
    "row-edit": [302, 200, 200, 200, 200, 404, 404],
    "row-delete": [302, 200, 200, 200, 200, 404, 404],
    "django-admin": [302, 302, 302, 302, 302, 200, 302],
}


@pytest.fixture
def row(accounts, sandbox):
    from environments import store

    return store.row_create(environment=sandbox, table_name="accounts", values={"name": "A"})


@pytest.fixture
def users(global_admin, service_admin, env_admin, maker, support, outsider):
    return {
        "anonymous": None,
        "global_admin": global_admin,
        "service_admin": service_admin,
        "env_admin": env_admin,
        "maker": maker,
        "support": support,
        "outsider": outsider,
    }


@pytest.mark.parametrize("page", list(EXPECTED))
@pytest.mark.parametrize("role", ROLES)
def test_each_page_answers_each_role_as_it_should(client, users, row, page, role):
    if users[role] is not None:
        client.force_login(users[role])
    url = _pages(row.key)[page]
    response = client.get(url)
    expected = EXPECTED[page][ROLES.index(role)]
    assert response.status_code == expected, (page, role, response.status_code)
    if role == "anonymous" and page != "django-admin":
        assert response.url.startswith(reverse("login"))


def test_a_forbidden_page_says_why(login, maker, sandbox):
    response = login(maker).get(reverse("environments:list"))
    assert response.status_code == 403
    assert b"admin center is for environment and tenant administrators" in response.content


def test_an_environment_admin_sees_only_the_environments_they_administer(login, env_admin, sandbox):
    EnvironmentFactory(name="Someone else's", slug="elsewhere")
    response = login(env_admin).get(reverse("environments:list"))
    assert list(response.context["environments"]) == [sandbox]
    assert (
        login(env_admin)
        .get(reverse("environments:detail", kwargs={"slug": "elsewhere"}))
        .status_code
        == 404
    )


@pytest.mark.parametrize("name", ["admin-mode", "background-operations"])
def test_makers_and_strangers_cannot_flip_switches(client, maker, outsider, sandbox, name):
    url = reverse(f"environments:{name}", kwargs={"slug": sandbox.slug})
    client.force_login(maker)
    assert client.post(url, {"enabled": "on"}).status_code == 403
    client.force_login(outsider)
    assert client.post(url, {"enabled": "on"}).status_code == 403
    sandbox.refresh_from_db()
    assert not sandbox.admin_mode


def test_switches_refuse_get(login, global_admin, sandbox):
    url = reverse("environments:admin-mode", kwargs={"slug": sandbox.slug})
    assert login(global_admin).get(url).status_code == 405


class TestAdministrationMode:
    @pytest.fixture(autouse=True)
    def _on(self, sandbox, accounts):
        sandbox.admin_mode = True
        sandbox.save()

    def test_makers_get_a_clear_message_instead_of_the_data(self, login, maker, sandbox):
        response = login(maker).get(reverse("environments:tables", kwargs={"slug": sandbox.slug}))
        assert response.status_code == 403
        assert b"administration mode" in response.content

    def test_makers_cannot_write_either(self, login, maker, sandbox):
        url = reverse("environments:row-create", kwargs={"slug": sandbox.slug, "table": "accounts"})
        assert login(maker).post(url, {"name": "X"}).status_code == 403

    def test_admins_still_use_the_data(self, login, env_admin, global_admin, sandbox):
        for user in (env_admin, global_admin):
            assert (
                login(user)
                .get(reverse("environments:tables", kwargs={"slug": sandbox.slug}))
                .status_code
                == 200
            )


def test_the_permission_module_gives_reasons(maker, sandbox, production):
    assert permissions.can_read_data(maker, sandbox)
    assert not permissions.can_manage_environment(maker, sandbox)
    decision = permissions.can_change_type(maker, production)
    assert not decision and "do not manage" in decision.reason


def test_inactive_users_have_no_rights(global_admin, sandbox):
    global_admin.is_active = False
    assert not permissions.can_manage_environment(global_admin, sandbox)
    assert not permissions.can_use_admin_center(global_admin)
