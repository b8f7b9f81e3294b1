"""Where export archives go: the named storage "backups" (a folder, or an S3 bucket), and the
download of one.

Archives are big, so nothing here holds one in memory: files go up and come down in chunks
(on S3 a multipart upload from the file on disk, and one GetObject with a Range header), and a
download is a streamed response that also answers HTTP range requests, so that a broken
download can be resumed. Which storage it is comes from BACKUP_STORAGE_URL (portal.storage_url).

Names are relative paths with forward slashes ("exports/42/2026-12-06.tar"); saving under a
name that exists replaces that archive, on both kinds of storage.
"""

from __future__ import annotations

import base64
import io
import mimetypes
import re
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError
from django.core.files import File
from django.core.files.storage import Storage, storages
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.utils.http import content_disposition_header
from storages.backends.s3 import S3Storage
from storages.utils import clean_name

ALIAS = "backups"
CONTENT_TYPE = "application/x-tar"
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
# One range only, as RFC 9110 allows a server to choose; several are answered whole.
SINGLE_RANGE = re.compile(r"bytes=(\d*)-(\d*)", re.IGNORECASE | re.ASCII)
# Parts of 8 MB, four sent at a time: each part in flight holds about 2 MB of read buffers (the
# checksums boto3 computes as it reads), so an upload stays under 10 MB however big the archive
# is; boto3's ten at a time would hold 20 MB for speed a background export does not need.
UPLOAD_CONFIG = TransferConfig(max_concurrency=4)


def storage() -> Storage:
    """The storage archives go to (settings.STORAGES["backups"])."""
    return storages[ALIAS]


def _check_name(name: str) -> None:
    """A name is a plain relative path, so that the name saved is the name asked for on both
    kinds of storage (a folder would tidy "a//b" into "a/b", S3 would keep it)."""
    parts = name.split("/")
    if not name or "\\" in name or any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"An archive name is a relative path like 'exports/1.tar', not {name!r}")


def _s3_key(s3: S3Storage, name: str) -> str:
    # django-storages' own way from a name to a key under the storage's location (the prefix).
    return s3._normalize_name(clean_name(name))


def _s3_upload_file(s3: S3Storage, name: str, path: Path) -> str:
    """Upload from the file on disk: boto3 reads each part of the multipart upload from the
    file as it sends it, where a file object would have its parts read into memory first (up
    to ten of 8 MB). The object parameters carry the server-side encryption."""
    params = s3.get_object_parameters(name)
    # Never a content encoding (django-storages would say gzip for .tar.gz): the compressed
    # archive is the thing stored, and a browser told "gzip" would unpack it on the way down.
    content_type, encoding = mimetypes.guess_type(name)
    if encoding or not content_type:
        content_type = "application/octet-stream"
    params.setdefault("ContentType", content_type)
    if s3.default_acl and "ACL" not in params:
        params["ACL"] = s3.default_acl
    s3.bucket.Object(_s3_key(s3, name)).upload_file(
        str(path), ExtraArgs=params, Config=UPLOAD_CONFIG
    )
    return name


def _saved(name: str, stored: str) -> str:
    if stored != name:
        raise RuntimeError(f"The archive {name!r} was stored as {stored!r}")
    return stored


def save(name: str, path: Path) -> str:
    """Copy the local file `path` into the storage as `name` (replacing one there), in chunks;
    returns `name`."""
    _check_name(name)
    store = storage()
    if isinstance(store, S3Storage):
        return _s3_upload_file(store, name, Path(path))
    with open(path, "rb") as f:
        return _saved(name, store.save(name, File(f, name=name)))


def save_upload(name: str, fileobj) -> str:
    """Save an uploaded archive (a Django UploadedFile, or any open binary file) as `name`.
    A big upload is a temporary file on disk (FILE_UPLOAD_MAX_MEMORY_SIZE), which is sent from
    there; a small one Django already holds in memory."""
    _check_name(name)
    store = storage()
    temporary_file_path = getattr(fileobj, "temporary_file_path", None)
    if isinstance(store, S3Storage) and temporary_file_path:
        return _s3_upload_file(store, name, Path(temporary_file_path()))
    content = fileobj if hasattr(fileobj, "chunks") else File(fileobj, name=name)
    return _saved(name, store.save(name, content))


def size(name: str) -> int:
    """The archive's size in bytes; FileNotFoundError when there is none."""
    return storage().size(name)


def exists(name: str) -> bool:
    return storage().exists(name)


def delete(name: str) -> None:
    """Delete the archive; deleting one that is already gone is not an error."""
    storage().delete(name)


def read_chunks(
    name: str, start: int = 0, end: int | None = None, chunk: int = 1 << 20
) -> Iterator[bytes]:
    """Bytes [start, end) of the archive (to its end when `end` is None), `chunk` bytes at a
    time. Nothing is read until the first chunk is asked for. Past the end there is nothing."""
    if start < 0 or (end is not None and end < start):
        raise ValueError(f"Not a range of bytes: [{start}, {end})")
    if end == start:
        return
    store = storage()
    if isinstance(store, S3Storage):
        yield from _s3_read_chunks(store, name, start, end, chunk)
        return
    with store.open(name, "rb") as f:
        f.seek(start)
        left = None if end is None else end - start
        while left is None or left > 0:
            piece = f.read(chunk if left is None else min(chunk, left))
            if not piece:
                return
            if left is not None:
                left -= len(piece)
            yield piece


