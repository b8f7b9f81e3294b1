"""The tenant's Operations page: who sees what (the same as the API's list and as each
operation's own page), its filters, its keyset pages and its live status."""

import datetime
import re
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from backups import operation_log
from backups.models import RestoreOperation
from environments import permissions, services
from environments.models import Environment, Membership
from portal.models import AuditEvent
from tests.factories import NOW, EnvironmentFactory, UserFactory, ago, make_member

URL = reverse("backups:operations")
HTMX = {"HTTP_HX_REQUEST": "true"}


def make_op(target, *, source=None, kind="restore", status="succeeded", by=None, at=None, **more):
    """An operation as the engine leaves it (the page only reads them)."""
    source = source or target
    at = at or NOW
    ended = status in (RestoreOperation.Status.SUCCEEDED, RestoreOperation.Status.FAILED)
    return RestoreOperation.objects.create(
        kind=kind,
        source=source,
        target=target,
        moment=at - datetime.timedelta(hours=1),
        requested_by=by,
        idempotency_key=uuid.uuid4().hex,
        created_at=at,
        finished_at=at + datetime.timedelta(minutes=1) if ended else None,
        status=status,
        source_name=source.name,
        target_name=target.name,
        **more,
    )


def names(response) -> list[str]:
    """The Operation column of the page, as read: "Restore #3", "Create"."""
    return [entry.name for entry in response.context["page"].entries]


def listed(response_or_page) -> list[tuple[str, str]]:
    """(Operation, Environment) of each line, of a response or of operation_log.page."""
    page = getattr(response_or_page, "context", {"page": response_or_page})["page"]
    return [(e.name, e.environment) for e in page.entries]


@pytest.fixture
def tenant(clock, global_admin, env_admin, sandbox, production):
    """Sales Sandbox (managed by envadmin) and Sales (production, tenant admins only), both
    made 40 days ago; a restore of the sandbox from Sales, a copy into a second sandbox, an
    undo, a put-back, and Sales Sandbox deleted and recovered."""
    other = EnvironmentFactory(name="Other Sandbox", slug="other-sandbox", type="sandbox")
    ops = {
        "restore": make_op(sandbox, source=production, by=global_admin, at=ago(hours=5)),
        "copy": make_op(
            other, source=production, kind="copy_schema", by=global_admin, at=ago(hours=4)
        ),
    }
    ops["undo"] = make_op(sandbox, by=env_admin, at=ago(hours=3), undo_of=ops["restore"])
    ops["rows"] = make_op(sandbox, kind="rows", by=env_admin, at=ago(hours=2))
    clock.move_to(ago(hours=1))
    services.environment_delete(
        environment=sandbox, actor=global_admin, confirm_name="Sales Sandbox"
    )
    clock.move_to(ago(minutes=30))
    services.environment_recover(environment=sandbox, actor=global_admin)
    clock.move_to(NOW)
    return ops


# -- who sees what ------------------------------------------------------------------------------


def test_a_tenant_admin_sees_every_operation_and_environment_event_newest_first(
    login, global_admin, tenant
):
    page = login(global_admin).get(URL)
    assert page.status_code == 200
    ops = tenant
    assert listed(page) == [
        ("Recover", "Sales Sandbox"),
        ("Delete", "Sales Sandbox"),
        (f"Restore rows #{ops['rows'].pk}", "Sales Sandbox"),
        (f"Undo #{ops['undo'].pk}", "Sales Sandbox"),
        (f"Copy #{ops['copy'].pk}", "Other Sandbox"),
        (f"Restore #{ops['restore'].pk}", "Sales Sandbox"),
        # Made by the service 40 days ago, in the order they were made.
        ("Create", "Other Sandbox"),
        ("Create", "Sales"),
        ("Create", "Sales Sandbox"),
    ]
    html = page.content.decode()
    assert f'href="/restores/{ops["copy"].pk}/"' in html
    assert "Copy (schema only)" in html and f"Undoes Restore #{ops['restore'].pk}" in html
    assert "from Sales" in html  # the restore's and the copy's source


