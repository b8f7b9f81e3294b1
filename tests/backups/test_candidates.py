import datetime

import pytest

from backups import selectors, services
from tests.factories import NOW, EnvironmentFactory, ago

pytestmark = pytest.mark.usefixtures("clock")


def test_the_window_is_retention_days_back_but_not_before_creation(db):
    prod = EnvironmentFactory(type="production", created_at=ago(days=40))
    young = EnvironmentFactory(type="production", created_at=ago(days=3))
    sandbox = EnvironmentFactory(type="sandbox", created_at=ago(days=40))
    assert prod.restorable_window().start == ago(days=28)
    assert young.restorable_window().start == ago(days=3)
    assert sandbox.restorable_window().start == ago(days=7)
    assert prod.restorable_window().end == NOW


def test_converting_production_to_sandbox_shortens_the_window(admin, source):
    from environments.services import environment_change_type

    environment_change_type(environment=source, new_type="sandbox", actor=admin)
    assert source.restorable_window().start == ago(days=7)


def test_a_moment_in_the_window_is_offered_exactly_then_hourly_backups(source):
    moment = ago(days=2, minutes=17)
    result = selectors.restore_candidates(source, moment)
    assert result.exact and result.reason == ""
    assert result.items[0].moment == moment and result.items[0].kind == "point_in_time"
    systems = [c.moment for c in result.items if c.kind == "system"]
    assert systems[:2] == [ago(days=2), ago(days=2, hours=1)]
    assert all(
        c.moment.minute == 0 and c.moment.second == 0
        for c in result.items[1:]
        if c.kind == "system"
    )


def test_manual_backups_near_the_moment_are_offered(admin, source):
    backup = services.backup_create(
        environment=source, label="Nightly", actor=admin, moment=ago(days=2, minutes=20)
    )
    result = selectors.restore_candidates(source, ago(days=2, minutes=17))
    manual = [c for c in result.items if c.kind == "manual"]
    assert manual[0].backup_id == backup.pk and manual[0].label == "Nightly"
    assert result.items[1].kind == "manual"  # 3 minutes away: nearer than the hourly points


def test_a_moment_in_the_future_says_so_and_offers_latest(source):
    result = selectors.restore_candidates(source, NOW + datetime.timedelta(hours=2))
    assert not result.exact and "future" in result.reason
    assert result.items[0].moment == NOW and result.items[0].label == "Latest"


def test_a_moment_older_than_the_window_says_so_and_offers_the_earliest(source):
    result = selectors.restore_candidates(source, ago(days=35))
    assert not result.exact and "older than the restorable window (28 days" in result.reason
    assert result.items[0].moment == ago(days=28)
    assert all(c.moment >= ago(days=28) for c in result.items)


def test_a_moment_before_the_environment_existed_says_so(db):
    env = EnvironmentFactory(type="production", created_at=ago(days=3), name="Young")
    result = selectors.restore_candidates(env, ago(days=5))
    assert "Young did not exist yet" in result.reason
    assert result.items[0].moment == ago(days=3)


def test_candidates_are_sorted_nearest_first(admin, source):
    services.backup_create(
        environment=source, label="Far", actor=admin, moment=ago(days=2, hours=3)
    )
    result = selectors.restore_candidates(source, ago(days=2, minutes=10))
    distances = [abs(c.moment - ago(days=2, minutes=10)) for c in result.items[1:]]
    assert distances == sorted(distances)
