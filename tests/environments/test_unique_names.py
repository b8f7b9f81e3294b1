"""Names an admin can tell apart: two live environments never share a display name, case and
spacing aside ("Contoso  Sales" is "contoso sales"), whichever door makes or renames one: the
New page, the API, the command, restore or copy into a new sandbox, Edit details, recover."""

import importlib

import pytest
from django.apps import apps as django_apps
from django.db import IntegrityError, transaction
from django.urls import reverse

from backups import copies, restores
from environments import services
from environments.models import Environment, fold_name
from portal.errors import Refused
from portal.models import AuditEvent
from tests.api.conftest import assert_error, make_token
from tests.factories import EnvironmentFactory, ago

pytestmark = pytest.mark.usefixtures("clock")

TAKEN = "An environment named Contoso Sales already exists; choose another name."


@pytest.fixture
def contoso(db):
    return EnvironmentFactory(name="Contoso Sales", slug="contoso-sales", type="sandbox")


def create(actor, **overrides):
    fields = {"name": "contoso  SALES", "slug": "other", "type": "sandbox", "region": "europe"}
    return services.environment_create(actor=actor, **{**fields, **overrides})


def test_folding_ignores_case_and_runs_of_spaces():
    assert fold_name("  Contoso \t Sales ") == fold_name("contoso sales") == "contoso sales"
    assert fold_name("Straße") == fold_name("STRASSE")
    assert fold_name("Contoso Sales 2") != fold_name("Contoso Sales")


def test_the_database_refuses_a_second_live_environment_of_the_same_name(contoso):
    twin = Environment(
        name="CONTOSO   sales", slug="twin", type="sandbox", region="europe", created_at=ago(days=1)
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        twin.save()
    contoso.name = "Renamed"
    contoso.save(update_fields=["name"])  # the folded name follows the name
    assert Environment.objects.get(pk=contoso.pk).name_key == "renamed"
    twin.save()


def test_a_form_that_edits_the_name_is_told_before_the_database_refuses(contoso):
    """The Django admin's change form has no name_key field: model validation checks it."""
    from django import forms as django_forms

    other = EnvironmentFactory(name="Other", slug="other-env")
    form_class = django_forms.modelform_factory(Environment, fields=["name", "security_group"])
    form = form_class({"name": " contoso  sales", "security_group": ""}, instance=other)
    assert not form.is_valid()
    assert form.non_field_errors() == [
        "An environment with this name already exists; choose another name."
    ]
    renamed = form_class({"name": "Contoso Sales EU", "security_group": ""}, instance=other)
    assert renamed.is_valid(), renamed.errors
    renamed.save()
    assert Environment.objects.get(pk=other.pk).name_key == "contoso sales eu"


def test_create_refuses_a_taken_name_on_the_name_field_and_makes_nothing(global_admin, contoso):
    with pytest.raises(Refused) as refused:
        create(global_admin)
    assert (refused.value.message, refused.value.field) == (TAKEN, "name")
    assert not Environment.objects.filter(slug="other").exists()
    assert create(global_admin, name="Contoso Sales EU").name == "Contoso Sales EU"


def test_a_deleted_environments_name_can_be_given_again(global_admin, contoso):
    services.environment_delete(environment=contoso, actor=global_admin, confirm_name=contoso.name)
    assert create(global_admin).name == "contoso  SALES"


def test_the_new_page_shows_the_refusal_once_on_the_name_field(login, global_admin, contoso):
    client = login(global_admin)
    data = {"name": "CONTOSO SALES", "slug": "other", "type": "sandbox", "region": "europe"}
    page = client.post(reverse("environments:new"), data)
    assert page.status_code == 200
    assert page.context["form"].errors == {"name": [TAKEN]}
    assert page.content.decode().count("already exists; choose another name") == 1
    assert not Environment.objects.filter(slug="other").exists()


def test_the_api_answers_422_with_the_message_on_the_name(client, global_admin, contoso):
    from tests.api.conftest import Api

    api = Api(client, make_token(global_admin))
    body = {"name": "Contoso sales", "slug": "other", "type": "sandbox", "region": "europe"}
    assert_error(api.post("/environments", body), 422, "refused", "name", TAKEN)
    assert not Environment.objects.filter(slug="other").exists()


def test_the_command_exits_1_with_the_message(global_admin, contoso):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="already exists; choose another name") as failed:
        call_command(
            "environments", "create", "--name", "contoso sales", "--slug", "other",
            "--type", "sandbox", "--region", "europe", "--as", global_admin.username,
        )  # fmt: skip
    assert failed.value.returncode == 1


