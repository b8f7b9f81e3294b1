"""Creating an environment (the New page, the service the API and the command share) and the
tenant's storage capacity that creation respects."""

import datetime
import re

import pytest
from django.urls import reverse

from environments import capacity, services, store
from environments.models import Environment
from portal.errors import NotAllowed, Refused
from portal.models import AuditEvent
from tests.factories import NOW, EnvironmentFactory, stores_gigabytes

GB = capacity.GB


def new(actor, **overrides):
    fields = {"name": "Test Lab", "slug": "test-lab", "type": "sandbox", "region": "europe"}
    return services.environment_create(actor=actor, **{**fields, **overrides})


def test_a_tenant_admin_creates_an_empty_environment_and_it_is_audited(service_admin, clock):
    env = new(service_admin, security_group=" Lab team ")
    assert (env.name, env.slug, env.type, env.region, env.security_group) == (
        "Test Lab",
        "test-lab",
        "sandbox",
        "europe",
        "Lab team",
    )
    assert (env.created_by, env.created_at, env.expires_at, env.state) == (
        service_admin,
        NOW,
        None,
        "ready",
    )
    assert not store.current(env).tables().exists()  # empty, but with live data to write to
    assert store.current(env).generation.valid_from == NOW
    event = AuditEvent.objects.get(action="environment.create")
    assert (event.actor, event.environment) == (service_admin, env)


def test_a_trial_expires_after_30_days(global_admin, clock):
    env = new(global_admin, type="trial")
    assert env.expires_at == NOW + datetime.timedelta(days=30)


@pytest.mark.parametrize("who", ["env_admin", "maker", "support", "outsider"])
def test_only_tenant_admins_create_environments(request, who, db):
    with pytest.raises(NotAllowed, match="Only Global admins and Power Platform admins"):
        new(request.getfixturevalue(who))
    assert not Environment.objects.filter(slug="test-lab").exists()


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"name": "  "}, "name", "Give the environment a name"),
        ({"name": "x" * 101}, "name", "too long"),
        ({"slug": "Test Lab"}, "slug", "is not valid"),
        ({"slug": "-lab"}, "slug", "is not valid"),
        ({"slug": "new"}, "slug", "reserved"),
        ({"slug": "sales-sandbox"}, "slug", "is taken"),
        ({"type": "staging"}, "type", "not an environment type"),
        ({"region": "mars"}, "region", "not a region"),
        ({"security_group": "g" * 101}, "security_group", "too long"),
    ],
)
def test_bad_input_is_refused_with_its_field_and_creates_nothing(
    global_admin, sandbox, overrides, field, message
):
    before = Environment.objects.count(), AuditEvent.objects.count()
    with pytest.raises(Refused, match=message) as refused:
        new(global_admin, **overrides)
    assert refused.value.field == field
    assert (Environment.objects.count(), AuditEvent.objects.count()) == before


def test_a_second_default_environment_is_refused(global_admin, db):
    EnvironmentFactory(type="default", slug="contoso-default")
    with pytest.raises(Refused, match="already a Default environment"):
        new(global_admin, type="default")


# -- capacity --


def test_capacity_counts_what_each_environment_stores_of_its_own(global_admin, sandbox, settings):
    settings.TENANT_CAPACITY_GB = 10
    stores_gigabytes(sandbox, 2.5)
    tenant = capacity.tenant()
    assert (tenant.total, tenant.used, tenant.free) == (10 * GB, 2.5 * GB, 7.5 * GB)
    assert tenant.by_environment == {sandbox.pk: 2.5 * GB}
    assert tenant.percent_used == 25


def test_creation_is_refused_when_less_than_1_gb_would_remain(global_admin, sandbox, settings):
    settings.TENANT_CAPACITY_GB = 3
    stores_gigabytes(sandbox, 2.5)
    with pytest.raises(
        Refused, match="512.0\xa0MB of it is free, but at least 1.0\xa0GB must remain free"
    ):
        new(global_admin)
    assert not Environment.objects.filter(slug="test-lab").exists()
    settings.TENANT_CAPACITY_GB = 4
    assert new(global_admin).slug == "test-lab"


# -- the pages --


