import json

import pytest

from portal.tokens import token_create


def make_token(user, name="script"):
    return token_create(user=user, name=name)[1]


class Api:
    """The test client speaking JSON to /api/v1/ with a bearer token (or the session)."""

    def __init__(self, client, token=None):
        self.client, self.token = client, token

    def call(self, method, path, body=None, headers=None, **extra):
        headers = dict(headers or {})
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = json.dumps(body) if body is not None else ""
        return self.client.generic(
            method,
            f"/api/v1{path}",
            data,
            content_type="application/json",
            headers=headers,
            **extra,
        )

    def get(self, path, **kwargs):
        return self.client.get(
            f"/api/v1{path}",
            kwargs.pop("params", None),
            headers={"Authorization": f"Bearer {self.token}"} if self.token else {},
            **kwargs,
        )

    def post(self, path, body=None, **kwargs):
        return self.call("POST", path, body, **kwargs)

    def patch(self, path, body=None, **kwargs):
        return self.call("PATCH", path, body, **kwargs)

    def delete(self, path, **kwargs):
        return self.call("DELETE", path, **kwargs)


@pytest.fixture
def api_as(client, db):
    """api_as(user): an Api with a fresh token of that user."""

    def _api_as(user):
        return Api(client, make_token(user))

    return _api_as


@pytest.fixture
def run_on_commit(django_capture_on_commit_callbacks):
    """Run what the request queued on commit (the restore task, immediate backend)."""

    def _run(call, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return call(*args, **kwargs)

    return _run


def assert_error(response, status, code, field=None, match=""):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["code"] == code, body
    assert match in body["message"], body
    assert body.get("field") == field, body
    assert set(body) <= {"code", "message", "field"}
    return body


@pytest.fixture
def api(api_as, global_admin):
    """The API as the global admin, with a token."""
    return api_as(global_admin)
