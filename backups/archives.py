"""The export archive: an environment as it was at one moment, in one file that outlives the
portal's database, can be checked with common tools, and restored into a new sandbox here or on
another portal.

The format (version 1). One POSIX tar file (not compressed as a whole), its members in order:
- `manifest.json`: what the archive holds: the format and its version, the environment (name,
  URL name, type, region, version), the moment, when and by which portal it was written, and
  each table with its name, display name, columns, row count, data size, and its part's file
  name, size and SHA-256.
- `tables/NNNN-<name>.jsonl.gz`, one part per table, in the manifest's order: the table's rows
  at the moment in key order, as gzip-compressed JSON Lines, one object a row:
  `{"key": "...", "values": {"column": value, ...}}`, values as the store keeps them (text,
  numbers, true/false, dates as YYYY-MM-DD, null for empty).
- `SHA256SUMS`: the SHA-256 of the manifest and of every part, in the format `sha256sum -c`
  reads, so an archive can be checked without the portal (`tar xf a.tar && sha256sum -c
  SHA256SUMS`).
Why JSON Lines in gzip rather than Parquet: every value the store holds is already JSON, so a
row is written as the database gives it, with no type mapping to get wrong and nothing to
install (pyarrow is a 40 MB wheel); any language reads it line by line at constant memory, and
`zcat | jq` is enough to look inside. Parquet's column layout would pay off for analytics
over a few columns, which is not what a backup is read for.

Written and read as streams: a part is compressed to a temporary file while its rows are read a
chunk at a time by key, so memory stays flat at any size; reading (verify, restore) goes
through the tar once, in order, from any readable stream (a local file or an S3 object body).
"""

from __future__ import annotations

import datetime
import gzip
import hashlib
import io
import json
import re
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from environments import archive_rows
from environments import columns as cols
from environments.models import Environment
from portal.errors import Refused

FORMAT = "envportal-archive"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SUMS = "SHA256SUMS"
PART_RE = re.compile(r"^tables/\d{4}-[a-z0-9_]{1,63}\.jsonl\.gz$")
# A part's compression level (1: about three times faster than 6, and
# JSON of similar rows still shrinks to a fifth or less).
COMPRESS_LEVEL = 1
PIECE = 1 << 20
# The largest manifest read (a thousand tables of a hundred columns is far below it).
MANIFEST_MAX = 32 << 20


class ArchiveRefused(Refused):
    """The file is not an archive this portal can read, or it is damaged: nothing was done."""


@dataclass
class Part:
    name: str
    display_name: str
    columns: list[dict]
    rows: int = 0
    data_bytes: int = 0
    part: str = ""
    size: int = 0
    sha256: str = ""

    def as_json(self) -> dict:
        return {
            "name": self.name,
            "display_name": self.display_name,
            "columns": self.columns,
            "rows": self.rows,
            "data_bytes": self.data_bytes,
            "part": self.part,
            "size": self.size,
            "sha256": self.sha256,
        }


@dataclass
class Manifest:
    environment: dict
    moment: datetime.datetime
    written_at: datetime.datetime
    tables: list[Part] = field(default_factory=list)
    format_version: int = FORMAT_VERSION
    portal: str = ""

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables)

    @property
    def data_bytes(self) -> int:
        return sum(t.data_bytes for t in self.tables)

    def as_json(self) -> dict:
        return {
            "format": FORMAT,
            "format_version": self.format_version,
            "portal": self.portal,
            "written_at": utc(self.written_at),
            "environment": self.environment,
            "moment": utc(self.moment),
            "rows": self.rows,
            "tables": [t.as_json() for t in self.tables],
        }

    def encoded(self) -> bytes:
        return (json.dumps(self.as_json(), indent=2, ensure_ascii=False) + "\n").encode()


