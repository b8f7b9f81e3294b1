"""Who may do what through the API: the same answers as the pages, whether the caller sends a
token or uses the browser session."""

import json

import pytest

from tests.api.conftest import Api, make_token

ROLES = ["global_admin", "service_admin", "env_admin", "maker", "support", "outsider"]

# (method, path, body) -> the status each role gets, on the sandbox its admin manages.
CASES = {
    ("GET", "/environments", None): {
        "global_admin": 200,
        "service_admin": 200,
        "env_admin": 200,
        "maker": 403,
        "support": 403,
        "outsider": 403,
    },
    (
        "POST",
        "/environments",
        '{"name": "Lab", "slug": "lab", "type": "sandbox", "region": "europe"}',
    ): {
        "global_admin": 201,
        "service_admin": 201,
        "env_admin": 403,
        "maker": 403,
        "support": 403,
        "outsider": 403,
    },
    (
        "POST",
        "/environments/sales-sandbox/restore-to-new",
        '{"restorePointDateTime": "latest", "targetEnvironmentName": "Lab",'
        ' "targetEnvironmentSlug": "lab"}',
    ): {
        "global_admin": 202,
        "service_admin": 202,
        "env_admin": 403,  # manages the source, but only tenant admins make environments
        "maker": 403,
        "support": 403,
        "outsider": 403,
    },
    (
        "POST",
        "/environments/sales-sandbox/copy",
        '{"copyType": "schemaOnly", "targetEnvironmentName": "Lab",'
        ' "targetEnvironmentSlug": "lab"}',
    ): {
        "global_admin": 202,
        "service_admin": 202,
        "env_admin": 403,  # manages the source, but only tenant admins make environments
        "maker": 403,
        "support": 403,
        "outsider": 403,
    },
    ("DELETE", "/environments/sales-sandbox", None): {
        "global_admin": 200,
        "service_admin": 200,
        "env_admin": 200,
        "maker": 403,
        "support": 403,
        "outsider": 403,
    },
    ("GET", "/deleted-environments", None): {
        "global_admin": 200,
        "service_admin": 200,
        "env_admin": 403,
        "maker": 403,
        "support": 403,
        "outsider": 403,
    },
    ("GET", "/environments/sales-sandbox", None): {
        "global_admin": 200,
        "service_admin": 200,
        "env_admin": 200,
        "maker": 403,
        "support": 403,
        "outsider": 403,
    },
    ("GET", "/environments/sales", None): {
        "global_admin": 200,
        "service_admin": 200,
        "env_admin": 404,
        "maker": 403,
        "support": 403,
        "outsider": 403,
    },
    ("POST", "/environments/sales-sandbox/admin-mode", '{"enabled": true}'): {
        "global_admin": 200,
        "service_admin": 200,
        "env_admin": 200,
        "maker": 403,
        "support": 403,
        "outsider": 403,
    },
    ("GET", "/environments/sales-sandbox/backups", None): {
        "global_admin": 200,
        "service_admin": 200,
        "env_admin": 200,
        "maker": 403,
        "support": 403,
        "outsider": 403,
    },
    ("POST", "/environments/sales-sandbox/backups", '{"label": "x"}'): {
        "global_admin": 201,
        "service_admin": 201,
        "env_admin": 201,
        "maker": 403,
        "support": 403,
        "outsider": 403,
    },
    ("POST", "/environments/sales/backups", '{"label": "x"}'): {
        "global_admin": 201,
        "service_admin": 201,
        "env_admin": 404,
        "maker": 403,
        "support": 403,
        "outsider": 403,
    },
    ("GET", "/environments/sales-sandbox/restore-candidates?at=2026-01-01T00:00:00Z", None): {
        "global_admin": 200,
        "service_admin": 200,
        "env_admin": 200,
        "maker": 403,
        "support": 403,
        "outsider": 403,
    },
    (
        "POST",
        "/environments/sales-sandbox/restore",
        '{"sourceEnvironmentId": "sales-sandbox", "restorePointDateTime": "latest"}',
    ): {
        "global_admin": 202,
        "service_admin": 202,
        "env_admin": 202,
        "maker": 403,
        "support": 403,
        "outsider": 403,
    },
    (
        "POST",
        "/environments/sales-sandbox/restore",
        '{"sourceEnvironmentId": "sales", "restorePointDateTime": "latest"}',
    ): {
        "global_admin": 202,
        "service_admin": 202,
        "env_admin": 404,
        "maker": 403,
        "support": 403,
        "outsider": 403,
    },
}


@pytest.fixture
def users(global_admin, service_admin, env_admin, maker, support, outsider):
    return {
        "global_admin": global_admin,
        "service_admin": service_admin,
        "env_admin": env_admin,
        "maker": maker,
        "support": support,
        "outsider": outsider,
    }


@pytest.mark.parametrize("via", ["token", "session"])
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case", list(CASES), ids=lambda c: f"{c[0]} {c[1]}")
def test_the_permission_matrix(client, users, sandbox, production, role, via, case):
    method, path, body = case
    user = users[role]
    if via == "token":
        api = Api(client, make_token(user))
    else:
        client.force_login(user)
        api = Api(client)
    body = None if body is None else json.loads(body)
    response = api.get(path) if method == "GET" else api.call(method, path, body)
    assert response.status_code == CASES[case][role], response.content
    if response.status_code >= 400:
        assert set(response.json()) >= {"code", "message"}