def test_an_environment_admin_sees_only_what_happened_to_the_environments_they_manage(
    login, env_admin, tenant
):
    page = login(env_admin).get(URL)
    ops = tenant
    assert listed(page) == [
        ("Recover", "Sales Sandbox"),
        ("Delete", "Sales Sandbox"),
        (f"Restore rows #{ops['rows'].pk}", "Sales Sandbox"),
        (f"Undo #{ops['undo'].pk}", "Sales Sandbox"),
        (f"Restore #{ops['restore'].pk}", "Sales Sandbox"),
        ("Create", "Sales Sandbox"),
    ]
    # The restore came from Sales, which they do not manage: named, never linked.
    assert 'href="/environments/sales/"' not in page.content.decode()


@pytest.mark.parametrize("who", ["maker", "support", "outsider"])
def test_people_who_do_not_administer_environments_are_refused_the_page(
    request, login, tenant, who
):
    page = login(request.getfixturevalue(who)).get(URL)
    assert page.status_code == 403
    assert b"Operations" not in page.content.split(b"<main")[0]  # nor offered in the nav


def test_the_navigation_offers_operations_beside_environments_and_marks_it_current(
    login, global_admin, tenant
):
    nav = login(global_admin).get(URL).content.decode().split('<nav class="leftnav"')[1]
    nav = nav.split("</nav>")[0]
    assert nav.index(">Environments<") < nav.index(">Operations<")
    assert re.search(r'href="/operations/" aria-current="page">.*<span>Operations</span>', nav)


def test_a_deleted_environment_s_operations_leave_the_list_as_they_leave_their_pages(
    login, global_admin, env_admin, tenant, sandbox
):
    services.environment_delete(
        environment=sandbox, actor=global_admin, confirm_name="Sales Sandbox"
    )
    admin_page = login(global_admin).get(URL)
    assert [n for n in names(admin_page) if "#" in n] == [f"Copy #{tenant['copy'].pk}"]
    # The tenant admin still sees it was deleted, linked to where it can be recovered.
    assert listed(admin_page)[0] == ("Delete", "Sales Sandbox")
    assert admin_page.context["page"].entries[0].url == reverse("environments:deleted")
    # Its environment admin no longer sees it at all, as nowhere else.
    assert names(login(env_admin).get(URL)) == []


def test_the_sandbox_a_failed_restore_made_is_listed_for_those_who_manage_its_source(
    login, clock, env_admin, sandbox, global_admin
):
    made = EnvironmentFactory(name="New One", slug="new-one", type="sandbox")
    op = make_op(made, source=sandbox, status="failed", by=env_admin, made_target=True)
    Environment.objects.filter(pk=made.pk).update(deleted_at=NOW, removed_at=NOW)
    for user in (env_admin, global_admin):
        entries = login(user).get(URL).context["page"].entries
        (entry,) = [e for e in entries if e.name == f"Restore #{op.pk}"]
        assert (entry.status_label, entry.environment_url) == ("Failed", "")


