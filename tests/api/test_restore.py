import pytest

from backups import services
from backups.models import RestoreOperation
from environments import store
from environments.models import Environment
from tests.api.conftest import assert_error
from tests.factories import EnvironmentFactory, ago

pytestmark = pytest.mark.usefixtures("clock")


def restore(api, run_on_commit, target="contoso-test", key=None, **body):
    headers = {"Idempotency-Key": key} if key else {}
    return run_on_commit(api.post, f"/environments/{target}/restore", body, headers=headers)


def test_a_restore_answers_202_with_the_operation_and_where_to_poll_it(
    api, run_on_commit, source, target
):
    moment = ago(days=2, hours=-1)
    expected = store.as_of(source, moment).as_dict()
    response = restore(
        api,
        run_on_commit,
        sourceEnvironmentId="contoso-prod",
        restorePointDateTime=moment.isoformat(),
        targetEnvironmentName="Copy",
        targetSecurityGroupId="",
    )
    assert response.status_code == 202, response.content
    op = response.json()
    assert response["Location"] == f"/api/v1/operations/{op['id']}"
    assert (op["sourceEnvironment"], op["targetEnvironment"]) == ("contoso-prod", "contoso-test")
    assert op["targetEnvironmentName"] == "Copy" and op["requestedBy"] == "global"
    polled = api.get(f"/operations/{op['id']}").json()
    assert polled["status"] == "succeeded" and polled["percentComplete"] == 100
    assert store.current(target).as_dict() == expected
    target.refresh_from_db()
    assert (target.name, target.security_group, target.admin_mode) == ("Copy", "", True)


def test_a_restore_by_numeric_ids_from_a_manual_backup(
    api, run_on_commit, global_admin, source, target
):
    backup = services.backup_create(environment=source, label="Checkpoint", actor=global_admin)
    response = restore(
        api, run_on_commit, target=str(target.pk), sourceEnvironmentId=source.pk, backupId=backup.pk
    )
    assert response.status_code == 202, response.content
    assert response.json()["backupId"] == backup.pk
    assert RestoreOperation.objects.get().moment == backup.backup_at


def test_latest_restores_the_source_as_it_is_now(api, run_on_commit, source, target):
    now = store.current(source).as_dict()
    response = restore(
        api, run_on_commit, sourceEnvironmentId="contoso-prod", restorePointDateTime="latest"
    )
    assert response.status_code == 202, response.content
    assert store.current(target).as_dict() == now


def test_the_same_idempotency_key_gives_the_same_operation(api, source, target):
    body = {"sourceEnvironmentId": "contoso-prod", "restorePointDateTime": "latest"}
    first = api.post(
        "/environments/contoso-test/restore", body, headers={"Idempotency-Key": "deploy-42"}
    )
    second = api.post(
        "/environments/contoso-test/restore", body, headers={"Idempotency-Key": "deploy-42"}
    )
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]
    assert RestoreOperation.objects.count() == 1


def test_a_second_restore_of_a_busy_target_is_a_409(api, source, target):
    body = {"sourceEnvironmentId": "contoso-prod", "restorePointDateTime": "latest"}
    assert api.post("/environments/contoso-test/restore", body).status_code == 202
    assert_error(
        api.post("/environments/contoso-test/restore", body), 409, "conflict", match="restoring"
    )


@pytest.mark.parametrize(
    "target_slug, body, field, match",
    [
        (
            "contoso-prod",
            {"restorePointDateTime": "latest"},
            "environment",
            "Convert it to a sandbox",
        ),
        (
            "contoso-test",
            {"restorePointDateTime": ago(days=29).isoformat()},
            "restorePointDateTime",
            "outside that window",
        ),
        ("contoso-test", {}, "restorePointDateTime", "either a moment or a backup"),
        (
            "contoso-test",
            {"restorePointDateTime": "latest", "backupId": 1},
            "backupId",
            "no backup 1",
        ),
        ("contoso-test", {"targetEnvironmentName": " "}, "restorePointDateTime", "either"),
        (
            "contoso-test",
            {"restorePointDateTime": "latest", "targetEnvironmentName": " "},
            "targetEnvironmentName",
            "1 to 100",
        ),
        (
            "contoso-test",
            {"restorePointDateTime": "latest", "targetSecurityGroupId": "x" * 101},
            "targetSecurityGroupId",
            "at most 100",
        ),
    ],
)
def test_each_rule_refusal_is_a_422_with_its_field(
    api, source, target, target_slug, body, field, match
):
    response = api.post(
        f"/environments/{target_slug}/restore", {"sourceEnvironmentId": "contoso-prod", **body}
    )
    assert_error(response, 422, "refused", field=field, match=match)
    assert not RestoreOperation.objects.exists()
    assert set(Environment.objects.values_list("state", flat=True)) == {"ready"}


def test_another_region_is_refused(api, source, db):
    EnvironmentFactory(slug="far", type="sandbox", region="europe", created_at=ago(days=3))
    assert_error(
        api.post(
            "/environments/far/restore",
            {"sourceEnvironmentId": "contoso-prod", "restorePointDateTime": "latest"},
        ),
        422,
        "refused",
        field="environment",
        match="share a region",
    )