def test_the_list_offers_new_to_tenant_admins_only_and_shows_storage_and_capacity(
    login, global_admin, env_admin, sandbox, settings
):
    settings.TENANT_CAPACITY_GB = 10
    stores_gigabytes(sandbox, 2.5)
    page = login(global_admin).get(reverse("environments:list")).content.decode()
    assert re.search(f'href="{reverse("environments:new")}">(<svg.*?</svg>)?New</a>', page)
    assert "Tenant storage: 2.5\xa0GB of 10.0\xa0GB used (25%), 7.5\xa0GB free." in page
    assert "<td>2.5\xa0GB</td>" in page
    page = login(env_admin).get(reverse("environments:list")).content.decode()
    assert ">New</a>" not in page
    assert login(env_admin).get(reverse("environments:new")).status_code == 403


def test_the_new_page_creates_the_environment_and_opens_it(login, global_admin, db):
    client = login(global_admin)
    assert client.get(reverse("environments:new")).status_code == 200
    response = client.post(
        reverse("environments:new"),
        {"name": "Test Lab", "slug": "test-lab", "type": "trial", "region": "asia"},
        follow=True,
    )
    assert response.redirect_chain == [(reverse("environments:detail", args=["test-lab"]), 302)]
    assert "Test Lab is created. It has no tables yet." in response.content.decode()
    assert Environment.objects.get(slug="test-lab").type == "trial"


def test_the_new_page_shows_each_refusal_beside_its_field(login, global_admin, sandbox):
    response = login(global_admin).post(
        reverse("environments:new"),
        {"name": "Again", "slug": "sales-sandbox", "type": "sandbox", "region": "europe"},
    )
    assert response.status_code == 200
    assert response.context["form"].errors == {"slug": ["The URL name 'sales-sandbox' is taken."]}
    assert Environment.objects.filter(slug="sales-sandbox").count() == 1
    response = login(global_admin).post(reverse("environments:new"), {"type": "nope"})
    assert set(response.context["form"].errors) == {"name", "slug", "type", "region"}


def test_the_new_page_says_when_the_tenant_has_no_room(login, global_admin, sandbox, settings):
    settings.TENANT_CAPACITY_GB = 1
    stores_gigabytes(sandbox, 0.5)
    response = login(global_admin).post(
        reverse("environments:new"),
        {"name": "Test Lab", "slug": "test-lab", "type": "sandbox", "region": "europe"},
    )
    assert response.status_code == 200
    assert "You cannot create an environment" in response.context["error"]
    assert not Environment.objects.filter(slug="test-lab").exists()


# -- the rules of trial environments --


def test_a_trial_is_disabled_once_its_30_days_are_over(global_admin, clock):
    trial = new(global_admin, type="trial")
    other = new(global_admin, name="Other Lab", slug="other", type="sandbox")
    assert services.trials_expire(now=trial.expires_at - datetime.timedelta(seconds=1)) == 0
    assert services.trials_expire(now=trial.expires_at) == 1
    assert services.trials_expire(now=trial.expires_at) == 0  # once
    trial.refresh_from_db()
    other.refresh_from_db()
    assert (trial.state, other.state) == ("disabled", "ready")
    event = AuditEvent.objects.get(action="environment.expire")
    assert (event.environment, event.actor) == (trial, None)
    with pytest.raises(store.StoreError, match="disabled; its data cannot be changed"):
        store.row_create(environment=trial, table_name="t", values={})


def test_the_workers_housekeeping_expires_trials(global_admin, clock):
    from backups import housekeeping

    trial = new(global_admin, type="trial")
    clock.move_to(trial.expires_at)
    housekeeping.run_once(purge_due=False)
    trial.refresh_from_db()
    assert trial.state == "disabled"


def test_a_trial_is_not_backed_up(login, global_admin, sandbox, clock):
    from backups import restores

    trial = new(global_admin, type="trial", region=sandbox.region)
    with pytest.raises(Refused, match="Trial environments are not backed up"):
        restores.restore_start(
            restores.RestoreRequest(
                source=trial, target=sandbox, moment=NOW, requested_by=global_admin
            )
        )
    client = login(global_admin)
    system = client.get(reverse("backups:system", args=[trial.slug]))
    assert system.status_code == 200
    assert "Trial environments are not backed up" in system.content.decode()
    detail = client.get(reverse("environments:detail", args=[trial.slug])).content.decode()
    assert "None: trial environments are not backed up" in detail
    assert "<dt>Expires on</dt>" in detail
