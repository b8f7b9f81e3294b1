"""BACKUP_STORAGE_URL: where export archives go, as one URL, read into a STORAGES entry.

A pure function, so that settings stay one line and every good and bad URL can be tested
without reloading settings.
"""

from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

S3_PARAMETERS = {"endpoint_url", "region", "sse", "kms_key_id"}
SSE_KINDS = {"AES256", "aws:kms"}


def backup_storage_from_url(url: str, base_dir: Path) -> dict:
    """The STORAGES["backups"] entry for `url`: empty means the folder var/backups under
    `base_dir` (so `make run` works with nothing set); file:///abs/path another folder;
    s3://bucket/prefix?endpoint_url=...&region=...&sse=... a bucket through django-storages.
    Credentials are never in the URL: boto3 reads AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY
    (or a role), as every AWS tool does."""
    url = url.strip()
    if not url:
        return _folder(base_dir / "var" / "backups")
    parts = urlsplit(url)
    if parts.scheme == "file":
        return _folder_from_url(parts)
    if parts.scheme == "s3":
        return _s3_from_url(parts)
    raise ImproperlyConfigured(
        "BACKUP_STORAGE_URL must start with file:/// (a folder) or s3:// (a bucket), "
        f"not {parts.scheme + '://' if parts.scheme else repr(url)}."
    )


def _folder(location: Path) -> dict:
    # Overwrite: an archive saved again under its name replaces the old one, as on S3; the
    # folder is made by the first save.
    return {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(location), "allow_overwrite": True},
    }


def _folder_from_url(parts) -> dict:
    if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
        raise ImproperlyConfigured(
            "BACKUP_STORAGE_URL: a file URL needs an absolute path, three slashes in all: "
            "file:///srv/portal-backups"
        )
    if parts.query:
        raise ImproperlyConfigured("BACKUP_STORAGE_URL: a file URL takes no ?options.")
    return _folder(Path(unquote(parts.path)))


def _s3_from_url(parts) -> dict:
    if "@" in parts.netloc:
        raise ImproperlyConfigured(
            "BACKUP_STORAGE_URL: put no credentials in the URL; set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY instead."
        )
    bucket = parts.netloc
    if not bucket:
        raise ImproperlyConfigured(
            "BACKUP_STORAGE_URL: an s3 URL needs a bucket: s3://bucket/optional/prefix"
        )
    params: dict[str, str] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key not in S3_PARAMETERS:
            raise ImproperlyConfigured(
                f"BACKUP_STORAGE_URL: unknown option {key!r}; the options are "
                f"{', '.join(sorted(S3_PARAMETERS))}."
            )
        if key in params:
            raise ImproperlyConfigured(f"BACKUP_STORAGE_URL: {key} is given twice.")
        params[key] = value
    endpoint_url = params.get("endpoint_url") or None
    if endpoint_url and urlsplit(endpoint_url).scheme not in ("http", "https"):
        raise ImproperlyConfigured(
            "BACKUP_STORAGE_URL: endpoint_url must be an http:// or https:// address."
        )
    options = {
        "bucket_name": bucket,
        "location": unquote(parts.path).strip("/"),
        "endpoint_url": endpoint_url,
        "region_name": params.get("region") or None,
        # Archives are private: no public ACL, links to them signed and short-lived.
        "default_acl": None,
        "file_overwrite": True,
        "querystring_auth": True,
    }
    sse = params.get("sse")
    kms_key_id = params.get("kms_key_id")
    if sse is not None:
        if sse not in SSE_KINDS:
            raise ImproperlyConfigured(
                f"BACKUP_STORAGE_URL: sse must be AES256 or aws:kms, not {sse!r}."
            )
        options["object_parameters"] = {"ServerSideEncryption": sse}
    if kms_key_id is not None:
        if sse != "aws:kms" or not kms_key_id:
            raise ImproperlyConfigured(
                "BACKUP_STORAGE_URL: kms_key_id needs sse=aws:kms and a key id."
            )
        options["object_parameters"]["SSEKMSKeyId"] = kms_key_id
    return {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options}
