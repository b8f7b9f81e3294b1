"""The exports API: ask for an export, list and read them, download (resumable), verify, the
export schedule, and restore from a file (an upload or a stored archive). Refusals are a 4xx
with the message and change nothing."""

import base64
import hashlib
import io

import pytest

from backups import archive_storage, exports, imports, services
from backups.models import ArchiveImport, Export, ExportSchedule
from environments import store
from environments.models import Environment
from portal.models import AuditEvent
from tests.api.conftest import assert_error
from tests.exports.test_round_trip import tampered
from tests.factories import EnvironmentFactory, ago

pytestmark = pytest.mark.usefixtures("clock")

# The storage branch's archive_storage answers Range, ETag and Repr-Digest; the filesystem
# stand-in this branch starts from streams the whole file only.
RANGES = hasattr(archive_storage, "SINGLE_RANGE")
needs_ranges = pytest.mark.skipif(not RANGES, reason="the archive_storage stand-in has no Range")


@pytest.fixture(autouse=True)
def _archives_in_tmp(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "backups": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "backups")},
        },
    }


@pytest.fixture
def done(source, admin, django_capture_on_commit_callbacks) -> Export:
    """An export of contoso-prod as it is now, written."""
    with django_capture_on_commit_callbacks(execute=True):
        export = exports.export_start(environment=source, requested_by=admin)
    export.refresh_from_db()
    assert export.status == Export.Status.SUCCEEDED, export.error
    return export


def archive_bytes(export: Export) -> bytes:
    return b"".join(archive_storage.read_chunks(export.file_name))


def counts():
    return (
        Export.objects.count(),
        ArchiveImport.objects.count(),
        Environment.objects.count(),
        ExportSchedule.objects.count(),
        len(archive_storage.listed()),
    )


# -- asking for an export ------------------------------------------------------------------------


def test_an_export_is_queued_and_written_by_the_worker(api, source, run_on_commit):
    response = run_on_commit(api.post, "/environments/contoso-prod/exports", {})
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "queued" and body["environment"] == "contoso-prod"
    assert body["restorePointDateTime"] == "2026-11-20T12:00:00Z"
    assert response["Location"] == f"/api/v1/exports/{body['id']}"

    got = api.get(f"/exports/{body['id']}").json()
    assert got["status"] == "succeeded" and got["percentComplete"] == 100
    assert got["rows"] == 3 and got["tablesTotal"] == 2
    assert got["fileName"].endswith(".tar") and got["size"] == archive_storage.size(got["fileName"])
    assert len(got["sha256"]) == 64 and got["verifiedOk"] is None and not got["verifying"]
    assert got["downloadUrl"] == f"/api/v1/exports/{body['id']}/download"
    assert got["requestedBy"] == "global"


def test_an_export_at_a_moment_or_at_a_manual_backup(api, source, admin, clock):
    moment = ago(days=1, hours=12)
    response = api.post(
        "/environments/contoso-prod/exports", {"restorePointDateTime": moment.isoformat()}
    )
    assert response.status_code == 202, response.content
    assert response.json()["restorePointDateTime"] == "2026-11-19T00:00:00Z"

    clock.move_to(ago(hours=3))
    backup = services.backup_create(environment=source, label="Before", actor=admin)
    clock.move_to(ago(seconds=0))
    response = api.post("/environments/contoso-prod/exports", {"backupId": backup.pk})
    assert response.status_code == 202, response.content
    assert response.json()["backupId"] == backup.pk
    assert response.json()["restorePointDateTime"] == "2026-11-20T09:00:00Z"


def test_the_same_idempotency_key_gives_the_same_export(api, source):
    first = api.post("/environments/contoso-prod/exports", {}, headers={"Idempotency-Key": "k1"})
    again = api.post("/environments/contoso-prod/exports", {}, headers={"Idempotency-Key": "k1"})
    assert first.json()["id"] == again.json()["id"]
    assert Export.objects.count() == 1


def test_refusals_say_why_and_change_nothing(api, source, admin):
    trial = EnvironmentFactory(name="Trial", slug="a-trial", type="trial")
    before = counts()
    outside = ago(days=60).isoformat()
    assert_error(
        api.post("/environments/contoso-prod/exports", {"restorePointDateTime": outside}),
        422,
        "refused",
        field="restorePointDateTime",
    )
    backup = services.backup_create(environment=source, label="B", actor=admin)
    both = {"restorePointDateTime": ago(hours=1).isoformat(), "backupId": backup.pk}
    assert_error(
        api.post("/environments/contoso-prod/exports", both),
        422,
        "refused",
        field="backupId",
        match="not both",
    )
    assert_error(
        api.post("/environments/contoso-prod/exports", {"backupId": backup.pk + 1}),
        404,
        "not_found",
    )
    assert_error(
        api.post("/environments/contoso-prod/exports", {"moment": None}),
        400,
        "invalid",
        field="restorePointDateTime",  # the service's name for it, as the API says it
    )
    assert_error(api.post("/environments/nowhere/exports", {}), 404, "not_found")
    assert_error(
        api.post(f"/environments/{trial.slug}/exports", {}),
        422,
        "refused",
        field="restorePointDateTime",
        match="not backed up",
    )
    assert counts() == before


