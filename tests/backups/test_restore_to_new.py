"""Restore into a new sandbox environment: made in the source's region, its creator its admin,
and the environment and the restore made together or not at all."""

import pytest

from backups import copies, engine, housekeeping, restores
from backups.models import RestoreOperation
from environments import store
from environments.models import Environment, Membership
from portal.errors import NotAllowed, Refused
from portal.models import AuditEvent
from tests.factories import EnvironmentFactory, ago, stores_gigabytes

pytestmark = pytest.mark.usefixtures("clock")


@pytest.fixture
def to_new(django_capture_on_commit_callbacks):
    """restore_to_new, and the queued restore run in-process when the transaction commits."""

    def _run(**kwargs):
        sandbox = {"name": "Contoso Copy", "slug": "contoso-copy", "security_group": ""}
        sandbox.update({k: kwargs.pop(k) for k in list(sandbox) if k in kwargs})
        with django_capture_on_commit_callbacks(execute=True):
            op = copies.restore_to_new(restores.RestoreRequest(**kwargs), **sandbox)
        op.refresh_from_db()
        return op

    return _run


def test_it_makes_a_sandbox_in_the_sources_region_and_restores_into_it(admin, source, to_new):
    moment = ago(days=2, hours=-1)
    op = to_new(source=source, moment=moment, requested_by=admin, security_group="Testers")
    assert op.status == "succeeded", op.error
    new = Environment.objects.get(slug="contoso-copy")
    assert (new.name, new.type, new.region, new.security_group, new.admin_mode) == (
        "Contoso Copy",
        "sandbox",
        source.region,
        "Testers",
        True,  # like every restored environment, until an admin turns it off
    )
    assert op.target == new and new.created_by == admin
    assert Membership.objects.get(environment=new).user == admin
    assert Membership.objects.get(environment=new).role == "admin"
    assert store.current(new).as_dict() == store.as_of(source, moment).as_dict()
    assert [e.action for e in AuditEvent.objects.filter(environment=new).order_by("id")][:2] == [
        "environment.create",
        "restore.start",
    ]


def test_the_same_request_twice_makes_one_environment_and_one_restore(admin, source, to_new):
    first = to_new(source=source, moment=ago(days=1), requested_by=admin, idempotency_key="k")
    again = to_new(source=source, moment=ago(days=1), requested_by=admin, idempotency_key="k")
    assert again.pk == first.pk
    assert Environment.objects.filter(slug="contoso-copy").count() == 1
    assert RestoreOperation.objects.count() == 1


@pytest.mark.parametrize(
    ("setup", "match"),
    [
        ("taken", "is taken"),
        ("trial", "Trial environments are not backed up"),
        ("outside", "outside that window"),
        ("full", "must remain free"),
    ],
)
def test_a_refusal_leaves_neither_environment_nor_restore(
    admin, source, to_new, settings, setup, match
):
    moment = ago(days=1)
    if setup == "taken":
        EnvironmentFactory(slug="contoso-copy")
    elif setup == "trial":
        source = EnvironmentFactory(type="trial", region=source.region, created_at=ago(days=3))
    elif setup == "outside":
        moment = ago(days=60)
    else:
        settings.TENANT_CAPACITY_GB = 2
        stores_gigabytes(source, 1.5)
    before = (Environment.objects.count(), Membership.objects.count(), AuditEvent.objects.count())
    with pytest.raises(Refused, match=match):
        to_new(source=source, moment=moment, requested_by=admin)
    assert not RestoreOperation.objects.exists()
    after = (Environment.objects.count(), Membership.objects.count(), AuditEvent.objects.count())
    assert after == before


def test_an_environment_admin_cannot_make_environments(env_admin, source, to_new):
    Membership.objects.create(environment=source, user=env_admin, role="admin")
    with pytest.raises(NotAllowed, match="Only Global admins and Power Platform admins"):
        to_new(source=source, moment=ago(days=1), requested_by=env_admin)
    assert not Environment.objects.filter(slug="contoso-copy").exists()


def test_one_who_does_not_manage_the_source_is_refused_first(maker, source, to_new):
    with pytest.raises(NotAllowed, match="cannot use its backups"):
        to_new(source=source, moment=ago(days=1), requested_by=maker)


# -- the restore panel's "A new sandbox environment" --


def panel(client, source, **data):
    from django.urls import reverse

    body = {"pick": f"at:{ago(days=1).isoformat()}", "idempotency_key": "k", **data}
    return client.post(reverse("backups:restore", kwargs={"slug": source.slug}), body)


def test_the_panel_offers_a_new_sandbox_to_tenant_admins_only(client, admin, env_admin, source):
    from django.urls import reverse

    url = reverse("backups:restore", kwargs={"slug": source.slug})
    pick = {"pick": f"at:{ago(days=1).isoformat()}"}
    client.force_login(admin)
    assert '<option value="new">A new sandbox environment</option>' in (
        client.get(url, pick).content.decode()
    )
    Membership.objects.create(environment=source, user=env_admin, role="admin")
    client.force_login(env_admin)
    assert "A new sandbox environment" not in client.get(url, pick).content.decode()