def utc(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")


# -- writing --------------------------------------------------------------------------------------


class _Hashing(io.RawIOBase):
    """A write-only file that hashes and counts what goes through it into `out`."""

    def __init__(self, out: IO[bytes]):
        self.out = out
        self.sha = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.sha.update(data)
        self.out.write(data)
        self.size += len(data)
        return len(data)


def write(
    environment: Environment,
    moment: datetime.datetime,
    out: IO[bytes],
    *,
    written_at: datetime.datetime,
    portal: str = "",
    progress: Callable[[int, int], None] | None = None,
    by_copy: bool = True,
) -> Manifest:
    """Write the archive of `environment` at `moment` to the binary file `out` (seekable or
    not). `progress(tables_done, rows_done)` is called after every block of rows; when it
    writes on the reading connection, pass `by_copy=False` (archive_rows.row_blocks). Returns
    the manifest written."""
    manifest = Manifest(
        environment={
            "name": environment.name,
            "slug": environment.slug,
            "type": environment.type,
            "region": environment.region,
            "version": environment.version,
        },
        moment=moment,
        written_at=written_at,
        portal=portal,
    )
    rows_done = 0
    with tempfile.TemporaryDirectory(prefix="export-") as scratch:
        files: list[Path] = []
        for number, table in enumerate(archive_rows.tables_at(environment, moment), start=1):
            part = Part(
                name=table.name,
                display_name=table.display_name,
                columns=table.columns,
                part=f"tables/{number:04d}-{table.name}.jsonl.gz",
            )
            path = Path(scratch) / f"{number:04d}.gz"
            with open(path, "wb") as raw:
                hashing = _Hashing(raw)
                with gzip.GzipFile(
                    filename="", mode="wb", fileobj=hashing, compresslevel=COMPRESS_LEVEL, mtime=0
                ) as gz:
                    for block, rows, data_bytes in archive_rows.row_blocks(
                        table, moment, by_copy=by_copy
                    ):
                        gz.write(block)
                        part.rows += rows
                        part.data_bytes += data_bytes
                        if progress:
                            progress(len(files), rows_done + part.rows)
            part.size, part.sha256 = hashing.size, hashing.sha.hexdigest()
            rows_done += part.rows
            manifest.tables.append(part)
            files.append(path)
            if progress:
                progress(len(files), rows_done)
        _assemble(manifest, files, out)
    return manifest


def _member(name: str, size: int, mtime: float) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, int(mtime), 0o644
    return info


def _assemble(manifest: Manifest, files: list[Path], out: IO[bytes]) -> None:
    encoded = manifest.encoded()
    mtime = manifest.moment.timestamp()
    sums = [f"{hashlib.sha256(encoded).hexdigest()}  {MANIFEST}"]
    sums += [f"{t.sha256}  {t.part}" for t in manifest.tables]
    sums_bytes = ("\n".join(sums) + "\n").encode()
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(_member(MANIFEST, len(encoded), mtime), io.BytesIO(encoded))
        for part, path in zip(manifest.tables, files, strict=True):
            with open(path, "rb") as data:
                tar.addfile(_member(part.part, part.size, mtime), data)
        tar.addfile(_member(SUMS, len(sums_bytes), mtime), io.BytesIO(sums_bytes))


# -- reading --------------------------------------------------------------------------------------


def parse_manifest(data: bytes) -> Manifest:
    """The manifest, checked: what it must say for the rest of the archive to be read.
    Refuses a file of another kind, a newer format and a manifest that does not hold together,
    each with a message saying so."""
    try:
        raw = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ArchiveRefused(
            "The archive's manifest is not valid JSON: the file is damaged."
        ) from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise ArchiveRefused("This file is not an environment export archive.")
    version = raw.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ArchiveRefused("The archive's manifest does not say its format version.")
    if version > FORMAT_VERSION:
        raise ArchiveRefused(
            f"This archive was written in format version {version} by a newer portal; this "
            f"portal reads versions up to {FORMAT_VERSION}. Restore it on a portal that is up "
            "to date."
        )
    try:
        env = raw["environment"]
        manifest = Manifest(
            environment={
                k: str(env[k]) for k in ("name", "slug", "type", "region", "version") if k in env
            },
            moment=_moment(raw["moment"]),
            written_at=_moment(raw["written_at"]),
            format_version=version,
            portal=str(raw.get("portal", "")),
        )
        if not manifest.environment.get("name"):
            raise ValueError("no environment name")
        names, parts = set(), set()
        for t in raw["tables"]:
            part = Part(
                name=str(t["name"]),
                display_name=str(t["display_name"]),
                columns=cols.validate_columns(t["columns"]),
                rows=_count(t["rows"]),
                data_bytes=_count(t["data_bytes"]),
                part=str(t["part"]),
                size=_count(t["size"]),
                sha256=str(t["sha256"]),
            )
            if (
                part.name in names
                or part.part in parts
                or not PART_RE.match(part.part)
                or not re.fullmatch(r"[0-9a-f]{64}", part.sha256)
            ):
                raise ValueError(f"table {part.name!r}")
            names.add(part.name)
            parts.add(part.part)
            manifest.tables.append(part)
    except (KeyError, TypeError, ValueError, AttributeError, Refused) as exc:
        raise ArchiveRefused(
            f"The archive's manifest is incomplete or inconsistent ({_short(exc)}): the file "
            "was edited or damaged."
        ) from None
    return manifest


def _moment(text: Any) -> datetime.datetime:
    moment = datetime.datetime.fromisoformat(str(text))
    if moment.tzinfo is None:
        raise ValueError("a moment without its time zone")
    return moment


def _count(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{value!r} is not a count")
    return value


def _short(exc: BaseException) -> str:
    text = str(getattr(exc, "message", None) or exc)
    return text if len(text) <= 120 else text[:119] + "…"


@dataclass
class Checked:
    """What a full read of an archive found: its manifest (every part matched it)."""

    manifest: Manifest
    size: int
    sha256: str


class _Counting(io.RawIOBase):
    """A readable stream that hashes and counts what is read through it."""

    def __init__(self, stream: IO[bytes]):
        self.stream = stream
        self.sha = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.stream.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.sha.update(data)
        self.size += n
        return n


class Reader:
    """One pass through an archive, in order, checking as it goes. `tables()` yields each
    table's Part with an iterator of its rows (key, values as JSON text); a row iterator must be
    read to its end before the next table (the tar is read as a stream). Any mismatch with the
    manifest raises ArchiveRefused; the caller's transaction then keeps nothing."""

    def __init__(self, stream: IO[bytes]):
        self.counting = _Counting(stream)
        self.buffered = io.BufferedReader(self.counting, PIECE)
        try:
            self.tar = tarfile.open(fileobj=self.buffered, mode="r|")  # noqa: SIM115
            first = self.tar.next()
        except (tarfile.TarError, EOFError, OSError):
            raise ArchiveRefused("This file is not an environment export archive.") from None
        if first is None or first.name != MANIFEST or not first.isfile():
            raise ArchiveRefused("This file is not an environment export archive.")
        if first.size > MANIFEST_MAX:
            raise ArchiveRefused("The archive's manifest is too large: the file is damaged.")
        data = self._read_all(first)
        self.manifest_sha = hashlib.sha256(data).hexdigest()
        self.manifest = parse_manifest(data)

    def _read_all(self, member: tarfile.TarInfo) -> bytes:
        try:
            return self.tar.extractfile(member).read()
        except (tarfile.TarError, EOFError, OSError):
            raise _truncated() from None

    def _next(self) -> tarfile.TarInfo | None:
        try:
            return self.tar.next()
        except (tarfile.TarError, EOFError, OSError):
            raise _truncated() from None

    def tables(self, *, rows: bool = True) -> Iterator[tuple[Part, Iterator[tuple[str, dict]]]]:
        """Each table's Part and its rows (key, values). With `rows=False` (a verify) a part's
        lines are only counted, not parsed: its size, SHA-256, gzip stream and row count are
        checked all the same; a row that does not parse is refused when it is loaded."""
        for part in self.manifest.tables:
            member = self._next()
            if member is None or member.name == SUMS:
                raise ArchiveRefused(
                    f"The archive has no rows for the table {part.name} ({part.part} is "
                    "missing): it is incomplete."
                )
            if member.name != part.part or not member.isfile():
                raise ArchiveRefused(
                    f"The archive holds {member.name[:100]!r} where the manifest lists "
                    f"{part.part}: it was edited or damaged."
                )
            yield part, self._rows(part, member, parse=rows)
        self._finish()

    def _rows(
        self, part: Part, member: tarfile.TarInfo, *, parse: bool
    ) -> Iterator[tuple[str, dict]]:
        if member.size != part.size:
            raise ArchiveRefused(
                f"The rows of {part.name} are {member.size} bytes where the manifest says "
                f"{part.size}: the archive was edited or damaged."
            )
        try:
            raw = self.tar.extractfile(member)
        except (tarfile.TarError, EOFError, OSError):
            raise _truncated() from None
        hashing = _HashingReader(raw)
        count = 0
        try:
            with gzip.GzipFile(fileobj=hashing, mode="rb") as gz:
                if parse:
                    for line in gz:
                        count += 1
                        yield _row(part, line, count)
                else:
                    while data := gz.read(PIECE):
                        count += data.count(b"\n")
            # Read what gzip left (nothing, in an archive this portal wrote): all is hashed.
            while hashing.read(PIECE):
                pass
        except (OSError, EOFError, gzip.BadGzipFile, tarfile.TarError):
            if hashing.size < part.size:
                raise _truncated() from None
            raise ArchiveRefused(
                f"The rows of {part.name} cannot be read: the archive was edited or damaged."
            ) from None
        if hashing.size != part.size:
            raise _truncated()
        if hashing.sha.hexdigest() != part.sha256:
            raise ArchiveRefused(
                f"The rows of {part.name} do not match their checksum: the archive was "
                "edited or damaged."
            )
        if count != part.rows:
            raise ArchiveRefused(
                f"{part.name} holds {count} rows where the manifest says {part.rows}: the "
                "archive was edited or damaged."
            )

    def _finish(self) -> None:
        member = self._next()
        if member is None or member.name != SUMS:
            if member is None:
                raise _truncated()
            raise ArchiveRefused(
                f"The archive holds {member.name[:100]!r}, which its manifest does not list: it "
                "was edited."
            )
        if member.size > MANIFEST_MAX:
            raise ArchiveRefused("The archive's checksum list is too large: it was edited.")
        sums = self._read_all(member).decode(errors="replace")
        expected = [f"{self.manifest_sha}  {MANIFEST}"]
        expected += [f"{t.sha256}  {t.part}" for t in self.manifest.tables]
        if sums.splitlines() != expected:
            raise ArchiveRefused(
                "The archive's manifest does not match its checksum list: it was edited."
            )
        if self._next() is not None:
            raise ArchiveRefused("The archive holds files after its checksum list: it was edited.")
        # The end of the tar: whatever follows its two zero blocks is read and hashed too.
        while self.buffered.read(PIECE):
            pass

    def checked(self) -> Checked:
        return Checked(self.manifest, self.counting.size, self.counting.sha.hexdigest())


class _HashingReader(io.RawIOBase):
    def __init__(self, raw: IO[bytes]):
        self.raw = raw
        self.sha = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        try:
            data = self.raw.read(len(buffer))
        except (tarfile.TarError, EOFError):
            raise OSError("truncated") from None
        n = len(data)
        buffer[:n] = data
        self.sha.update(data)
        self.size += n
        return n


def _truncated() -> ArchiveRefused:
    return ArchiveRefused("The archive ends early: the file is incomplete (truncated).")


def _row(part: Part, line: bytes, number: int) -> tuple[str, str]:
    """(key, values as JSON text) of one line, checked as far as a row can be alone."""
    try:
        row = json.loads(line)
        key, values = row["key"], row["values"]
        if (
            not isinstance(key, str)
            or not cols.KEY_RE.match(key)
            or not isinstance(values, dict)
            or len(row) != 2
        ):
            raise ValueError
    except (ValueError, KeyError, TypeError):
        raise ArchiveRefused(
            f"Row {number} of {part.name} cannot be read: the archive was edited or damaged."
        ) from None
    return key, values


def verify(stream: IO[bytes]) -> Checked:
    """Read the whole archive and check every part against the manifest and the checksum
    list. Returns what was checked; refuses (ArchiveRefused) at the first problem."""
    reader = Reader(stream)
    for _, rows in reader.tables(rows=False):
        for _ in rows:
            pass
    return reader.checked()


def read_manifest(stream: IO[bytes]) -> Manifest:
    """Only the manifest (the archive's first member): enough to refuse another kind of file
    or a newer format at once, before anything is made."""
    return Reader(stream).manifest
