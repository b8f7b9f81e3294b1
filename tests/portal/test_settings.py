import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from portal.settings import env_bool, env_int, env_list

ROOT = Path(__file__).resolve().parents[2]


def test_env_helpers_read_and_refuse(monkeypatch):
    monkeypatch.setenv("X_BOOL", "off")
    monkeypatch.setenv("X_INT", "42")
    monkeypatch.setenv("X_LIST", "a.test, b.test,")
    assert env_bool("X_BOOL", True) is False
    assert env_int("X_INT", 1) == 42
    assert env_list("X_LIST", []) == ["a.test", "b.test"]
    assert env_bool("X_MISSING", True) is True
    monkeypatch.setenv("X_BOOL", "perhaps")
    monkeypatch.setenv("X_INT", "many")
    with pytest.raises(ImproperlyConfigured, match="true or false"):
        env_bool("X_BOOL", True)
    with pytest.raises(ImproperlyConfigured, match="whole number"):
        env_int("X_INT", 1)


def _manage(*args, **env):
    clean = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY"}}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_deploy_checks_are_clean_with_production_settings(tmp_path):
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="false",
        SECRET_KEY="x" * 30 + "production-only-secret-value-0123456789",
        ALLOWED_HOSTS="portal.example.test",
        STATIC_ROOT=str(tmp_path),
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_debug_is_off_unless_asked_for():
    result = _manage(
        "shell",
        "-c",
        "from django.conf import settings; print(settings.DEBUG)",
        SECRET_KEY="x" * 30 + "production-only-secret-value-0123456789",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "False"


def test_without_settings_it_says_how_to_start_for_development():
    result = _manage("check")
    assert result.returncode != 0
    assert "set DEBUG=true" in result.stderr


def test_production_refuses_to_start_without_a_secret_key():
    result = _manage("check", DEBUG="false")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_the_browser_time_zone_cookie_is_read_as_the_script_writes_it(client, global_admin):
    from django.utils import timezone as tz

    from portal.middleware import ViewerTimezoneMiddleware

    seen = {}

    def view(request):
        seen["zone"] = tz.get_current_timezone_name()
        return None

    request = type("R", (), {"COOKIES": {"tz": "Asia%2FKolkata"}, "user": global_admin})()
    ViewerTimezoneMiddleware(view)(request)
    assert seen["zone"] == "Asia/Kolkata"
