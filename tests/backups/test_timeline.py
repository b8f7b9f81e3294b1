"""The System tab's timeline (a time axis, and targets wide enough to point at) and its time
zone field (typed, with a list to pick from, checked by the server)."""

import datetime
import itertools
import re
from urllib.parse import parse_qs

import pytest
from django.urls import reverse

from backups import timeline
from backups.forms import MomentForm
from environments.models import Activity
from portal import localtime
from tests.factories import NOW, EnvironmentFactory, ago

pytestmark = pytest.mark.usefixtures("clock")


def system_url(env) -> str:
    return reverse("backups:system", kwargs={"slug": env.slug})


def build(env, zone="UTC"):
    return timeline.build(env, env.restorable_window(now=NOW), zone)


def with_changes(env, every: int = 1):
    """One change in every `every`-th hour of the last 28 days, and 3 in the last full hour."""
    first = NOW - datetime.timedelta(days=28)
    Activity.objects.bulk_create(
        Activity(
            environment=env,
            hour=first + datetime.timedelta(hours=h),
            changes=3 if h == 28 * 24 - 1 else 1,
        )
        for h in range(0, 28 * 24, every)
    )
    return env


@pytest.fixture
def production(db):
    return with_changes(
        EnvironmentFactory(
            name="Contoso Prod", slug="contoso-prod", type="production", created_at=ago(days=40)
        )
    )


@pytest.fixture
def sandbox(db):
    return with_changes(
        EnvironmentFactory(
            name="Contoso Test", slug="contoso-test", type="sandbox", created_at=ago(days=40)
        )
    )


def covered(line) -> list[int]:
    return [h for t in line.targets for h in range(t.start, t.start + t.hours)]


class TestTargets:
    def test_a_28_day_window_has_a_target_a_day(self, production):
        line = build(production)
        # The window's 28 days and an hour, then the rest of today (Nov 20, 13:00 to 24:00).
        assert line.width == 28 * 24 + 1 + 11 and line.span == 24 and line.unit == "day"
        assert line.now == 28 * 24 and line.to_come == 12
        # Oct 23 from 12:00 joins Oct 24; today (Nov 20) is a target of its own.
        assert len(line.targets) == 28
        # Every hour is in exactly one target, in order; none is narrower than 20 hours.
        assert covered(line) == list(range(line.width))
        assert min(t.hours for t in line.targets) >= 20

    def test_a_7_day_window_has_a_target_every_6_hours(self, sandbox):
        line = build(sandbox)
        # The window, then the rest of the span that holds now (Nov 20, 12:00 to 18:00).
        assert line.width == 7 * 24 + 1 + 5 and line.span == 6 and line.unit == "6-hour span"
        assert len(line.targets) == 29
        assert covered(line) == list(range(line.width))

    @pytest.mark.parametrize(
        "hours, span", [(1, 1), (29, 1), (30, 2), (169, 6), (673, 24), (696, 24), (697, 48)]
    )
    def test_the_span_keeps_the_window_within_29_targets(self, hours, span):
        assert timeline.span_for(hours) == span

    def test_each_target_is_named_by_its_hours_and_changes(self, production):
        names = [t.name for t in build(production).targets]
        # The window opens at Oct 23, 12:00: its first half day joins the next day.
        assert names[0] == "Oct 23, 12:00 – Oct 25, 00:00: 36 changes"
        assert names[1] == "Oct 25, 00:00–24:00: 24 changes"
        assert names[-2] == "Nov 19, 00:00–24:00: 24 changes"
        assert names[-1] == "Nov 20, 00:00–now: 14 changes"

    def test_a_target_picks_the_last_second_of_its_span_or_now(self, production):
        line = build(production)
        assert parse_qs(line.targets[1].query) == {"date": ["2026-10-25"], "time": ["23:59:59"]}
        assert parse_qs(line.targets[-1].query) == {"date": ["2026-11-20"], "time": ["12:00:00"]}

    def test_today_is_a_span_of_its_own_so_the_day_before_picks_its_last_second(self, production):
        line = build(production)
        yesterday, today = line.targets[-2:]
        assert parse_qs(yesterday.query) == {"date": ["2026-11-19"], "time": ["23:59:59"]}
        assert parse_qs(today.query) == {"date": ["2026-11-20"], "time": ["12:00:00"]}  # now
        # As wide as any day: its hours to come are drawn, and it is labelled under the axis.
        assert today.hours == 24 and line.labels[-1].text == "20"

    def test_in_the_viewers_zone_today_is_the_viewers_day(self, production):
        line = build(production, "Asia/Tokyo")  # now is Nov 20, 21:00 there
        yesterday, today = line.targets[-2:]
        assert parse_qs(yesterday.query) == {"date": ["2026-11-19"], "time": ["23:59:59"]}
        assert parse_qs(today.query) == {"date": ["2026-11-20"], "time": ["21:00:00"]}
        assert today.name.startswith("Nov 20, 00:00–now")

    def test_spans_follow_the_viewers_clock(self, production):
        line = build(production, "Asia/Kolkata")
        # Hours are UTC hours, so Kolkata's days run from 00:30 to 00:30.
        assert line.targets[0].name == "Oct 23, 17:30 – Oct 25, 00:30: 31 changes"
        assert line.targets[1].name == "Oct 25, 00:30 – Oct 26, 00:30: 24 changes"
        # Picking the day Oct 25 picks its last second on the viewer's clock.
        assert parse_qs(line.targets[1].query) == {"date": ["2026-10-25"], "time": ["23:59:59"]}

    def test_a_day_the_clocks_go_back_is_one_target_of_25_hours(self, production):
        line = build(production, "America/New_York")  # summer time ends on Nov 1, 2026
        (day,) = [t for t in line.targets if t.name.startswith("Nov 1, ")]
        assert day.hours == 25 and day.name == "Nov 1, 00:00–24:00: 25 changes"

    def test_a_new_environment_gets_a_target_an_hour(self, db):
        env = EnvironmentFactory(type="sandbox", created_at=ago(hours=3, minutes=20))
        line = build(env)  # 08:40 to 12:00: the hours from 08:00 to 12:00
        assert line.span == 1 and [t.hours for t in line.targets] == [1, 1, 1, 1, 1]
        assert line.targets[0].name == "Nov 20, 08:00–09:00: 0 changes"
        assert [label.text for label in line.labels] == ["Fri, Nov 20"]


