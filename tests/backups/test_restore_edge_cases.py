"""Restores at their edges: rules re-checked under the lock, busy sources, reused keys, the
window's start, moments off the calendar, refusals in every door (pages, API, command)."""

import datetime

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from backups import console, housekeeping, restores, undos
from backups.models import RestoreOperation
from environments.models import Environment, EnvironmentState
from portal.errors import Conflict, Refused
from tests.factories import NOW, EnvironmentFactory, ago

pytestmark = pytest.mark.usefixtures("clock")
HTMX = {"HTTP_HX_REQUEST": "true"}


def test_the_rules_are_checked_again_on_the_locked_target(admin, source, target):
    Environment.objects.filter(pk=target.pk).update(type="production")  # converted meanwhile
    with pytest.raises(Refused, match="Only sandbox"):
        restores.restore_start(
            restores.RestoreRequest(
                source=source, target=target, moment=ago(days=1), requested_by=admin
            )
        )
    assert not RestoreOperation.objects.exists()


def test_a_source_being_restored_is_refused(admin, source, target):
    Environment.objects.filter(pk=source.pk).update(state=EnvironmentState.RESTORING)
    with pytest.raises(Conflict, match="being restored itself"):
        restores.restore_start(
            restores.RestoreRequest(
                source=source, target=target, moment=ago(days=1), requested_by=admin
            )
        )


def test_an_idempotency_key_reused_for_another_restore_is_refused(admin, source, target):
    restores.restore_start(
        restores.RestoreRequest(
            source=source,
            target=target,
            moment=ago(days=1),
            requested_by=admin,
            idempotency_key="k",
        )
    )
    with pytest.raises(Refused, match="different restore"):
        restores.restore_start(
            restores.RestoreRequest(
                source=source,
                target=target,
                moment=ago(days=2),
                requested_by=admin,
                idempotency_key="k",
            )
        )


def test_a_blank_idempotency_key_is_no_key(admin, source, target, db):
    other = EnvironmentFactory(type="sandbox", slug="other", created_at=ago(days=3))
    first = restores.restore_start(
        restores.RestoreRequest(
            source=source,
            target=target,
            moment=ago(days=1),
            requested_by=admin,
            idempotency_key="  ",
        )
    )
    second = restores.restore_start(
        restores.RestoreRequest(
            source=source,
            target=other,
            moment=ago(days=1),
            requested_by=admin,
            idempotency_key="  ",
        )
    )
    assert first != second


def test_only_the_latest_restore_can_be_undone(admin, source, target, run_restore):
    first = run_restore(source=source, target=target, moment=ago(days=1), requested_by=admin)
    run_restore(source=source, target=target, moment=ago(days=2), requested_by=admin)
    with pytest.raises(Refused, match="later restore"):
        undos.restore_undo(operation=first, actor=admin)


def test_a_restore_still_reporting_cannot_be_marked_failed(admin, support, source, target):
    from django.contrib.auth.models import Group

    support.groups.add(Group.objects.get(name="Support staff"))
    op = restores.restore_start(
        restores.RestoreRequest(
            source=source, target=target, moment=ago(days=1), requested_by=admin
        )
    )
    RestoreOperation.objects.filter(pk=op.pk).update(status="running", heartbeat_at=NOW)
    op.refresh_from_db()
    with pytest.raises(Conflict, match="still running"):
        console.restore_mark_stale_failed(operation=op, actor=support)


def test_the_sweep_frees_a_target_whose_restore_was_never_queued(admin, source, target):
    op = restores.restore_start(
        restores.RestoreRequest(
            source=source, target=target, moment=ago(days=1), requested_by=admin
        )
    )  # on_commit never ran: no task id
    assert housekeeping.restore_sweep_stale(now=NOW + datetime.timedelta(minutes=10)) == 1
    target.refresh_from_db()
    op.refresh_from_db()
    assert target.state == "ready" and op.status == "failed"


