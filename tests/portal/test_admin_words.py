"""Sentences in the admin's words across the portal: one date format on every page (messages
and refusals built in Python included), a capacity refusal that says what the admin can do,
and an API docs page that renders its Markdown."""

import re

import pytest
from django.urls import reverse

from environments import capacity, services
from environments.models import Environment
from portal.errors import Refused
from tests.factories import EnvironmentFactory, stores_gigabytes

# A moment as the engine writes it ("2026-12-11 03:17 UTC"): no page shows one.
RAW_UTC = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}(:\d{2})? UTC")


@pytest.fixture
def paris(client_admin):
    client_admin.cookies["tz"] = "Europe/Paris"
    return client_admin


def test_the_delete_message_says_until_when_in_the_viewers_zone(paris, clock, db):
    env = EnvironmentFactory(name="Sales Sandbox", slug="sales-sandbox", type="sandbox")
    url = reverse("environments:delete", args=[env.slug])
    done = paris.post(url, {"confirm_name": "Sales Sandbox"}, follow=True).content.decode()
    # NOW is Nov 20, 2026, 12:00 UTC; 7 days on, 13:00 in Paris.
    assert "from Deleted environments until Nov 27, 2026, 13:00 UTC+01:00." in done
    assert not RAW_UTC.search(done)


def test_a_refusal_naming_a_moment_shows_it_like_every_other_time(paris, admin, clock, db):
    env = EnvironmentFactory(name="Sales Sandbox", slug="sales-sandbox", type="sandbox")
    services.environment_delete(environment=env, actor=admin, confirm_name="Sales Sandbox")
    page = paris.post(
        reverse("environments:new"),
        {"name": "Again", "slug": "sales-sandbox", "type": "sandbox", "region": "europe"},
    ).content.decode()
    assert "belongs to a deleted environment, which can be recovered until " in page
    assert 'Nov 27, 2026, 13:00 <span class="tz">UTC+01:00</span>' in page
    assert not RAW_UTC.search(page)


def test_the_capacity_refusal_says_what_the_admin_can_do_and_who_raises_it(
    client_admin, admin, settings, db
):
    settings.TENANT_CAPACITY_GB = 3
    stores_gigabytes(EnvironmentFactory(type="sandbox"), 2.5)
    with pytest.raises(Refused) as refused:
        capacity.require_room("create an environment")
    message = str(refused.value)
    assert "512.0\xa0MB of it is free, but at least 1.0\xa0GB must remain free" in message
    assert "delete data or environments you no longer need" in message
    assert "freed once it can no longer be recovered, after 7 days" in message
    assert "ask whoever runs the portal to raise the tenant's storage capacity" in message
    assert "TENANT_CAPACITY_GB" not in message
    page = client_admin.post(
        reverse("environments:new"),
        {"name": "Lab", "slug": "lab", "type": "sandbox", "region": "europe"},
    ).content.decode()
    assert "ask whoever runs the portal to raise" in page and "TENANT_CAPACITY_GB" not in page
    assert not Environment.objects.filter(slug="lab").exists()


def test_the_api_docs_page_renders_the_markdown_of_its_descriptions(client, db):
    page = client.get("/api/v1/docs").content.decode()
    assert "<code>Authorization: Bearer &lt;token&gt;</code>" in page
    assert "`" not in page.split('id="about-heading"')[1]  # no Markdown left unrendered
    assert "<p>Environments, their backups and restores" in page
