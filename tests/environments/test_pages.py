"""The admin-center pages: full pages for plain requests, partials for htmx, bad input handled."""

import pytest
from django.urls import reverse

from environments.models import Environment
from portal.models import AuditEvent
from tests.factories import EnvironmentFactory

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def tenant(db):
    EnvironmentFactory(name="Alpha Prod", slug="alpha", type="production", region="europe")
    EnvironmentFactory(name="Beta Sandbox", slug="beta", type="sandbox")
    EnvironmentFactory(name="Gamma Trial", slug="gamma", type="trial")


def names(response):
    return [e.name for e in response.context["environments"]]


class TestEnvironmentList:
    def test_it_lists_sorts_filters_and_searches(self, login, global_admin, tenant):
        client = login(global_admin)
        url = reverse("environments:list")
        assert names(client.get(url)) == ["Alpha Prod", "Beta Sandbox", "Gamma Trial"]
        assert names(client.get(url, {"sort": "-name"})) == [
            "Gamma Trial",
            "Beta Sandbox",
            "Alpha Prod",
        ]
        assert names(client.get(url, {"sort": "region"}))[0] == "Alpha Prod"  # Europe first
        assert names(client.get(url, {"type": "sandbox"})) == ["Beta Sandbox"]
        assert names(client.get(url, {"q": "gam"})) == ["Gamma Trial"]

    def test_a_plain_request_gets_the_whole_page_and_htmx_only_the_table(
        self, login, global_admin, tenant
    ):
        client = login(global_admin)
        full = client.get(reverse("environments:list"), {"q": "alpha"})
        assert b"<html" in full.content and b'id="environment-table"' in full.content
        partial = client.get(reverse("environments:list"), {"q": "alpha"}, **HTMX)
        assert b"<html" not in partial.content
        assert partial.content.lstrip().startswith(b'<div id="environment-table"')
        assert b"Alpha Prod" in partial.content and b"Beta Sandbox" not in partial.content

    def test_bad_filters_get_a_message_and_list_everything(self, login, global_admin, tenant):
        response = login(global_admin).get(
            reverse("environments:list"), {"type": "mainframe", "sort": "drop table"}
        )
        assert response.status_code == 200
        assert b"Some filters were not valid" in response.content
        assert len(names(response)) == 3

    def test_the_page_is_served_with_a_content_security_policy(self, login, global_admin, tenant):
        response = login(global_admin).get(reverse("environments:list"))
        policy = response.headers["Content-Security-Policy"]
        assert "script-src 'self' 'nonce-" in policy
        assert "django_htmx/htmx-2.min.js" in response.content.decode()


class TestEnvironmentPage:
    def test_the_details_card_shows_every_detail(self, login, global_admin, sandbox, accounts):
        sandbox.security_group = "Sales team"
        sandbox.save()
        response = login(global_admin).get(
            reverse("environments:detail", kwargs={"slug": sandbox.slug})
        )
        text = response.content.decode()
        for expected in [
            "Sandbox",
            "Ready",
            "United States",
            "https://sales-sandbox.example.test",
            sandbox.version,
            "Sales team",
            "Administration mode",
            "Background operations",
            "Storage used",
            "Accounts",
            "Convert to production",
        ]:
            assert expected in text, expected

    def test_switching_administration_mode_without_javascript_redirects(
        self, login, global_admin, sandbox
    ):
        client = login(global_admin)
        url = reverse("environments:admin-mode", kwargs={"slug": sandbox.slug})
        response = client.post(url, {"enabled": "on"})
        assert response.status_code == 302
        sandbox.refresh_from_db()
        assert sandbox.admin_mode
        page = client.get(response.url)
        assert b"Administration mode is on for Sales Sandbox" in page.content

    def test_switching_with_htmx_returns_the_details_card(self, login, global_admin, sandbox):
        url = reverse("environments:background-operations", kwargs={"slug": sandbox.slug})
        response = login(global_admin).post(url, {"enabled": "off"}, **HTMX)
        assert response.status_code == 200
        assert response.content.lstrip().startswith(b'<section class="card" id="details-card"')
        assert b"Background operations is off" in response.content
        sandbox.refresh_from_db()
        assert not sandbox.background_operations

    def test_a_bad_switch_value_changes_nothing(self, login, global_admin, sandbox):
        url = reverse("environments:admin-mode", kwargs={"slug": sandbox.slug})
        client = login(global_admin)
        response = client.post(url, {"enabled": "maybe"}, follow=True)
        assert b"Choose whether administration mode should be on or off" in response.content
        sandbox.refresh_from_db()
        assert not sandbox.admin_mode
        assert not AuditEvent.objects.filter(action="environment.admin_mode").exists()


