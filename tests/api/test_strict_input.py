"""Input means what it says: moments are ISO 8601 text with an offset, booleans are true or
false, and numeric ids are ASCII digits; anything else is a clear 400 (or 404), never a 500."""

import pytest

from tests.api.conftest import assert_error


@pytest.mark.parametrize("at", ["0.5", "1732000000", "2026-11-20", "yesterday"])
def test_a_moment_that_is_not_iso_text_is_400(api, sandbox, at):
    response = api.get(f"/environments/{sandbox.slug}/restore-candidates", params={"at": at})
    assert_error(response, 400, "invalid", field="at", match="ISO 8601")


def test_an_iso_moment_with_an_offset_is_taken(api, sandbox):
    response = api.get(
        f"/environments/{sandbox.slug}/restore-candidates",
        params={"at": "2026-11-20T09:30:00+01:00"},
    )
    assert response.status_code == 200
    assert response.json()["requestedDateTime"].startswith("2026-11-20T08:30:00")


@pytest.mark.parametrize("point", [0.5, 1732000000, "2026-11-20"])
def test_a_restore_point_that_is_not_iso_text_is_400(api, sandbox, production, point):
    response = api.post(
        f"/environments/{sandbox.slug}/restore",
        {"sourceEnvironmentId": production.slug, "restorePointDateTime": point},
    )
    assert response.status_code == 400, response.content


@pytest.mark.parametrize("enabled", [0, 1, "true", "off", None])
def test_a_switch_takes_only_true_or_false(api, sandbox, enabled):
    response = api.post(f"/environments/{sandbox.slug}/admin-mode", {"enabled": enabled})
    assert_error(response, 400, "invalid", field="enabled")
    sandbox.refresh_from_db()
    assert sandbox.admin_mode is False


def test_a_real_boolean_works(api, sandbox):
    assert (
        api.post(f"/environments/{sandbox.slug}/admin-mode", {"enabled": True}).status_code == 200
    )


@pytest.mark.parametrize("ref", ["%C2%B2", "%E2%91%A0", "%D9%A3"])  # ², ①, Arabic-Indic 3
def test_non_ascii_digits_name_no_environment(api, sandbox, ref):
    assert_error(api.get(f"/environments/{ref}"), 404, "not_found")


def test_non_ascii_digits_as_a_source_are_refused(api, sandbox):
    response = api.post(
        f"/environments/{sandbox.slug}/restore",
        {"sourceEnvironmentId": "²", "restorePointDateTime": "latest"},
    )
    assert response.status_code == 404, response.content


def test_the_schema_names_every_error_an_operation_can_answer(client, db):
    spec = client.get("/api/v1/openapi.json").json()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            assert {"400", "401", "429"} <= set(operation["responses"]), (method, path)


def test_non_ascii_digits_in_pages(client, global_admin, sandbox):
    client.force_login(global_admin)
    for url in (
        "/environments/%E2%91%A0/backups/system/",
        "/environments/%C2%B2/",
        "/environments/%E2%91%A0/backups/manual/",
    ):
        assert client.get(url).status_code == 404


def test_the_schema_states_the_rules_about_a_requests_own_values(client, db):
    schemas = client.get("/api/v1/openapi.json").json()["components"]["schemas"]
    new = schemas["EnvironmentIn"]["properties"]
    assert new["slug"]["pattern"] == "^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"
    assert new["slug"]["not"] == {"enum": ["deleted", "new"]}
    assert r"[^\s" in new["name"]["pattern"]  # not blank
    assert new["securityGroupId"]["pattern"] == r"^[^\x00]*$"
    assert schemas["ChangeTypeIn"]["properties"]["type"]["enum"] == ["sandbox", "production"]
    label = schemas["BackupCreateIn"]["properties"]["label"]
    assert (label["maxLength"], r"[^\s" in label["pattern"]) == (100, True)
    assert len(schemas["RestoreIn"]["oneOf"]) == len(schemas["CopyIn"]["oneOf"]) == 2