class TestAxis:
    def test_a_28_day_window_ticks_each_midnight_and_numbers_the_days(self, production):
        line = build(production)
        days = [t.x for t in line.ticks if t.day]
        assert len(days) == 28 and days[0] == 12
        assert all(b - a == 24 for a, b in itertools.pairwise(days))
        # The window's first half day (12 hours of Oct 23) is named; months where they turn.
        assert [(d.text, d.month) for d in line.labels][:3] == [
            ("23", "Oct"),
            ("24", ""),
            ("25", ""),
        ]
        assert ("1", "Nov") in [(d.text, d.month) for d in line.labels]
        assert line.labels[-1].text == "20"

    def test_a_7_day_window_names_the_weekday(self, sandbox):
        line = build(sandbox)
        assert [d.text for d in line.labels] == [
            "Fri, Nov 13",
            "Sat, Nov 14",
            "Sun, Nov 15",
            "Mon, Nov 16",
            "Tue, Nov 17",
            "Wed, Nov 18",
            "Thu, Nov 19",
            "Fri, Nov 20",
        ]
        # Minor ticks at the 6-hour edges between midnights.
        assert {t.x % 24 for t in line.ticks if not t.day} == {6, 18, 0}

    def test_the_axis_is_in_the_viewers_zone(self, production):
        line = build(production, "Asia/Tokyo")  # UTC+09:00: midnight is 15:00 UTC
        assert next(t.x for t in line.ticks if t.day) == 3


class TestSystemTabPage:
    def test_the_page_draws_the_axis_and_the_targets(self, client_admin, production):
        page = client_admin.get(system_url(production))
        text = page.content.decode()
        assert page.status_code == 200
        assert 'class="day-label">25</text>' in text and 'class="month-label">Nov</text>' in text
        links = re.findall(r'<a href="([^"]+)" class="timeline-target" aria-label="([^"]+)"', text)
        assert len(links) == 28 and "bar-link" not in text
        assert links[1] == (
            "?date=2026-10-25&amp;time=23%3A59%3A59&amp;tz=UTC",
            "Oct 25, 00:00–24:00: 24 changes",
        )
        assert "Select a day to pick its last moment." in text
        assert 'style="' not in text[text.index("<figure") : text.index("</figure>")]

    def test_a_target_link_shows_the_candidates_without_javascript(self, client_admin, production):
        page = client_admin.get(
            system_url(production), {"date": "2026-10-25", "time": "23:59:59", "tz": "UTC"}
        )
        assert page.context["candidates"].requested == datetime.datetime(
            2026, 10, 25, 23, 59, 59, tzinfo=datetime.UTC
        )

    def test_the_page_uses_the_zone_asked_for(self, client_admin, production):
        page = client_admin.get(system_url(production), {"tz": "Asia/Kolkata"})
        assert page.context["timeline"].zone == "Asia/Kolkata"
        assert "tz=Asia%2FKolkata" in page.content.decode()


