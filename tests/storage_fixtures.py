"""Where archives go in tests: a folder under tmp_path, or a bucket on a real S3 API server
(moto's) on 127.0.0.1. Registered from tests/conftest.py (pytest_plugins)."""

import subprocess
import sys
import uuid
from dataclasses import dataclass

import boto3
import pytest

from portal.storage_url import backup_storage_from_url

REGION = "eu-west-1"
# Made up: the moto server takes any key, and nothing reads the real AWS_* variables.
DUMMY_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
PREFIX = "portal"

# In a child process, so that what a test measures with tracemalloc is the portal's memory,
# not the server's (moto keeps every object it is sent in memory). It stops at end of input.
SERVER = """
import sys
from moto.server import ThreadedMotoServer

server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()
server.stop()
"""


@dataclass
class S3Server:
    endpoint_url: str

    def client(self):
        return boto3.client(
            "s3", endpoint_url=self.endpoint_url, region_name=REGION, **DUMMY_CREDENTIALS
        )


@dataclass
class BackupStorage:
    """Which storage a test runs against; for S3 also the bucket and a client to look at the
    objects themselves (key: `key(name)`)."""

    kind: str
    bucket: str | None = None
    client: object | None = None

    def key(self, name: str) -> str:
        return f"{PREFIX}/{name}"


@pytest.fixture(scope="session")
def s3_server():
    """moto's S3 API server on 127.0.0.1, on a port the system picked; one per test run."""
    process = subprocess.Popen(
        [sys.executable, "-c", SERVER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port = process.stdout.readline().strip()
        if not port.isdigit():
            raise RuntimeError(f"The moto S3 server did not start (it said {port!r})")
        yield S3Server(endpoint_url=f"http://127.0.0.1:{port}")
    finally:
        process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(params=["filesystem", "s3"])
def backup_storage(request, settings, tmp_path):
    """settings.STORAGES["backups"] pointed at a fresh folder, or at a fresh bucket on the
    moto server written through the settings' own URL parsing (under a prefix, with sse=AES256,
    so that the encryption a test sees comes from the storage's settings, not the bucket's).
    Assigning settings.STORAGES sends setting_changed, on which Django empties its storages
    cache, so archive_storage.storage() is the new one (and the old one again afterwards)."""
    if request.param == "filesystem":
        entry = backup_storage_from_url(f"file://{tmp_path / 'backups'}", tmp_path)
        found = BackupStorage(kind="filesystem")
    else:
        server = request.getfixturevalue("s3_server")
        bucket = f"backups-{uuid.uuid4().hex[:16]}"
        client = server.client()
        client.create_bucket(
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        query = f"endpoint_url={server.endpoint_url}&region={REGION}&sse=AES256"
        entry = backup_storage_from_url(f"s3://{bucket}/{PREFIX}?{query}", tmp_path)
        entry["OPTIONS"]["access_key"] = DUMMY_CREDENTIALS["aws_access_key_id"]
        entry["OPTIONS"]["secret_key"] = DUMMY_CREDENTIALS["aws_secret_access_key"]
        found = BackupStorage(kind="s3", bucket=bucket, client=client)
    settings.STORAGES = {**settings.STORAGES, "backups": entry}
    return found
