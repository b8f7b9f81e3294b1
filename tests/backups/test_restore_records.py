"""What the portal shows about past and running restores: the "Before restore" backups as their
own kind, the recent operations in the viewer's time with each state as it is, the restore panel
naming the backup picked, and an operation's own page."""

import html
import re

import pytest
from django.urls import reverse

from backups import restores, services, undos
from backups.models import ManualBackup
from tests.factories import EnvironmentFactory, ago

pytestmark = pytest.mark.usefixtures("clock")


@pytest.fixture
def client_admin(client_admin):
    client_admin.cookies["tz"] = "Asia/Kolkata"  # a zone that is not UTC, to see times moved
    return client_admin


@pytest.fixture
def restored(admin, source, target, run_restore):
    services.backup_create(environment=target, label="Before the big import", actor=admin)
    return run_restore(source=source, target=target, moment=ago(days=1), requested_by=admin)


def text_of(response) -> str:
    return html.unescape(response.content.decode())


def words_of(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", text_of(response)))


class TestBeforeRestoreBackups:
    def test_the_label_time_is_the_backup_time(self, restored):
        before = restored.pre_restore_backup
        assert before.label == (
            f"Before restore from Contoso Prod at {before.backup_at:%Y-%m-%d %H:%M:%S} UTC"
        )

    def test_the_manual_tab_shows_the_kind_and_the_restore_it_belongs_to(
        self, client_admin, target, restored
    ):
        page = text_of(client_admin.get(reverse("backups:manual", kwargs={"slug": target.slug})))
        assert ">Kind</th>" in page
        assert "Before restore<br>" in page
        assert f'href="{reverse("backups:operation", kwargs={"pk": restored.pk})}"' in page
        # The label's time is shown like the backup time beside it: same zone, same text.
        row = next(r for r in page.split("<tr>") if "Before restore from" in r)
        times = re.findall(r"<time [^>]*>(.*?)</time>", row)
        assert len(times) == 2 and times[0] == times[1] and "+05:30" in times[0]

    @pytest.mark.parametrize(
        ("kind", "shown", "hidden"),
        [
            ("pre_restore", "Before restore from", "Before the big import"),
            ("manual", "Before the big import", "Before restore from"),
            ("", "Before the big import", None),
        ],
    )
    def test_the_manual_tab_filters_by_kind(
        self, client_admin, target, restored, kind, shown, hidden
    ):
        url = reverse("backups:manual", kwargs={"slug": target.slug})
        response = client_admin.get(url, {"kind": kind} if kind else {})
        tbody = text_of(response).split("<tbody>")[1]
        assert shown in tbody and (hidden is None or hidden not in tbody)
        page = words_of(response)
        assert "Before restore (1)" in page and "Manual backup (1)" in page and "All (2)" in page

    def test_an_unknown_kind_lists_everything(self, client_admin, target, restored):
        url = reverse("backups:manual", kwargs={"slug": target.slug})
        page = client_admin.get(url, {"kind": "nonsense"})
        assert page.status_code == 200 and b"Before the big import" in page.content

    def test_the_candidates_offer_one_before_restore_backup_with_its_kind(
        self, admin, source, target, run_restore
    ):
        from backups.selectors import restore_candidates

        for days in (3, 2, 1):
            run_restore(source=source, target=target, moment=ago(days=days), requested_by=admin)
        items = restore_candidates(target, ago(minutes=1)).items
        befores = [c for c in items if c.backup_kind == ManualBackup.Kind.PRE_RESTORE]
        assert len(befores) == 1 and befores[0].kind_label == "Before restore"


class TestRecentOperations:
    def test_times_are_in_the_viewers_zone_with_how_long_ago(self, client_admin, target, restored):
        page = text_of(
            client_admin.get(reverse("environments:detail", kwargs={"slug": target.slug}))
        )
        events = page.split('id="events-heading"')[1]
        assert " UTC" not in events  # no raw stored timestamps
        assert "+05:30" in events and "just now" in events

    def test_a_queued_restore_is_shown_as_queued(
        self, client_admin, admin, source, target, django_capture_on_commit_callbacks
    ):
        restores.restore_start(
            restores.RestoreRequest(
                source=source, target=target, moment=ago(days=1), requested_by=admin
            )
        )  # not run: no worker
        page = client_admin.get(reverse("environments:detail", kwargs={"slug": target.slug}))
        events = page.content.decode().split('id="events-heading"')[1]
        row = next(r for r in events.split("<tr>") if "queued" in r)
        assert ">Queued</span>" in row and ">Succeeded<" not in row

    def test_a_restore_that_ran_shows_its_outcome(self, client_admin, target, restored):
        page = client_admin.get(reverse("environments:detail", kwargs={"slug": target.slug}))
        events = page.content.decode().split('id="events-heading"')[1]
        row = next(r for r in events.split("<tr>") if "queued" in r)
        assert ">Succeeded</span>" in row


class TestRestorePanel:
    def test_it_names_the_backup_picked(self, client_admin, admin, source):
        backup = services.backup_create(environment=source, label="Before deploy", actor=admin)
        page = words_of(
            client_admin.get(
                reverse("backups:restore", kwargs={"slug": source.slug}),
                {"pick": f"backup:{backup.pk}"},
            )
        )
        assert "From the backup “Before deploy”. Manual backup, Nov 20, 2026" in page

    def test_it_says_a_point_in_time_comes_from_the_system_backup(self, client_admin, source):
        page = text_of(
            client_admin.get(
                reverse("backups:restore", kwargs={"slug": source.slug}),
                {"pick": f"at:{ago(days=1).isoformat()}"},
            )
        )
        assert "From the continuous system backup" in page

    def test_the_production_note_only_where_a_production_environment_is_near(
        self, client_admin, source, target
    ):
        url = reverse("backups:restore", kwargs={"slug": target.slug})
        pick = {"pick": f"at:{ago(days=1).isoformat()}"}
        assert b'id="convert-help"' in client_admin.get(url, pick).content  # Contoso Prod
        lonely = EnvironmentFactory(
            name="Far sandbox", slug="far", type="sandbox", region="europe", created_at=ago(days=20)
        )
        far = client_admin.get(reverse("backups:restore", kwargs={"slug": lonely.slug}), pick)
        assert b'id="convert-help"' not in far.content
        assert b"Only sandbox environments can be restored to." in far.content


class TestOperationPage:
    def test_it_shows_the_details_of_the_restore(self, client_admin, target, restored):
        page = text_of(client_admin.get(reverse("backups:operation", kwargs={"pk": restored.pk})))
        for words in (
            "Restore #",
            "Source",
            "Contoso Prod",
            "Restore point",
            "Rows and tables",
            "3 rows in 2 of 2 tables",
            "Duration",
            "Requested",
            "Before the overwrite",
            "Undo restore",
        ):
            assert words in page, words

    def test_an_undone_restore_links_to_its_undo(
        self, client_admin, admin, target, restored, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            undo = undos.restore_undo(operation=restored, actor=admin)
        page = client_admin.get(reverse("backups:operation", kwargs={"pk": restored.pk}))
        assert (
            f'href="{reverse("backups:operation", kwargs={"pk": undo.pk})}"'.encode()
            in page.content
        )
        undo_page = text_of(client_admin.get(reverse("backups:operation", kwargs={"pk": undo.pk})))
        assert f"Undo of restore #{restored.pk}" in undo_page
        assert "The restore of Contoso Test was undone" in undo_page


class TestBanner:
    def test_a_page_that_read_its_environment_mid_restore_polls_once_more(
        self, admin, source, target, run_restore
    ):
        from backups.templatetags.backups_parts import restore_banner

        op = run_restore(source=source, target=target, moment=ago(days=1), requested_by=admin)
        stale = type(target).objects.get(pk=target.pk)
        stale.state = "restoring"  # as the page read it, just before the restore committed
        assert restore_banner(stale)["poll"] is True
        target.refresh_from_db()
        assert restore_banner(target)["poll"] is False
        assert restore_banner(target)["operation"] == op
