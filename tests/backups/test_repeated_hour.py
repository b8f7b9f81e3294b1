"""A local time that happened twice (the clocks went back) is asked about, but the question never
blocks another choice, and it is not asked where neither reading could be restored."""

import html

import pytest
from django.urls import reverse

pytestmark = pytest.mark.usefixtures("clock")
REPEATED = {"date": "2026-11-01", "time": "01:30", "tz": "America/New_York"}


def system(client, env, **params):
    response = client.get(reverse("backups:system", kwargs={"slug": env.slug}), params)
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def test_it_asks_which_one_without_making_the_answer_required(client_admin, source):
    page = system(client_admin, source, **REPEATED)  # production: Nov 1 is in its window
    assert "happened twice in America/New_York" in page
    assert 'name="fold"' in page
    radios = [line for line in page.splitlines() if 'name="fold"' in line]
    assert radios and all("required" not in line for line in radios)


def test_a_preset_answers_even_while_the_question_is_open(client_admin, source):
    page = system(client_admin, source, **REPEATED, preset="latest")
    assert "happened twice" not in page and "Select a backup to restore" in page


def test_another_date_answers_even_while_the_question_is_open(client_admin, source):
    page = system(client_admin, source, **{**REPEATED, "date": "2026-11-19"})
    assert "happened twice" not in page and "Select a backup to restore" in page


def test_the_chosen_reading_is_used(client_admin, source):
    first = system(client_admin, source, **REPEATED, fold="0")
    second = system(client_admin, source, **REPEATED, fold="1")
    assert 'datetime="2026-11-01T05:30:00+00:00"' in first
    assert 'datetime="2026-11-01T06:30:00+00:00"' in second


def test_outside_the_window_it_is_not_asked_and_the_window_is_explained(client_admin, target):
    page = system(client_admin, target, **REPEATED)  # a sandbox: 7 days, Nov 1 is too old
    assert "happened twice" not in page
    assert "older than the restorable window" in page


def test_when_only_one_reading_can_be_restored_it_is_taken_without_asking(
    client_admin, admin, settings
):
    """A sandbox made between the two readings: only the second exists for it."""
    import datetime

    from tests.factories import EnvironmentFactory

    settings.BACKUP_RETENTION = {
        **settings.BACKUP_RETENTION,
        "system": {**settings.BACKUP_RETENTION["system"], "sandbox": datetime.timedelta(days=30)},
    }
    young = EnvironmentFactory(
        name="Young",
        slug="young",
        type="sandbox",
        created_at=datetime.datetime(2026, 11, 1, 6, 0, tzinfo=datetime.UTC),
    )
    page = system(client_admin, young, **REPEATED)  # 05:30Z is before it, 06:30Z after
    assert "happened twice" not in page
    assert 'datetime="2026-11-01T06:30:00+00:00"' in page
