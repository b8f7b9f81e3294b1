"""An export restored into a new sandbox reads exactly as its source did at the moment."""

import io
import tarfile

import pytest
import time_machine

from backups import archive_storage, archives, exports, imports
from backups.models import ArchiveImport, Export
from environments import store
from environments.models import Environment
from portal.errors import Refused
from tests.factories import NOW, ago


def export_of(run_tasks, env, user, moment=None) -> Export:
    export = run_tasks(exports.export_start, environment=env, requested_by=user, moment=moment)
    export.refresh_from_db()
    assert export.status == Export.Status.SUCCEEDED, export.error
    return export


def restore_file(run_tasks, user, file_name, slug="restored") -> ArchiveImport:
    op = run_tasks(
        imports.import_start,
        requested_by=user,
        file_name=file_name,
        name=f"From file {slug}",
        slug=slug,
    )
    op.refresh_from_db()
    return op


def test_round_trip_at_a_past_moment(clock, source, admin, run_tasks):
    moment = ago(days=1, hours=12)
    export = export_of(run_tasks, source, admin, moment)
    assert export.rows == 4 and export.file_name.endswith(".tar")
    assert archive_storage.size(export.file_name) == export.size

    op = restore_file(run_tasks, admin, export.file_name)
    assert op.status == ArchiveImport.Status.SUCCEEDED, op.error
    new = Environment.objects.get(slug="restored")
    assert new.type == "sandbox" and new.state == "ready" and new.admin_mode
    assert store.current(new).as_dict() == store.as_of(source, moment).as_dict()
    # Its history starts at the import: nothing before it.
    assert store.as_of(new, ago(days=1)).as_dict() == {}


def test_the_manifest_says_what_the_archive_holds(clock, source, admin, run_tasks):
    export = export_of(run_tasks, source, admin)
    with archive_storage.open_stream(export.file_name) as stream:
        manifest = archives.read_manifest(stream)
    assert manifest.environment["name"] == "Contoso Prod"
    assert manifest.environment["type"] == "production"
    assert [(t.name, t.rows) for t in manifest.tables] == [("accounts", 2), ("contacts", 1)]
    with (
        archive_storage.open_stream(export.file_name) as stream,
        tarfile.open(fileobj=stream, mode="r|") as tar,
    ):
        names = [m.name for m in tar]
    assert names == [
        "manifest.json",
        "tables/0001-accounts.jsonl.gz",
        "tables/0002-contacts.jsonl.gz",
        "SHA256SUMS",
    ]


def _members(data: bytes) -> list[tuple[tarfile.TarInfo, bytes]]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        return [(m, tar.extractfile(m).read()) for m in tar.getmembers()]


def _tar(members: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1 :]