def test_choosing_a_new_sandbox_asks_for_its_name_and_url_name(client_admin, source):
    page = panel(client_admin, source, target="new", step="preview").content.decode()
    assert "<legend>A new sandbox environment</legend>" in page
    assert "Required for a new environment" not in page  # not yet: nothing was asked
    assert "Nothing is overwritten" in page and "Edit details" not in page
    response = panel(client_admin, source, target="new", step="review")
    assert response.context["form"].errors == {
        "new_env_name": ["Required for a new environment."],
        "new_env_slug": ["Required for a new environment."],
    }
    response = panel(
        client_admin,
        source,
        target="new",
        step="review",
        new_env_name="Copy",
        new_env_slug="contoso-prod",
    )
    assert response.context["form"].errors == {
        "new_env_slug": ["The URL name 'contoso-prod' is taken."]
    }
    assert not RestoreOperation.objects.exists()


def test_restore_on_a_new_sandbox_makes_it_and_starts_without_a_typed_confirmation(
    client_admin, source, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = panel(
            client_admin,
            source,
            target="new",
            step="review",
            new_env_name="Contoso Copy",
            new_env_slug="contoso-copy",
        )
    assert response.status_code == 302
    assert response["Location"] == "/environments/contoso-copy/"
    op = RestoreOperation.objects.get()
    op.refresh_from_db()
    assert (op.target.slug, op.status) == ("contoso-copy", "succeeded")


def test_the_same_key_for_another_new_sandbox_is_refused(admin, source, to_new):
    to_new(source=source, moment=ago(days=1), requested_by=admin, idempotency_key="k")
    with pytest.raises(Refused, match="already used for a different restore"):
        to_new(
            source=source,
            moment=ago(days=1),
            requested_by=admin,
            idempotency_key="k",
            slug="another-copy",
        )
    assert not Environment.objects.filter(slug="another-copy").exists()


def test_a_failed_restore_removes_the_sandbox_it_made_and_frees_its_url_name(
    admin, source, to_new, monkeypatch
):
    def fail(operation, table):
        raise RuntimeError("disk full")

    monkeypatch.setattr(engine, "after_table_copied", fail)
    op = to_new(source=source, moment=ago(days=1), requested_by=admin)
    assert op.status == "failed"
    sandbox = op.target
    assert sandbox.removed_at is not None and sandbox.slug == f"removed.{sandbox.pk}"
    assert "The new sandbox Contoso Copy was removed with it" in op.error
    assert "contoso-copy is free again" in op.error
    assert not Membership.objects.filter(environment=sandbox).exists()
    assert AuditEvent.objects.filter(action="environment.remove", environment=sandbox).exists()
    # Nobody sees it, and its URL name can be asked for again at once.
    assert sandbox not in Environment.objects.filter(deleted_at__isnull=True)
    monkeypatch.undo()
    again = to_new(source=source, moment=ago(days=1), requested_by=admin)
    assert again.status == "succeeded" and again.target.slug == "contoso-copy"


def test_a_restore_into_an_existing_sandbox_that_fails_keeps_the_sandbox(
    admin, source, target, monkeypatch, django_capture_on_commit_callbacks
):
    Environment.objects.filter(pk=target.pk).update(region=source.region)
    same_region_target = Environment.objects.get(pk=target.pk)
    monkeypatch.setattr(engine, "after_table_copied", lambda op, table: 1 / 0)
    with django_capture_on_commit_callbacks(execute=True):
        op = restores.restore_start(
            restores.RestoreRequest(
                source=source, target=same_region_target, moment=ago(days=1), requested_by=admin
            )
        )
    op.refresh_from_db()
    same_region_target.refresh_from_db()
    assert op.status == "failed" and "removed" not in op.error
    assert same_region_target.removed_at is None and same_region_target.is_ready


def test_the_stale_sweep_removes_the_sandbox_of_a_restore_whose_worker_died(
    admin, source, clock, settings
):
    settings.TASKS_BACKEND = "default"  # queued; no worker ever takes it
    op = copies.restore_to_new(
        restores.RestoreRequest(source=source, requested_by=admin, moment=ago(days=1)),
        name="Orphan",
        slug="orphan",
    )
    clock.shift(settings.RESTORE_STALE_AFTER * 2)
    assert housekeeping.restore_sweep_stale() == 1
    op.refresh_from_db()
    assert op.status == "failed" and op.target.slug == f"removed.{op.target_id}"
    assert not Environment.objects.filter(slug="orphan").exists()


def test_the_same_key_after_the_new_sandbox_failed_returns_the_failed_restore(
    admin, source, to_new, monkeypatch
):
    monkeypatch.setattr(engine, "after_table_copied", lambda op, table: 1 / 0)
    first = to_new(source=source, moment=ago(days=1), requested_by=admin, idempotency_key="k")
    monkeypatch.undo()
    again = to_new(source=source, moment=ago(days=1), requested_by=admin, idempotency_key="k")
    assert again.pk == first.pk and again.status == "failed"
    with pytest.raises(Refused, match="already used for a different restore"):
        to_new(
            source=source,
            moment=ago(days=1),
            requested_by=admin,
            idempotency_key="k",
            name="Another",
            slug="another",
        )


def test_the_pages_of_a_failed_restore_into_a_new_sandbox_say_it_was_removed(
    admin, client_admin, source, to_new, monkeypatch
):
    monkeypatch.setattr(engine, "after_table_copied", lambda op, table: 1 / 0)
    op = to_new(source=source, moment=ago(days=1), requested_by=admin)
    page = client_admin.get(f"/restores/{op.pk}/")
    assert page.status_code == 200
    assert "was removed with it" in page.content.decode()
    assert client_admin.get(f"/environments/{source.slug}/").status_code == 200
    api = client_admin.get(f"/api/v1/operations/{op.pk}")
    assert api.status_code == 200 and api.json()["status"] == "failed"
    assert client_admin.get("/api/v1/operations").status_code == 200