class TestConvert:
    def test_converting_production_warns_about_the_shorter_window(
        self, login, global_admin, production
    ):
        url = reverse("environments:convert", kwargs={"slug": production.slug})
        response = login(global_admin).get(url)
        assert b"The restorable window becomes 7 days" in response.content
        assert b"last 28 days" in response.content

    def test_confirming_converts_and_returns_to_the_environment(
        self, login, global_admin, production
    ):
        url = reverse("environments:convert", kwargs={"slug": production.slug})
        response = login(global_admin).post(url, {"type": "sandbox"})
        assert response.status_code == 302
        production.refresh_from_db()
        assert production.type == "sandbox"

    @pytest.mark.parametrize("value", ["", "default", "production"])
    def test_a_bad_or_same_type_changes_nothing(self, login, global_admin, production, value):
        url = reverse("environments:convert", kwargs={"slug": production.slug})
        response = login(global_admin).post(url, {"type": value})
        assert response.status_code == 200
        production.refresh_from_db()
        assert production.type == "production"
        assert not AuditEvent.objects.filter(action="environment.change_type").exists()
        if value == "production":
            assert b"already a production environment" in response.content

    def test_a_trial_cannot_be_converted(self, login, global_admin, db):
        trial = EnvironmentFactory(type="trial", slug="trial")
        url = reverse("environments:convert", kwargs={"slug": trial.slug})
        response = login(global_admin).post(url, {"type": "sandbox"})
        assert b"Only production and sandbox environments can be converted" in response.content
        assert Environment.objects.get(pk=trial.pk).type == "trial"


class TestSignIn:
    def test_a_wrong_password_gets_a_message(self, client, global_admin):
        response = client.post(reverse("login"), {"username": "global", "password": "nope"})
        assert response.status_code == 200
        assert b"Please enter a correct username and password" in response.content
        assert "_auth_user_id" not in client.session

    def test_missing_fields_get_field_messages(self, client, db):
        response = client.post(reverse("login"), {"username": "", "password": ""})
        assert response.content.count(b"This field is required.") == 2

    def test_the_right_password_signs_in(self, client, global_admin):
        response = client.post(
            reverse("login"), {"username": "global", "password": "secret-pass-1"}
        )
        assert response.status_code == 302


class TestUpdateVersion:
    def test_updating_records_a_backup_then_changes_the_version(
        self, login, global_admin, production
    ):
        from backups.models import ManualBackup

        url = reverse("backups:update-version", kwargs={"slug": production.slug})
        response = login(global_admin).post(url, {"version": "9.3.0.1"})
        assert response.status_code == 302
        production.refresh_from_db()
        assert production.version == "9.3.0.1"
        assert ManualBackup.objects.get(environment=production).kind == "version_update"

    @pytest.mark.parametrize(
        "value, message", [("", b"This field is required"), ("latest", b"Enter a version such as")]
    )
    def test_a_bad_version_gets_a_field_message(
        self, login, global_admin, production, value, message
    ):
        url = reverse("backups:update-version", kwargs={"slug": production.slug})
        response = login(global_admin).post(url, {"version": value})
        assert response.status_code == 200 and message in response.content
        production.refresh_from_db()
        assert production.version == "9.2.24101.00180"

    def test_makers_cannot_update(self, login, maker, production):
        url = reverse("backups:update-version", kwargs={"slug": production.slug})
        assert login(maker).post(url, {"version": "9.3.0.1"}).status_code == 403
