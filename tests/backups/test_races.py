"""Requests that meet: each at once on its own PostgreSQL connection (a thread each, through
the real doors: the pages, the API, the command), many rounds. The database decides every
race (unique keys, row locks, the capacity lock), so each request gets an answer, never a 500,
and the outcome is the one a request sent alone would give."""

import json
from functools import partial

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.utils import timezone

from backups import copies, engine
from backups.models import RestoreOperation
from environments import capacity, generations, services, store
from environments.models import CapacityReservation, Environment
from portal.errors import Conflict, Refused
from portal.tokens import token_create
from tests.backups.workers import POSTGRES_ONLY, at_once
from tests.factories import EnvironmentFactory, UserFactory, make_table, stores_gigabytes

pytestmark = POSTGRES_ONLY

CONNECTIONS = 8
ROUNDS = 4


@pytest.fixture(autouse=True)
def _queue_only(settings):
    # Operations are queued and never run here: what is decided is who gets them.
    settings.TASKS_BACKEND = "default"
    settings.API_WRITES_PER_MINUTE = 0


@pytest.fixture
def admin(db):
    return UserFactory(username="racer", tenant_role="global_admin")


@pytest.fixture
def token(admin):
    return token_create(user=admin, name="race")[1]


@pytest.fixture
def source(admin):
    env = EnvironmentFactory(
        name="Race Source",
        slug="race-source",
        type="production",
        created_at=timezone.now() - timezone.timedelta(days=3),
    )
    table = make_table(env)
    with store.changes(env) as cs:
        for n in range(20):
            cs.create_row(table, {"name": f"row {n}"})
    return env


def _api(token, path, body, key=None):
    headers = {"Authorization": f"Bearer {token}"}
    if key:
        headers["Idempotency-Key"] = key
    response = Client().post(
        f"/api/v1{path}", json.dumps(body), content_type="application/json", headers=headers
    )
    return response.status_code, response.json()


def _page(user, path, data):
    client = Client()
    client.force_login(user)
    return client.post(path, data).status_code, None


def _command(name, slug):
    try:
        call_command(
            "environments", "create", "--name", name, "--slug", slug,
            "--type", "sandbox", "--region", "unitedstates", "--as", "racer",
        )  # fmt: skip
    except CommandError as exc:
        return exc.returncode, str(exc)
    return 0, None


# Each door that makes a new URL name, as one request of racer `n` for `slug`.
DOORS = {
    "new page": lambda ctx, n, slug: _page(
        ctx["admin"],
        "/environments/new/",
        {"name": f"New {n} for {slug}", "slug": slug, "type": "sandbox", "region": "unitedstates"},
    ),
    "api create": lambda ctx, n, slug: _api(
        ctx["token"],
        "/environments",
        {"name": f"New {n} for {slug}", "slug": slug, "type": "sandbox", "region": "unitedstates"},
    ),
    "command": lambda ctx, n, slug: _command(f"New {n} for {slug}", slug),
    "api restore-to-new": lambda ctx, n, slug: _api(
        ctx["token"],
        "/environments/race-source/restore-to-new",
        {
            "restorePointDateTime": "latest",
            "targetEnvironmentName": f"New {n} for {slug}",
            "targetEnvironmentSlug": slug,
        },
        key=f"{slug}-{n}",
    ),
    "api copy-to-new": lambda ctx, n, slug: _api(
        ctx["token"],
        "/environments/race-source/copy",
        {"targetEnvironmentName": f"New {n} for {slug}", "targetEnvironmentSlug": slug},
        key=f"{slug}-{n}",
    ),
    "copy page": lambda ctx, n, slug: _page(
        ctx["admin"],
        "/environments/race-source/copy/",
        {
            "step": "copy",
            "what": "everything",
            "target": "new",
            "new_env_name": f"New {n} for {slug}",
            "new_env_slug": slug,
            "idempotency_key": f"{slug}-{n}",
        },
    ),
}
# What the one request that gets the name answers, and what every other one does.
WON = {"new page": 302, "api create": 201, "command": 0, "copy page": 302}
LOST = {"new page": 200, "api create": 422, "command": 1, "copy page": 200}


@pytest.mark.parametrize("door", DOORS)
def test_the_same_url_name_from_8_connections_makes_one_environment_and_no_500(
    door, admin, token, source
):
    context = {"admin": admin, "token": token}
    for round_ in range(ROUNDS):
        slug = f"race-{round_}"
        # A different name and key each (names unique across rounds too): only the URL name is
        # shared.
        results = at_once([partial(DOORS[door], context, n, slug) for n in range(CONNECTIONS)])
        errors = [r for r in results if isinstance(r, Exception)]
        assert not errors, errors
        statuses = sorted(status for status, _ in results)
        won, lost = WON.get(door, 202), LOST.get(door, 422)
        assert statuses == sorted([won] + [lost] * (CONNECTIONS - 1)), results
        assert Environment.objects.filter(slug=slug).count() == 1
        if door.startswith("api") and "restore" in door or "copy" in door:
            assert RestoreOperation.objects.filter(target__slug=slug).count() == 1
        refusals = [body for status, body in results if status == 422]
        assert all(b["field"] == "targetEnvironmentSlug" or b["field"] == "slug" for b in refusals)