def test_a_backup_of_another_environment_is_refused(api, global_admin, source, target):
    backup = services.backup_create(environment=target, label="b", actor=global_admin)
    assert_error(
        api.post(
            "/environments/contoso-test/restore",
            {"sourceEnvironmentId": "contoso-prod", "backupId": backup.pk},
        ),
        422,
        "refused",
        field="backupId",
        match="another environment",
    )


@pytest.mark.parametrize(
    "body, field",
    [
        ({"restorePointDateTime": "latest"}, "sourceEnvironmentId"),
        (
            {"sourceEnvironmentId": "contoso-prod", "restorePointDateTime": "2026-11-19T10:00:00"},
            "restorePointDateTime",
        ),
        (
            {"sourceEnvironmentId": "contoso-prod", "restorePointDateTime": "soon"},
            "restorePointDateTime",
        ),
        ({"sourceEnvironmentId": "contoso-prod", "backupId": "one"}, "backupId"),
    ],
)
def test_bad_input_is_a_400(api, source, target, body, field):
    response = api.post("/environments/contoso-test/restore", body)
    assert_error(response, 400, "invalid", field=field)


def test_an_unknown_source_is_a_404(api, target):
    assert_error(
        api.post(
            "/environments/contoso-test/restore",
            {"sourceEnvironmentId": "nowhere", "restorePointDateTime": "latest"},
        ),
        404,
        "not_found",
    )


def test_an_overlong_idempotency_key_is_a_400(api, source, target):
    response = api.post(
        "/environments/contoso-test/restore",
        {"sourceEnvironmentId": "contoso-prod", "restorePointDateTime": "latest"},
        headers={"Idempotency-Key": "k" * 101},
    )
    assert_error(response, 400, "invalid", field="Idempotency-Key")


def test_an_environment_admin_cannot_restore_from_a_source_they_do_not_manage(
    api_as, env_admin, maker, source, target
):
    from environments.models import Membership
    from tests.factories import make_member

    make_member(source, env_admin, Membership.Role.MAKER)
    # They use the source's data, so they see it; the service says why they may not use it.
    assert_error(
        api_as(env_admin).post(
            "/environments/contoso-test/restore",
            {"sourceEnvironmentId": "contoso-prod", "restorePointDateTime": "latest"},
        ),
        403,
        "forbidden",
        match="do not manage Contoso Prod",
    )


def test_undo_puts_the_target_back(api, run_on_commit, source, target):
    before = store.current(target).as_dict()
    op = restore(
        api,
        run_on_commit,
        sourceEnvironmentId="contoso-prod",
        restorePointDateTime=ago(days=1).isoformat(),
    ).json()
    response = run_on_commit(api.post, f"/operations/{op['id']}/undo")
    assert response.status_code == 202, response.content
    undo = response.json()
    assert undo["undoOfId"] == op["id"]
    assert response["Location"] == f"/api/v1/operations/{undo['id']}"
    assert api.get(f"/operations/{undo['id']}").json()["status"] == "succeeded"
    assert store.current(target).as_dict() == before


def test_only_a_succeeded_restore_can_be_undone(api, source, target):
    op = api.post(
        "/environments/contoso-test/restore",
        {"sourceEnvironmentId": "contoso-prod", "restorePointDateTime": "latest"},
    ).json()
    assert op["status"] == "queued"
    assert_error(api.post(f"/operations/{op['id']}/undo"), 422, "refused", match="succeeded")


def test_an_operation_is_visible_only_to_those_who_manage_its_target(
    api, api_as, env_admin, outsider, global_admin, source, target
):
    op = api.post(
        "/environments/contoso-test/restore",
        {"sourceEnvironmentId": "contoso-prod", "restorePointDateTime": "latest"},
    ).json()
    assert api_as(env_admin).get(f"/operations/{op['id']}").status_code == 200
    assert_error(api_as(outsider).get(f"/operations/{op['id']}"), 403, "forbidden")
    other = EnvironmentFactory(slug="other", type="sandbox", created_at=ago(days=3))
    from environments.models import Membership
    from tests.factories import make_member

    make_member(other, outsider, Membership.Role.ADMIN)
    assert_error(api_as(outsider).get(f"/operations/{op['id']}"), 404, "not_found")
    assert_error(api_as(outsider).post(f"/operations/{op['id']}/undo"), 404, "not_found")
    assert_error(api.get("/operations/999999"), 404, "not_found")


def test_the_same_key_with_latest_twice_returns_the_first_operation(
    api, run_on_commit, source, target, clock
):
    import datetime

    first = restore(
        api,
        run_on_commit,
        key="deploy-43",
        sourceEnvironmentId="contoso-prod",
        restorePointDateTime="latest",
    )
    clock.shift(datetime.timedelta(seconds=30))  # "latest" is a later moment now
    again = restore(
        api,
        run_on_commit,
        key="deploy-43",
        sourceEnvironmentId="contoso-prod",
        restorePointDateTime="latest",
    )
    assert first.status_code == again.status_code == 202, again.content
    assert again.json()["id"] == first.json()["id"]
    assert RestoreOperation.objects.count() == 1


