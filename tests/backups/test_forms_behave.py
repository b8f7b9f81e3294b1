"""Forms that behave like forms: a refusal beside the field it is about, said once, in the
viewer's time zone; nothing previewed or changed past a refusal."""

import pytest
from django.urls import reverse

from backups.models import ManualBackup, RestoreOperation
from tests.factories import EnvironmentFactory, ago

pytestmark = pytest.mark.usefixtures("clock")
HTMX = {"HTTP_HX_REQUEST": "true"}


def test_update_version_refuses_an_earlier_version_beside_the_field(client_admin, source):
    url = reverse("backups:update-version", args=[source.slug])
    page = client_admin.post(url, {"version": "9.2.24101.00179"})
    assert page.status_code == 200
    message = (
        "9.2.24101.00179 is earlier than 9.2.24101.00180, the version Contoso Prod is on: an "
        "update only goes forward. To go back, restore the backup recorded before the last "
        "update."
    )
    assert page.context["form"].errors == {"version": [message]}
    assert page.content.decode().count("is earlier than") == 1
    same = client_admin.post(url, {"version": "9.2.24101.180"})
    assert same.context["form"].errors == {
        "version": ["Contoso Prod is already on version 9.2.24101.00180."]
    }
    source.refresh_from_db()
    assert source.version == "9.2.24101.00180"
    assert not ManualBackup.objects.exists()  # no backup for an update that did not happen
    later = client_admin.post(url, {"version": "9.2.24101.10000"})
    assert later.status_code == 302


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_point_outside_the_window_is_refused_on_the_panel_in_the_viewers_zone(
    client_admin, source, target, method
):
    client_admin.cookies["tz"] = "Asia/Kolkata"
    data = {"pick": f"at:{ago(days=40).isoformat()}", "target": target.slug, "step": "review"}
    if method == "post":
        data["idempotency_key"] = "k"
    page = getattr(client_admin, method)(reverse("backups:restore", args=[source.slug]), data)
    assert page.status_code == 200
    html = page.content.decode()
    # 40 days before NOW (Nov 20 12:00 UTC) is Oct 11 17:30 in Kolkata; the window starts
    # 28 days back, Oct 23 17:30 there.
    assert 'Oct 11, 2026, 17:30:00 <span class="tz">UTC+05:30</span></time> is before the ' in html
    assert "Contoso Prod can be restored to any moment from" in html
    assert "Oct 23, 2026, 17:30:00" in html
    assert html.count("is before the oldest moment kept") == 1
    assert "UTC to now" not in html  # not the API's UTC wording
    assert page.context["summary"] is None and "Environment to overwrite" not in html
    assert f'href="{reverse("backups:system", args=[source.slug])}">Choose another backup' in html
    assert not RestoreOperation.objects.exists()


def test_a_point_in_the_future_is_refused_on_the_panel_too(client_admin, source, target):
    future = f"at:{(ago(days=-1)).isoformat()}"
    page = client_admin.get(reverse("backups:restore", args=[source.slug]), {"pick": future})
    assert "is in the future: Contoso Prod can be restored" in page.content.decode()


def test_a_refused_point_from_the_restore_button_replaces_the_panel(client_admin, source, target):
    data = {"pick": f"at:{ago(days=40).isoformat()}", "target": target.slug, "step": "review"}
    page = client_admin.post(
        reverse("backups:restore", args=[source.slug]), {**data, "idempotency_key": "k"}, **HTMX
    )
    assert page.headers["HX-Retarget"] == "#restore-panel"
    assert "<html" not in page.content.decode()  # the panel only, not a page inside a dialog


def test_a_trials_create_backup_page_says_it_is_not_backed_up(client_admin, db):
    trial = EnvironmentFactory(name="Lab", type="trial", slug="lab", created_at=ago(days=3))
    page = client_admin.get(reverse("backups:create", args=[trial.slug]))
    html = page.content.decode()
    assert "Trial environments are not backed up: they have no system backups to restore" in html
    assert "last 0 days" not in html and "Open the System tab" not in html
    copy = reverse("backups:copy", args=[trial.slug])
    assert f'href="{copy}">Copy</a>' in html
    assert client_admin.get(copy).status_code == 200
    refused = client_admin.post(reverse("backups:create", args=[trial.slug]), {"label": "x"})
    assert not ManualBackup.objects.exists() and "not backed up" in refused.content.decode()


def test_edit_details_puts_a_taken_name_beside_the_name_once(client_admin, source, target):
    data = {
        "pick": f"at:{ago(days=1).isoformat()}",
        "target": target.slug,
        "idempotency_key": "k",
        "step": "review",
        "new_name": "contoso PROD",
    }
    page = client_admin.post(reverse("backups:restore", args=[source.slug]), data)
    assert page.context["form"].errors == {
        "new_name": ["An environment named Contoso Prod already exists; choose another name."]
    }
    html = page.content.decode()
    assert html.count("already exists; choose another name") == 1
    assert '<details class="edit-details" open>' in html  # where the name is typed
    assert not RestoreOperation.objects.exists()
