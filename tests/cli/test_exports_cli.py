"""manage.py backups export|exports|download|verify|schedule|restore-file: exit 0 done, 1
refused or failed (the reason on stderr, nothing changed), 2 bad usage."""

import hashlib
import re

import pytest

from backups import archive_storage, exports, services
from backups.models import ArchiveImport, Export, ExportSchedule
from environments import store
from environments.models import Environment
from tests.cli.conftest import manage
from tests.exports.test_round_trip import tampered
from tests.factories import EnvironmentFactory, UserFactory, ago, build_history


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
def tasks(django_capture_on_commit_callbacks):
    """Run what the command queues (the immediate backend), as a worker would."""

    def _run(run, *args):
        with django_capture_on_commit_callbacks(execute=True):
            return run(*args)

    return _run


@pytest.fixture
def done(clock, source, global_admin, django_capture_on_commit_callbacks, tmp_path) -> Export:
    """An export of contoso-prod, written; its archive also kept aside as tmp_path/kept.tar."""
    with django_capture_on_commit_callbacks(execute=True):
        export = exports.export_start(environment=source, requested_by=global_admin)
    export.refresh_from_db()
    assert export.status == Export.Status.SUCCEEDED, export.error
    (tmp_path / "kept.tar").write_bytes(archive_bytes(export))
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


# -- export and exports ------------------------------------------------------------------------


def test_export_is_queued_for_the_worker(run, clock, source, global_admin):
    result = run("backups", "export", "contoso-prod", "--as", "global")
    assert result.code == 0, result.err
    export = Export.objects.get()
    assert f"Export {export.pk}: Contoso Prod as at 2026-11-20 12:00:00 UTC." in result.out
    assert "Queued. A worker (manage.py worker) writes it" in result.out


def test_an_export_written_is_listed(run, tasks, clock, source, global_admin):
    moment = ago(days=1, hours=12)
    result = tasks(
        run, "backups", "export", "contoso-prod", "--at", moment.isoformat(), "--as", "global"
    )
    assert result.code == 0, result.err
    export = Export.objects.get()
    assert export.moment == moment and export.status == "succeeded"
    listed = run("backups", "exports", "contoso-prod", "--as", "global")
    assert listed.code == 0
    # The columns are as wide as their widest value: the id may have any number of digits.
    assert re.search(r"^ID +STATUS +BACKUP TIME", listed.out, re.M) and "Succeeded" in listed.out
    assert export.file_name in listed.out and f"{export.size:,}" in listed.out


def test_export_at_a_manual_backup(run, clock, source, global_admin):
    clock.move_to(ago(hours=3))
    backup = services.backup_create(environment=source, label="Before", actor=global_admin)
    clock.move_to(ago(seconds=0))
    result = run("backups", "export", "contoso-prod", "--backup", str(backup.pk), "--as", "global")
    assert result.code == 0, result.err
    assert Export.objects.get().backup == backup
    assert "as at 2026-11-20 09:00:00 UTC" in result.out


def test_export_refusals_change_nothing(run, clock, source, global_admin, sandbox):
    before = counts()
    outside = run(
        "backups", "export", "contoso-prod", "--at", ago(days=60).isoformat(), "--as", "global"
    )
    assert outside.code == 1 and "choose a moment at or after it" in outside.err
    assert run("backups", "export", "contoso-prod", "--at", "yesterday", "--as", "global").code == 2
    assert run("backups", "export", "contoso-prod").code == 2  # who acts?
    none = run("backups", "export", "contoso-prod", "--backup", "999", "--as", "global")
    assert none.code == 1 and "has no backup 999" in none.err
    for user in ("maker", "outsider"):
        result = run("backups", "export", "sales-sandbox", "--as", user)
        assert result.code == 1 and result.err
        assert run("backups", "exports", "sales-sandbox", "--as", user).code == 1
    assert counts() == before


def test_both_a_moment_and_a_backup_is_bad_usage(db):
    result = manage("backups", "export", "x", "--at", "2026-11-20T00:00:00Z", "--backup", "1")
    assert result.returncode == 2 and "not allowed with argument" in result.stderr


# -- download ----------------------------------------------------------------------------------


def test_download_saves_the_archive(run, done, global_admin, tmp_path):
    into = tmp_path / "saved"
    into.mkdir()
    result = run("backups", "download", str(done.pk), str(into), "--as", "global")
    assert result.code == 0, result.err
    saved = into / done.download_name
    assert saved.read_bytes() == archive_bytes(done)
    assert hashlib.sha256(saved.read_bytes()).hexdigest() == done.sha256
    assert f"SHA-256 {done.sha256}" in result.out
    named = tmp_path / "mine.tar"
    assert run("backups", "download", str(done.pk), str(named), "--as", "global").code == 0
    assert named.read_bytes() == archive_bytes(done)


