import datetime

import pytest

from backups import services
from backups.models import ManualBackup
from tests.api.conftest import assert_error
from tests.factories import NOW, EnvironmentFactory, ago

pytestmark = pytest.mark.usefixtures("clock")


@pytest.fixture
def checkpoint(source, global_admin):
    return services.backup_create(
        environment=source, label="Checkpoint", notes="before deploy", actor=global_admin
    )


def test_it_lists_the_system_window_and_the_manual_backups(api, source, checkpoint):
    body = api.get("/environments/contoso-prod/backups").json()
    assert body["environmentId"] == source.pk
    assert body["systemWindow"] == {
        "startDateTime": "2026-10-23T12:00:00Z",
        "endDateTime": "2026-11-20T12:00:00Z",
        "retentionDays": 28,
    }
    assert body["manualBackups"] == [
        {
            "id": checkpoint.pk,
            "label": "Checkpoint",
            "notes": "before deploy",
            "kind": "manual",
            "backupPointDateTime": "2026-11-20T12:00:00Z",
            "backupExpiryDateTime": "2026-12-18T12:00:00Z",
            "createdBy": "global",
        }
    ]


def test_expired_backups_are_not_listed(api, source, checkpoint):
    ManualBackup.objects.filter(pk=checkpoint.pk).update(expires_at=ago(seconds=1))
    assert api.get("/environments/contoso-prod/backups").json()["manualBackups"] == []


def test_it_creates_a_manual_backup(api, target):
    response = api.post(
        "/environments/contoso-test/backups", {"label": "  Before release ", "notes": "v2"}
    )
    assert response.status_code == 201
    body = response.json()
    assert body["label"] == "Before release" and body["createdBy"] == "global"
    assert body["backupExpiryDateTime"] == "2026-11-27T12:00:00Z"
    assert ManualBackup.objects.get(pk=body["id"]).environment == target


def test_a_blank_label_is_refused_with_its_field(api, target):
    assert_error(
        api.post("/environments/contoso-test/backups", {"label": "  "}),
        422,
        "refused",
        field="label",
        match="Enter a label",
    )


def test_a_missing_label_is_400(api, target):
    assert_error(
        api.post("/environments/contoso-test/backups", {"notes": "x"}),
        400,
        "invalid",
        field="label",
    )


def test_a_trial_has_no_manual_backups(api, db):
    EnvironmentFactory(slug="trial-1", type="trial", created_at=ago(days=3))
    assert_error(
        api.post("/environments/trial-1/backups", {"label": "x"}),
        422,
        "refused",
        field="environment",
        match="no manual backups",
    )


def test_backing_up_a_restoring_environment_is_a_409(api, target):
    target.state = "restoring"
    target.save()
    assert_error(api.post("/environments/contoso-test/backups", {"label": "x"}), 409, "conflict")


def test_it_updates_label_and_notes(api, source, checkpoint):
    path = f"/environments/contoso-prod/backups/{checkpoint.pk}"
    assert api.patch(path, {"notes": "after all"}).json()["label"] == "Checkpoint"
    body = api.patch(path, {"label": "Renamed"}).json()
    assert (body["label"], body["notes"]) == ("Renamed", "after all")


def test_an_update_that_breaks_a_rule_is_422(api, source, checkpoint):
    assert_error(
        api.patch(f"/environments/contoso-prod/backups/{checkpoint.pk}", {"label": "x" * 101}),
        422,
        "refused",
        field="label",
    )


def test_it_deletes_a_manual_backup(api, source, checkpoint):
    response = api.delete(f"/environments/contoso-prod/backups/{checkpoint.pk}")
    assert response.status_code == 204 and not ManualBackup.objects.exists()
    assert_error(
        api.delete(f"/environments/contoso-prod/backups/{checkpoint.pk}"), 404, "not_found"
    )


def test_a_backup_of_another_environment_is_404(api, source, target, checkpoint):
    assert_error(
        api.patch(f"/environments/contoso-test/backups/{checkpoint.pk}", {"label": "x"}),
        404,
        "not_found",
    )


def test_someone_who_does_not_manage_the_environment_cannot_touch_its_backups(
    api_as, env_admin, source, target, checkpoint
):
    api = api_as(env_admin)
    assert_error(api.get("/environments/contoso-prod/backups"), 404, "not_found")
    assert_error(
        api.delete(f"/environments/contoso-prod/backups/{checkpoint.pk}"), 404, "not_found"
    )
    assert ManualBackup.objects.filter(pk=checkpoint.pk).exists()


def test_candidates_for_a_moment_in_the_window(api, source, checkpoint):
    body = api.get(
        "/environments/contoso-prod/restore-candidates", params={"at": "2026-11-19T10:30:00+01:00"}
    ).json()
    assert body["exact"] is True and body["reason"] == ""
    assert body["requestedDateTime"] == "2026-11-19T09:30:00Z"
    first = body["candidates"][0]
    assert first == {
        "restorePointDateTime": "2026-11-19T09:30:00Z",
        "kind": "point_in_time",
        "label": "The moment you chose",
        "backupId": None,
    }
    assert {c["kind"] for c in body["candidates"]} >= {"system", "manual"}


def test_candidates_say_why_a_moment_is_not_available(api, source):
    future = (NOW + datetime.timedelta(days=1)).isoformat()
    body = api.get("/environments/contoso-prod/restore-candidates", params={"at": future}).json()
    assert body["exact"] is False and "future" in body["reason"]


@pytest.mark.parametrize("params", [{}, {"at": "yesterday"}, {"at": "2026-11-19T10:30:00"}])
def test_candidates_need_an_iso_moment_with_an_offset(api, source, params):
    assert_error(
        api.get("/environments/contoso-prod/restore-candidates", params=params),
        400,
        "invalid",
        field="at",
    )
