"""`make serve`'s web server: gunicorn with portal/gunicorn.conf.py and the production settings
(DEBUG off) serves the sign-in page, and whitenoise the collected static files under hashed
names, cached for good."""

import http.client
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# What a developer's shell may have set that would change what the server runs with.
PORTAL_ENV = {
    "DEBUG",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "DATABASE_URL",
    "STATIC_ROOT",
    "SECURE_SSL_REDIRECT",
    "WEB_CONCURRENCY",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def production_env(tmp_path):
    """Production settings on a fresh SQLite file, migrated, with the static files collected."""
    env = {k: v for k, v in os.environ.items() if k not in PORTAL_ENV}
    env.update(
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1",
        DATABASE_URL=f"sqlite:///{tmp_path / 'portal.sqlite3'}",
        STATIC_ROOT=str(tmp_path / "static"),
    )
    for command in (["migrate", "--no-input"], ["collectstatic", "--no-input"]):
        result = subprocess.run(
            [sys.executable, "manage.py", *command],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stdout + result.stderr
    return env


@pytest.fixture
def server(production_env, tmp_path):
    """gunicorn as `make serve` starts it (one worker), on a free port; yields the port."""
    port = _free_port()
    log_path = tmp_path / "gunicorn.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
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
            env=production_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                pytest.fail(f"gunicorn exited with {process.returncode}:\n{log_path.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"gunicorn did not listen within 30 s:\n{log_path.read_text()}")
                time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _get(port, path, **headers):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def test_gunicorn_serves_the_portal_and_whitenoise_its_static_files(server):
    # Production settings: plain HTTP is sent to HTTPS; behind a TLS proxy the page is served.
    status, headers, _ = _get(server, "/accounts/login/")
    assert status == 301
    assert headers["Location"].startswith("https://")

    status, headers, body = _get(server, "/accounts/login/", **{"X-Forwarded-Proto": "https"})
    assert status == 200
    assert "Strict-Transport-Security" in headers
    # The page links the collected file under its hashed name (the manifest storage).
    match = re.search(rb'href="(/static/css/portal\.[0-9a-f]{12}\.css)"', body)
    assert match, body.decode()

    status, headers, css = _get(server, match.group(1).decode(), **{"X-Forwarded-Proto": "https"})
    assert status == 200
    assert headers["Content-Type"].startswith("text/css")
    assert "max-age=" in headers["Cache-Control"]
    assert "immutable" in headers["Cache-Control"]
    assert css == (ROOT / "static" / "css" / "portal.css").read_bytes()
