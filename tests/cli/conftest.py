import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


class Result:
    def __init__(self, code, out, err):
        self.code, self.out, self.err = code, out, err


@pytest.fixture
def run():
    """run("backups", "list", ...): the command in-process; exit code, stdout and stderr."""

    def _run(*args):
        out, err = io.StringIO(), io.StringIO()
        try:
            call_command(*args, stdout=out, stderr=err)
        except CommandError as exc:
            return Result(exc.returncode, out.getvalue(), str(exc))
        return Result(0, out.getvalue(), err.getvalue())

    return _run


def database_url() -> str:
    s = connection.settings_dict
    if connection.vendor == "postgresql":
        return f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
    return f"sqlite:///{s['NAME']}"


def manage(*args, env=None, timeout=120) -> subprocess.CompletedProcess:
    """A real `manage.py` process on the test database."""
    environ = {**os.environ, "DATABASE_URL": database_url(), "DEBUG": "true", **(env or {})}
    environ.pop("PORTAL_USER", None) if env is None or "PORTAL_USER" not in env else None
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
