"""Copy environment: the source as it is now over a sandbox (or into a new one), everything or
the schema only, with a "Before copy" backup, administration mode and an undo, like a restore."""

import pytest
from django.urls import reverse

from backups import copies, engine, restores, undos
from backups.models import ManualBackup, RestoreOperation
from environments import generations, store
from environments.models import Environment
from portal import icons
from portal.errors import Refused
from tests.factories import EnvironmentFactory, ago

pytestmark = pytest.mark.usefixtures("clock")


@pytest.fixture
def copy(django_capture_on_commit_callbacks):
    """copy_start, and the queued copy run in-process when the transaction commits."""

    def _run(**kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            op = copies.copy_start(**kwargs)
        op.refresh_from_db()
        return op

    return _run


@pytest.fixture
def same_region_target(target, source):
    Environment.objects.filter(pk=target.pk).update(region=source.region)
    target.refresh_from_db()
    return target


def test_everything_makes_the_target_hold_the_source_as_it_is_now(
    admin, source, same_region_target, copy
):
    target = same_region_target
    op = copy(source=source, target=target, requested_by=admin)
    assert (op.status, op.kind, op.label) == ("succeeded", "copy", f"Copy #{op.pk}")
    assert store.current(target).as_dict() == store.current(source).as_dict()
    target.refresh_from_db()
    assert target.admin_mode
    before = op.pre_restore_backup
    assert (before.kind, before.get_kind_display()) == ("pre_copy", "Before copy")
    assert before.label.startswith("Before copy from Contoso Prod at ")


def test_schema_only_makes_the_tables_and_columns_without_rows(
    admin, source, same_region_target, copy
):
    target = same_region_target
    op = copy(source=source, target=target, requested_by=admin, schema_only=True)
    assert (op.status, op.kind, op.rows_total) == ("succeeded", "copy_schema", 0)
    copied = {t.name: t.columns for t in store.current(target).tables()}
    assert copied == {t.name: t.columns for t in store.current(source).tables()}
    assert all(rows == {} for rows in store.current(target).as_dict().values())
    # The empty tables take writes (each has its partition on PostgreSQL).
    store.row_create(environment=target, table_name="accounts", values={"name": "New"})
    assert store.storage_used(target).current_rows == 1


def test_a_copy_can_be_undone(admin, source, same_region_target, copy):
    target = same_region_target
    before = store.current(target).as_dict()
    op = copy(source=source, target=target, requested_by=admin)
    undo = undos.restore_undo(operation=op, actor=admin)
    assert engine.restore_run(undo.pk) == "succeeded"
    assert store.current(target).as_dict() == before


def test_a_trial_can_be_copied_though_it_is_not_backed_up(admin, same_region_target, copy):
    trial = EnvironmentFactory(
        type="trial", region=same_region_target.region, created_at=ago(days=3)
    )
    op = copy(source=trial, target=same_region_target, requested_by=admin)
    assert op.status == "succeeded", op.error


def test_a_copy_into_a_new_sandbox(admin, source, copy):
    op = copy(
        source=source,
        requested_by=admin,
        new={"name": "Contoso Archive", "slug": "contoso-archive", "security_group": ""},
    )
    archive = Environment.objects.get(slug="contoso-archive")
    assert (op.target, archive.type, archive.region) == (archive, "sandbox", source.region)
    assert store.current(archive).as_dict() == store.current(source).as_dict()


def test_a_production_target_is_refused(admin, source, copy):
    prod = EnvironmentFactory(type="production", region=source.region)
    with pytest.raises(Refused, match="Only sandbox environments can be restored to"):
        copy(source=source, target=prod, requested_by=admin)
    assert not RestoreOperation.objects.exists()


# -- the page --


def test_the_environment_page_has_a_copy_command(client_admin, source):
    page = client_admin.get(reverse("environments:detail", args=[source.slug])).content.decode()
    assert (
        f'href="{reverse("backups:copy", args=[source.slug])}">{icons.svg("copy")}Copy</a>' in page
    )


def post(client, source, **data):
    body = {"idempotency_key": "k", "what": "everything", "step": "copy", **data}
    return client.post(reverse("backups:copy", args=[source.slug]), body)


def test_the_copy_page_asks_for_the_targets_name_before_overwriting_it(
    client_admin, source, same_region_target, django_capture_on_commit_callbacks
):
    target = same_region_target
    page = client_admin.get(reverse("backups:copy", args=[source.slug]))
    assert page.status_code == 200
    preview = post(client_admin, source, target=target.slug, step="preview").content.decode()
    assert f"{target.name} will be overwritten" in preview
    wrong = post(client_admin, source, target=target.slug, confirm_name="nope")
    assert wrong.context["form"].errors == {
        "confirm_name": [f"Type {target.name} exactly to confirm."]
    }
    assert not RestoreOperation.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        done = post(
            client_admin, source, target=target.slug, confirm_name=target.name, what="schema"
        )
    assert done.status_code == 302 and done["Location"] == f"/environments/{target.slug}/"
    op = RestoreOperation.objects.get()
    assert op.kind == "copy_schema"
    assert ManualBackup.objects.filter(environment=target, kind="pre_copy").count() == 1


def test_the_copy_page_makes_a_new_sandbox(client_admin, source):
    wrong = post(client_admin, source, target="new", new_env_name="A", new_env_slug="contoso-prod")
    assert wrong.context["form"].errors == {
        "new_env_slug": ["The URL name 'contoso-prod' is taken."]
    }
    done = post(client_admin, source, target="new", new_env_name="A", new_env_slug="archive")
    assert done.status_code == 302
    assert RestoreOperation.objects.get().target.slug == "archive"


def test_a_full_tenant_refuses_a_copy_but_still_lets_a_copy_be_undone(
    admin, source, same_region_target, copy, settings
):
    from tests.factories import stores_gigabytes

    op = copy(source=source, target=same_region_target, requested_by=admin)
    settings.TENANT_CAPACITY_GB = 2
    stores_gigabytes(source, 1.5)
    with pytest.raises(Refused, match="You cannot copy: the tenant's storage capacity"):
        copy(source=source, target=same_region_target, requested_by=admin)
    undo = undos.restore_undo(operation=op, actor=admin)
    assert engine.restore_run(undo.pk) == "succeeded"


def test_the_pages_name_a_copy_a_copy(client_admin, admin, source, same_region_target, copy):
    op = copy(source=source, target=same_region_target, requested_by=admin)
    page = client_admin.get(reverse("backups:operation", args=[op.pk])).content.decode()
    assert f"Copy #{op.pk} of Contoso Test" in page
    assert "Contoso Test now holds a copy</strong> from Contoso Prod" in page
    assert ">Undo copy</a>" in page
    env_page = client_admin.get(reverse("environments:detail", args=[same_region_target.slug]))
    assert "Copy (everything): Contoso Test from Contoso Prod" in env_page.content.decode()


def test_a_copy_onto_its_own_source_is_refused(admin, source, copy):
    sandbox = EnvironmentFactory(type="sandbox", region=source.region, created_at=ago(days=3))
    with pytest.raises(Refused, match="to another environment"):
        copy(source=sandbox, target=sandbox, requested_by=admin)


def test_capacity_counts_the_rows_a_restore_copies_and_not_those_it_shares(
    admin, source, same_region_target, settings, monkeypatch
):
    from environments import capacity
    from tests.factories import stores_gigabytes

    settings.TENANT_CAPACITY_GB = 2
    used = capacity.tenant().used
    # 100 bytes more than the 1 GB that must stay free: less than the source's rows.
    stores_gigabytes(same_region_target, (capacity.GB - 100 - used) / capacity.GB)
    assert store.storage_used(source).current_bytes > 100
    moment = ago(days=1)
    # A restore that branches stores nothing new: it may go ahead.
    request = restores.RestoreRequest(
        source=source, target=same_region_target, moment=moment, requested_by=admin
    )
    restores.restore_validate(request)
    # One that copies the rows (from a source already MAX_DEPTH deep) would store them.
    monkeypatch.setattr(generations, "should_branch", lambda table: False)
    with pytest.raises(Refused, match="You cannot restore"):
        restores.restore_validate(request)


def test_a_queued_copy_holds_the_room_it_will_use_until_it_ends(
    admin, source, same_region_target, settings, monkeypatch
):
    from environments import capacity

    monkeypatch.setattr(generations, "should_branch", lambda table: False)  # it copies the rows
    settings.TASKS_BACKEND = "default"  # queued until the test runs it
    size = store.storage_used(source).current_bytes
    before = capacity.tenant()
    op = copies.copy_start(source=source, target=same_region_target, requested_by=admin)
    queued = capacity.tenant()
    assert (queued.reserved, queued.used) == (size, before.used + size)
    assert engine.restore_run(op.pk) == "succeeded"
    done = capacity.tenant()
    assert (done.reserved, done.stored) == (0, before.stored + size)  # stored now, once
    # A copy that fails gives its room back.
    monkeypatch.setattr(engine, "after_table_copied", lambda op, table: 1 / 0)
    failing = copies.copy_start(source=source, target=same_region_target, requested_by=admin)
    assert capacity.tenant().reserved == size
    assert engine.restore_run(failing.pk) == "failed"
    assert capacity.tenant().used == done.used
