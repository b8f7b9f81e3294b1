"""Restore or manage through plain requests and htmx: every step works both ways."""

import datetime

import pytest
from django.urls import reverse

from backups import restores, services
from backups.models import ManualBackup, RestoreOperation
from environments import store
from tests.factories import EnvironmentFactory, ago

pytestmark = pytest.mark.usefixtures("clock")
HTMX = {"HTTP_HX_REQUEST": "true"}


def system(env, **params):
    return reverse("backups:system", kwargs={"slug": env.slug}), params


class TestEnvironmentPage:
    def test_the_command_bar_has_the_backups_menu(self, client_admin, target):
        page = client_admin.get(reverse("environments:detail", kwargs={"slug": target.slug}))
        text = page.content.decode()
        for label in ("Backups", "Restore or manage", "Create"):
            assert f">{label}<" in text


class TestSystemTab:
    def test_it_states_the_window_and_draws_the_timeline(self, client_admin, source):
        url, _ = system(source)
        page = client_admin.get(url)
        text = page.content.decode()
        assert "You can restore to any moment from" in text and "Oct 23, 2026" in text
        # The window (28 days and an hour), then the rest of today: 13:00 to 24:00.
        assert page.context["timeline"].width == 28 * 24 + 1 + 11
        assert 'role="tab"' in text and 'aria-selected="true"' in text
        assert ">System<" in text and ">Manual<" in text and ">Continue<" in text

    def test_htmx_gets_only_the_tab_body(self, client_admin, source):
        url, _ = system(source)
        partial = client_admin.get(url, **HTMX)
        assert b"<html" not in partial.content
        assert partial.content.lstrip().startswith(b'<div id="tab-body">')

    def test_continue_lists_the_candidates_nearest_first(self, client_admin, source):
        url, _ = system(source)
        page = client_admin.get(url, {"date": "2026-11-18", "time": "12:17:00", "tz": "UTC"})
        assert b"Select a backup to restore" in page.content
        rows = page.context["candidate_rows"]
        assert rows[0][0].moment == ago(days=2, minutes=-17)
        assert rows[0][0].kind == "point_in_time"
        assert b"Changes in the hour before" in page.content

    def test_the_moment_is_read_in_the_admins_time_zone(self, client_admin, source):
        url, _ = system(source)
        page = client_admin.get(
            url, {"date": "2026-11-18", "time": "13:17:00", "tz": "Europe/Paris"}
        )
        assert page.context["candidates"].requested == ago(days=2, minutes=-17)

    def test_a_preset_fills_the_inputs_with_its_moment(self, client_admin, source):
        url, _ = system(source)
        page = client_admin.get(url, {"preset": "1h"})
        assert page.context["candidates"].requested == ago(hours=1)
        assert page.context["form"].initial["time"] == datetime.time(11, 0)

    def test_a_moment_before_the_window_says_why(self, client_admin, source):
        url, _ = system(source)
        page = client_admin.get(url, {"date": "2026-10-15", "time": "09:00", "tz": "UTC"})
        assert b"older than the restorable window (28 days" in page.content

    def test_a_time_skipped_by_daylight_saving_gets_a_clear_message(self, client_admin, source):
        url, _ = system(source)
        page = client_admin.get(
            url, {"date": "2026-10-04", "time": "02:30", "tz": "Australia/Sydney"}
        )
        assert b"does not exist in Australia/Sydney" in page.content
        assert page.context["candidates"] is None

    def test_a_time_repeated_by_daylight_saving_offers_a_choice(self, client_admin, source):
        url, _ = system(source)
        page = client_admin.get(
            url, {"date": "2026-11-01", "time": "01:30", "tz": "America/New_York"}
        )
        assert b"happened twice in America/New_York" in page.content
        assert len(page.context["ambiguous"]) == 2 and page.context["candidates"] is None
        second = client_admin.get(
            url, {"date": "2026-11-01", "time": "01:30", "tz": "America/New_York", "fold": "1"}
        )
        assert second.context["candidates"].requested == datetime.datetime(
            2026, 11, 1, 6, 30, tzinfo=datetime.UTC
        )

    @pytest.mark.parametrize(
        "params",
        [{"date": "yesterday", "time": "25:00"}, {"date": "", "time": ""}, {"preset": "forever"}],
    )
    def test_bad_input_gets_messages_not_errors(self, client_admin, source, params):
        url, _ = system(source)
        page = client_admin.get(url, params)
        assert page.status_code == 200 and page.context["candidates"] is None
        assert page.context["form"].errors