def test_the_same_key_for_another_point_is_refused(api, run_on_commit, source, target):
    restore(
        api,
        run_on_commit,
        key="deploy-44",
        sourceEnvironmentId="contoso-prod",
        restorePointDateTime="latest",
    )
    other = restore(
        api,
        run_on_commit,
        key="deploy-44",
        sourceEnvironmentId="contoso-prod",
        restorePointDateTime=ago(days=2).isoformat(),
    )
    assert_error(other, 422, "refused", field="Idempotency-Key", match="different restore")


# -- into a new sandbox --


def test_a_restore_into_a_new_sandbox_answers_202_and_makes_it(api, run_on_commit, source):
    moment = ago(days=2, hours=-1)
    body = {
        "restorePointDateTime": moment.isoformat(),
        "targetEnvironmentName": "Contoso Copy",
        "targetEnvironmentSlug": "contoso-copy",
    }
    response = run_on_commit(api.post, "/environments/contoso-prod/restore-to-new", body)
    assert response.status_code == 202, response.content
    op = response.json()
    assert (op["sourceEnvironment"], op["targetEnvironment"]) == ("contoso-prod", "contoso-copy")
    assert api.get(f"/operations/{op['id']}").json()["status"] == "succeeded"
    new = Environment.objects.get(slug="contoso-copy")
    assert (new.type, new.region) == ("sandbox", source.region)
    assert store.current(new).as_dict() == store.as_of(source, moment).as_dict()


def test_a_restore_into_a_new_sandbox_refuses_a_taken_url_name(api, source, target):
    body = {
        "restorePointDateTime": "latest",
        "targetEnvironmentName": "Again",
        "targetEnvironmentSlug": "contoso-test",
    }
    assert_error(
        api.post("/environments/contoso-prod/restore-to-new", body),
        422,
        "refused",
        field="targetEnvironmentSlug",
        match="is taken",
    )
    assert not RestoreOperation.objects.exists()
    assert api.post("/environments/contoso-prod/restore-to-new", {}).status_code == 400


# -- copy --


def test_a_copy_of_the_schema_into_a_new_sandbox(api, run_on_commit, source):
    body = {
        "copyType": "schemaOnly",
        "targetEnvironmentName": "Contoso Schema",
        "targetEnvironmentSlug": "contoso-schema",
    }
    response = run_on_commit(api.post, "/environments/contoso-prod/copy", body)
    assert response.status_code == 202, response.content
    op = response.json()
    assert (op["kind"], op["targetEnvironment"]) == ("copy_schema", "contoso-schema")
    new = Environment.objects.get(slug="contoso-schema")
    assert {t.name for t in store.current(new).tables()} == {"accounts", "contacts"}
    assert store.storage_used(new).current_rows == 0


def test_a_copy_over_an_existing_sandbox(api, run_on_commit, source, target):
    Environment.objects.filter(pk=target.pk).update(region=source.region)
    body = {"targetEnvironmentId": target.pk}
    response = run_on_commit(api.post, "/environments/contoso-prod/copy", body)
    assert response.status_code == 202, response.content
    assert response.json()["kind"] == "copy"
    assert store.current(target).as_dict() == store.current(source).as_dict()


def test_a_copy_needs_one_target(api, source, target):
    both = {"targetEnvironmentId": "contoso-test", "targetEnvironmentSlug": "x"}
    for body in ({}, both):
        assert_error(
            api.post("/environments/contoso-prod/copy", body),
            422,
            "refused",
            field="targetEnvironmentId",
            match="Give either",
        )
    assert not RestoreOperation.objects.exists()


def test_the_operations_list_shows_what_the_caller_manages_newest_first(
    api, api_as, run_on_commit, env_admin, source, target
):
    first = restore(
        api, run_on_commit, sourceEnvironmentId="contoso-test", restorePointDateTime="latest"
    ).json()
    body = {"targetEnvironmentName": "Copy", "targetEnvironmentSlug": "contoso-copy"}
    second = run_on_commit(api.post, "/environments/contoso-prod/copy", body).json()
    listed = api.get("/operations").json()
    assert [(o["id"], o["kind"]) for o in listed] == [
        (second["id"], "copy"),
        (first["id"], "restore"),
    ]
    assert [o["id"] for o in api.get("/operations", params={"kind": "restore"}).json()] == [
        first["id"]
    ]
    assert [
        o["id"] for o in api.get("/operations", params={"environment": "contoso-copy"}).json()
    ] == [second["id"]]
    # An environment admin sees the operations on the environments they manage only.
    assert [o["id"] for o in api_as(env_admin).get("/operations").json()] == [first["id"]]
    assert api.get("/operations", params={"environment": "nowhere"}).status_code == 404
