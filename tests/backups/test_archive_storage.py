"""Where export archives go (backups.archive_storage), on a folder and on S3 (moto's server),
the download that answers ranges, and BACKUP_STORAGE_URL."""

import base64
import hashlib
import io
import os
import tarfile
import tracemalloc
from pathlib import Path

import pytest
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import FileSystemStorage
from django.core.files.uploadedfile import SimpleUploadedFile, TemporaryUploadedFile
from django.urls import path
from storages.backends.s3 import S3Storage

from backups import archive_storage
from portal.storage_url import backup_storage_from_url

DATA = bytes(range(256)) * 40  # 10,240 bytes, each position telling where it is
SHA256 = hashlib.sha256(DATA).hexdigest()
NAME = "exports/7/archive.tar"


@login_not_required
def download(request, name):
    """The tiny view the range tests download through (see the urls fixture)."""
    return archive_storage.ranged_response(
        request,
        name=name,
        size=archive_storage.size(name),
        filename="sandbox 7.tar",
        sha256=request.GET["sha256"],
    )


urlpatterns = [path("archive/<path:name>", download)]


@pytest.fixture
def urls(settings):
    settings.ROOT_URLCONF = __name__


@pytest.fixture
def saved(backup_storage, tmp_path):
    source = tmp_path / "archive.tar"
    source.write_bytes(DATA)
    archive_storage.save(NAME, source)
    return backup_storage


def _file(tmp_path: Path, data: bytes, name: str = "upload.bin") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# --- Saving, looking, deleting ----------------------------------------------------------------


def test_it_saves_a_file_under_its_name_and_knows_its_size(backup_storage, tmp_path):
    kind = {"filesystem": FileSystemStorage, "s3": S3Storage}[backup_storage.kind]
    assert isinstance(archive_storage.storage(), kind)
    assert not archive_storage.exists(NAME)
    assert archive_storage.save(NAME, _file(tmp_path, DATA)) == NAME
    assert archive_storage.exists(NAME)
    assert archive_storage.size(NAME) == len(DATA)
    assert b"".join(archive_storage.read_chunks(NAME)) == DATA
    assert not archive_storage.exists("exports/7/other.tar")


def test_saving_again_under_a_name_replaces_the_archive(saved, tmp_path):
    assert archive_storage.save(NAME, _file(tmp_path, b"newer")) == NAME
    assert b"".join(archive_storage.read_chunks(NAME)) == b"newer"
    assert archive_storage.listed() == [(NAME, 5)]


def test_delete_removes_it_and_a_missing_one_is_no_error(saved):
    archive_storage.delete(NAME)
    assert not archive_storage.exists(NAME)
    archive_storage.delete(NAME)
    archive_storage.delete("exports/never-saved.tar")


def test_a_missing_archive_has_no_size_and_no_bytes(backup_storage):
    with pytest.raises(FileNotFoundError):
        archive_storage.size("exports/missing.tar")
    with pytest.raises(FileNotFoundError):
        list(archive_storage.read_chunks("exports/missing.tar"))
    with pytest.raises(FileNotFoundError):
        archive_storage.open_stream("exports/missing.tar")


@pytest.mark.parametrize(
    "name", ["", "/etc/passwd", "../outside.tar", "exports//1.tar", "exports/./1.tar", "a\\b"]
)
def test_a_name_that_is_not_a_plain_relative_path_is_refused(backup_storage, tmp_path, name):
    with pytest.raises(ValueError, match="relative path"):
        archive_storage.save(name, _file(tmp_path, DATA))
    with pytest.raises(ValueError, match="relative path"):
        archive_storage.save_upload(name, io.BytesIO(DATA))


def test_an_upload_is_saved_from_memory_or_from_its_temporary_file(backup_storage):
    small = SimpleUploadedFile("small.tar", DATA, content_type="application/x-tar")
    assert archive_storage.save_upload("uploads/small.tar", small) == "uploads/small.tar"
    big = TemporaryUploadedFile("big.tar", "application/x-tar", len(DATA) * 3, None)
    big.write(DATA * 3)
    big.seek(0)
    assert archive_storage.save_upload("uploads/big.tar", big) == "uploads/big.tar"
    big.close()
    assert archive_storage.save_upload("uploads/plain.tar", io.BytesIO(b"plain")) == (
        "uploads/plain.tar"
    )
    assert archive_storage.listed("uploads/") == [
        ("uploads/big.tar", len(DATA) * 3),
        ("uploads/plain.tar", 5),
        ("uploads/small.tar", len(DATA)),
    ]
    assert b"".join(archive_storage.read_chunks("uploads/big.tar")) == DATA * 3


