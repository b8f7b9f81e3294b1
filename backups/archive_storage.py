"""TEMPORARY stand-in (filesystem only) until the s3 branch lands with the real module."""

from __future__ import annotations

import shutil
from pathlib import Path

from django.core.files.storage import FileSystemStorage, storages


def storage():
    try:
        return storages["backups"]
    except Exception:
        from django.conf import settings

        root = Path(settings.BASE_DIR) / "var" / "backups"
        root.mkdir(parents=True, exist_ok=True)
        return FileSystemStorage(location=root)


def _path(name: str) -> Path:
    return Path(storage().path(name))


def save(name: str, path: Path) -> str:
    target = _path(name)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, target)
    return name


def save_upload(name: str, fileobj) -> str:
    target = _path(name)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as out:
        shutil.copyfileobj(fileobj, out, 1 << 20)
    return name


def size(name: str) -> int:
    return storage().size(name)


def exists(name: str) -> bool:
    return storage().exists(name)


def delete(name: str) -> None:
    if name and storage().exists(name):
        storage().delete(name)


def open_stream(name: str):
    return open(_path(name), "rb")


def read_chunks(name, start=0, end=None, chunk=1 << 20):
    with open(_path(name), "rb") as f:
        f.seek(start)
        left = None if end is None else end - start
        while left is None or left > 0:
            data = f.read(chunk if left is None else min(chunk, left))
            if not data:
                return
            if left is not None:
                left -= len(data)
            yield data


def listed(prefix=""):
    root = Path(storage().location)
    base = root / prefix
    if not base.exists():
        return []
    return sorted(
        (str(p.relative_to(root)), p.stat().st_size) for p in base.rglob("*") if p.is_file()
    )


def ranged_response(request, *, name, size, filename, sha256):
    from django.http import FileResponse

    return FileResponse(open_stream(name), as_attachment=True, filename=filename)
