"""Change counts are exact for the moment chosen, not rounded to clock hours."""

import datetime

import pytest
import time_machine
from django.urls import reverse

from backups import selectors
from environments import store
from environments.models import ChangeBatch
from tests.factories import NOW, ago

MINUTE = datetime.timedelta(minutes=1)


@pytest.fixture
def edited(target):
    """Target changes: 3 at 11:10, 1 at 11:50, 2 at 11:55 (NOW is 12:00)."""
    with time_machine.travel(NOW - 50 * MINUTE, tick=False), store.changes(target) as cs:
        leads = cs.table("leads")
        for key in ("a", "b", "c"):
            cs.create_row(leads, {"title": key}, key=key)
    with time_machine.travel(NOW - 10 * MINUTE, tick=False):
        store.row_update(environment=target, table_name="leads", key="a", values={"title": "A"})
    with time_machine.travel(NOW - 5 * MINUTE, tick=False), store.changes(target) as cs:
        leads = cs.table("leads")
        cs.delete_row(leads, "b")
        cs.update_row(leads, "c", {"title": "C"})
    return target


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (NOW, 0),
        (NOW - 5 * MINUTE, 0),  # the changes made at that very moment are part of it
        (NOW - 6 * MINUTE, 2),
        (NOW - 30 * MINUTE, 3),
        (NOW - 55 * MINUTE, 6),
        (ago(days=1), 6),
        (ago(days=6), 7),  # the lead made 5 days ago too
    ],
)
def test_changes_since_a_moment_are_exact(edited, moment, expected):
    assert store.changes_since(edited, moment) == expected


def test_changes_in_the_hour_before_each_moment_are_exact(edited):
    moments = [NOW, NOW - 6 * MINUTE, NOW - 50 * MINUTE, NOW - 51 * MINUTE, ago(days=3)]
    assert store.changes_in_hour_before(edited, moments) == {
        NOW: 6,
        NOW - 6 * MINUTE: 4,
        NOW - 50 * MINUTE: 3,
        NOW - 51 * MINUTE: 0,
        ago(days=3): 0,
    }


def test_each_write_transaction_is_one_batch(edited):
    batches = list(
        ChangeBatch.objects.filter(environment=edited, at__gt=NOW - 60 * MINUTE)
        .order_by("at")
        .values_list("at", "changes")
    )
    assert batches == [(NOW - 50 * MINUTE, 3), (NOW - 10 * MINUTE, 1), (NOW - 5 * MINUTE, 2)]


@pytest.mark.usefixtures("clock")
class TestPages:
    def test_restoring_latest_replaces_no_change(self, client_admin, edited):
        page = client_admin.post(
            reverse("backups:restore", kwargs={"slug": edited.slug}),
            {
                "pick": f"at:{NOW.isoformat()}",
                "target": edited.slug,
                "idempotency_key": "k",
                "step": "preview",
            },
        )
        assert b"0 changes made to Contoso Test since" in page.content

    def test_the_preview_counts_the_changes_after_the_moment(self, client_admin, edited):
        page = client_admin.post(
            reverse("backups:restore", kwargs={"slug": edited.slug}),
            {
                "pick": f"at:{(NOW - 30 * MINUTE).isoformat()}",
                "target": edited.slug,
                "idempotency_key": "k",
                "step": "preview",
            },
        )
        assert b"3 changes made to Contoso Test since" in page.content

    def test_the_candidates_count_the_hour_before_each(self, client_admin, edited):
        candidates = selectors.restore_candidates(edited, NOW - 6 * MINUTE, now=NOW)
        assert candidates.items[0].moment == NOW - 6 * MINUTE
        page = client_admin.get(
            reverse("backups:system", kwargs={"slug": edited.slug}),
            {"date": "2026-11-20", "time": "11:54:00", "tz": "UTC"},
        )
        rows = page.content.decode().split("<tbody>")[1].split("</tbody>")[0].split("<tr>")[1:]
        assert '<td class="num">4</td>' in rows[0]  # 11:10 (3) and 11:50 (1)
