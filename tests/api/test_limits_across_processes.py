"""The limits hold for the whole portal, not per process: two real gunicorn processes on the
test database (as `make serve` runs several), asked in turn, share one count of bad API tokens,
of a token's writes and of failed sign-ins (django-axes counts in its own tables), and a lockout
is audited once. Runs on SQLite (both open the same file) and on PostgreSQL."""

import http.client
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection

from portal.models import AuditEvent
from portal.tokens import token_create
from tests.factories import EnvironmentFactory, UserFactory

ROOT = Path(__file__).resolve().parents[2]
TOKEN_FAILURES = 10  # the default API_TOKEN_FAILURES_PER_MINUTE
WRITES = 4
SIGNIN_FAILURES = 3
# What a developer's shell may have set that would change what the servers run with.
PORTAL_ENV = {"DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "WEB_CONCURRENCY"}

# The servers read what this test commits.
pytestmark = pytest.mark.django_db(transaction=True)


def _database_url() -> str:
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"  # the file named in DATABASES["default"]["TEST"]
    auth = quote(s["USER"], safe="") + (
        f":{quote(s['PASSWORD'], safe='')}" if s.get("PASSWORD") else ""
    )
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(port: int, log_path: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in PORTAL_ENV}
    env.update(
        DEBUG="true",
        DATABASE_URL=_database_url(),
        API_TOKEN_FAILURES_PER_MINUTE=str(TOKEN_FAILURES),
        API_WRITES_PER_MINUTE=str(WRITES),
        SIGNIN_FAILURE_LIMIT=str(SIGNIN_FAILURES),
    )
    with log_path.open("w") as log:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                "portal/gunicorn.conf.py",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "1",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _wait_listening(process: subprocess.Popen, port: int, log_path: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            pytest.fail(f"gunicorn exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                pytest.fail(f"gunicorn did not listen within 30 s:\n{log_path.read_text()}")
            time.sleep(0.1)


@pytest.fixture(scope="module")
def ports(django_db_setup, tmp_path_factory):
    """Two gunicorn processes of one worker each, so that the test chooses which one answers."""
    logs = tmp_path_factory.mktemp("gunicorn")
    servers = [(port, logs / f"{port}.log") for port in (_free_port(), _free_port())]
    processes = [_start(port, log) for port, log in servers]
    try:
        for process, (port, log) in zip(processes, servers, strict=True):
            _wait_listening(process, port, log)
        yield [port for port, _ in servers]
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _request(port: int, method: str, path: str, *, token: str, source: str, body=None) -> int:
    # Each attempt comes from an address of its own (all of 127.0.0.0/8 is this machine), so
    # that its count of failed tokens starts at zero.
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
    try:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        conn.request(method, f"/api/v1{path}", json.dumps(body) if body else None, headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def _in_one_minute(send) -> list[int]:
    """The answers of one attempt whose requests all fell in one calendar minute (the window
    the limits count in): an attempt that crossed into the next minute is sent again, fresh."""
    for attempt in range(3):
        minute = int(time.time() // 60)
        answers = send(attempt)
        if int(time.time() // 60) == minute:
            return answers
    raise AssertionError("three attempts in a row crossed a minute")  # each takes about a second


def test_bad_tokens_sent_to_two_processes_in_turn_get_429_after_the_limit(ports):
    def send(attempt: int) -> list[int]:
        return [
            _request(
                ports[n % 2],
                "GET",
                "/environments",
                token=f"envp_deadbeef_guess{n}",
                source=f"127.0.0.{attempt + 2}",
            )
            for n in range(3 * TOKEN_FAILURES)
        ]

    answers = _in_one_minute(send)
    assert answers == [401] * TOKEN_FAILURES + [429] * (2 * TOKEN_FAILURES)


def test_writes_of_one_token_sent_to_two_processes_in_turn_are_limited_once(ports):
    user = UserFactory(tenant_role="global_admin")
    EnvironmentFactory(type="sandbox", slug="shared-count", name="Shared count")

    def send(attempt: int) -> list[int]:
        token = token_create(user=user, name=f"attempt {attempt}")[1]
        return [
            _request(
                ports[n % 2],
                "POST",
                "/environments/shared-count/admin-mode",
                token=token,
                source="127.0.0.1",
                body={"enabled": n % 2 == 0},
            )
            for n in range(3 * WRITES)
        ]

    answers = _in_one_minute(send)
    assert answers == [200] * WRITES + [429] * (2 * WRITES)


def _sign_in(port: int, username: str, password: str, csrf: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        body = f"username={username}&password={password}&csrfmiddlewaretoken={csrf}"
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"csrftoken={csrf}",
        }
        conn.request("POST", "/accounts/login/", body, headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def _csrf_cookie(port: int) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/accounts/login/")
        response = conn.getresponse()
        response.read()
        return re.search(r"csrftoken=(\w+)", response.getheader("Set-Cookie")).group(1)
    finally:
        conn.close()


def test_failed_sign_ins_sent_to_two_processes_in_turn_pause_the_account_once(ports):
    user = UserFactory(username="shared-signin", password="secret-pass-1")
    csrf = _csrf_cookie(ports[0])  # both processes share the secret key, so either accepts it

    answers = [
        _sign_in(ports[n % 2], user.username, "wrong", csrf) for n in range(3 * SIGNIN_FAILURES)
    ]

    # The form again for the first failures, then the lockout page, whichever process answers.
    assert answers == [200] * (SIGNIN_FAILURES - 1) + [429] * (2 * SIGNIN_FAILURES + 1)
    assert [_sign_in(port, user.username, "secret-pass-1", csrf) for port in ports] == [429, 429]
    # Every process saw the lockout again and again; it is in the audit log once.
    assert AuditEvent.objects.filter(action="auth.lockout").count() == 1