@pytest.mark.parametrize("who", ["maker", "outsider"])
def test_a_maker_or_an_outsider_cannot_export(api_as, request, sandbox, who):
    user = request.getfixturevalue(who)
    before = counts()
    response = api_as(user).post(f"/environments/{sandbox.slug}/exports", {})
    assert_error(response, 403, "forbidden")
    assert counts() == before


def test_an_environment_admin_exports_their_environment_only(api_as, env_admin, sandbox, source):
    api = api_as(env_admin)
    assert api.post(f"/environments/{sandbox.slug}/exports", {}).status_code == 202
    assert_error(api.post("/environments/contoso-prod/exports", {}), 404, "not_found")


# -- reading them ------------------------------------------------------------------------------


def test_the_list_is_newest_first_a_page_at_a_time(api, source, admin):
    made = [exports.export_start(environment=source, requested_by=admin).pk for _ in range(3)]
    first = api.get("/environments/contoso-prod/exports", params={"limit": 2}).json()
    assert [e["id"] for e in first["exports"]] == made[::-1][:2]
    assert first["next"] == made[1]
    rest = api.get(
        "/environments/contoso-prod/exports", params={"limit": 2, "after": first["next"]}
    ).json()
    assert [e["id"] for e in rest["exports"]] == [made[0]] and rest["next"] is None


def test_others_cannot_read_the_exports(api_as, done, env_admin, maker, source, sandbox):
    assert_error(api_as(env_admin).get(f"/exports/{done.pk}"), 404, "not_found")
    assert_error(api_as(env_admin).get("/environments/contoso-prod/exports"), 404, "not_found")
    assert_error(api_as(maker).get(f"/exports/{done.pk}"), 403, "forbidden")
    assert_error(api_as(maker).get(f"/exports/{done.pk}/download"), 403, "forbidden")


def test_an_unknown_export_is_404(api, db):
    assert_error(api.get("/exports/999"), 404, "not_found")


# -- download ----------------------------------------------------------------------------------


def test_the_download_is_the_archive(api, done):
    response = api.get(f"/exports/{done.pk}/download")
    assert response.status_code == 200
    data = b"".join(response.streaming_content)
    assert data == archive_bytes(done)
    assert len(data) == done.size and hashlib.sha256(data).hexdigest() == done.sha256
    assert done.download_name in response["Content-Disposition"]


@needs_ranges
def test_the_download_has_its_checksum_and_resumes_with_range(api, done):
    data = archive_bytes(done)
    whole = api.get(f"/exports/{done.pk}/download")
    assert whole["ETag"] == f'"{done.sha256}"'
    assert whole["Content-Length"] == str(done.size)
    digest = base64.b64encode(bytes.fromhex(done.sha256)).decode()
    assert whole["Repr-Digest"] == f"sha-256=:{digest}:"
    assert whole["Accept-Ranges"] == "bytes"

    part = api.get(f"/exports/{done.pk}/download", HTTP_RANGE="bytes=1000-")
    assert part.status_code == 206
    assert part["Content-Range"] == f"bytes 1000-{done.size - 1}/{done.size}"
    assert data[:1000] + b"".join(part.streaming_content) == data
    stale = api.get(
        f"/exports/{done.pk}/download", HTTP_RANGE="bytes=1000-", HTTP_IF_RANGE='"other"'
    )
    assert stale.status_code == 200
    past = api.get(f"/exports/{done.pk}/download", HTTP_RANGE=f"bytes={done.size + 5}-")
    assert past.status_code == 416


def test_an_export_not_done_has_nothing_to_download(api, source, admin):
    queued = exports.export_start(environment=source, requested_by=admin)
    assert_error(
        api.get(f"/exports/{queued.pk}/download"), 409, "conflict", match="no archive to download"
    )


# -- verify ------------------------------------------------------------------------------------


def test_verify_is_queued_then_recorded(api, done, run_on_commit):
    response = run_on_commit(api.post, f"/exports/{done.pk}/verify")
    assert response.status_code == 202, response.content
    assert response.json()["verifying"] is True
    got = api.get(f"/exports/{done.pk}").json()
    assert got["verifiedOk"] is True and got["verifyError"] == "" and not got["verifying"]
    assert got["verifiedDateTime"] == "2026-11-20T12:00:00Z"


