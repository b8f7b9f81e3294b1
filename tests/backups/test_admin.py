"""The Django admin for support staff: see everything, run the safe actions, edit nothing."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from backups import engine, restores
from backups.models import RestoreOperation
from environments import store
from tests.factories import ago

pytestmark = pytest.mark.usefixtures("clock")


@pytest.fixture
def failed(admin, source, target, run_restore, monkeypatch):
    monkeypatch.setattr(
        engine, "after_table_copied", lambda op, t: (_ for _ in ()).throw(RuntimeError("boom"))
    )
    op = run_restore(source=source, target=target, moment=ago(days=1), requested_by=admin)
    monkeypatch.setattr(engine, "after_table_copied", lambda op, t: None)
    return op


@pytest.mark.parametrize(
    "name",
    [
        "backups_restoreoperation_changelist",
        "backups_manualbackup_changelist",
        "portal_auditevent_changelist",
        "environments_environment_changelist",
        "environments_datatable_changelist",
    ],
)
def test_support_staff_see_every_list(client, staff, failed, name):
    client.force_login(staff)
    assert client.get(reverse(f"admin:{name}")).status_code == 200


def test_restore_operations_filter_by_status_and_search_by_environment(client, staff, failed):
    client.force_login(staff)
    url = reverse("admin:backups_restoreoperation_changelist")
    assert client.get(url, {"status__exact": "failed"}).context["cl"].result_count == 1
    assert client.get(url, {"status__exact": "succeeded"}).context["cl"].result_count == 0
    assert client.get(url, {"q": "contoso-test"}).context["cl"].result_count == 1


def test_support_staff_cannot_edit_history(client, staff, failed):
    client.force_login(staff)
    change = reverse("admin:backups_restoreoperation_change", args=[failed.pk])
    response = client.post(change, {"status": "succeeded"})
    assert response.status_code == 403
    failed.refresh_from_db()
    assert failed.status == "failed"
    delete = reverse("admin:backups_restoreoperation_delete", args=[failed.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403


def test_support_staff_retry_a_failed_restore(
    client, staff, failed, django_capture_on_commit_callbacks
):
    client.force_login(staff)
    url = reverse("admin:backups_restoreoperation_changelist")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            url, {"action": "retry_failed", "_selected_action": [failed.pk]}, follow=True
        )
    assert b"queued again" in response.content
    retry = RestoreOperation.objects.get(retry_of=failed)
    assert retry.status == "succeeded"


def test_support_staff_mark_a_stale_restore_failed(client, staff, admin, source, target):
    op = restores.restore_start(
        restores.RestoreRequest(
            source=source, target=target, moment=ago(days=1), requested_by=admin
        )
    )
    client.force_login(staff)
    url = reverse("admin:backups_restoreoperation_changelist")
    client.post(url, {"action": "mark_stale_failed", "_selected_action": [op.pk]})
    op.refresh_from_db()
    target.refresh_from_db()
    assert op.status == "failed" and target.state == "ready"


def test_staff_without_the_group_get_no_actions(client, support, failed):
    client.force_login(support)
    url = reverse("admin:backups_restoreoperation_changelist")
    assert client.get(url).status_code == 403


def test_a_tables_row_versions_page_counts_from_the_stored_figures(client, staff, source):
    table = store.current(source).table("accounts")
    client.force_login(staff)
    url = reverse("admin:environments_datatable_versions", args=[table.pk])
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    assert "5 versions" in response.text  # a, b (twice), c, and a's deletion (a tombstone)
    assert not [q for q in queries if "COUNT(" in q["sql"] and "rowversion" in q["sql"]]
    assert client.get(url, {"key": "b"}).context["page"].paginator.count == 2


def test_the_tables_list_says_what_a_restored_table_reads_and_how_far_flattening_got(
    client, staff, admin, source, target, run_restore
):
    from environments import flatten

    op = run_restore(source=source, target=target, moment=ago(minutes=1), requested_by=admin)
    assert op.status == "succeeded"
    accounts = store.current(target).table("accounts")
    client.force_login(staff)
    url = reverse("admin:environments_datatable_changelist")
    text = client.get(url, {"generation__environment": target.pk}).text
    assert "Accounts of Contoso Prod as of" in text
    assert "Not started (2 rows read from the base)" in text
    flatten.flatten_chunk(accounts.pk, rows=1)
    text = client.get(url, {"generation__environment": target.pk}).text
    assert "1 row copied, up to key b" in text
    flatten.flatten(accounts.pk)
    text = client.get(url, {"generation__environment": target.pk}).text
    assert "Flat" in text
