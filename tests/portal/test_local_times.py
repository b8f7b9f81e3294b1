"""Stored sentences show their UTC moments in the viewer's zone, whatever else they hold."""

import datetime

import pytest
from django.utils import timezone

from portal.templatetags.portal import local_times, when


@pytest.fixture(autouse=True)
def _kolkata():
    with timezone.override("Asia/Kolkata"):
        yield


def test_a_utc_moment_is_shown_in_the_viewers_zone():
    shown = local_times("Restored X at 2026-11-20 09:30:00 UTC (3 rows)")
    assert shown.startswith('Restored X at <time datetime="2026-11-20T09:30:00+00:00"')
    assert "Nov 20, 2026, 15:00:00" in shown and "UTC+05:30" in shown
    assert shown.endswith(" (3 rows)")


@pytest.mark.parametrize(
    "text",
    [
        "Before 2026-02-30 10:00 UTC job",  # no such day
        "Copy 2026-11-31 10:00 UTC",
        "Deploy 2026-11-20 09:30 UTC+05:30 window",  # an offset, not a UTC moment
    ],
)
def test_text_that_only_looks_like_a_moment_stays_as_it_is(text):
    assert local_times(text) == text


def test_the_first_moment_of_the_calendar_does_not_break_the_page():
    with timezone.override("America/New_York"):
        assert "0001" in local_times("x 0001-01-01 00:00 UTC y")
        assert "0001" in when(datetime.datetime(1, 1, 1, tzinfo=datetime.UTC))


def test_everything_else_is_escaped():
    shown = local_times("<b>Tom & Jerry</b> at 2026-11-20 09:30 UTC")
    assert shown.startswith("&lt;b&gt;Tom &amp; Jerry&lt;/b&gt; at <time")