def test_a_moment_just_before_the_window_start_is_still_accepted(admin, source, target):
    op = restores.restore_start(
        restores.RestoreRequest(
            source=source, target=target, moment=ago(days=28, minutes=2), requested_by=admin
        )
    )
    assert op.status == "queued"
    with pytest.raises(Refused, match="outside that window"):
        restores.restore_start(
            restores.RestoreRequest(
                source=source,
                target=target,
                moment=ago(days=28, minutes=20),
                requested_by=admin,
                idempotency_key="other",
            )
        )


@pytest.mark.parametrize(
    "pick",
    [
        "at:2024-02-30T10:00:00+00:00",
        "at:2020-01-01T00:00:00+25:00",
        "at:0001-01-01T00:00:00+01:00",
        "at:9999-12-31T23:59:59-01:00",
        "backup:²",
        "backup:99999999999999999999999",
    ],
)
def test_bad_restore_points_get_a_message(client_admin, source, pick):
    page = client_admin.get(
        reverse("backups:restore", kwargs={"slug": source.slug}), {"pick": pick}
    )
    assert page.status_code == 200 and b"Choose a backup to restore first" in page.content


@pytest.mark.parametrize(
    "date, time, tz",
    [("0001-01-01", "00:00", "Asia/Tokyo"), ("9999-12-31", "23:00", "America/New_York")],
)
def test_dates_at_the_ends_of_the_calendar_get_a_message(client_admin, source, date, time, tz):
    page = client_admin.get(
        reverse("backups:system", kwargs={"slug": source.slug}),
        {"date": date, "time": time, "tz": tz},
    )
    assert page.status_code == 200 and b"out of range" in page.content


def test_the_ambiguous_choices_are_shown_in_the_chosen_zone(client_admin, source):
    client_admin.cookies["tz"] = "Europe/Paris"
    page = client_admin.get(
        reverse("backups:system", kwargs={"slug": source.slug}),
        {"date": "2026-11-01", "time": "01:30", "tz": "America/New_York"},
    )
    assert b"Nov 1, 2026, 01:30 (EDT, UTC-04:00)" in page.content
    assert b"Nov 1, 2026, 01:30 (EST, UTC-05:00)" in page.content


def test_a_refusal_from_the_restore_button_replaces_the_panel(client_admin, source, target):
    response = client_admin.post(
        reverse("backups:restore", kwargs={"slug": source.slug}),
        {
            "pick": f"at:{ago(days=40).isoformat()}",
            "target": target.slug,
            "idempotency_key": "k",
            "step": "review",
        },
        **HTMX,
    )
    assert response.headers["HX-Retarget"] == "#restore-panel"
    assert response.headers["HX-Reswap"] == "outerHTML"
    assert b"is before the oldest moment kept" in response.content


def test_a_source_only_admin_does_not_see_restores_of_other_environments(
    client, env_admin, admin, source, target, db
):
    elsewhere = EnvironmentFactory(type="sandbox", slug="elsewhere", created_at=ago(days=3))
    op = restores.restore_start(
        restores.RestoreRequest(
            source=target, target=elsewhere, moment=ago(days=1), requested_by=admin
        )
    )
    client.force_login(env_admin)  # admin of target (the source here), not of elsewhere
    assert client.get(reverse("backups:operation", kwargs={"pk": op.pk})).status_code == 404


def test_the_api_refuses_moments_out_of_range(client, admin, source):
    client.force_login(admin)
    url = f"/api/v1/environments/{source.slug}/restore-candidates"
    response = client.get(url, {"at": "9999-12-31T23:59:59-01:00"})
    assert response.status_code == 400 and response.json()["code"]


def test_the_restore_command_refuses_a_moment_out_of_range(admin, source, target):
    with pytest.raises(CommandError) as excinfo:
        call_command(
            "restore",
            "--as",
            admin.username,
            "--source",
            source.slug,
            "--target",
            target.slug,
            "--at",
            "0001-01-01T00:00:00+01:00",
        )
    assert excinfo.value.returncode == 2


def test_a_nul_byte_in_a_row_key_is_not_found(client, maker, sandbox, accounts):
    client.force_login(maker)
    url = reverse(
        "environments:row-edit", kwargs={"slug": sandbox.slug, "table": "accounts", "key": "a\x00b"}
    )
    assert client.get(url).status_code == 404