class TestManualTab:
    def test_it_lists_backups_with_their_expiry(self, client_admin, admin, source):
        services.backup_create(
            environment=source, label="Before go-live", notes="Sprint 12", actor=admin
        )
        page = client_admin.get(reverse("backups:manual", kwargs={"slug": source.slug}))
        text = page.content.decode()
        for expected in (
            "Before go-live",
            "Sprint 12",
            "(in 28 days)",
            ">+ Create<",
            ">Restore<",
            ">Edit<",
            ">Delete<",
        ):
            assert expected in text.replace(
                '<span class="visually-hidden"> Before go-live</span>', ""
            ), expected

    def test_types_without_manual_backups_explain_why(self, client_admin, db):
        trial = EnvironmentFactory(type="trial", slug="trial", created_at=ago(days=3))
        page = client_admin.get(reverse("backups:manual", kwargs={"slug": trial.slug}))
        html = page.content.decode()
        assert "Trial environments are not backed up: they have no system backups" in html
        assert "last 0 days" not in html
        assert b"+ Create" not in page.content
        developer = EnvironmentFactory(type="developer", slug="dev", created_at=ago(days=3))
        page = client_admin.get(reverse("backups:manual", kwargs={"slug": developer.slug}))
        assert "Every moment of the last 7 days can be restored" in page.content.decode()

    def test_create_edit_and_delete_without_javascript(self, client_admin, source):
        create = reverse("backups:create", kwargs={"slug": source.slug})
        assert client_admin.post(create, {"label": "  Checkpoint ", "notes": ""}).status_code == 302
        backup = ManualBackup.objects.get()
        assert backup.label == "Checkpoint"
        edit = reverse("backups:edit", kwargs={"slug": source.slug, "pk": backup.pk})
        client_admin.post(edit, {"label": "Renamed", "notes": "why"})
        backup.refresh_from_db()
        assert (backup.label, backup.notes) == ("Renamed", "why")
        delete = reverse("backups:delete", kwargs={"slug": source.slug, "pk": backup.pk})
        confirm = client_admin.get(delete)
        assert b"Delete backup" in confirm.content and b"<dialog" in confirm.content
        assert client_admin.post(delete).status_code == 302
        assert not ManualBackup.objects.exists()

    def test_delete_with_htmx_opens_a_dialog_then_redirects(self, client_admin, admin, source):
        backup = services.backup_create(environment=source, label="x", actor=admin)
        delete = reverse("backups:delete", kwargs={"slug": source.slug, "pk": backup.pk})
        dialog = client_admin.get(delete, **HTMX)
        assert dialog.content.lstrip().startswith(b"<dialog")
        done = client_admin.post(delete, **HTMX)
        assert done.headers["HX-Redirect"] == reverse(
            "backups:manual", kwargs={"slug": source.slug}
        )

    @pytest.mark.parametrize(
        "data, field",
        [
            ({"label": ""}, "label"),
            ({"label": "x" * 101}, "label"),
            ({"label": "ok", "notes": "n" * 2001}, "notes"),
        ],
    )
    def test_bad_input_gets_field_errors_and_creates_nothing(
        self, client_admin, source, data, field
    ):
        page = client_admin.post(reverse("backups:create", kwargs={"slug": source.slug}), data)
        assert page.status_code == 200 and field in page.context["form"].errors
        assert not ManualBackup.objects.exists()


def restore_url(env):
    return reverse("backups:restore", kwargs={"slug": env.slug})


