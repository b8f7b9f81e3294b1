"""The Django admin keeps the portal's rules: every registered admin's pages open for a
superuser and for support staff (never a 500), and nothing the portal would refuse can be made
there: no reserved or changed URL name, no region or type change, no edit of restored tables,
row versions, operations or the audit log. Each refused attempt leaves the database as it was."""

import pytest
from django.contrib import admin
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, URLResolver, resolve, reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from backups import services as backup_services
from backups import tasks
from backups.models import ManualBackup, RestoreOperation
from environments import services
from environments import urls as environment_urls
from environments.models import (
    RESERVED_SLUGS,
    DataTable,
    Environment,
    Generation,
    Membership,
    RowVersion,
)
from portal.audit import audit_record
from portal.errors import Refused
from portal.models import AuditEvent
from tests.factories import EnvironmentFactory, UserFactory, ago

pytestmark = pytest.mark.usefixtures("clock")

# What the portal owns: these rows change only through its services, never through /admin/.
PROTECTED = [
    Environment,
    Membership,
    Generation,
    DataTable,
    RowVersion,
    ManualBackup,
    RestoreOperation,
    AuditEvent,
    DBTaskResult,
]


def snapshot() -> dict:
    return {m._meta.label: list(m.objects.order_by("pk").values()) for m in PROTECTED}


@pytest.fixture
def superuser(db):
    return UserFactory(username="root", is_staff=True, is_superuser=True)


@pytest.fixture
def world(admin, source, target, run_restore, staff):
    """One of everything the admin lists: a restore (so a restored table and a generation), a
    manual backup, audit events, a queued task and a failed sign-in."""
    op = run_restore(source=source, target=target, moment=ago(days=1), requested_by=admin)
    assert op.status == "succeeded"
    backup_services.backup_create(environment=source, label="Before import", actor=admin)
    tasks.restore_task.using(backend="default").enqueue(op.pk)
    Client().post(reverse("login"), {"username": "global", "password": "wrong"})
    return {"operation": op}


@pytest.fixture(params=["superuser", "staff"])
def signed_in(request, client, world, superuser, staff):
    user = superuser if request.param == "superuser" else staff
    client.force_login(user)
    return client, user


def admin_url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def form_data(page) -> dict:
    """What the browser would post back from a change form as it was shown."""
    data: dict = {}

    def add(form):
        for name in form.fields:
            value = form[name].value()
            if value is None or value is False:
                continue
            data[form.add_prefix(name)] = "on" if value is True else value

    add(page.context["adminform"].form)
    for inline in page.context["inline_admin_formsets"]:
        add(inline.formset.management_form)
        for form in inline.formset.forms:
            add(form)
    return data


# -- every page opens --------------------------------------------------------------------------


def test_every_registered_admin_opens_its_list_add_and_change_pages_without_an_error(
    signed_in,
):
    client, user = signed_in
    assert client.get(reverse("admin:index")).status_code == 200
    for model, model_admin in admin.site._registry.items():
        allowed = {200, 403} if not user.is_superuser else {200}
        listing = client.get(admin_url(model, "changelist"))
        assert listing.status_code in allowed, model
        # The portal adds its rows through its own pages: the add form is refused for them.
        adding = client.get(admin_url(model, "add"))
        assert adding.status_code in {200, 403}, model
        if model in PROTECTED:
            assert adding.status_code == 403, model
        first = model.objects.order_by("pk").first()
        if first is not None:
            change = client.get(admin_url(model, "change", first.pk))
            assert change.status_code in allowed, model
            if model_admin.search_fields:
                assert client.get(admin_url(model, "changelist"), {"q": "<b>"}).status_code in (
                    allowed
                )


def test_every_object_of_the_portal_has_a_change_page_that_opens(signed_in):
    client, _ = signed_in
    for model in PROTECTED:
        if model not in admin.site._registry:
            continue
        for obj in model.objects.all():
            assert client.get(admin_url(model, "change", obj.pk)).status_code == 200, obj


def test_a_restored_tables_row_versions_open_for_both(signed_in, world):
    client, _ = signed_in
    restored = DataTable.objects.filter(base__isnull=False).first()
    assert restored is not None
    url = reverse("admin:environments_datatable_versions", args=[restored.pk])
    assert client.get(url).status_code == 200


# -- nothing protected changes through the admin ----------------------------------------------


