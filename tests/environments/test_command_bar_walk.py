"""Every link and button a person can see on an environment page, for every environment type
and every role, answers without a server error."""

import datetime
import re
from html.parser import HTMLParser

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from environments import store
from environments.models import EnvironmentType, Membership
from tests.factories import EnvironmentFactory, UserFactory, make_member, make_table


class _Links(HTMLParser):
    """The hrefs of <a> and the GET forms' actions inside the command bar and the page body."""

    def __init__(self):
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and (href := attrs.get("href")) and href.startswith("/"):
            self.links.append(href)
        if (
            tag == "form"
            and (attrs.get("method") or "get").lower() == "get"
            and attrs.get("action", "").startswith("/")
        ):
            self.links.append(attrs["action"])


def _links(html: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    # Signing out is a POST; the admin site has its own tests.
    return [
        link
        for link in dict.fromkeys(parser.links)
        if not link.startswith(("/admin/", "/accounts/logout"))
    ]


@pytest.fixture
def every_type(db):
    envs = {}
    for env_type in EnvironmentType.values:
        env = EnvironmentFactory(
            name=f"{env_type.title()} one", slug=f"{env_type}-one", type=env_type
        )
        make_table(env)
        envs[env_type] = env
    return envs


@pytest.fixture
def roles(every_type):
    env_admin = UserFactory(username="walk-envadmin")
    maker = UserFactory(username="walk-maker")
    for env in every_type.values():
        make_member(env, env_admin, Membership.Role.ADMIN)
        make_member(env, maker, Membership.Role.MAKER)
    return {
        "global admin": UserFactory(username="walk-global", tenant_role="global_admin"),
        "Power Platform admin": UserFactory(username="walk-pp", tenant_role="service_admin"),
        "environment admin": env_admin,
        "environment maker": maker,
        "support staff": UserFactory(username="walk-support", is_staff=True),
    }


@pytest.mark.parametrize("env_type", EnvironmentType.values)
@pytest.mark.parametrize(
    "role",
    [
        "global admin",
        "Power Platform admin",
        "environment admin",
        "environment maker",
        "support staff",
    ],
)
def test_no_link_on_the_environment_page_answers_a_server_error(
    client, every_type, roles, env_type, role
):
    client.force_login(roles[role])
    page = client.get(reverse("environments:detail", kwargs={"slug": every_type[env_type].slug}))
    assert page.status_code in (200, 403, 404)
    if page.status_code != 200:
        return  # this role does not see the page, so it sees none of its links
    links = _links(page.content.decode())
    assert any("/backups/" in link for link in links)
    for link in links:
        response = client.get(link)
        assert response.status_code < 500, (
            f"{role} on {env_type}: GET {link} answered {response.status_code}"
        )


@pytest.mark.parametrize("env_type", ["trial", "developer", "default"])
def test_create_is_disabled_with_the_reason_where_manual_backups_are_not_allowed(
    client, every_type, roles, env_type
):
    env = every_type[env_type]
    client.force_login(roles["global admin"])
    page = client.get(reverse("environments:detail", kwargs={"slug": env.slug})).content.decode()
    create_url = reverse("backups:create", kwargs={"slug": env.slug})
    assert f'href="{create_url}"' not in page
    assert re.search(r'aria-disabled="true"[^>]*>Create<', page)
    assert "no manual backups" in page and "only production and sandbox" in page

    # The address itself explains, and a POST changes nothing.
    explained = client.get(create_url)
    assert explained.status_code == 200
    assert b"no manual backups" in explained.content
    assert b'name="label"' not in explained.content  # no form that could only fail
    refused = client.post(create_url, {"label": "Try anyway"})
    assert refused.status_code == 422 and b"no manual backups" in refused.content
    assert not env.manual_backups.exists()


@pytest.mark.parametrize("env_type", ["production", "sandbox"])
def test_create_is_offered_where_manual_backups_are_allowed(client, every_type, roles, env_type):
    env = every_type[env_type]
    client.force_login(roles["global admin"])
    page = client.get(reverse("environments:detail", kwargs={"slug": env.slug})).content.decode()
    assert f'href="{reverse("backups:create", kwargs={"slug": env.slug})}"' in page


@pytest.mark.parametrize(
    "role",
    [
        "global admin",
        "Power Platform admin",
        "environment admin",
        "environment maker",
        "support staff",
    ],
)
def test_no_link_on_the_environments_list_answers_a_server_error(client, every_type, roles, role):
    client.force_login(roles[role])
    page = client.get(reverse("environments:list"))
    assert page.status_code in (200, 403)
    if page.status_code != 200:
        return
    links = _links(page.content.decode())
    if role.endswith("admin") and role != "environment admin":
        assert reverse("environments:new") in links and reverse("environments:deleted") in links
    for link in links:
        response = client.get(link)
        assert response.status_code < 500, f"{role}: GET {link} answered {response.status_code}"


@pytest.fixture
def with_rows(every_type):
    """Rows made an hour ago, one changed and one deleted since, in each environment."""
    with time_machine.travel(timezone.now() - datetime.timedelta(hours=1), tick=False):
        for env in every_type.values():
            with store.changes(env) as cs:
                table = cs.table("accounts")
                for n in range(3):
                    cs.create_row(table, {"name": f"Company {n}"}, key=f"k{n}")
    for env in every_type.values():
        store.row_update(environment=env, table_name="accounts", key="k1", values={"name": "X"})
        store.row_delete(environment=env, table_name="accounts", key="k2")
    return every_type


@pytest.mark.parametrize("env_type", ["production", "trial"])
@pytest.mark.parametrize("role", ["global admin", "environment admin", "environment maker"])
@pytest.mark.parametrize("past", [False, True])
def test_no_link_of_the_data_browser_answers_a_server_error_now_or_at_a_moment(
    client, with_rows, roles, env_type, role, past
):
    """Every page of the data browser reachable from its tables page (now, or at a moment half
    an hour ago), and every link on those: none is a server error, and at a moment each link
    that stays in the browser keeps the moment."""
    client.force_login(roles[role])
    env = with_rows[env_type]
    data = reverse("environments:tables", kwargs={"slug": env.slug})
    moment = timezone.now() - datetime.timedelta(minutes=30)
    start = f"{data}?at={moment.isoformat().replace('+00:00', 'Z')}" if past else data
    seen, queue = set(), [start]
    while queue and len(seen) < 60:
        link = queue.pop(0)
        if link in seen:
            continue
        seen.add(link)
        response = client.get(link)
        assert response.status_code < 500, f"{role}: GET {link} answered {response.status_code}"
        if response.status_code not in (200, 400):  # a moment it cannot show: its links too
            continue
        if response.streaming:  # a CSV download: read it whole, it links nowhere
            assert b"".join(response.streaming_content), link
            continue
        for found in _links(response.content.decode()):
            found = found.replace("&amp;", "&")
            if found.startswith("?"):
                found = link.split("?")[0] + found
            if found.startswith(data):
                shown_at = response.context.get("viewing") and response.context["viewing"].moment
                if shown_at and found.split("?")[0] != link.split("?")[0]:
                    assert "at=" in found, f"{link} links {found} without the moment"
                queue.append(found)
    assert len(seen) > 3