def tampered(kind: str, data: bytes) -> bytes:
    members = _members(data)
    if kind == "one byte of a part":
        info, part = members[1]
        members[1] = (info, _flip(part, len(part) // 2))
        return _tar(members)
    if kind == "one byte anywhere":
        return _flip(data, 512 * 3 + 40)
    if kind == "a part missing":
        return _tar([members[0], *members[2:]])
    if kind == "the manifest edited":
        info, manifest = members[0]
        members[0] = (info, manifest.replace(b"Contoso Prod", b"Contoso Prud"))
        return _tar(members)
    if kind == "a row count edited":
        info, manifest = members[0]
        members[0] = (info, manifest.replace(b'"rows": 2', b'"rows": 3', 1))
        return _tar(members)
    if kind == "truncated":
        return data[: len(data) // 2]
    if kind == "a newer format":
        info, manifest = members[0]
        members[0] = (info, manifest.replace(b'"format_version": 1', b'"format_version": 2'))
        return _tar(members)
    if kind == "not an archive":
        return b"name,email\nAlpha,a@example.com\n"
    raise AssertionError(kind)


KINDS = [
    "one byte of a part",
    "one byte anywhere",
    "a part missing",
    "the manifest edited",
    "a row count edited",
    "truncated",
    "a newer format",
    "not an archive",
]


@pytest.mark.parametrize("kind", KINDS)
def test_a_damaged_archive_is_refused_and_nothing_is_made(clock, source, admin, run_tasks, kind):
    export = export_of(run_tasks, source, admin)
    with archive_storage.open_stream(export.file_name) as stream:
        data = stream.read()
    bad = tampered(kind, data)
    with pytest.raises(archives.ArchiveRefused) as refused:
        archives.verify(io.BytesIO(bad))
    assert refused.value.message
    name = archive_storage.save_upload("uploads/bad.tar", io.BytesIO(bad))
    before = set(Environment.objects.values_list("pk", flat=True))
    try:
        op = restore_file(run_tasks, admin, name, slug="from-bad")
    except Exception as exc:  # refused at the request (the manifest): nothing was made
        assert getattr(exc, "message", "")
        assert set(Environment.objects.values_list("pk", flat=True)) == before
        return
    assert op.status == ArchiveImport.Status.FAILED
    assert "Nothing was restored" in op.error
    sandbox = Environment.objects.get(pk=op.target_id)
    assert sandbox.removed_at is not None and sandbox.slug != "from-bad"
    assert not Environment.objects.filter(slug="from-bad").exists()


def test_verify_records_its_result(clock, source, admin, run_tasks):
    export = export_of(run_tasks, source, admin)
    exports.export_verify(export, actor=admin)
    assert export.verified_ok is True and export.verified_at == NOW
    path = archive_storage.storage().path(export.file_name)
    with open(path, "r+b") as f:
        f.seek(2000)
        byte = f.read(1)
        f.seek(2000)
        f.write(bytes([byte[0] ^ 1]))
    with time_machine.travel(NOW.replace(hour=13), tick=False):
        exports.export_verify(export, actor=admin)
    assert export.verified_ok is False and export.verify_error


def test_round_trip_through_each_storage(
    clock, source, admin, run_tasks, backup_storage, monkeypatch
):
    """The same export, verify and restore on the filesystem and on an S3 API server (moto's,
    on 127.0.0.1), the archive encrypted at rest there by the storage's settings."""
    moment = ago(days=1, hours=12)
    export = export_of(run_tasks, source, admin, moment)
    assert archive_storage.exists(export.file_name)
    if backup_storage.kind == "s3":
        head = backup_storage.client.head_object(
            Bucket=backup_storage.bucket, Key=backup_storage.key(export.file_name)
        )
        assert head["ServerSideEncryption"] == "AES256"
        assert head["ContentLength"] == export.size
    exports.export_verify(export, actor=admin)
    assert export.verified_ok, export.verify_error
    op = restore_file(run_tasks, admin, export.file_name, slug=f"via-{backup_storage.kind}")
    assert op.status == ArchiveImport.Status.SUCCEEDED, op.error
    new = Environment.objects.get(slug=f"via-{backup_storage.kind}")
    assert store.current(new).as_dict() == store.as_of(source, moment).as_dict()
    # A damaged copy in the same storage is refused by the full check, and nothing is kept.
    with archive_storage.open_stream(export.file_name) as stream:
        bad = tampered("one byte of a part", stream.read())
    name = archive_storage.save_upload("uploads/bad.tar", io.BytesIO(bad))
    with pytest.raises(Refused, match="edited or damaged"):  # checked whole at the request
        restore_file(run_tasks, admin, name, slug=f"bad-{backup_storage.kind}")
    monkeypatch.setattr(imports, "CHECK_AT_REQUEST_BYTES", 0)  # as if it were larger
    op = restore_file(run_tasks, admin, name, slug=f"bad-{backup_storage.kind}")
    assert op.status == ArchiveImport.Status.FAILED and "edited or damaged" in op.error
    assert not Environment.objects.filter(slug=f"bad-{backup_storage.kind}").exists()


TRICKY = [
    "back\\slash",
    "tab\there",
    "line\nbreak\r\nand return",
    "quotes \"double\" and 'single'",
    "\\N",
    "ünïcødé ✓ 日本 \u2028",
    "",
    "   spaces   ",
]


def test_values_that_formats_escape_come_back_exactly(clock, admin, run_tasks, member):
    from tests.factories import EnvironmentFactory, make_table

    env = EnvironmentFactory(name="Tricky", slug="tricky", created_at=ago(days=3))
    make_table(env, "accounts")
    with store.changes(env) as cs:
        table = store.current(env).table("accounts")
        for i, text in enumerate(TRICKY):
            cs.create_row(table, {"name": text or "x", "tier": "Gold"}, key=f"k{i}")
    export = export_of(run_tasks, env, admin)
    op = restore_file(run_tasks, admin, export.file_name, slug="tricky-again")
    assert op.status == ArchiveImport.Status.SUCCEEDED, op.error
    new = Environment.objects.get(slug="tricky-again")
    assert store.current(new).as_dict() == store.current(env).as_dict()
    titles = dict(
        store.current(new).rows(store.current(new).table("accounts")).values_list("key", "title")
    )
    assert titles == dict(store.current(env).rows(table).values_list("key", "title"))