def test_no_post_to_any_portal_admin_changes_the_portals_rows(signed_in):
    """Posts of every change form (each field altered), of every add and delete form and of a
    bulk delete, for every object the portal owns: refused or ignored, the rows as they were."""
    client, _ = signed_in
    before = snapshot()
    hostile = {
        "name": "Renamed",
        "slug": "new",
        "type": "production",
        "state": "restoring",
        "region": "asia",
        "version": "1.0",
        "security_group": "Everyone",
        "admin_mode": "on",
        "label": "changed",
        "status": "succeeded",
        "summary": "rewritten",
        "valid_to": "",
        "reason": "rewritten",
    }
    for model in PROTECTED:
        if model not in admin.site._registry:
            continue
        for obj in model.objects.all():
            url = admin_url(model, "change", obj.pk)
            shown = client.get(url)
            data = form_data(shown) if shown.status_code == 200 else {}
            response = client.post(url, {**data, **hostile})
            assert response.status_code in {302, 403}, (model, response.status_code)
            response = client.post(admin_url(model, "delete", obj.pk), {"post": "yes"})
            assert response.status_code == 403, model
        assert client.post(admin_url(model, "add"), hostile).status_code == 403, model
        ids = [str(pk) for pk in model.objects.values_list("pk", flat=True)]
        bulk = client.post(
            admin_url(model, "changelist"),
            {"action": "delete_selected", "_selected_action": ids, "post": "yes"},
        )
        assert bulk.status_code in {200, 302, 403}, model
    assert snapshot() == before


def test_a_superuser_cannot_give_an_environment_a_reserved_or_another_url_name(
    client, superuser, target
):
    client.force_login(superuser)
    url = admin_url(Environment, "change", target.pk)
    form = client.get(url).context["adminform"].form
    # Nothing of the environment is a field of the form: it shows them, read-only.
    assert list(form.fields) == []
    # It links to the environment's page, where those who manage it change it.
    page = client.get(url).content.decode()
    assert '<a href="/environments/contoso-test/">Open Contoso Test</a>' in page
    for slug in sorted(RESERVED_SLUGS) + ["contoso-other"]:
        client.post(url, {**form_data(client.get(url)), "slug": slug})
        target.refresh_from_db()
        assert target.slug == "contoso-test"


def test_a_superuser_cannot_move_an_environment_or_change_its_type_in_the_admin(
    client, superuser, target, production
):
    client.force_login(superuser)
    for env, changes in [
        (target, {"region": "asia", "type": "production", "state": "disabled"}),
        (production, {"type": "sandbox", "version": "1.0", "name": "Renamed"}),
    ]:
        url = admin_url(Environment, "change", env.pk)
        before = Environment.objects.filter(pk=env.pk).values().get()
        response = client.post(url, {**form_data(client.get(url)), **changes})
        assert response.status_code == 302
        assert Environment.objects.filter(pk=env.pk).values().get() == before


def test_saving_memberships_writes_nothing_of_the_environment_itself(
    client, superuser, target, global_admin, maker
):
    """The admin reads the environment at the start of its request and would write every column
    back at the end: over a restore's lock or a switch flipped in between. So it writes none."""
    client.force_login(superuser)
    url = admin_url(Environment, "change", target.pk)
    data = form_data(client.get(url))
    services.environment_set_admin_mode(environment=target, enabled=True, actor=global_admin)
    prefix = "membership_set"
    n = int(data[f"{prefix}-TOTAL_FORMS"])
    data.update(
        {
            f"{prefix}-TOTAL_FORMS": str(n + 1),
            f"{prefix}-{n}-user": str(maker.pk),
            f"{prefix}-{n}-role": "maker",
            f"{prefix}-{n}-environment": str(target.pk),
        }
    )
    with CaptureQueriesContext(connection) as queries:
        assert client.post(url, data).status_code == 302
    table = Environment._meta.db_table
    assert not [q for q in queries if q["sql"].startswith(f'UPDATE "{table}"')]
    target.refresh_from_db()
    assert target.admin_mode is True
    # The memberships, which are managed here, were saved.
    assert Membership.objects.filter(environment=target, user=maker, role="maker").exists()


