"""Restore, copy and undo pages in the admin's words: a copy is called a copy wherever its
undo shows, the restore panel never calls a new sandbox an "environment to overwrite", its
confirmation names every change it makes, an outcome is one badge, and a restore that ends
while the environment page is drawn reads the same in every part of that page."""

import html
import re

import pytest
from django.db import connection
from django.urls import reverse

from backups import copies, restores
from backups.models import RestoreOperation
from environments.models import Environment
from portal.audit import audit_record
from tests.factories import ago

pytestmark = pytest.mark.usefixtures("clock")
HTMX = {"HTTP_HX_REQUEST": "true"}


def _words(content: bytes) -> str:
    """A page's text as read: tags out, spaces folded."""
    text = re.sub(r"<[^>]+>", " ", content.decode())
    return re.sub(r"\s+", " ", html.unescape(text))


@pytest.fixture
def copied(admin, source, target, django_capture_on_commit_callbacks):
    Environment.objects.filter(pk=target.pk).update(region=source.region)
    target.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        op = copies.copy_start(source=source, target=target, requested_by=admin)
    op.refresh_from_db()
    assert op.status == "succeeded"
    return op


class TestUndoOfACopy:
    def test_its_dialog_says_copy_and_never_restore(self, client_admin, copied):
        url = reverse("backups:undo", args=[copied.pk])
        for page in (client_admin.get(url), client_admin.get(url, **HTMX)):
            dialog = _words(page.content)
            dialog = dialog[dialog.index("Undo the copy of Contoso Test?") :]
            assert f"just before copy #{copied.pk} overwrote it" in dialog
            assert f"The data copy #{copied.pk} brought in will be replaced" in dialog
            assert "as it was before the copy." in dialog
            assert "Undo copy of Contoso Test" in dialog
            assert "restore" not in dialog.lower()
        assert "<title>Undo copy · Contoso Test" in client_admin.get(url).content.decode()

    def test_once_started_every_sentence_about_it_says_copy(
        self, client_admin, copied, target, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            done = client_admin.post(
                reverse("backups:undo", args=[copied.pk]),
                {"confirm_name": "Contoso Test"},
                follow=True,
            )
        text = _words(done.content)
        assert "Undo of the copy of Contoso Test started." in text
        assert f"Undo of copy #{copied.pk}: Contoso Test back to Nov 20, 2026" in text
        assert f"Undo of copy #{copied.pk} of Contoso Test: back to Nov 20, 2026" in text
        assert "Undo of restore" not in text and "the restore of" not in text
        # An undo puts the environment back to a moment of its own: never "from" itself.
        assert "from Contoso Test" not in text
        undo = RestoreOperation.objects.get(undo_of=copied)
        page = _words(client_admin.get(reverse("backups:operation", args=[undo.pk])).content)
        assert f"Undo of copy #{copied.pk} of Contoso Test" in page
        assert "restore of" not in page

    def test_the_backup_made_before_it_links_to_it_as_a_copy(self, client_admin, copied, target):
        page = client_admin.get(reverse("backups:manual", args=[target.slug])).content.decode()
        assert f"copy #{copied.pk}</a>" in page and f"restore #{copied.pk}" not in page

    def test_an_undo_it_can_no_longer_have_says_copy(self, client_admin, copied):
        copied.pre_restore_backup.delete()
        dialog = _words(client_admin.get(reverse("backups:undo", args=[copied.pk])).content)
        assert "The moment before this copy is no longer kept, so it cannot be undone." in dialog


def test_a_failed_copy_into_a_new_sandbox_offers_to_copy_again(
    client_admin, admin, source, monkeypatch, django_capture_on_commit_callbacks
):
    from backups import engine

    monkeypatch.setattr(engine, "after_table_copied", lambda op, table: 1 / 0)
    new = {"name": "Contoso Copy", "slug": "contoso-copy", "security_group": ""}
    with django_capture_on_commit_callbacks(execute=True):
        op = copies.copy_start(source=source, requested_by=admin, new=new)
    op.refresh_from_db()
    assert op.status == "failed" and op.target_removed
    page = _words(client_admin.get(reverse("backups:operation", args=[op.pk])).content)
    assert "The copy of Contoso Copy failed." in page
    assert "Copy Contoso Prod into a new sandbox again" in page
    assert "Restore Contoso Prod into a new sandbox" not in page


class TestRestorePanel:
    @pytest.fixture
    def pick(self):
        return f"at:{ago(days=1).isoformat()}"

    def test_the_target_list_is_restore_to_since_it_offers_a_new_sandbox(
        self, client_admin, source, target, pick
    ):
        page = client_admin.get(reverse("backups:restore", args=[source.slug]), {"pick": pick})
        text = page.content.decode()
        assert '<label for="id_target">Restore to' in text
        assert "A new sandbox environment" in text
        assert "Environment to overwrite" not in text

    @pytest.mark.parametrize("htmx", [HTMX, {}], ids=["htmx", "no-js"])
    def test_the_confirmation_names_the_new_name_and_the_new_security_group(
        self, client_admin, source, target, pick, htmx
    ):
        form = {
            "pick": pick,
            "target": target.slug,
            "idempotency_key": "k1",
            "new_name": "Contoso QA",
            "security_group": "QA team",
            "step": "review",
        }
        url = reverse("backups:restore", args=[source.slug])
        dialog = _words(client_admin.post(url, form, **htmx).content)
        assert "It will be renamed from “Contoso Test” to “Contoso QA”." in dialog
        assert "Its security group will change from Testers to QA team." in dialog
        # A wrong name typed: the dialog again, still naming both changes.
        wrong = {**form, "step": "confirm", "confirm_name": "nope"}
        dialog = _words(client_admin.post(url, wrong, **htmx).content)
        assert "Type Contoso Test exactly to confirm" in dialog
        assert "renamed from “Contoso Test” to “Contoso QA”" in dialog
        assert "security group will change from Testers to QA team" in dialog
        assert not RestoreOperation.objects.exists()

    def test_the_confirmation_names_no_change_that_is_not_made(
        self, client_admin, source, target, pick
    ):
        form = {
            "pick": pick,
            "target": target.slug,
            "idempotency_key": "k2",
            "new_name": "",
            "security_group": "Testers",  # the group it has: kept, not a change
            "step": "review",
        }
        url = reverse("backups:restore", args=[source.slug])
        dialog = _words(client_admin.post(url, form, **HTMX).content)
        assert "Overwrite Contoso Test?" in dialog
        assert "renamed" not in dialog and "security group" not in dialog


class TestEnvironmentPage:
    def test_every_outcome_is_the_same_badge(
        self, client_admin, admin, source, target, run_restore
    ):
        op = run_restore(source=source, target=target, moment=ago(days=1), requested_by=admin)
        audit_record(
            action="environment.delete",
            summary="Tried to delete Contoso Test",
            actor=admin,
            environment=target,
            outcome="refused",
        )
        page = client_admin.get(reverse("environments:detail", args=[target.slug]))
        text = page.content.decode()
        assert '<span class="state state-refused">Refused</span>' in text
        assert '<span class="state state-succeeded">Succeeded</span>' in text
        recent = text[text.index('id="restores-heading"') :]
        assert '<span class="state state-succeeded">Succeeded</span>' in recent
        assert op.status == "succeeded"

    def test_a_restore_ending_while_the_page_is_drawn_reads_the_same_everywhere(
        self, client_admin, admin, source, target
    ):
        op = restores.restore_start(
            restores.RestoreRequest(
                source=source, target=target, moment=ago(days=1), requested_by=admin
            )
        )
        RestoreOperation.objects.filter(pk=op.pk).update(status="running", phase="preparing")
        finished = []

        def worker_finishes_after_the_first_read(execute, sql, params, many, context):
            # The worker ends the restore right after the page first reads it.
            result = execute(sql, params, many, context)
            if not finished and "backups_restoreoperation" in sql and sql.startswith("SELECT"):
                finished.append(True)
                with connection.cursor() as cursor:
                    cursor.execute(
                        "UPDATE backups_restoreoperation SET status = 'succeeded', "
                        "phase = 'done' WHERE id = %s",
                        [op.pk],
                    )
            return result

        with connection.execute_wrapper(worker_finishes_after_the_first_read):
            page = client_admin.get(reverse("environments:detail", args=[target.slug]))
        assert finished
        text = page.content.decode()
        # The page read the restore as running: it says so everywhere, and polls for the end.
        assert "Preparing" in text and "Restoring Contoso Test" in text
        restores_card = text[
            text.index('id="restores-heading"') : text.index('id="events-heading"')
        ]
        assert '<span class="state state-running">Running</span>' in restores_card
        assert "Succeeded" not in restores_card
        queued = next(row for row in text.split("<tr>") if "queued" in row)
        assert '<span class="state state-running">Running</span>' in queued

    def test_a_restore_from_its_own_past_never_names_the_environment_as_its_source(
        self, client_admin, admin, target, run_restore, clock
    ):
        op = run_restore(source=target, target=target, moment=ago(days=1), requested_by=admin)
        text = _words(client_admin.get(reverse("environments:detail", args=[target.slug])).content)
        assert "Contoso Test from its own data at " in text  # Recent restores
        assert "Restore of Contoso Test from its own data at " in text  # Recent operations
        assert "Restored Contoso Test from its own data at " in text
        assert "from Contoso Test" not in text
        page = _words(client_admin.get(reverse("backups:operation", args=[op.pk])).content)
        assert "Contoso Test was restored from its own data as it was at " in page