class TestRestorePanel:
    @pytest.fixture
    def pick(self):
        return f"at:{ago(days=1).isoformat()}"

    def test_only_manageable_sandboxes_in_the_region_are_offered(
        self, client_admin, source, target, pick
    ):
        EnvironmentFactory(type="sandbox", region="europe", slug="far", created_at=ago(days=3))
        EnvironmentFactory(type="production", slug="prod2", created_at=ago(days=3))
        page = client_admin.get(restore_url(source), {"pick": pick})
        assert [t.slug for t in page.context["targets"]] == ["contoso-test"]
        assert (
            b"Don't see your environment? Only sandbox environments can be restored to."
            in page.content
        )
        assert b"Edit details" in page.content

    def test_choosing_a_target_shows_what_will_be_overwritten(
        self, client_admin, source, target, pick
    ):
        page = client_admin.get(restore_url(source), {"pick": pick, "target": target.slug}, **HTMX)
        assert page.content.lstrip().startswith(b'<section id="restore-panel"')
        tables = {r["name"]: (r["now"], r["after"]) for r in page.context["summary"]["tables"]}
        assert tables == {"Accounts": (0, 2), "Contacts": (0, 1), "Leads": (1, 0)}

    def test_restore_asks_for_confirmation_then_starts_once(
        self, client_admin, source, target, pick, django_capture_on_commit_callbacks
    ):
        form = {
            "pick": pick,
            "target": target.slug,
            "idempotency_key": "abc",
            "new_name": "",
            "security_group": "",
        }
        review = client_admin.post(restore_url(source), {**form, "step": "review"}, **HTMX)
        text = review.content.decode()
        assert text.lstrip().startswith("<dialog")
        assert "Overwrite Contoso Test?" in text and "administration mode" in text
        assert "Contoso Prod" in text and "UTC+00:00" in text
        assert not RestoreOperation.objects.exists()

        wrong = client_admin.post(
            restore_url(source), {**form, "step": "confirm", "confirm_name": "contoso"}, **HTMX
        )
        assert b"Type Contoso Test exactly to confirm" in wrong.content
        assert not RestoreOperation.objects.exists()

        with django_capture_on_commit_callbacks(execute=True):
            done = client_admin.post(
                restore_url(source),
                {**form, "step": "confirm", "confirm_name": "Contoso Test"},
                **HTMX,
            )
            again = client_admin.post(
                restore_url(source),
                {**form, "step": "confirm", "confirm_name": "Contoso Test"},
                **HTMX,
            )
        assert done.headers["HX-Redirect"] == reverse(
            "environments:detail", kwargs={"slug": target.slug}
        )
        assert again.status_code == 200
        op = RestoreOperation.objects.get()
        assert op.status == "succeeded"
        assert store.current(target).as_dict() == store.as_of(source, ago(days=1)).as_dict()

    def test_the_whole_flow_works_without_javascript(self, client_admin, source, target, pick):
        form = {
            "pick": pick,
            "target": target.slug,
            "idempotency_key": "k1",
            "new_name": "Renamed",
            "security_group": "",
        }
        review = client_admin.post(restore_url(source), {**form, "step": "review"})
        assert b"<html" in review.content and b"<dialog" in review.content
        done = client_admin.post(
            restore_url(source), {**form, "step": "confirm", "confirm_name": "Contoso Test"}
        )
        assert done.status_code == 302
        op = RestoreOperation.objects.get()
        assert op.new_name == "Renamed"

    def test_a_production_target_is_refused(self, client_admin, source, pick):
        page = client_admin.post(
            restore_url(source),
            {"pick": pick, "target": source.slug, "idempotency_key": "k", "step": "review"},
        )
        assert page.status_code == 200
        assert "target" in page.context["form"].errors
        assert not RestoreOperation.objects.exists()

    def test_a_missing_or_bad_moment_says_so(self, client_admin, source):
        for pick in ("", "at:yesterday", "backup:999", f"at:{ago(days=40).isoformat()}"):
            page = client_admin.get(restore_url(source), {"pick": pick})
            assert page.status_code == 200
        page = client_admin.get(restore_url(source), {"pick": "at:yesterday"})
        assert b"Choose a backup to restore first" in page.content

    def test_a_moment_outside_the_window_is_refused_on_the_panel(
        self, client_admin, source, target
    ):
        page = client_admin.post(
            restore_url(source),
            {
                "pick": f"at:{ago(days=40).isoformat()}",
                "target": target.slug,
                "idempotency_key": "k",
                "step": "review",
            },
        )
        html = page.content.decode()
        assert "is before the oldest moment kept: Contoso Prod can be restored" in html
        assert page.context["summary"] is None  # nothing previewed

    def test_makers_cannot_open_backups(self, client, maker, source, target):
        from tests.factories import make_member

        make_member(target, maker, "maker")
        client.force_login(maker)
        assert (
            client.get(reverse("backups:system", kwargs={"slug": target.slug})).status_code == 403
        )


class TestProgressAndUndo:
    def test_progress_while_queued_then_a_refresh_when_done(
        self, client_admin, admin, source, target
    ):
        op = restores.restore_start(
            restores.RestoreRequest(
                source=source, target=target, moment=ago(days=1), requested_by=admin
            )
        )
        url = reverse("backups:operation", kwargs={"pk": op.pk})
        page = client_admin.get(url)
        assert b'http-equiv="refresh"' in page.content and b"Waiting for a worker" in page.content
        partial = client_admin.get(url, **HTMX)
        assert b'hx-trigger="every 1s"' in partial.content and b"<html" not in partial.content
        from backups import engine

        engine.restore_run(op.pk)
        done = client_admin.get(url, **HTMX)
        assert done.headers["HX-Refresh"] == "true"
        page = client_admin.get(reverse("environments:detail", kwargs={"slug": target.slug}))
        assert b"was restored" in page.content and b"Undo restore" in page.content

    def test_undo_from_the_environment_page(
        self, client_admin, admin, source, target, run_restore, django_capture_on_commit_callbacks
    ):
        before = store.current(target).as_dict()
        op = run_restore(source=source, target=target, moment=ago(days=1), requested_by=admin)
        with django_capture_on_commit_callbacks(execute=True):
            response = client_admin.post(
                reverse("backups:undo", kwargs={"pk": op.pk}), {"confirm_name": target.name}
            )
        assert response.status_code == 302
        assert store.current(target).as_dict() == before


def test_without_javascript_a_button_shows_what_will_be_overwritten(client_admin, source, target):
    page = client_admin.post(
        restore_url(source),
        {
            "pick": f"at:{ago(days=1).isoformat()}",
            "target": target.slug,
            "idempotency_key": "k",
            "step": "preview",
        },
    )
    assert b"<html" in page.content and b"What will be overwritten in Contoso Test" in page.content
    assert not RestoreOperation.objects.exists()