def test_listed_names_every_archive_below_a_prefix_with_its_size(backup_storage, tmp_path):
    assert archive_storage.listed() == []  # nothing saved yet: not even the folder
    for name, data in [
        ("exports/1/a.tar", b"a"),
        ("exports/1/deeper/b.tar", b"bb"),
        ("exports/2/c.tar", b"ccc"),
        ("imports/d.tar", b"dddd"),
        ("top.tar", b"eeeee"),
    ]:
        archive_storage.save(name, _file(tmp_path, data))
    assert archive_storage.listed() == [
        ("exports/1/a.tar", 1),
        ("exports/1/deeper/b.tar", 2),
        ("exports/2/c.tar", 3),
        ("imports/d.tar", 4),
        ("top.tar", 5),
    ]
    assert archive_storage.listed("exports/1/") == [
        ("exports/1/a.tar", 1),
        ("exports/1/deeper/b.tar", 2),
    ]
    assert archive_storage.listed("exports/2/c") == [("exports/2/c.tar", 3)]
    assert archive_storage.listed("nothing/") == []


@pytest.mark.parametrize("backup_storage", ["s3"], indirect=True)
def test_on_s3_an_archive_is_encrypted_under_the_prefix_and_never_marked_gzip(
    backup_storage, saved, tmp_path
):
    head = saved.client.head_object(Bucket=saved.bucket, Key=saved.key(NAME))
    assert head["ServerSideEncryption"] == "AES256"
    assert head["ContentLength"] == len(DATA)
    assert head["ContentType"] == "application/x-tar"
    archive_storage.save("exports/7/archive.tar.gz", _file(tmp_path, b"gz"))
    head = saved.client.head_object(Bucket=saved.bucket, Key=saved.key("exports/7/archive.tar.gz"))
    assert head["ContentType"] == "application/octet-stream"
    assert "ContentEncoding" not in head


# --- Reading ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "start, end, chunk",
    [
        (0, None, 1 << 20),
        (0, None, 1000),
        (100, 200, 1 << 20),
        (100, 5000, 333),
        (10_000, None, 64),
        (10_000, 99_999, 1 << 20),  # past the end: up to the end
        (10_240, None, 1 << 20),  # at the end: nothing
        (50_000, 60_000, 1 << 20),  # past the end: nothing
        (500, 500, 1 << 20),  # empty
    ],
)
def test_read_chunks_gives_the_bytes_of_a_range(saved, start, end, chunk):
    pieces = list(archive_storage.read_chunks(NAME, start, end, chunk))
    assert b"".join(pieces) == DATA[start:end]
    assert all(len(piece) <= chunk for piece in pieces)


