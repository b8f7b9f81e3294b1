"""Undo restore: it puts back everything the restore changed, asks for the same confirmation as
the restore, and the history keeps the names as they were."""

import html

import pytest
from django.urls import reverse

from backups import selectors, undos
from backups.models import RestoreOperation
from environments import services as env_services
from environments import store
from tests.factories import ago

pytestmark = pytest.mark.usefixtures("clock")
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def renamed(admin, source, target, run_restore):
    """A restore with Edit details: new name and security group; the target had admin mode
    off before."""
    assert not target.admin_mode
    return run_restore(
        source=source,
        target=target,
        moment=ago(days=1),
        requested_by=admin,
        new_name="Contoso Test R",
        security_group="Auditors",
    )


def undo_url(op):
    return reverse("backups:undo", kwargs={"pk": op.pk})


def test_undo_puts_back_the_name_the_security_group_and_the_administration_mode(
    admin, target, renamed, run_restore, django_capture_on_commit_callbacks
):
    target.refresh_from_db()
    assert (target.name, target.security_group, target.admin_mode) == (
        "Contoso Test R",
        "Auditors",
        True,
    )
    assert (renamed.before_name, renamed.before_security_group, renamed.before_admin_mode) == (
        "Contoso Test",
        "Testers",
        False,
    )
    with django_capture_on_commit_callbacks(execute=True):
        undo = undos.restore_undo(operation=renamed, actor=admin)
    undo.refresh_from_db()
    assert undo.status == RestoreOperation.Status.SUCCEEDED
    target.refresh_from_db()
    assert (target.name, target.security_group, target.admin_mode) == (
        "Contoso Test",
        "Testers",
        False,
    )


def test_undo_keeps_administration_mode_on_when_it_was_on_before(
    admin, source, target, run_restore, django_capture_on_commit_callbacks
):
    env_services.environment_set_admin_mode(environment=target, enabled=True, actor=admin)
    op = run_restore(source=source, target=target, moment=ago(days=1), requested_by=admin)
    with django_capture_on_commit_callbacks(execute=True):
        undos.restore_undo(operation=op, actor=admin)
    target.refresh_from_db()
    assert target.admin_mode


def test_history_keeps_the_names_as_they_were(client_admin, source, target, renamed):
    page = client_admin.get(reverse("environments:detail", kwargs={"slug": target.slug}))
    text = page.content.decode()
    assert "Contoso Test from Contoso Prod at" in text  # recent restores: the name of then
    assert "Restored Contoso Test from Contoso Prod" in text  # the audit line
    assert "renamed to Contoso Test R" in text
    assert "Contoso Test R was restored from" not in text
    assert renamed.target_name == "Contoso Test" and renamed.source_name == "Contoso Prod"


def test_a_self_restore_with_a_new_name_reads_as_it_happened(
    client_admin, admin, target, run_restore
):
    op = run_restore(
        source=target,
        target=target,
        moment=ago(days=1),
        requested_by=admin,
        new_name="Contoso Test R",
    )
    page = client_admin.get(reverse("backups:operation", kwargs={"pk": op.pk})).content.decode()
    # Named as it was then, and never as its own source (under either name).
    assert "Contoso Test was restored</strong> from its own data as it was at" in page
    assert "from Contoso Test" not in page