def test_the_page_the_api_and_each_operation_s_own_page_agree_on_who_sees_what(
    client, clock, global_admin, service_admin, env_admin, maker, outsider, tenant, sandbox
):
    """visible_operations is can_see_operation as one filter: for every role and every kind of
    operation (on a deleted target, on a removed new sandbox), the list shows exactly those
    whose page opens."""
    gone = EnvironmentFactory(name="Gone", slug="gone", type="sandbox")
    make_member(gone, env_admin, Membership.Role.ADMIN)
    make_op(gone, source=sandbox, by=env_admin, at=ago(minutes=10))
    Environment.objects.filter(pk=gone.pk).update(deleted_at=NOW)
    made = EnvironmentFactory(name="Made", slug="made", type="sandbox")
    make_op(made, source=sandbox, status="failed", made_target=True, at=ago(minutes=5))
    Environment.objects.filter(pk=made.pk).update(deleted_at=NOW, removed_at=NOW)
    all_ops = list(RestoreOperation.objects.select_related("source", "target"))
    for user in (global_admin, service_admin, env_admin, maker, outsider):
        can_see = {op.pk for op in all_ops if permissions.can_see_operation(user, op)}
        filtered = permissions.visible_operations(user, RestoreOperation.objects.all())
        assert set(filtered.values_list("pk", flat=True)) == can_see, user
        client.force_login(user)
        api = client.get("/api/v1/operations", {"limit": 200})
        if user in (maker, outsider):
            assert api.status_code == 403 and client.get(URL).status_code == 403
            continue
        assert {o["id"] for o in api.json()} == can_see, user
        entries = client.get(URL).context["page"].entries
        assert {e.cursor.id for e in entries if e.cursor.source == 1} == can_see, user
        for pk in {op.pk for op in all_ops}:
            opens = client.get(reverse("backups:operation", args=[pk])).status_code == 200
            assert opens == (pk in can_see), (user, pk)


# -- filters ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"kind": "restore"}, ["Restore #{restore}"]),
        ({"kind": "copy"}, ["Copy #{copy}"]),
        ({"kind": "undo"}, ["Undo #{undo}"]),
        ({"kind": "rows"}, ["Restore rows #{rows}"]),
        ({"kind": "table"}, []),
        ({"kind": "create"}, ["Create", "Create", "Create"]),
        ({"kind": "delete"}, ["Delete"]),
        ({"kind": "recover"}, ["Recover"]),
        ({"environment": "other-sandbox"}, ["Copy #{copy}", "Create"]),
        ({"who": "ENVADMIN"}, ["Restore rows #{rows}", "Undo #{undo}"]),
        ({"who": "global", "kind": "delete"}, ["Delete"]),
        ({"status": "running"}, ["Restore rows #{rows}"]),
        ({"status": "succeeded", "environment": "sales"}, ["Create"]),
        ({"status": "failed"}, []),
    ],
)
def test_each_filter_narrows_the_list_and_the_filters_combine(
    login, global_admin, tenant, params, expected
):
    RestoreOperation.objects.filter(pk=tenant["rows"].pk).update(status="running")
    page = login(global_admin).get(URL, params)
    ids = {kind: op.pk for kind, op in tenant.items()}
    assert names(page) == [name.format(**ids) for name in expected]
    assert page.context["form"].errors == {}


def test_a_filtered_list_is_a_link_to_bookmark_and_keeps_its_filters_on_every_page(
    login, global_admin, tenant, monkeypatch
):
    monkeypatch.setattr(operation_log, "PAGE_SIZE", 1)
    page = login(global_admin).get(URL, {"environment": "sales-sandbox", "kind": "create"})
    assert names(page) == ["Create"] and not page.context["next_url"]
    page = login(global_admin).get(URL, {"environment": "sales-sandbox"})
    assert page.context["next_url"].startswith("/operations/?environment=sales-sandbox&after=")
    html = page.content.decode()
    assert '<option value="sales-sandbox" selected>' in html
    assert 'method="get" action="/operations/"' in html


@pytest.mark.parametrize(
    "params, field, message",
    [
        ({"environment": "sales"}, "environment", "not an environment you manage"),
        ({"environment": "<b>nowhere</b>"}, "environment", "not an environment you manage"),
        ({"kind": "explode"}, "kind", "Pick a kind"),
        ({"status": "paused"}, "status", "Pick a status"),
        ({"who": "nobody"}, "who", "No one has the user name “nobody”."),
    ],
)
def test_a_bad_filter_is_named_beside_its_field_and_lists_nothing(
    login, env_admin, tenant, params, field, message
):
    page = login(env_admin).get(URL, params)
    assert page.status_code == 200
    assert message in " ".join(page.context["form"].errors[field])
    assert page.context["page"] is None
    html = page.content.decode()
    assert "Fix the filters above" in html and "<b>nowhere</b>" not in html