def test_restored_tables_operations_and_the_audit_log_refuse_every_write(client, superuser, world):
    client.force_login(superuser)
    op: RestoreOperation = world["operation"]
    restored = DataTable.objects.filter(base__isnull=False).first()
    event = audit_record(action="test.event", actor=None, summary="Something happened")
    for model, obj, changes in [
        (DataTable, restored, {"name": "other", "display_name": "Other"}),
        (RestoreOperation, op, {"status": "failed", "target": str(op.source_id)}),
        (AuditEvent, event, {"summary": "Nothing happened", "outcome": "failed"}),
        (Generation, restored.generation, {"reason": "forged"}),
    ]:
        before = model.objects.filter(pk=obj.pk).values().get()
        assert client.post(admin_url(model, "change", obj.pk), changes).status_code == 403
        assert client.post(admin_url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403
        assert model.objects.filter(pk=obj.pk).values().get() == before
    # Row versions have a read-only list, and no way to post to it.
    versions = reverse("admin:environments_datatable_versions", args=[restored.pk])
    before = snapshot()
    client.post(versions, {"key": "a", "values": "{}"})
    assert snapshot() == before


# -- reserved URL names: one list, refused by the services and by the database ----------------


def _literal_first_segments(patterns) -> set[str]:
    found = set()
    for pattern in patterns:
        route = str(pattern.pattern)
        first = route.split("/", 1)[0]
        if first and "<" not in first and isinstance(pattern, URLPattern | URLResolver):
            found.add(first)
    return found


def test_the_reserved_url_names_are_the_portals_own_pages_under_environments():
    """A new page under /environments/<word>/ must add <word> to RESERVED_SLUGS (and a
    migration), or an environment of that URL name would hide it or be hidden by it."""
    assert _literal_first_segments(environment_urls.urlpatterns) == set(RESERVED_SLUGS)
    for slug in RESERVED_SLUGS:
        assert resolve(reverse("environments:list") + f"{slug}/").url_name != "detail"


@pytest.mark.parametrize("slug", sorted(RESERVED_SLUGS))
def test_the_portal_refuses_a_reserved_url_name_with_a_message(global_admin, slug):
    with pytest.raises(Refused, match=f"The URL name '{slug}' is reserved"):
        services.environment_create(
            actor=global_admin, name="Odd", slug=slug, type="sandbox", region="europe"
        )
    assert not Environment.objects.filter(slug=slug).exists()


@pytest.mark.parametrize("slug", sorted(RESERVED_SLUGS))
def test_the_database_refuses_a_reserved_url_name_whatever_the_door(db, slug):
    env = EnvironmentFactory(slug="fine-name")
    with pytest.raises(IntegrityError), transaction.atomic():
        Environment.objects.filter(pk=env.pk).update(slug=slug)
    with pytest.raises(IntegrityError), transaction.atomic():
        Environment.objects.create(
            name="Odd", slug=slug, type="sandbox", region="europe", created_at=env.created_at
        )
    # The services' own insert (restores into a new sandbox, copies) meets the same constraint
    # and says why.
    with pytest.raises(Refused, match="reserved for the portal's own pages"):
        EnvironmentFactory(slug=slug)
    assert list(Environment.objects.values_list("slug", flat=True)) == ["fine-name"]


@pytest.mark.django_db(transaction=True)
def test_the_migration_gives_an_environment_with_a_reserved_url_name_a_free_one_first():
    """Made before the constraint (through the admin or the shell), such an environment gets
    '<name>-env' (or -env-2 when that is taken), and the audit log says so."""
    from django.db.migrations.executor import MigrationExecutor

    after = [("environments", "0023_environment_slug_not_reserved")]
    executor = MigrationExecutor(connection)
    executor.migrate([("environments", "0021_live_and_closed_search_indexes")])
    try:
        # The model as it was at that migration (later ones add columns).
        then = executor.loader.project_state(
            [("environments", "0021_live_and_closed_search_indexes")]
        ).apps.get_model("environments", "Environment")
        made = timezone.now()
        for slug in ["new", "deleted", "new-env"]:
            then.objects.create(
                name=f"Made as {slug}", slug=slug, type="sandbox", region="europe", created_at=made
            )
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(after)
        slugs = dict(then.objects.values_list("name", "slug"))
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
    assert slugs == {
        "Made as new": "new-env-2",
        "Made as deleted": "deleted-env",
        "Made as new-env": "new-env",
    }
    event = AuditEvent.objects.get(action="environment.rename_url", environment_name="Made as new")
    assert event.summary == (
        "URL name of Made as new changed from 'new' to 'new-env-2': "
        "'new' is one of the portal's own pages"
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        Environment.objects.filter(name="Made as new").update(slug="new")