def test_the_same_idempotency_key_from_8_connections_returns_the_first_operation(token, source):
    for round_ in range(3 * ROUNDS):
        slug = f"same-key-{round_}"
        body = {
            "restorePointDateTime": "latest",
            "targetEnvironmentName": f"Same Key {round_}",
            "targetEnvironmentSlug": slug,
        }
        path = "/environments/race-source/restore-to-new"
        results = at_once([partial(_api, token, path, body, key=slug)] * CONNECTIONS)
        assert {status for status, _ in results} == {202}, results
        assert len({body["id"] for _, body in results}) == 1
        assert Environment.objects.filter(slug=slug).count() == 1


def _copy_to_new(admin, source, n):
    return copies.copy_start(
        source=source,
        requested_by=admin,
        new={"name": f"Copy {n}", "slug": f"copy-{n}", "security_group": ""},
    )


@pytest.mark.parametrize("first", ["copy", "delete"])
def test_a_source_is_never_both_deleted_and_copied(first, admin, source):
    """Whichever commits first wins; the other is refused with the reason, in every round."""
    for round_ in range(ROUNDS):
        calls = {
            "copy": partial(_copy_to_new, admin, source, round_),
            "delete": partial(
                services.environment_delete,
                environment=source,
                actor=admin,
                confirm_name=source.name,
                confirm_production=True,
            ),
        }
        order = ["copy", "delete"] if first == "copy" else ["delete", "copy"]
        by_kind = dict(zip(order, at_once([calls[kind] for kind in order]), strict=True))
        source.refresh_from_db()
        if source.deleted_at is None:  # the copy won: the delete was refused, naming it
            assert isinstance(by_kind["copy"], RestoreOperation)
            assert isinstance(by_kind["delete"], Conflict), by_kind
            assert by_kind["copy"].label in str(by_kind["delete"])
            RestoreOperation.objects.filter(pk=by_kind["copy"].pk).update(status="succeeded")
            Environment.objects.filter(pk=by_kind["copy"].target_id).update(state="ready")
        else:  # the delete won: the copy was refused, and nothing was made
            assert isinstance(by_kind["copy"], Refused), by_kind
            assert "is deleted" in str(by_kind["copy"])
            assert not Environment.objects.filter(slug=f"copy-{round_}").exists()
            services.environment_recover(environment=source, actor=admin)


def test_a_queued_copy_whose_source_was_deleted_meanwhile_fails_before_its_commit(admin, source):
    op = _copy_to_new(admin, source, 0)
    # A door that skips the rules (the Django admin, a script): the engine still refuses.
    Environment.objects.filter(pk=source.pk).update(deleted_at=timezone.now())
    assert engine.restore_run(op.pk) == "failed"
    op.refresh_from_db()
    assert "was deleted before the copy could run" in op.error
    # Nothing was copied: the sandbox made for it went with it, its URL name free again.
    assert op.target.removed_at is not None and op.target.slug == f"removed.{op.target_id}"
    assert not op.target.generations.filter(tables__isnull=False).exists()


@pytest.mark.parametrize("room_for", [0, 1, 3])
def test_n_concurrent_copies_with_room_for_k_get_exactly_k(
    room_for, admin, source, settings, monkeypatch
):
    # Copies that store their rows (a source already three layers deep copies, not branches).
    monkeypatch.setattr(generations, "should_branch", lambda table: False)
    size = store.storage_used(source).current_bytes
    settings.TENANT_CAPACITY_GB = 2
    used = capacity.tenant().used
    # Room for `room_for` copies and a part of one more above the 1 GB that must stay free.
    filler = EnvironmentFactory(slug="filler")
    stores_gigabytes(filler, (capacity.GB - used - room_for * size - size // 2) / capacity.GB)
    for round_ in range(2):
        results = at_once(
            [partial(_copy_to_new, admin, source, f"{round_}-{n}") for n in range(CONNECTIONS)]
        )
        started = [r for r in results if isinstance(r, RestoreOperation)]
        refused = [r for r in results if isinstance(r, Refused)]
        assert len(started) == room_for and len(refused) == CONNECTIONS - room_for, results
        assert all("must remain free" in str(r) for r in refused)
        tenant = capacity.tenant()
        assert tenant.free >= settings.CAPACITY_MIN_FREE_GB * capacity.GB
        assert tenant.reserved == room_for * size
        # The copies run: what they reserved is stored now, and the room stays taken.
        for op in started:
            assert engine.restore_run(op.pk) == "succeeded"
        assert CapacityReservation.objects.count() == 0
        assert capacity.tenant().free >= settings.CAPACITY_MIN_FREE_GB * capacity.GB
        # Room for the next round: the copies go (removed, their data with them).
        for op in started:
            for table in store.current(op.target).tables():
                table.__class__.objects.filter(pk=table.pk).update(live_bytes=0)