def test_download_refusals(run, done, clock, source, global_admin, maker, sandbox, tmp_path):
    queued = exports.export_start(environment=source, requested_by=global_admin)
    target = tmp_path / "x.tar"
    result = run("backups", "download", str(queued.pk), str(target), "--as", "global")
    assert result.code == 1 and "no archive to download (Queued)" in result.err
    result = run("backups", "download", str(done.pk), str(target), "--as", "maker")
    assert result.code == 1
    result = run("backups", "download", "999", str(target), "--as", "global")
    assert result.code == 1 and "There is no export 999" in result.err
    # A stored file that is not the one written is not saved.
    archive_storage.delete(done.file_name)
    damaged = tmp_path / "damaged.tar"
    damaged.write_bytes(tampered("one byte anywhere", (tmp_path / "kept.tar").read_bytes()))
    archive_storage.save(done.file_name, damaged)
    result = run("backups", "download", str(done.pk), str(target), "--as", "global")
    assert result.code == 1 and "nothing was saved" in result.err
    assert not target.exists() and not list(tmp_path.glob("*.part"))


# -- verify ------------------------------------------------------------------------------------


def test_verify_a_local_file_prints_each_check_with_no_actor(run, done, tmp_path):
    path = tmp_path / "kept.tar"
    result = run("backups", "verify", str(path))
    assert result.code == 0, result.err
    assert "envportal-archive version 1" in result.out
    assert "Contoso Prod (contoso-prod, production, unitedstates)" in result.out
    assert "ok  tables/0001-accounts.jsonl.gz: 2 rows" in result.out
    assert "ok  tables/0002-contacts.jsonl.gz: 1 row," in result.out
    assert "ok  SHA256SUMS" in result.out
    assert f"The archive is whole: {done.size:,} bytes, SHA-256 {done.sha256}." in result.out


@pytest.mark.parametrize(
    "kind, reason",
    [
        ("truncated", "incomplete"),
        ("a part missing", "where the manifest lists"),
        ("the manifest edited", "checksum list"),
        ("a newer format", "newer"),
        ("not an archive", "not an environment export archive"),
    ],
)
def test_verify_a_damaged_file_says_why(run, done, tmp_path, kind, reason):
    path = tmp_path / "damaged.tar"
    path.write_bytes(tampered(kind, (tmp_path / "kept.tar").read_bytes()))
    result = run("backups", "verify", str(path))
    assert result.code == 1
    assert reason in result.err, result.err


def test_verify_an_export_records_the_result(run, done, global_admin):
    assert run("backups", "verify", str(done.pk)).code == 2  # who acts?
    result = run("backups", "verify", str(done.pk), "--as", "global")
    assert result.code == 0, result.err
    assert "every part matches its checksum" in result.out
    done.refresh_from_db()
    assert done.verified_ok is True


def test_verify_a_damaged_export_says_so_and_records_it(run, done, tmp_path):
    archive_storage.delete(done.file_name)
    damaged = tmp_path / "damaged.tar"
    damaged.write_bytes(tampered("a part missing", (tmp_path / "kept.tar").read_bytes()))
    archive_storage.save(done.file_name, damaged)
    result = run("backups", "verify", str(done.pk), "--as", "global")
    assert result.code == 1 and "is damaged" in result.err
    done.refresh_from_db()
    assert done.verified_ok is False and done.verify_error


def test_verify_a_name_in_the_storage(run, done, maker, sandbox):
    result = run("backups", "verify", done.file_name, "--as", "global")
    assert result.code == 0, result.err
    assert "ok  SHA256SUMS" in result.out
    refused = run("backups", "verify", done.file_name, "--as", "maker")
    assert refused.code == 1 and "Only Global admins" in refused.err
    missing = run("backups", "verify", "exports/none.tar", "--as", "global")
    assert missing.code == 1 and "There is no archive" in missing.err
    assert run("backups", "verify", str(done.pk), "--as", "maker").code == 1
    done.refresh_from_db()
    assert done.verified_at is None


# -- schedule ----------------------------------------------------------------------------------


def test_schedule_sets_and_keeps_what_is_not_said(run, clock, source, global_admin):
    result = run(
        "backups",
        "schedule",
        "contoso-prod",
        "--frequency",
        "weekly",
        "--weekday",
        "mon",
        "--hour",
        "3",
        "--time-zone",
        "Europe/Paris",
        "--keep",
        "4",
        "--as",
        "global",
    )
    assert result.code == 0, result.err
    assert (
        "Weekly on Mondays at 03:00 (Europe/Paris), keeping the last 4. "
        "Next: 2026-11-23 02:00:00 UTC." in result.out
    )
    result = run("backups", "schedule", "contoso-prod", "--frequency", "daily", "--as", "global")
    assert "Daily at 03:00 (Europe/Paris), keeping the last 4" in result.out
    result = run("backups", "schedule", "contoso-prod", "--frequency", "off", "--as", "global")
    assert "Exports of Contoso Prod: Off." in result.out