class TestZoneField:
    def test_the_zone_is_a_text_field_with_a_list_of_zones_the_viewers_first(
        self, client, admin, production
    ):
        client.force_login(admin)
        client.cookies["tz"] = "Europe/Paris"
        text = client.get(system_url(production)).content.decode()
        assert '<label for="id_tz">Time zone</label>' in text
        assert re.search(
            r'<input type="text" name="tz" id="id_tz" value="Europe/Paris" '
            r'list="id_tz_list"',
            text,
        )
        assert '<datalist id="id_tz_list"><option value="Europe/Paris">UTC+01:00</option>' in text
        assert text.count("<option value=") >= 590 and '<select name="tz"' not in text

    @pytest.mark.parametrize(
        "typed, zone",
        [
            ("Asia/Kolkata", "Asia/Kolkata"),
            ("asia/kolkata", "Asia/Kolkata"),
            ("Kolkata", "Asia/Kolkata"),
            ("new york", "America/New_York"),
            ("  New_York ", "America/New_York"),
            ("utc", "UTC"),
            ("Singapore", "Singapore"),
            ("Europe/Paris (UTC+01:00)", "Europe/Paris"),
        ],
    )
    def test_a_zone_is_found_by_its_name_or_its_city(self, typed, zone):
        assert localtime.find_zone(typed) == localtime.ZoneMatch(zone)

    def test_a_name_in_two_different_zones_asks_for_the_full_name(self):
        found = localtime.find_zone("Eastern")
        assert found.name is None
        assert found.error == (
            "“Eastern” matches several time zones: Canada/Eastern, US/Eastern. Type the full name."
        )

    @pytest.mark.parametrize(
        ("typed", "zone"),
        [
            ("Istanbul", "Asia/Istanbul"),
            ("Buenos Aires", "America/Argentina/Buenos_Aires"),
            ("Indianapolis", "America/Indiana/Indianapolis"),
            ("Nicosia", "Asia/Nicosia"),
        ],
    )
    def test_a_city_whose_old_and_new_names_keep_one_clock_is_one_zone(self, typed, zone):
        assert localtime.find_zone(typed) == localtime.ZoneMatch(zone)

    def test_a_city_typed_in_the_form_reads_the_moment_there(self, client_admin, production):
        page = client_admin.get(
            system_url(production), {"date": "2026-11-18", "time": "17:30", "tz": "kolkata"}
        )
        assert page.status_code == 200
        assert page.context["candidates"].requested == ago(days=2)
        assert page.context["zone"] == "Asia/Kolkata"
        assert 'value="Asia/Kolkata"' in page.content.decode()  # the field shows its full name

    def test_an_unknown_zone_is_said_next_to_the_field(self, client_admin, production):
        page = client_admin.get(
            system_url(production), {"date": "2026-11-18", "time": "12:00", "tz": "Mars/Olympus"}
        )
        text = page.content.decode()
        assert page.status_code == 200
        assert page.context["candidates"] is None
        assert page.context["form"].errors["tz"] == [
            (
                "“Mars/Olympus” is not a time zone we know. Type a name from the list, such as "
                "Europe/Paris, or a city, such as Kolkata."
            )
        ]
        assert '<p class="error" id="id_tz_error">' in text and 'aria-invalid="true"' in text
        assert 'value="Mars/Olympus"' in text  # what was typed stays, to be corrected
        assert page.context["timeline"].zone == "UTC"  # meanwhile, the viewer's zone

    def test_an_unknown_zone_alone_is_said_too(self, client_admin, production):
        page = client_admin.get(system_url(production), {"tz": "nowhere"}, HTTP_HX_REQUEST="true")
        assert page.status_code == 200
        assert list(page.context["form"].errors) == ["tz"]

    def test_a_missing_zone_is_the_viewers(self, client, admin, production):
        client.force_login(admin)
        client.cookies["tz"] = "Asia/Tokyo"
        page = client.get(system_url(production), {"date": "2026-11-18", "time": "21:00"})
        assert page.context["candidates"].requested == ago(days=2)
        page = client.get(system_url(production), {"date": "2026-11-18", "time": "21:00", "tz": ""})
        assert page.context["candidates"].requested == ago(days=2)

    def test_the_form_cleans_the_zone_to_its_name(self):
        form = MomentForm({"date": "2026-11-18", "time": "12:00", "tz": "new york"}, now=NOW)
        assert form.is_valid(), form.errors
        assert form.cleaned_data["tz"] == "America/New_York"
        assert form.cleaned_data["moment"] == datetime.datetime(
            2026, 11, 18, 17, 0, tzinfo=datetime.UTC
        )
