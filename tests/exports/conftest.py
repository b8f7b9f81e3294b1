import pytest

from tests.factories import make_member


@pytest.fixture(autouse=True)
def _archives_in_tmp(settings, tmp_path):
    """Every test's archives in a folder of its own (the storage tests also run them on S3)."""
    settings.STORAGES = {
        **settings.STORAGES,
        "backups": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "backups")},
        },
    }


@pytest.fixture
def run_tasks(django_capture_on_commit_callbacks):
    """Run what a call queues (exports, imports) in-process, as the worker would."""

    def _run(fn, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return fn(*args, **kwargs)

    return _run


@pytest.fixture
def member():
    return make_member
