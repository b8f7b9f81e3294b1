import pytest

from environments.models import Environment
from portal.models import AuditEvent
from tests.api.conftest import assert_error
from tests.factories import EnvironmentFactory, stores_gigabytes


@pytest.fixture
def trial(db):
    return EnvironmentFactory(name="Trial", slug="trial-1", type="trial", region="europe")


def test_it_lists_environments_in_camel_case(api, sandbox, production):
    body = api.get("/environments").json()
    assert [e["slug"] for e in body] == ["sales", "sales-sandbox"]
    first = body[1]
    assert first["id"] == sandbox.pk and first["type"] == "sandbox"
    assert {
        "securityGroupId",
        "adminMode",
        "backgroundOperations",
        "restorableDays",
        "createdDateTime",
        "url",
        "version",
        "state",
        "region",
    } <= set(first)
    assert first["restorableDays"] == 7 and body[0]["restorableDays"] == 28


def test_it_filters_by_type_and_region(api, sandbox, production, trial):
    assert [e["slug"] for e in api.get("/environments", params={"type": "sandbox"}).json()] == [
        "sales-sandbox"
    ]
    assert [e["slug"] for e in api.get("/environments", params={"region": "europe"}).json()] == [
        "trial-1"
    ]
    assert api.get("/environments", params={"type": "trial", "region": "asia"}).json() == []


def test_a_bad_filter_is_400_in_the_error_shape(api, sandbox):
    assert_error(
        api.get("/environments", params={"type": "mainframe"}), 400, "invalid", field="type"
    )


def test_an_environment_admin_lists_only_what_they_manage(api_as, env_admin, sandbox, production):
    assert [e["slug"] for e in api_as(env_admin).get("/environments").json()] == ["sales-sandbox"]


def test_it_gets_one_environment_by_slug_or_id(api, sandbox):
    by_slug = api.get("/environments/sales-sandbox").json()
    by_id = api.get(f"/environments/{sandbox.pk}").json()
    assert by_slug == by_id and by_slug["name"] == "Sales Sandbox"


def test_an_unknown_environment_is_404(api, db):
    assert_error(api.get("/environments/nowhere"), 404, "not_found", match="nowhere")


def test_a_maker_is_refused_and_an_outsider_is_told_nothing(
    api_as, maker, outsider, env_admin, sandbox, production
):
    # The maker administers nothing: the admin center (and its API) is not theirs.
    assert_error(api_as(maker).get("/environments/sales"), 403, "forbidden")
    assert_error(api_as(outsider).get("/environments/sales"), 403, "forbidden")
    # The environment admin of the sandbox is in the admin center but does not see "sales".
    assert_error(api_as(env_admin).get("/environments/sales"), 404, "not_found")


def test_it_converts_production_to_sandbox_and_back(api, production):
    response = api.post("/environments/sales/change-type", {"type": "sandbox"})
    assert response.status_code == 200 and response.json()["type"] == "sandbox"
    assert response.json()["restorableDays"] == 7
    assert (
        api.post("/environments/sales/change-type", {"type": "production"}).json()["type"]
        == "production"
    )
    assert (
        AuditEvent.objects.filter(
            action="environment.change_type", actor__username="global"
        ).count()
        == 2
    )


def test_converting_a_trial_is_refused_by_the_rule(api, trial):
    assert_error(
        api.post("/environments/trial-1/change-type", {"type": "sandbox"}),
        403,
        "forbidden",
        match="Only production and sandbox",
    )
    assert Environment.objects.get(slug="trial-1").type == "trial"


def test_converting_to_the_same_type_is_a_422(api, sandbox):
    assert_error(
        api.post("/environments/sales-sandbox/change-type", {"type": "sandbox"}),
        422,
        "refused",
        field="type",
        match="already a sandbox",
    )


def test_converting_to_trial_is_a_422(api, sandbox):
    assert_error(
        api.post("/environments/sales-sandbox/change-type", {"type": "trial"}),
        422,
        "refused",
        field="type",
    )


def test_converting_a_restoring_environment_is_a_409(api, sandbox):
    Environment.objects.filter(pk=sandbox.pk).update(state="restoring")
    assert_error(
        api.post("/environments/sales-sandbox/change-type", {"type": "production"}),
        409,
        "conflict",
        match="restoring",
    )


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "type"),
        ({"type": 3}, "type"),
        ({"type": "sandbox", "extra": 1}, "extra"),
    ],
)
def test_a_bad_body_is_400(api, sandbox, body, field):
    assert_error(
        api.post("/environments/sales-sandbox/change-type", body), 400, "invalid", field=field
    )