def _s3_read_chunks(
    s3: S3Storage, name: str, start: int, end: int | None, chunk: int
) -> Iterator[bytes]:
    extra = {}
    if start or end is not None:
        extra["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
    try:
        body = s3.bucket.Object(_s3_key(s3, name)).get(**extra)["Body"]
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code")
        if code == "InvalidRange":  # starts past the end: nothing, as from a file
            return
        if code in ("NoSuchKey", "404"):
            raise FileNotFoundError(f"No archive {name!r} in the storage") from error
        raise
    try:
        yield from body.iter_chunks(chunk)
    finally:
        body.close()


class _S3Body(io.RawIOBase):
    """A GetObject body as a raw stream, so that io.BufferedReader makes it a binary file.
    Reads through the body's read(), which checks the length (and checksum) as it goes."""

    def __init__(self, body):
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._body.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


def open_stream(name: str) -> BinaryIO:
    """The whole archive as a sequential binary stream in constant memory, for
    `tarfile.open(fileobj=..., mode="r|")`; close it when done (or use `with`)."""
    store = storage()
    if isinstance(store, S3Storage):
        try:
            body = store.bucket.Object(_s3_key(store, name)).get()["Body"]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise FileNotFoundError(f"No archive {name!r} in the storage") from error
            raise
        return io.BufferedReader(_S3Body(body), buffer_size=1 << 20)
    return store.open(name, "rb")


def listed(prefix: str = "") -> list[tuple[str, int]]:
    """Every archive whose name starts with `prefix` (in any folder below), with its size,
    sorted by name: what an admin picks from to import a file already in the storage."""
    store = storage()
    if isinstance(store, S3Storage):
        found = _s3_listed(store, prefix)
    else:
        folder = prefix.rpartition("/")[0]
        found = [
            (name, store.size(name)) for name in _walk(store, folder) if name.startswith(prefix)
        ]
    return sorted(found)


def _walk(store: Storage, folder: str) -> Iterator[str]:
    try:
        folders, files = store.listdir(folder)
    except FileNotFoundError:  # nothing saved yet: the folder is made by the first save
        return
    base = f"{folder}/" if folder else ""
    for file in files:
        yield base + file
    for sub in folders:
        yield from _walk(store, base + sub)


def _s3_listed(s3: S3Storage, prefix: str) -> list[tuple[str, int]]:
    # One listing call per thousand keys, with the sizes in it (no HEAD per object).
    root = _s3_key(s3, "")  # "prefix/" under a location, "" without
    key_prefix = root + prefix
    return [
        (obj.key[len(root) :], obj.size)
        for obj in s3.bucket.objects.filter(Prefix=key_prefix)
        if not obj.key.endswith("/")
    ]


class _RangeNotSatisfiable(Exception):
    pass


def _byte_number(digits: str) -> int:
    # Past 18 digits a number is beyond any archive (and int() refuses very long ones).
    return int(digits) if len(digits) <= 18 else 10**18


def _requested_range(request: HttpRequest, *, size: int, etag: str) -> tuple[int, int] | None:
    """The single byte range asked for, as (first, last) inclusive, or None for the whole
    archive: no Range, several ranges, a malformed one, or an If-Range naming another
    version. Raises _RangeNotSatisfiable for a range outside the archive."""
    header = request.headers.get("Range")
    if not header:
        return None
    if_range = request.headers.get("If-Range")
    # If-Range needs a strong match; a date never matches, as no Last-Modified is sent.
    if if_range is not None and if_range.strip() != etag:
        return None
    match = SINGLE_RANGE.fullmatch(header.strip())
    if not match:
        return None
    first_text, last_text = match.groups()
    if not first_text and not last_text:
        return None
    first = _byte_number(first_text) if first_text else None
    last = _byte_number(last_text) if last_text else None
    if first is None:  # the last `last` bytes
        if last == 0 or size == 0:
            raise _RangeNotSatisfiable
        return max(size - last, 0), size - 1
    if last is not None and last < first:
        return None
    if first >= size:
        raise _RangeNotSatisfiable
    return first, size - 1 if last is None else min(last, size - 1)


def ranged_response(
    request: HttpRequest, *, name: str, size: int, filename: str, sha256: str
) -> HttpResponseBase:
    """Download the archive `name` (`size` bytes, SHA-256 `sha256` in hex) as `filename`,
    streamed a chunk at a time. Answers a single Range with 206 (so that a broken download
    resumes), a range past the end with 416; the ETag and Repr-Digest (RFC 9530) let the
    client check what it got. HEAD gets the headers and never reads the archive."""
    sha256 = sha256.lower()
    if not SHA256_HEX.fullmatch(sha256):
        raise ValueError(f"Not a SHA-256 in hex: {sha256!r}")
    etag = f'"{sha256}"'
    digest = base64.b64encode(bytes.fromhex(sha256)).decode()
    headers = {"Accept-Ranges": "bytes", "ETag": etag}
    try:
        byte_range = _requested_range(request, size=size, etag=etag)
    except _RangeNotSatisfiable:
        return HttpResponse(status=416, headers={**headers, "Content-Range": f"bytes */{size}"})
    headers["Content-Disposition"] = content_disposition_header(True, filename)
    headers["Repr-Digest"] = f"sha-256=:{digest}:"
    if byte_range is None:
        start, end, status = 0, size, 200
    else:
        start, end, status = byte_range[0], byte_range[1] + 1, 206
        headers["Content-Range"] = f"bytes {byte_range[0]}-{byte_range[1]}/{size}"
    headers["Content-Length"] = str(end - start)
    body = iter(()) if request.method == "HEAD" else read_chunks(name, start, end)
    return StreamingHttpResponse(body, status=status, content_type=CONTENT_TYPE, headers=headers)