# -- pages --------------------------------------------------------------------------------------


@pytest.fixture
def crowd(clock, global_admin, sandbox, production):
    """Seven operations, three of them at the very same moment as an environment's creation
    (ties across both sources and within one)."""
    same = ago(days=1)
    made = EnvironmentFactory(name="Tied", slug="tied", type="sandbox", created_at=same)
    ops = [make_op(sandbox, by=global_admin, at=ago(hours=h)) for h in (1, 2, 3, 4)]
    ops += [make_op(made, by=global_admin, at=same) for _ in range(3)]
    return ops


def _walk(client, url, link):
    pages = [client.get(url)]
    while pages[-1].context[link]:
        pages.append(client.get(pages[-1].context[link]))
    return pages


def test_next_walks_every_entry_once_in_order_and_previous_walks_back(
    login, global_admin, crowd, monkeypatch
):
    monkeypatch.setattr(operation_log, "PAGE_SIZE", 3)
    client = login(global_admin)
    whole = listed(operation_log.page(global_admin, size=100))
    assert len(whole) == 10  # 7 operations and the 3 environments' creations
    pages = _walk(client, URL, "next_url")
    assert [len(p.context["page"].entries) for p in pages] == [3, 3, 3, 1]
    assert sum((listed(p) for p in pages), []) == whole
    assert not pages[0].context["previous_url"] and pages[1].context["previous_url"]
    last = f"{URL}?{pages[-1].request['QUERY_STRING']}"
    back = _walk(client, last, "previous_url")
    assert [listed(p) for p in back] == [listed(p) for p in pages[::-1]]
    assert back[-1].context["page"].has_previous is False


def test_pages_are_read_from_a_cursor_never_skipped_to(login, global_admin, crowd, monkeypatch):
    monkeypatch.setattr(operation_log, "PAGE_SIZE", 3)
    client = login(global_admin)
    second = client.get(URL).context["next_url"]
    with CaptureQueriesContext(connection) as queries:
        client.get(second)
    assert not any("OFFSET" in q["sql"].upper() for q in queries.captured_queries)


def test_an_operation_started_meanwhile_does_not_shift_the_next_page(
    login, global_admin, crowd, sandbox, monkeypatch
):
    monkeypatch.setattr(operation_log, "PAGE_SIZE", 3)
    client = login(global_admin)
    first = client.get(URL)
    make_op(sandbox, by=global_admin, at=NOW, status="running")
    second = client.get(first.context["next_url"])
    whole = listed(operation_log.page(global_admin, size=100))
    assert whole.index(listed(second)[0]) == whole.index(listed(first)[-1]) + 1


@pytest.mark.parametrize("token", ["junk", "2026-11-20T12:00:00~7~1", "2026-11-20T12:00:00~1~x"])
def test_a_page_link_that_was_not_made_here_shows_the_newest_with_a_word_why(
    login, global_admin, crowd, token
):
    page = login(global_admin).get(URL, {"after": token})
    assert page.status_code == 200
    assert "not one the Operations page made" in page.content.decode()
    assert listed(page) == listed(operation_log.page(global_admin))


# -- live status --------------------------------------------------------------------------------


def test_the_list_polls_while_something_on_it_runs_and_stops_when_nothing_does(
    login, global_admin, tenant
):
    client = login(global_admin)
    still = client.get(URL, {"kind": "rows"})
    assert 'hx-trigger="every 2s"' not in still.content.decode()
    RestoreOperation.objects.filter(pk=tenant["rows"].pk).update(status="running", finished_at=None)
    running = client.get(URL, {"kind": "rows"})
    assert re.search(
        r'id="operations-list"[^>]*hx-get="/operations/\?kind=rows" hx-trigger="every 2s"',
        running.content.decode(),
    )
    assert "Not yet" in running.content.decode()
    # The poll gets the list alone, with its status now.
    RestoreOperation.objects.filter(pk=tenant["rows"].pk).update(status="succeeded")
    poll = client.get(URL, {"kind": "rows"}, **HTMX)
    html = poll.content.decode()
    assert html.lstrip().startswith('<div id="operations-list"')
    assert "<html" not in html and "Succeeded" in html and "every 2s" not in html


