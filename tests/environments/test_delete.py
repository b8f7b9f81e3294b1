"""Delete an environment (its name typed; production confirmed twice; never the Default one),
find it under Deleted environments, recover it within 7 days; after that a purge removes it
for good, but not what restored tables of other environments still read."""

import datetime

import pytest
from django.urls import reverse

from backups import copies, engine, purge, restores, undos
from environments import services, store
from environments.models import DataTable, Environment
from portal import icons
from portal.errors import Conflict, NotAllowed, Refused
from portal.models import AuditEvent
from tests.factories import NOW, EnvironmentFactory, ago, build_history

pytestmark = pytest.mark.usefixtures("clock")
DAY = datetime.timedelta(days=1)


def delete(env, actor, **kwargs):
    return services.environment_delete(
        environment=env, actor=actor, confirm_name=kwargs.pop("confirm_name", env.name), **kwargs
    )


def test_a_deleted_environment_is_out_of_sight_but_its_data_stays(global_admin, client, sandbox):
    accounts = store.current(sandbox).as_dict()
    delete(sandbox, global_admin)
    assert (sandbox.deleted_at, sandbox.deleted_by) == (NOW, global_admin)
    assert sandbox.recoverable_until == NOW + 7 * DAY
    client.force_login(global_admin)
    assert client.get(reverse("environments:detail", args=[sandbox.slug])).status_code == 404
    assert "Sales Sandbox" not in client.get(reverse("environments:list")).content.decode()
    assert store.current(sandbox).as_dict() == accounts
    with pytest.raises(store.StoreError, match="is deleted"):
        store.row_create(environment=sandbox, table_name="accounts", values={"name": "x"})
    assert AuditEvent.objects.filter(action="environment.delete", environment=sandbox).exists()


def test_the_name_must_be_typed_and_production_confirmed_twice(global_admin, production):
    with pytest.raises(Refused, match="Type Sales exactly") as typed:
        delete(production, global_admin, confirm_name="sales")
    assert typed.value.field == "confirm_name"
    with pytest.raises(Refused, match="production environment: confirm") as second:
        delete(production, global_admin)
    assert second.value.field == "confirm_production"
    production.refresh_from_db()
    assert production.deleted_at is None
    delete(production, global_admin, confirm_production=True)
    assert production.deleted_at == NOW


def test_the_default_environment_and_one_being_restored_cannot_be_deleted(global_admin, sandbox):
    default = EnvironmentFactory(type="default", slug="contoso-default")
    with pytest.raises(Refused, match="Default environment cannot be deleted"):
        delete(default, global_admin)
    Environment.objects.filter(pk=sandbox.pk).update(state="restoring")
    with pytest.raises(Conflict, match="being restored"):
        delete(sandbox, global_admin)


def test_who_may_delete_and_who_may_recover(env_admin, maker, global_admin, sandbox):
    with pytest.raises(NotAllowed):
        delete(sandbox, maker)
    delete(sandbox, env_admin)  # its admin may delete it
    with pytest.raises(NotAllowed, match="Only Global admins and Power Platform admins"):
        services.environment_recover(environment=sandbox, actor=env_admin)
    services.environment_recover(environment=sandbox, actor=global_admin)
    sandbox.refresh_from_db()
    assert sandbox.deleted_at is None


def test_recover_within_7_days_only(global_admin, sandbox, clock):
    delete(sandbox, global_admin)
    clock.move_to(NOW + 7 * DAY)
    with pytest.raises(Refused, match="more than 7 days ago"):
        services.environment_recover(environment=sandbox, actor=global_admin)


def test_a_deleted_url_name_is_not_free_until_removed(global_admin, sandbox):
    delete(sandbox, global_admin)
    with pytest.raises(Refused, match="belongs to a deleted environment") as taken:
        services.environment_create(
            actor=global_admin, name="X", slug=sandbox.slug, type="sandbox", region="europe"
        )
    assert taken.value.field == "slug"