def test_restore_and_copy_into_a_new_sandbox_refuse_a_taken_name(admin, source, contoso):
    request = restores.RestoreRequest(source=source, moment=ago(days=1), requested_by=admin)
    with pytest.raises(Refused, match=TAKEN) as refused:
        copies.restore_to_new(request, name="contoso sales", slug="new-one")
    assert refused.value.field == "name"
    with pytest.raises(Refused, match=TAKEN):
        copies.copy_start(
            source=source,
            requested_by=admin,
            new={"name": " Contoso  Sales ", "slug": "new-one", "security_group": ""},
        )
    assert not Environment.objects.filter(slug="new-one").exists()


def test_the_api_and_the_command_refuse_a_taken_name_for_a_new_sandbox_and_edit_details(
    client, admin, source, target, contoso
):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    from tests.api.conftest import Api

    api = Api(client, make_token(admin))
    new = {"restorePointDateTime": "latest", "targetEnvironmentSlug": "new-one"}
    new["targetEnvironmentName"] = "contoso sales"
    answer = api.post("/environments/contoso-prod/restore-to-new", new)
    assert_error(answer, 422, "refused", "targetEnvironmentName", TAKEN)
    edit = {"sourceEnvironmentId": "contoso-prod", "restorePointDateTime": "latest"}
    edit["targetEnvironmentName"] = "CONTOSO SALES"
    answer = api.post("/environments/contoso-test/restore", edit)
    assert_error(answer, 422, "refused", "targetEnvironmentName", TAKEN)
    for args in (["--new", "new-one"], ["--target", "contoso-test"]):
        with pytest.raises(CommandError, match=TAKEN) as failed:
            call_command(
                "restore", "--source", "contoso-prod", *args, "--latest",
                "--name", "Contoso Sales", "--as", admin.username,
            )  # fmt: skip
        assert failed.value.returncode == 1
    assert not Environment.objects.filter(slug="new-one").exists()
    target.refresh_from_db()
    assert target.name == "Contoso Test"


def test_the_copy_page_puts_the_refusal_on_the_new_name(client_admin, source, contoso):
    url = reverse("backups:copy", args=[source.slug])
    data = {
        "step": "copy",
        "what": "everything",
        "target": "new",
        "new_env_name": "contoso sales",
        "new_env_slug": "new-one",
        "idempotency_key": "k",
    }
    page = client_admin.post(url, data)
    assert page.status_code == 200
    assert page.context["form"].errors["new_env_name"] == [TAKEN]
    assert not Environment.objects.filter(slug="new-one").exists()


def test_edit_details_refuses_another_environments_name_but_not_its_own(
    admin, source, target, contoso, run_restore
):
    with pytest.raises(Refused, match=TAKEN) as refused:
        run_restore(
            source=source,
            target=target,
            moment=ago(days=1),
            requested_by=admin,
            new_name="CONTOSO sales",
        )
    assert refused.value.field == "new_name"
    target.refresh_from_db()
    assert target.name == "Contoso Test" and target.is_ready
    # Its own name in other letters is no clash: it is the same environment.
    op = run_restore(
        source=source,
        target=target,
        moment=ago(days=1),
        requested_by=admin,
        new_name="CONTOSO test",
    )
    assert op.status == "succeeded", op.error
    target.refresh_from_db()
    assert target.name == "CONTOSO test"


def test_a_name_taken_while_the_restore_runs_leaves_the_target_its_own(
    admin, source, target, django_capture_on_commit_callbacks
):
    request = restores.RestoreRequest(
        source=source, target=target, moment=ago(days=1), requested_by=admin, new_name="Lab"
    )
    with django_capture_on_commit_callbacks(execute=False) as queued:
        op = restores.restore_start(request)
    EnvironmentFactory(name="lab", slug="lab")  # before the queued restore runs
    for callback in queued:
        callback()
    op.refresh_from_db()
    target.refresh_from_db()
    assert op.status == "succeeded", op.error
    assert target.name == "Contoso Test"
    kept = AuditEvent.objects.get(action="restore.name_kept")
    assert "another environment was named Lab" in kept.summary


# -- recovering a deleted environment whose name was taken meanwhile ----------------------------