def test_open_stream_reads_a_tar_archive_as_a_stream(backup_storage, tmp_path):
    members = {"manifest.json": b'{"environment": 7}', "tables/orders.jsonl": DATA * 50}
    with tarfile.open(tmp_path / "built.tar", "w") as tar:
        for member_name, data in members.items():
            info = tarfile.TarInfo(member_name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    archive_storage.save("exports/built.tar", tmp_path / "built.tar")
    read = {}
    with (
        archive_storage.open_stream("exports/built.tar") as stream,
        tarfile.open(fileobj=stream, mode="r|") as tar,
    ):
        for member in tar:
            read[member.name] = tar.extractfile(member).read()
    assert read == members


# --- The download -----------------------------------------------------------------------------


def _get(client, *, sha256=SHA256, method="get", **headers):
    return getattr(client, method)(f"/archive/{NAME}", {"sha256": sha256}, headers=headers)


def test_the_download_streams_the_whole_archive_with_its_digests(saved, urls, client):
    response = _get(client)
    assert response.status_code == 200
    assert response.streaming
    assert b"".join(response.streaming_content) == DATA
    assert response["Content-Length"] == str(len(DATA))
    assert response["Content-Type"] == "application/x-tar"
    assert response["Accept-Ranges"] == "bytes"
    assert response["Content-Disposition"] == 'attachment; filename="sandbox 7.tar"'
    assert response["ETag"] == f'"{SHA256}"'
    digest = base64.b64encode(hashlib.sha256(DATA).digest()).decode()
    assert response["Repr-Digest"] == f"sha-256=:{digest}:"
    assert "Content-Range" not in response


@pytest.mark.parametrize(
    "header, first, last",
    [
        ("bytes=0-99", 0, 99),
        ("bytes=100-100", 100, 100),
        ("bytes=10000-", 10_000, 10_239),
        ("bytes=-240", 10_000, 10_239),
        ("bytes=5000-999999", 5000, 10_239),  # past the end: to the end
        ("bytes=-999999", 0, 10_239),  # more than there is: all of it
        ("BYTES=0-0", 0, 0),
        ("bytes=10-" + "9" * 5000, 10, 10_239),
    ],
)
def test_a_single_range_gets_206_with_its_bytes(saved, urls, client, header, first, last):
    response = _get(client, Range=header)
    assert response.status_code == 206
    assert response.streaming
    assert b"".join(response.streaming_content) == DATA[first : last + 1]
    assert response["Content-Range"] == f"bytes {first}-{last}/{len(DATA)}"
    assert response["Content-Length"] == str(last - first + 1)
    assert response["ETag"] == f'"{SHA256}"'
    assert response["Repr-Digest"].startswith("sha-256=:")


@pytest.mark.parametrize(
    "header", ["bytes=10240-", "bytes=20000-30000", "bytes=-0", "bytes=" + "9" * 5000 + "-"]
)
def test_a_range_past_the_end_gets_416(saved, urls, client, header):
    response = _get(client, Range=header)
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{len(DATA)}"
    assert response.content == b""


@pytest.mark.parametrize(
    "header",
    [
        "bytes=0-1,5-6",  # several ranges
        "bytes=-",
        "bytes=9-3",
        "bytes=abc",
        "items=0-5",
        "bytes 0-5",
        "bytes=0x10-",
    ],
)
def test_several_ranges_or_a_malformed_one_get_the_whole_archive(saved, urls, client, header):
    response = _get(client, Range=header)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == DATA
    assert "Content-Range" not in response


def test_if_range_gets_the_range_only_for_the_same_archive(saved, urls, client):
    same = _get(client, Range="bytes=0-9", If_Range=f'"{SHA256}"')
    assert same.status_code == 206
    assert b"".join(same.streaming_content) == DATA[:10]
    for other in (f'"{"0" * 64}"', f'W/"{SHA256}"', "Sun, 06 Dec 2026 01:00:00 GMT"):
        whole = _get(client, Range="bytes=0-9", If_Range=other)
        assert whole.status_code == 200
        assert b"".join(whole.streaming_content) == DATA


def test_head_gets_the_headers_without_the_bytes(saved, urls, client):
    response = _get(client, method="head")
    assert response.status_code == 200
    assert response["Content-Length"] == str(len(DATA))
    assert response["ETag"] == f'"{SHA256}"'
    assert b"".join(response.streaming_content) == b""
    ranged = _get(client, method="head", Range="bytes=-10")
    assert ranged.status_code == 206
    assert ranged["Content-Range"] == f"bytes 10230-10239/{len(DATA)}"


def test_a_filename_outside_ascii_is_sent_both_ways(saved, rf):
    response = archive_storage.ranged_response(
        rf.get("/"), name=NAME, size=len(DATA), filename="Übung 7.tar", sha256=SHA256
    )
    assert response["Content-Disposition"] == "attachment; filename*=utf-8''%C3%9Cbung%207.tar"


def test_a_digest_that_is_not_hex_sha256_is_a_mistake(saved, rf):
    with pytest.raises(ValueError, match="SHA-256"):
        archive_storage.ranged_response(
            rf.get("/"), name=NAME, size=len(DATA), filename="a.tar", sha256="abc"
        )


# --- Memory -----------------------------------------------------------------------------------


def test_a_50_mb_archive_goes_up_and_down_in_a_few_mb(backup_storage, urls, client, tmp_path):
    source = tmp_path / "big.tar"
    written = hashlib.sha256()
    with source.open("wb") as f:
        for _ in range(50):
            block = os.urandom(1 << 20)
            written.update(block)
            f.write(block)
    # The S3 client loads its service description once per process: not the archive's cost.
    archive_storage.exists("exports/warm-up.tar")
    archive_storage.listed("exports/warm-up/")
    received = hashlib.sha256()
    tracemalloc.start()
    try:
        archive_storage.save("exports/big.tar", source)
        response = client.get("/archive/exports/big.tar", {"sha256": written.hexdigest()})
        for piece in response.streaming_content:
            received.update(piece)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert response.status_code == 200
    assert received.hexdigest() == written.hexdigest()
    assert peak < 10 * 2**20, f"peak Python allocation {peak / 2**20:.1f} MB"
    if backup_storage.kind == "s3":
        head = backup_storage.client.head_object(
            Bucket=backup_storage.bucket, Key=backup_storage.key("exports/big.tar")
        )
        assert "-" in head["ETag"]  # a multipart upload's ETag counts its parts
        assert head["ServerSideEncryption"] == "AES256"


# --- BACKUP_STORAGE_URL -----------------------------------------------------------------------


def test_with_no_url_archives_go_to_var_backups(tmp_path):
    assert backup_storage_from_url("", tmp_path) == {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(tmp_path / "var" / "backups"), "allow_overwrite": True},
    }