def test_malformed_json_is_400(api, sandbox):
    response = api.client.generic(
        "POST",
        "/api/v1/environments/sales-sandbox/admin-mode",
        "{not json",
        content_type="application/json",
        headers={"Authorization": f"Bearer {api.token}"},
    )
    assert_error(response, 400, "invalid")


def test_it_turns_administration_mode_on_and_off(api, sandbox):
    assert (
        api.post("/environments/sales-sandbox/admin-mode", {"enabled": True}).json()["adminMode"]
        is True
    )
    assert (
        api.post("/environments/sales-sandbox/admin-mode", {"enabled": False}).json()["adminMode"]
        is False
    )
    assert AuditEvent.objects.filter(action="environment.admin_mode").count() == 2


def test_administration_mode_of_a_restoring_environment_is_a_409(api, sandbox):
    Environment.objects.filter(pk=sandbox.pk).update(state="restoring")
    assert_error(
        api.post("/environments/sales-sandbox/admin-mode", {"enabled": True}), 409, "conflict"
    )


def test_a_wrong_method_is_405(api, sandbox):
    assert api.patch("/environments/sales-sandbox").status_code == 405


# -- create --

NEW = {"name": "Test Lab", "slug": "test-lab", "type": "trial", "region": "asia"}


def test_a_tenant_admin_creates_an_environment(api, clock):
    response = api.post("/environments", {**NEW, "securityGroupId": "Lab team"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["slug"], body["type"], body["region"], body["securityGroupId"]) == (
        "test-lab",
        "trial",
        "asia",
        "Lab team",
    )
    assert body["expirationDateTime"] == "2026-12-20T12:00:00Z"
    assert Environment.objects.get(slug="test-lab").created_by.username == "global"
    assert AuditEvent.objects.filter(action="environment.create", environment__slug="test-lab")


def test_creating_refuses_a_taken_url_name_with_its_field(api, sandbox):
    assert_error(
        api.post("/environments", {**NEW, "slug": "sales-sandbox"}),
        422,
        "refused",
        field="slug",
        match="is taken",
    )


def test_creating_refuses_what_the_schema_does_not_allow(api, db):
    assert api.post("/environments", {**NEW, "type": "staging"}).status_code == 400
    assert api.post("/environments", {**NEW, "slug": "x" * 64}).status_code == 400
    assert not Environment.objects.exists()


def test_creating_is_refused_when_the_tenant_has_no_room(api, sandbox, settings):
    settings.TENANT_CAPACITY_GB = 2
    stores_gigabytes(sandbox, 1.5)
    assert_error(api.post("/environments", NEW), 422, "refused", match="must remain free")


# -- delete and recover --


def test_delete_and_recover(api, sandbox, clock):
    response = api.delete("/environments/sales-sandbox")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["deletedDateTime"], body["recoverableUntilDateTime"]) == (
        "2026-11-20T12:00:00Z",
        "2026-11-27T12:00:00Z",
    )
    assert api.get("/environments/sales-sandbox").status_code == 404
    assert [e["slug"] for e in api.get("/deleted-environments").json()] == ["sales-sandbox"]
    recovered = api.post("/deleted-environments/sales-sandbox/recover")
    assert recovered.status_code == 200 and recovered.json()["deletedDateTime"] is None
    assert api.get("/environments/sales-sandbox").status_code == 200


def test_deleting_production_needs_its_confirmation(api, production):
    assert_error(
        api.delete("/environments/sales"),
        422,
        "refused",
        field="confirmProduction",
        match="production environment",
    )
    assert api.delete("/environments/sales?confirmProduction=true").status_code == 200


def test_the_default_environment_cannot_be_deleted(api, db):
    EnvironmentFactory(type="default", slug="contoso-default")
    assert_error(
        api.delete("/environments/contoso-default"), 422, "refused", match="Default environment"
    )


def test_recovering_what_is_not_deleted_is_a_404(api, sandbox):
    assert api.post("/deleted-environments/sales-sandbox/recover").status_code == 404