def test_the_list_escapes_what_people_named(login, global_admin, clock):
    EnvironmentFactory(name="<script>x</script>", slug="evil", type="sandbox")
    html = login(global_admin).get(URL).content.decode()
    assert "<script>x</script>" not in html and "&lt;script&gt;x&lt;/script&gt;" in html


def test_an_environment_event_that_was_refused_is_not_an_operation(
    login, global_admin, clock, sandbox
):
    AuditEvent.objects.create(
        at=NOW,
        action="environment.delete",
        environment=sandbox,
        outcome=AuditEvent.Outcome.REFUSED,
        summary="Refused",
    )
    assert "Delete" not in names(login(global_admin).get(URL))


def test_people_suggested_for_requested_by_are_the_admins_the_viewer_works_with(
    login, env_admin, global_admin, tenant
):
    UserFactory(username="stranger")
    html = login(env_admin).get(URL).content.decode()
    people = re.findall(r'<option value="([^"]+)">', html.split('id="operation-people"')[1])
    assert "envadmin" in people and "global" in people and "stranger" not in people


# -- plans --------------------------------------------------------------------------------------

LISTS = ("backups_restoreoperation", "portal_auditevent")


def walk_every_kind_of_list(client):
    """Each filter's first, next and previous pages: the SQL of their reads of both sources."""
    with CaptureQueriesContext(connection) as queries:
        for params in (
            {},
            {"environment": "sales-sandbox"},
            {"who": "global"},
            {"kind": "create"},
            {"kind": "copy"},
            {"status": "running"},
        ):
            first = client.get(URL, params)
            if first.context["next_url"]:
                client.get(client.get(first.context["next_url"]).context["previous_url"])
    return [
        q["sql"]
        for q in queries.captured_queries
        if "ORDER BY" in q["sql"] and any(f'FROM "{t}"' in q["sql"] for t in LISTS)
    ]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="plans of PostgreSQL")
@pytest.mark.parametrize("who", ["global_admin", "env_admin"])
def test_on_postgresql_each_page_of_operations_is_a_range_of_an_index_and_sorts_nothing(
    request, login, crowd, tenant, monkeypatch, who
):
    monkeypatch.setattr(operation_log, "PAGE_SIZE", 2)
    queries = walk_every_kind_of_list(login(request.getfixturevalue(who)))
    assert len(queries) > 12
    with connection.cursor() as cursor:
        # The tables are tiny here, where reading all and sorting costs nothing: price that as
        # it is at scale, so the plan shows whether an index gives the page in its order (a
        # Sort left in the plan means none can).
        cursor.execute("ANALYZE backups_restoreoperation")
        cursor.execute("ANALYZE portal_auditevent")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("SET LOCAL enable_incremental_sort = off")
        for sql in queries:
            cursor.execute(f"EXPLAIN {sql}")
            plan = "\n".join(row[0] for row in cursor.fetchall())
            assert "Sort" not in plan, (sql, plan)
            assert re.search(
                r"Index (Only )?Scan (Backward )?using (operation_|audit_environment_events)",
                plan,
            ), (sql, plan)


def test_the_list_says_how_many_it_shows_for_a_screen_reader_after_each_filter(
    login, global_admin, tenant
):
    html = login(global_admin).get(URL, {"kind": "create"}, **HTMX).content.decode()
    assert '<p class="muted" role="status">3 operations matching the filters</p>' in html
