"""The environments list tells Global admins how far behind the database's standby is, or that
there is none (portal.dr; issue 24). The lag source is a setting, so these tests give their own."""

import pytest
from django.db import connection
from django.urls import reverse

from portal import dr

HTMX = {"HTTP_HX_REQUEST": "true"}


def standby_3_4_s_behind() -> dr.StandbyStatus:
    return dr.StandbyStatus(dr.BEHIND, name="portal_standby", lag_seconds=3.4)


def standby_hidden() -> dr.StandbyStatus:
    return dr.StandbyStatus(dr.HIDDEN)


def no_call() -> dr.StandbyStatus:
    raise AssertionError("the standby is not asked about for someone who may not see it")


@pytest.fixture
def lag_source(settings):
    def use(function) -> None:
        settings.DR_STANDBY_STATUS = f"{function.__module__}.{function.__name__}"

    return use


def test_a_global_admin_sees_how_far_behind_the_standby_is(login, global_admin, lag_source):
    lag_source(standby_3_4_s_behind)
    page = login(global_admin).get(reverse("environments:list")).content.decode()
    assert "Disaster recovery: standby 3 s behind" in page


def test_a_global_admin_sees_that_there_is_no_standby(login, global_admin, lag_source):
    lag_source(dr.no_standby)
    page = login(global_admin).get(reverse("environments:list")).content.decode()
    assert "Disaster recovery: no standby" in page


def test_a_role_that_cannot_read_the_lag_is_told_what_to_grant(login, global_admin, lag_source):
    lag_source(standby_hidden)
    page = login(global_admin).get(reverse("environments:list")).content.decode()
    assert "Disaster recovery: standby status hidden" in page
    assert "pg_monitor" in page


def test_the_htmx_table_leaves_it_out(login, global_admin, lag_source):
    lag_source(standby_3_4_s_behind)
    partial = login(global_admin).get(reverse("environments:list"), **HTMX).content.decode()
    assert 'id="environment-table"' in partial
    assert "Disaster recovery" not in partial


@pytest.mark.parametrize("who", ["service_admin", "env_admin"])
def test_other_admins_do_not_see_it(request, login, sandbox, lag_source, who):
    lag_source(no_call)
    response = login(request.getfixturevalue(who)).get(reverse("environments:list"))
    assert response.status_code == 200
    assert "Disaster recovery" not in response.content.decode()


def test_the_default_source_reads_the_portals_own_database(db):
    # The test database has no standby: SQLite never has one, PostgreSQL's is not replicated.
    status = dr.from_pg_stat_replication()
    assert status == dr.NO_STANDBY
    assert status.summary == "no standby"
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:  # the query itself runs on this server
            cursor.execute(dr._QUERY)
            assert cursor.fetchall() == []


@pytest.mark.parametrize(
    ("rows", "summary"),
    [
        ([], "no standby"),
        # pg_receivewal into the repository streams but does not replay: not a standby
        ([("portal_walstream", "streaming", False, None)], "no standby"),
        ([("portal_standby", "catchup", True, 12.0)], "no standby"),
        (
            [
                ("portal_walstream", "streaming", False, None),
                ("far", "streaming", True, 41.6),
                ("portal_standby", "streaming", True, 0.4),
            ],
            "standby 0 s behind",
        ),
        ([("portal_standby", "streaming", True, 2.5)], "standby 2 s behind"),
        ([("portal_standby", "streaming", True, 2.51)], "standby 3 s behind"),
        ([("portal_standby", "streaming", True, None)], "standby connected, lag not measured yet"),
        # rows of other roles' sessions with their columns hidden (no pg_read_all_stats)
        ([(None, None, False, None)], "standby status hidden"),
    ],
)
def test_it_reads_pg_stat_replication_rows(rows, summary):
    assert dr.status_from_rows(rows).summary.startswith(summary)


def test_the_nearest_standby_is_the_one_shown():
    status = dr.status_from_rows(
        [("far", "streaming", True, 41.6), ("near", "streaming", True, 0.4)]
    )
    assert (status.name, status.lag_seconds) == ("near", 0.4)