def test_schedule_refusals_change_nothing(run, clock, source, global_admin, sandbox, maker):
    before = counts()
    bad_zone = run(
        "backups",
        "schedule",
        "contoso-prod",
        "--frequency",
        "daily",
        "--time-zone",
        "Mars/Olympus",
        "--as",
        "global",
    )
    assert bad_zone.code == 1 and "not a time zone" in bad_zone.err
    bad_hour = run(
        "backups",
        "schedule",
        "contoso-prod",
        "--frequency",
        "daily",
        "--hour",
        "24",
        "--as",
        "global",
    )
    assert bad_hour.code == 1 and "from 0 to 23" in bad_hour.err
    funday = run(
        "backups", "schedule", "contoso-prod", "--frequency", "weekly", "--weekday", "funday"
    )
    assert funday.code == 2
    maker_says = run(
        "backups", "schedule", "sales-sandbox", "--frequency", "daily", "--as", "maker"
    )
    assert maker_says.code == 1
    EnvironmentFactory(name="Dev", slug="dev", type="developer")
    dev = run("backups", "schedule", "dev", "--frequency", "daily", "--as", "global")
    assert dev.code == 1 and "production and sandbox" in dev.err
    assert counts()[3] == before[3] == 0


# -- restore from a file -----------------------------------------------------------------------


def test_restore_file_uploads_a_local_archive(run, tasks, done, source, tmp_path):
    path = tmp_path / "kept.tar"
    result = tasks(
        run,
        "backups",
        "restore-file",
        str(path),
        "--name",
        "From file",
        "--slug",
        "from-file",
        "--as",
        "global",
    )
    assert result.code == 0, result.err
    op = ArchiveImport.objects.get()
    assert op.status == "succeeded", op.error
    assert op.file_name.startswith("uploads/") and op.file_name.endswith("kept.tar")
    assert "into the new sandbox From file (from-file)" in result.out
    new = Environment.objects.get(slug="from-file")
    assert store.current(new).as_dict() == store.current(source).as_dict()


def test_restore_file_from_the_storage(run, tasks, done, source):
    result = tasks(
        run,
        "backups",
        "restore-file",
        "--stored",
        done.file_name,
        "--name",
        "Again",
        "--slug",
        "again",
        "--region",
        "asia",
        "--as",
        "global",
    )
    assert result.code == 0, result.err
    assert Environment.objects.get(slug="again").region == "asia"


@pytest.mark.parametrize("kind", ["a newer format", "not an archive"])
def test_a_damaged_file_is_refused_and_nothing_is_made(run, done, tmp_path, kind):
    path = tmp_path / "damaged.tar"
    path.write_bytes(tampered(kind, (tmp_path / "kept.tar").read_bytes()))
    before = counts()
    result = run(
        "backups", "restore-file", str(path), "--name", "X", "--slug", "x", "--as", "global"
    )
    assert result.code == 1 and result.err
    assert counts() == before  # nor is the upload kept


def test_restore_file_refusals(run, done, env_admin, sandbox, tmp_path):
    path = tmp_path / "kept.tar"
    before = counts()
    who = run(
        "backups", "restore-file", str(path), "--name", "X", "--slug", "x", "--as", "envadmin"
    )
    assert who.code == 1 and "Only Global admins" in who.err
    taken = run(
        "backups",
        "restore-file",
        str(path),
        "--name",
        "X",
        "--slug",
        "contoso-prod",
        "--as",
        "global",
    )
    assert taken.code == 1 and "is taken" in taken.err
    gone = run(
        "backups",
        "restore-file",
        str(tmp_path / "none.tar"),
        "--name",
        "X",
        "--slug",
        "x",
        "--as",
        "global",
    )
    assert gone.code == 2 and "There is no file" in gone.err
    assert counts() == before


# -- --wait: the row followed to its end (tasks run at commit, as a worker would) -------------


@pytest.mark.django_db(transaction=True)
def test_wait_follows_an_export_and_a_restore_from_its_file(run, settings, tmp_path):
    UserFactory(username="boss", tenant_role="global_admin")
    source = EnvironmentFactory(
        name="Contoso Prod", slug="contoso-prod", type="production", created_at=ago(days=40)
    )
    build_history(source)
    result = run(
        "backups", "export", "contoso-prod", "--wait", "--poll-interval", "0.01", "--as", "boss"
    )
    assert result.code == 0, result.err
    assert "[100%] Succeeded" in result.out and "Done: 3 rows in 2 tables" in result.out
    export = Export.objects.get()
    result = run(
        "backups",
        "restore-file",
        "--stored",
        export.file_name,
        "--name",
        "Copy",
        "--slug",
        "copy",
        "--wait",
        "--poll-interval",
        "0.01",
        "--as",
        "boss",
    )
    assert result.code == 0, result.err
    assert "[100%] Done" in result.out and "Done: 3 rows in 2 tables" in result.out
    copy = Environment.objects.get(slug="copy")
    assert store.current(copy).as_dict() == store.current(source).as_dict()