def test_the_portal_has_a_backups_storage(settings):
    assert "backups" in settings.STORAGES


def test_a_file_url_names_another_folder(tmp_path):
    entry = backup_storage_from_url("file:///srv/portal%20backups", tmp_path)
    assert entry["OPTIONS"] == {"location": "/srv/portal backups", "allow_overwrite": True}


def test_an_s3_url_names_the_bucket_prefix_endpoint_region_and_encryption(tmp_path):
    entry = backup_storage_from_url(
        "s3://acme-backups/portal/exports/?endpoint_url=http://127.0.0.1:9000"
        "&region=eu-west-1&sse=AES256",
        tmp_path,
    )
    assert entry == {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": "acme-backups",
            "location": "portal/exports",
            "endpoint_url": "http://127.0.0.1:9000",
            "region_name": "eu-west-1",
            "default_acl": None,
            "file_overwrite": True,
            "querystring_auth": True,
            "object_parameters": {"ServerSideEncryption": "AES256"},
        },
    }


def test_an_s3_url_with_only_a_bucket_leaves_the_rest_to_boto3(tmp_path):
    options = backup_storage_from_url("s3://acme-backups", tmp_path)["OPTIONS"]
    assert options["location"] == ""
    assert options["endpoint_url"] is None
    assert options["region_name"] is None
    assert "object_parameters" not in options


def test_an_s3_url_can_name_a_kms_key(tmp_path):
    options = backup_storage_from_url(
        "s3://acme-backups?sse=aws:kms&kms_key_id=arn:aws:kms:eu-west-1:1:key/abc", tmp_path
    )["OPTIONS"]
    assert options["object_parameters"] == {
        "ServerSideEncryption": "aws:kms",
        "SSEKMSKeyId": "arn:aws:kms:eu-west-1:1:key/abc",
    }


@pytest.mark.parametrize(
    "url, message",
    [
        ("ftp://host/backups", "must start with file:/// .* or s3://"),
        ("/srv/backups", "must start with file:///"),
        ("file://relative/path", "absolute path"),
        ("file:///srv/backups?mode=1", "no \\?options"),
        ("s3://", "needs a bucket"),
        ("s3:///prefix", "needs a bucket"),
        ("s3://key:secret@bucket", "no credentials"),
        ("s3://bucket?sse=des", "sse must be AES256 or aws:kms"),
        ("s3://bucket?regoin=eu-west-1", "unknown option 'regoin'"),
        ("s3://bucket?region=a&region=b", "region is given twice"),
        ("s3://bucket?endpoint_url=127.0.0.1:9000", "http:// or https://"),
        ("s3://bucket?sse=AES256&kms_key_id=abc", "kms_key_id needs sse=aws:kms"),
    ],
)
def test_a_bad_url_stops_the_portal_with_a_clear_message(tmp_path, url, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        backup_storage_from_url(url, tmp_path)