def test_verify_finds_a_damaged_archive(api, done, run_on_commit, tmp_path):
    damaged = tmp_path / "damaged.tar"
    damaged.write_bytes(tampered("one byte of a part", archive_bytes(done)))
    archive_storage.delete(done.file_name)
    archive_storage.save(done.file_name, damaged)
    run_on_commit(api.post, f"/exports/{done.pk}/verify")
    got = api.get(f"/exports/{done.pk}").json()
    assert got["verifiedOk"] is False and got["verifyError"]


def test_verify_refusals(api, api_as, done, maker, source, admin):
    queued = exports.export_start(environment=source, requested_by=admin)
    assert_error(api.post(f"/exports/{queued.pk}/verify"), 422, "refused", match="no archive")
    assert_error(api_as(maker).post(f"/exports/{done.pk}/verify"), 403, "forbidden")
    done.refresh_from_db()
    assert done.verify_requested_at is None


# -- the schedule ------------------------------------------------------------------------------


def test_the_schedule_is_off_until_set(api, source):
    body = api.get("/environments/contoso-prod/export-schedule").json()
    assert body["frequency"] == "off" and body["description"] == "Off"
    assert body["nextRunDateTime"] is None and body["keep"] == 7


def test_setting_a_weekly_schedule(api, source):
    response = api.call(
        "PUT",
        "/environments/contoso-prod/export-schedule",
        {"frequency": "weekly", "hour": 3, "weekday": 0, "timeZone": "Europe/Paris", "keep": 4},
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["description"] == "Weekly on Mondays at 03:00 (Europe/Paris), keeping the last 4"
    # NOW is Friday 2026-11-20 12:00 UTC: next Monday 03:00 in Paris is 02:00 UTC.
    assert body["nextRunDateTime"] == "2026-11-23T02:00:00Z"
    assert body["lastFailureDateTime"] is None
    assert ExportSchedule.objects.get(environment=source).keep == 4
    assert api.get("/environments/contoso-prod/export-schedule").json() == body


@pytest.mark.parametrize(
    "change, field",
    [
        ({"hour": 24}, "hour"),
        ({"weekday": 7}, "weekday"),
        ({"keep": 0}, "keep"),
        ({"timeZone": "Mars/Olympus"}, "timeZone"),
    ],
)
def test_a_schedule_out_of_bounds_is_refused(api, source, change, field):
    response = api.call(
        "PUT", "/environments/contoso-prod/export-schedule", {"frequency": "daily", **change}
    )
    assert_error(response, 422, "refused", field=field)
    assert not ExportSchedule.objects.exists()


def test_a_schedule_refusals(api, api_as, maker, sandbox):
    dev = EnvironmentFactory(name="Dev", slug="dev", type="developer")
    response = api.call("PUT", f"/environments/{dev.slug}/export-schedule", {"frequency": "daily"})
    assert_error(response, 422, "refused", field="frequency", match="production and sandbox")
    assert_error(
        api.call("PUT", f"/environments/{sandbox.slug}/export-schedule", {"frequency": "hourly"}),
        400,
        "invalid",
        field="frequency",
    )
    response = api_as(maker).call(
        "PUT", f"/environments/{sandbox.slug}/export-schedule", {"frequency": "daily"}
    )
    assert_error(response, 403, "forbidden")
    assert not ExportSchedule.objects.exists()


# -- restore from a file -----------------------------------------------------------------------


def named(data: bytes, filename="archive.tar") -> io.BytesIO:
    file = io.BytesIO(data)
    file.name = filename
    return file


def upload(api, data: bytes, filename="archive.tar", **fields):
    form = {"name": "From file", "slug": "from-file", **fields, "file": named(data, filename)}
    return api.client.post(
        "/api/v1/imports", form, headers={"Authorization": f"Bearer {api.token}"}
    )


def test_an_uploaded_export_is_restored_into_a_new_sandbox(api, done, source, run_on_commit):
    response = run_on_commit(upload, api, archive_bytes(done))
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["targetEnvironment"] == "from-file" and body["sourceEnvironmentName"] == (
        "Contoso Prod"
    )
    assert response["Location"] == f"/api/v1/imports/{body['id']}"
    got = api.get(f"/imports/{body['id']}").json()
    assert got["status"] == "succeeded" and got["phase"] == "done", got["error"]
    assert got["percentComplete"] == 100 and got["rowsDone"] == 3
    new = Environment.objects.get(slug="from-file")
    assert new.type == "sandbox" and new.region == source.region
    assert store.current(new).as_dict() == store.current(source).as_dict()
    assert got["fileName"].startswith("uploads/")


DAMAGED = ["truncated", "one byte of a part", "a part missing", "the manifest edited"]


@pytest.mark.parametrize("kind", ["a newer format", "not an archive", *DAMAGED])
def test_a_damaged_upload_is_refused_and_nothing_is_made(api, done, kind):
    """An archive up to imports.CHECK_AT_REQUEST_BYTES is checked whole at the request."""
    data = tampered(kind, archive_bytes(done))
    before = counts()
    body = assert_error(upload(api, data), 422, "refused", field="file")
    assert body["message"]
    assert counts() == before  # nor is the upload kept in the storage


@pytest.mark.parametrize("kind", DAMAGED)
def test_a_large_damaged_upload_fails_in_the_workers_check(
    api, done, run_on_commit, kind, monkeypatch
):
    """Above CHECK_AT_REQUEST_BYTES the request reads the manifest only; the worker reads the
    whole file before loading anything, and a failure removes the new sandbox (its URL name
    free again)."""
    monkeypatch.setattr(imports, "CHECK_AT_REQUEST_BYTES", 0)
    response = run_on_commit(upload, api, tampered(kind, archive_bytes(done)))
    assert response.status_code == 202, response.content
    got = api.get(f"/imports/{response.json()['id']}").json()
    assert got["status"] == "failed" and got["phase"] == "failed"
    assert "Nothing was restored" in got["error"] and "is free again" in got["error"]
    assert not Environment.objects.filter(slug="from-file").exists()


def test_a_stored_archive_is_named_by_its_name(api, done, run_on_commit):
    listed = api.get("/archives").json()
    assert listed == [{"name": done.file_name, "size": done.size}]
    response = run_on_commit(
        api.post,
        "/imports",
        {"fileName": done.file_name, "name": "Again", "slug": "again", "region": "europe"},
    )
    assert response.status_code == 202, response.content
    assert api.get(f"/imports/{response.json()['id']}").json()["status"] == "succeeded"
    assert Environment.objects.get(slug="again").region == "europe"


def test_restore_from_a_file_refusals(api, done):
    before = counts()
    base = {"name": "Again", "slug": "again"}
    assert_error(
        api.post("/imports", {**base, "fileName": "exports/none.tar"}),
        422,
        "refused",
        field="fileName",
        match="There is no archive",
    )
    assert_error(
        api.post("/imports", {**base, "fileName": done.file_name, "slug": "contoso-prod"}),
        422,
        "refused",
        field="slug",
        match="is taken",
    )
    assert_error(api.post("/imports", {**base, "file": "x"}), 400, "invalid", field="fileName")
    assert_error(upload(api, archive_bytes(done), slug="Not A Slug"), 422, "refused", field="slug")
    response = api.client.post(
        "/api/v1/imports",
        "x",
        content_type="text/plain",
        headers={"Authorization": f"Bearer {api.token}"},
    )
    assert_error(response, 400, "invalid", match="multipart")
    assert counts() == before


def test_an_upload_above_the_limit_is_refused(api, done, settings):
    settings.ARCHIVE_UPLOAD_MAX_MB = 0
    before = counts()
    assert_error(upload(api, archive_bytes(done)), 422, "refused", field="file", match="larger")
    assert counts() == before


def test_only_tenant_admins_restore_from_a_file(api_as, done, env_admin, maker):
    before = counts()
    for user in (env_admin, maker):
        assert_error(upload(api_as(user), archive_bytes(done)), 403, "forbidden")
        assert_error(api_as(user).get("/archives"), 403, "forbidden")
    assert counts() == before


def test_the_same_idempotency_key_keeps_one_upload(api, done, run_on_commit):
    def twice():
        return [
            api.client.post(
                "/api/v1/imports",
                {
                    "name": "Once",
                    "slug": "once",
                    "file": named(archive_bytes(done)),
                },
                headers={"Authorization": f"Bearer {api.token}", "Idempotency-Key": "u1"},
            )
            for _ in range(2)
        ]

    first, again = twice()
    assert first.json()["id"] == again.json()["id"]
    assert len(imports.stored_archives()) == 2  # the export and one upload
    assert ArchiveImport.objects.count() == 1


def test_an_unknown_import_is_404(api, api_as, maker, db):
    assert_error(api.get("/imports/999"), 404, "not_found")
    assert_error(api_as(maker).get("/imports/999"), 403, "forbidden")


def test_every_call_is_in_the_audit_log(api, source, run_on_commit):
    run_on_commit(api.post, "/environments/contoso-prod/exports", {})
    assert AuditEvent.objects.filter(action="export.queue").count() == 1