@pytest.fixture
def deleted_and_taken(global_admin, contoso):
    services.environment_delete(environment=contoso, actor=global_admin, confirm_name=contoso.name)
    EnvironmentFactory(name="CONTOSO SALES", slug="contoso-sales-2")
    return contoso


def test_recover_asks_for_a_new_name_when_its_own_is_taken(global_admin, deleted_and_taken):
    env = deleted_and_taken
    with pytest.raises(Refused) as refused:
        services.environment_recover(environment=env, actor=global_admin)
    assert refused.value.field == "name"
    assert refused.value.message == (
        "An environment named CONTOSO SALES already exists; choose another name."
    )
    env.refresh_from_db()
    assert env.deleted_at is not None
    with pytest.raises(Refused, match="CONTOSO SALES already exists"):
        services.environment_recover(environment=env, actor=global_admin, name="contoso sales ")
    services.environment_recover(environment=env, actor=global_admin, name=" Contoso Sales (old) ")
    env.refresh_from_db()
    assert (env.deleted_at, env.name) == (None, "Contoso Sales (old)")
    event = AuditEvent.objects.get(action="environment.recover")
    assert event.summary == "Recovered Contoso Sales as Contoso Sales (old)"


def test_the_recover_page_asks_for_the_name_on_its_field(login, global_admin, deleted_and_taken):
    env = deleted_and_taken
    client = login(global_admin)
    url = reverse("environments:recover", args=[env.pk])
    # A page of its own too, for a reload or a bookmark: it says why before anyone tries.
    shown = client.get(url).content.decode()
    assert "Another environment is now named CONTOSO SALES. Give Contoso Sales a new name" in shown
    # The Deleted environments list posts its Recover button with nothing else.
    asked = client.post(url)
    assert asked.status_code == 200
    assert asked.context["form"].errors == {
        "name": ["An environment named CONTOSO SALES already exists; choose another name."]
    }
    html = asked.content.decode()
    assert 'name="name"' in html and "autofocus" in html
    assert html.count("already exists; choose another name") == 1
    assert "Another environment is now named" not in html  # said once, beside the name
    done = client.post(url, {"name": "Contoso Sales 2024"}, follow=True)
    assert done.redirect_chain == [(reverse("environments:detail", args=[env.slug]), 302)]
    assert "Contoso Sales 2024 is recovered" in done.content.decode()


def test_the_api_and_the_command_recover_with_a_new_name(client, global_admin, deleted_and_taken):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    from tests.api.conftest import Api

    env = deleted_and_taken
    api = Api(client, make_token(global_admin))
    path = f"/deleted-environments/{env.pk}/recover"
    assert_error(api.post(path), 422, "refused", "name", "CONTOSO SALES already exists")
    with pytest.raises(CommandError, match="choose another name"):
        call_command("environments", "recover", str(env.pk), "--as", global_admin.username)
    answer = api.post(f"{path}?name=Contoso%20Sales%20old")
    assert answer.status_code == 200, answer.content
    assert answer.json()["name"] == "Contoso Sales old"


# -- the migration that brought the constraint -----------------------------------------------


def test_the_migration_renames_later_duplicates_among_live_environments(db):
    migration = importlib.import_module(
        "environments.migrations.0024_unique_live_environment_names"
    )
    rows = [
        ("Contoso Sales", ago(days=3), None),
        ("contoso  sales", ago(days=2), None),
        ("CONTOSO SALES", ago(days=1), None),
        ("Contoso Sales", ago(days=4), ago(days=1)),  # deleted: keeps its name
        ("Contoso Sales (2)", ago(hours=1), None),  # the name a suffix gives: it yields too
    ]
    for n, (name, created, deleted) in enumerate(rows):
        env = EnvironmentFactory(name=f"placeholder {n}", slug=f"dup-{n}", created_at=created)
        # The names as they were before the constraint: the keys differ until the migration
        # folds them (an update, so save() does not fold them first).
        Environment.objects.filter(pk=env.pk).update(
            name=name, name_key=f"before {n}", deleted_at=deleted
        )
    migration.fill_and_rename(django_apps, None)
    names = dict(Environment.objects.filter(slug__startswith="dup-").values_list("slug", "name"))
    assert names == {
        "dup-0": "Contoso Sales",
        "dup-1": "contoso  sales (2)",
        "dup-2": "CONTOSO SALES (3)",
        "dup-3": "Contoso Sales",
        "dup-4": "Contoso Sales (2) (2)",
    }
    for env in Environment.objects.all():
        assert env.name_key == fold_name(env.name)