class TestConfirmation:
    def test_the_environment_page_opens_a_confirmation_not_an_immediate_undo(
        self, client_admin, target, renamed
    ):
        page = client_admin.get(reverse("environments:detail", kwargs={"slug": target.slug}))
        text = page.content.decode()
        assert f'hx-get="{undo_url(renamed)}"' in text and f'href="{undo_url(renamed)}"' in text
        assert f'action="{undo_url(renamed)}"' not in text  # no one-click POST form

    def test_the_dialog_says_what_will_be_replaced_and_asks_for_the_name(
        self, client_admin, target, renamed
    ):
        dialog = client_admin.get(undo_url(renamed), **HTMX).content.decode()
        assert "<html" not in dialog and "<dialog" in dialog
        assert "Undo the restore of Contoso Test R?" in dialog
        assert "Rows after undo" in dialog and "Leads" in dialog
        assert "Its name goes back to “Contoso Test”." in dialog
        assert "Its security group goes back to Testers." in dialog
        assert "Administration mode will be off" in dialog
        assert 'name="confirm_name"' in dialog
        page = client_admin.get(undo_url(renamed))
        assert b"<html" in page.content and b"Undo the restore of" in page.content

    @pytest.mark.parametrize("typed", ["", "contoso test r", "Contoso Test"])
    def test_a_wrong_name_changes_nothing(self, client_admin, target, renamed, typed):
        data_before = store.current(target).as_dict()
        response = client_admin.post(undo_url(renamed), {"confirm_name": typed}, **HTMX)
        assert response.status_code == 200  # htmx swaps the dialog with the message
        assert "<dialog" in response.content.decode()
        assert RestoreOperation.objects.count() == 1
        assert store.current(target).as_dict() == data_before

    def test_the_right_name_starts_the_undo(
        self, client_admin, target, renamed, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            response = client_admin.post(
                undo_url(renamed), {"confirm_name": "Contoso Test R"}, **HTMX
            )
        assert response.headers["HX-Redirect"] == reverse(
            "environments:detail", kwargs={"slug": target.slug}
        )
        assert RestoreOperation.objects.filter(undo_of=renamed).count() == 1

    def test_an_undo_that_is_no_longer_possible_says_why(
        self, client_admin, admin, source, target, renamed, run_restore
    ):
        run_restore(source=source, target=target, moment=ago(days=2), requested_by=admin)
        dialog = html.unescape(client_admin.get(undo_url(renamed), **HTMX).content.decode())
        assert "A later restore or copy replaced this one's data" in dialog
        assert 'name="confirm_name"' not in dialog


def test_undo_leaves_alone_what_the_restore_did_not_change(
    admin, source, target, run_restore, django_capture_on_commit_callbacks
):
    op = run_restore(source=source, target=target, moment=ago(days=1), requested_by=admin)
    target.refresh_from_db()
    target.name, target.security_group = "Renamed by hand", "Hand group"
    target.save(update_fields=["name", "security_group"])
    op.refresh_from_db()
    assert selectors.undo_changes(op) == selectors.UndoChanges(
        name=None, security_group=None, admin_mode=False
    )
    with django_capture_on_commit_callbacks(execute=True):
        undos.restore_undo(operation=op, actor=admin)
    target.refresh_from_db()
    assert (target.name, target.security_group) == ("Renamed by hand", "Hand group")


def test_a_failed_undo_can_be_asked_for_again_from_the_page(
    client_admin, admin, target, renamed, monkeypatch, django_capture_on_commit_callbacks
):
    from backups import engine

    def broken(operation, table):
        raise RuntimeError("disk full")

    monkeypatch.setattr(engine, "after_table_copied", broken)
    with django_capture_on_commit_callbacks(execute=True):
        client_admin.post(
            undo_url(renamed), {"confirm_name": "Contoso Test R", "idempotency_key": "dialog-1"}
        )
    failed = RestoreOperation.objects.get(undo_of=renamed)
    assert failed.status == "failed"
    monkeypatch.undo()
    # The same dialog sent twice is one request; a new dialog is a new undo.
    with django_capture_on_commit_callbacks(execute=True):
        client_admin.post(
            undo_url(renamed), {"confirm_name": "Contoso Test R", "idempotency_key": "dialog-1"}
        )
    assert RestoreOperation.objects.filter(undo_of=renamed).count() == 1
    with django_capture_on_commit_callbacks(execute=True):
        client_admin.post(
            undo_url(renamed), {"confirm_name": "Contoso Test R", "idempotency_key": "dialog-2"}
        )
    again = RestoreOperation.objects.filter(undo_of=renamed).exclude(pk=failed.pk).get()
    assert again.status == "succeeded"
    target.refresh_from_db()
    assert target.name == "Contoso Test"


def test_a_failed_undo_can_be_asked_for_again_through_the_api(
    admin, target, renamed, monkeypatch, django_capture_on_commit_callbacks, client
):
    from backups import engine

    client.force_login(admin)
    url = f"/api/v1/operations/{renamed.pk}/undo"
    monkeypatch.setattr(
        engine,
        "after_table_copied",
        lambda operation, table: (_ for _ in ()).throw(RuntimeError("boom")),
    )
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post(url, content_type="application/json")
    assert first.status_code == 202 and first.json()["status"] == "queued"
    assert RestoreOperation.objects.get(pk=first.json()["id"]).status == "failed"
    monkeypatch.undo()
    with django_capture_on_commit_callbacks(execute=True):
        second = client.post(url, content_type="application/json")
    assert second.status_code == 202 and second.json()["id"] != first.json()["id"]
    assert RestoreOperation.objects.get(pk=second.json()["id"]).status == "succeeded"


def test_an_undo_over_a_target_now_production_is_refused_before_the_dialog(
    client_admin, admin, target, renamed
):
    env_services.environment_change_type(environment=target, new_type="production", actor=admin)
    dialog = html.unescape(client_admin.get(undo_url(renamed), **HTMX).content.decode())
    assert "only sandbox environments can be restored to" in dialog
    assert 'name="confirm_name"' not in dialog and "Rows after undo" not in dialog
    assert not selectors.undo_possible(renamed)
