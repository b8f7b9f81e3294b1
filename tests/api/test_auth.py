import hashlib

import pytest
from django.test import Client

from portal.models import ApiToken
from portal.tokens import token_revoke
from tests.api.conftest import Api, assert_error, make_token


def test_without_credentials_it_answers_401_json_not_a_login_redirect(client, db):
    response = client.get("/api/v1/environments")
    body = assert_error(response, 401, "unauthenticated", match="Bearer")
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert "login" not in body["message"].lower()


def test_a_write_without_credentials_is_401_not_a_csrf_error(client, db):
    assert_error(
        client.post("/api/v1/environments/x/admin-mode", "{}", content_type="application/json"),
        401,
        "unauthenticated",
    )


def test_a_token_acts_as_its_user(client, global_admin, sandbox):
    response = Api(client, make_token(global_admin)).get("/environments")
    assert response.status_code == 200
    assert [e["slug"] for e in response.json()] == ["sales-sandbox"]


def test_a_token_gets_its_users_rights_and_no_more(client, maker, sandbox):
    assert_error(
        Api(client, make_token(maker)).get("/environments"),
        403,
        "forbidden",
        match="administrators",
    )


@pytest.mark.parametrize(
    "header",
    [
        "Bearer nonsense",
        "Bearer envp_",
        "Bearer envp_abcd1234_wrong",
        "Bearer envp_x_",
        "Bearer " + "envp_" + "a" * 300,
    ],
)
def test_a_bad_token_is_401(client, global_admin, header):
    make_token(global_admin)
    response = client.get("/api/v1/environments", headers={"Authorization": header})
    assert_error(response, 401, "unauthenticated", match="not valid")


def test_a_guessed_token_with_a_real_prefix_is_401(client, global_admin):
    token = make_token(global_admin)
    assert_error(Api(client, token[:-2] + "xx").get("/environments"), 401, "unauthenticated")


def test_a_revoked_token_is_401(client, global_admin, sandbox):
    token = make_token(global_admin)
    api = Api(client, token)
    assert api.get("/environments").status_code == 200
    token_revoke(token=ApiToken.objects.get(user=global_admin), actor=global_admin)
    assert_error(api.get("/environments"), 401, "unauthenticated", match="revoked")


def test_a_token_of_a_deactivated_user_is_401(client, global_admin):
    token = make_token(global_admin)
    global_admin.is_active = False
    global_admin.save()
    assert_error(Api(client, token).get("/environments"), 401, "unauthenticated")


def test_a_bad_token_does_not_fall_back_to_the_session(client, global_admin):
    client.force_login(global_admin)
    assert_error(Api(client, "envp_00000000_nope").get("/environments"), 401, "unauthenticated")


def test_only_a_hash_of_the_token_is_stored_and_last_use_is_recorded(client, global_admin):
    token = make_token(global_admin)
    row = ApiToken.objects.get(user=global_admin)
    assert row.secret_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(ApiToken.objects.values().get())
    assert row.last_used_at is None
    Api(client, token).get("/environments")
    row.refresh_from_db()
    assert row.last_used_at is not None


def test_the_browser_session_works_for_reads_and_for_writes_with_csrf(global_admin, sandbox):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(global_admin)
    assert browser.get("/api/v1/environments/sales-sandbox").status_code == 200
    no_csrf = browser.post(
        "/api/v1/environments/sales-sandbox/admin-mode",
        {"enabled": True},
        content_type="application/json",
    )
    assert_error(no_csrf, 403, "forbidden", match="CSRF")
    browser.get("/settings/tokens/")  # sets the CSRF cookie
    csrf = browser.cookies["csrftoken"].value
    ok = browser.post(
        "/api/v1/environments/sales-sandbox/admin-mode",
        {"enabled": True},
        content_type="application/json",
        headers={"X-CSRFToken": csrf},
    )
    assert ok.status_code == 200 and ok.json()["adminMode"] is True


def test_the_schema_and_docs_page_are_served_without_a_cdn(client, db):
    schema = client.get("/api/v1/openapi.json")
    assert schema.status_code == 200 and schema.json()["openapi"].startswith("3.")
    docs = client.get("/api/v1/docs")
    html = docs.content.decode()
    assert docs.status_code == 200 and "/api/v1/openapi.json" in html
    assert "/api/v1/environments/{environment}/restore" in html
    assert "cdn" not in html.lower() and "<script>" not in html


def test_an_unknown_api_path_is_a_json_404(client, global_admin):
    assert_error(Api(client, make_token(global_admin)).get("/nothing/here"), 404, "not_found")
    assert_error(client.get("/api/v1/nothing"), 404, "not_found")