def test_after_7_days_a_purge_removes_it_but_keeps_what_branches_read(global_admin, clock):
    source = EnvironmentFactory(name="Old Prod", slug="old-prod", created_at=ago(days=40))
    build_history(source)
    reader = EnvironmentFactory(type="sandbox", region=source.region, created_at=ago(days=30))
    op = restores.restore_start(
        restores.RestoreRequest(
            source=source, target=reader, moment=source.last_change_at, requested_by=global_admin
        )
    )
    assert engine.restore_run(op.pk) == "succeeded"
    reads = store.current(reader).as_dict()
    delete(source, global_admin, confirm_production=True)
    purge.backups_purge(now=NOW + 6 * DAY)
    source.refresh_from_db()
    assert source.removed_at is None  # still recoverable
    result = purge.backups_purge(now=NOW + 7 * DAY)
    source.refresh_from_db()
    assert result.environments_removed == 1
    assert (source.removed_at, source.slug, source.name) == (
        NOW + 7 * DAY,
        f"removed.{source.pk}",
        "Old Prod",
    )
    # Its own tables went, but the ones the restored sandbox reads stay as long as it reads them.
    kept = DataTable.objects.filter(generation__environment=source)
    assert set(kept) == {t.base for t in store.current(reader).tables()}
    assert store.current(reader).as_dict() == reads
    # The URL name is free again.
    services.environment_create(
        actor=global_admin, name="New Prod", slug="old-prod", type="production", region="europe"
    )


# -- the pages --


def test_delete_page_deletes_and_the_deleted_list_recovers(login, global_admin, sandbox):
    client = login(global_admin)
    page = client.get(reverse("environments:detail", args=[sandbox.slug])).content.decode()
    delete = reverse("environments:delete", args=[sandbox.slug])
    assert f'href="{delete}">{icons.svg("delete")}Delete</a>' in page
    url = reverse("environments:delete", args=[sandbox.slug])
    wrong = client.post(url, {"confirm_name": "nope"})
    assert wrong.context["form"].errors == {
        "confirm_name": ["Type Sales Sandbox exactly to confirm."]
    }
    done = client.post(url, {"confirm_name": "Sales Sandbox"}, follow=True)
    assert done.redirect_chain == [(reverse("environments:list"), 302)]
    assert "Sales Sandbox is deleted." in done.content.decode()
    listed = client.get(reverse("environments:deleted")).content.decode()
    assert "Sales Sandbox" in listed and 'aria-label="Recover Sales Sandbox"' in listed
    back = client.post(reverse("environments:recover", args=[sandbox.pk]), follow=True)
    assert back.redirect_chain == [(reverse("environments:detail", args=[sandbox.slug]), 302)]
    assert "Sales Sandbox is recovered" in back.content.decode()


def test_the_deleted_list_is_for_tenant_admins(login, env_admin, global_admin, sandbox):
    assert login(env_admin).get(reverse("environments:deleted")).status_code == 403
    page = login(global_admin).get(reverse("environments:list")).content.decode()
    assert ">Deleted environments</a>" in page
    assert (
        login(env_admin).post(reverse("environments:recover", args=[sandbox.pk])).status_code == 403
    )


def test_the_default_environment_shows_no_delete_command(login, global_admin, db):
    default = EnvironmentFactory(type="default", slug="contoso-default")
    page = login(global_admin).get(reverse("environments:detail", args=[default.slug]))
    assert ">Delete</a>" not in page.content.decode()
    assert (
        login(global_admin).get(reverse("environments:delete", args=[default.slug])).status_code
        == 200
    )


def test_support_staff_see_deleted_environments_in_the_django_admin(
    client, staff, global_admin, sandbox
):
    delete(sandbox, global_admin)
    client.force_login(staff)
    url = reverse("admin:environments_environment_changelist")
    page = client.get(url, {"deleted": "recoverable"}).content.decode()
    assert "Sales Sandbox" in page and "Deleted; recoverable until 2026-11-27 12:00 UTC" in page
    assert "Sales Sandbox" not in client.get(url, {"deleted": "no"}).content.decode()


def test_nothing_restores_into_or_from_a_deleted_environment(
    global_admin, client, source, target, clock
):
    op = restores.restore_start(
        restores.RestoreRequest(
            source=source, target=target, moment=ago(days=1), requested_by=global_admin
        )
    )
    assert engine.restore_run(op.pk) == "succeeded"
    op.refresh_from_db()
    target.refresh_from_db()
    delete(target, global_admin)
    with pytest.raises(Refused, match="Contoso Test is deleted; recover it first"):
        undos.restore_undo(operation=op, actor=global_admin)
    with pytest.raises(Refused, match="is deleted"):
        restores.restore_start(
            restores.RestoreRequest(
                source=target, target=target, moment=ago(days=1), requested_by=global_admin
            )
        )
    client.force_login(global_admin)
    assert client.get(reverse("backups:operation", args=[op.pk])).status_code == 404


def test_a_removed_environments_url_name_is_taken_not_a_server_error(global_admin, sandbox):
    from django.db.models import F

    delete(sandbox, global_admin)
    purge.backups_purge(now=NOW + 8 * DAY)
    sandbox.refresh_from_db()
    assert sandbox.slug == f"removed.{sandbox.pk}"
    with pytest.raises(Refused, match="is not valid"):  # no one can ask for it
        services.environment_create(
            actor=global_admin, name="X", slug=sandbox.slug, type="sandbox", region="europe"
        )
    # A name that was deleted but is past recovery and not yet purged reads as taken.
    other = EnvironmentFactory(slug="other")
    delete(other, global_admin)
    Environment.objects.filter(pk=other.pk).update(deleted_at=F("deleted_at") - 8 * DAY)
    with pytest.raises(Refused, match="'other' is taken"):
        services.environment_create(
            actor=global_admin, name="X", slug="other", type="sandbox", region="europe"
        )


def test_one_environment_that_cannot_be_removed_does_not_stop_the_purge(
    global_admin, db, monkeypatch
):
    from django.db import DatabaseError

    first, second = EnvironmentFactory(slug="first"), EnvironmentFactory(slug="second")
    delete(first, global_admin)
    delete(second, global_admin)
    remove_one = purge._remove_one

    def failing(pk, now, cutoff):
        if pk == first.pk:
            raise DatabaseError("lock timeout")
        return remove_one(pk, now, cutoff)

    monkeypatch.setattr(purge, "_remove_one", failing)
    result = purge.backups_purge(now=NOW + 8 * DAY)
    assert result.environments_removed == 1
    assert AuditEvent.objects.filter(action="purge").exists()  # the purge ran to its end
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.removed_at, second.removed_at) == (None, NOW + 8 * DAY)


def test_the_source_of_a_queued_copy_cannot_be_deleted_until_it_ends(
    global_admin, client, sandbox, django_capture_on_commit_callbacks
):
    target = EnvironmentFactory(type="sandbox", slug="copy-target", region=sandbox.region)
    op = copies.copy_start(source=sandbox, target=target, requested_by=global_admin)
    with pytest.raises(Conflict, match=f"while Copy #{op.pk} \\(copy into {target.name}\\)"):
        delete(sandbox, global_admin)
    client.force_login(global_admin)
    api = client.delete(f"/api/v1/environments/{sandbox.slug}")
    assert api.status_code == 409 and f"Copy #{op.pk}" in api.json()["message"]
    sandbox.refresh_from_db()
    assert sandbox.deleted_at is None
    assert engine.restore_run(op.pk) == "succeeded"
    delete(sandbox, global_admin)  # the copy is over: nothing reads it any more
    assert sandbox.deleted_at == NOW
