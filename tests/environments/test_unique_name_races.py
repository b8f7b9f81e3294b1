"""Two requests for the same display name at once, each on its own PostgreSQL connection: the
database's unique key over live environments' folded names decides, so exactly one
environment is made and the other request is told the name is taken (never a 500)."""

import json
import threading
from functools import partial

import pytest
from django.db import connections, transaction
from django.test import Client

from environments import services
from environments.models import Environment
from portal.errors import Refused
from portal.tokens import token_create
from tests.backups.workers import POSTGRES_ONLY, at_once, wait_until, waiting_on_lock
from tests.factories import UserFactory

pytestmark = POSTGRES_ONLY

ROUNDS = 4


@pytest.fixture(autouse=True)
def _no_write_limit(settings):
    settings.API_WRITES_PER_MINUTE = 0


@pytest.fixture
def admin(db):
    return UserFactory(username="name-racer", tenant_role="global_admin")


def _create(admin, name, slug):
    return services.environment_create(
        actor=admin, name=name, slug=slug, type="sandbox", region="unitedstates"
    )


def test_a_name_checked_free_by_both_is_given_to_the_first_to_commit(admin):
    """Both requests pass the check (the first has not committed yet); the second waits on the
    unique key, and when the first commits it is refused with the name's message."""
    inserted, release = threading.Event(), threading.Event()

    def first():
        try:
            with transaction.atomic():
                env = _create(admin, "Contoso Sales", "first")
                inserted.set()
                release.wait(timeout=60)
            return env
        finally:
            connections.close_all()

    def second():
        try:
            return _create(admin, "contoso   SALES", "second")
        except Refused as exc:
            return exc
        finally:
            connections.close_all()

    results = {}
    threads = [
        threading.Thread(target=lambda: results.__setitem__("first", first())),
        threading.Thread(target=lambda: results.__setitem__("second", second())),
    ]
    threads[0].start()
    assert inserted.wait(timeout=60)
    threads[1].start()
    try:
        wait_until(
            lambda: waiting_on_lock('INSERT INTO "environments_environment"'),
            what="the second request to wait on the name's unique key",
        )
    finally:
        release.set()
        for thread in threads:
            thread.join(timeout=60)
    assert isinstance(results["first"], Environment)
    refused = results["second"]
    assert isinstance(refused, Refused), refused
    assert (refused.message, refused.field) == (
        "An environment named Contoso Sales already exists; choose another name.",
        "name",
    )
    assert list(Environment.objects.values_list("slug", flat=True)) == ["first"]


def test_the_same_name_from_the_page_and_the_api_at_once_makes_one_environment(admin):
    token = token_create(user=admin, name="race")[1]

    def page(name, slug):
        client = Client()
        client.force_login(admin)
        data = {"name": name, "slug": slug, "type": "sandbox", "region": "unitedstates"}
        response = client.post("/environments/new/", data)
        errors = response.context["form"].errors if response.status_code == 200 else None
        return response.status_code, errors

    def api(name, slug):
        body = {"name": name, "slug": slug, "type": "sandbox", "region": "unitedstates"}
        response = Client().post(
            "/api/v1/environments",
            json.dumps(body),
            content_type="application/json",
            headers={"Authorization": f"Bearer {token}"},
        )
        return response.status_code, response.json()

    for round_ in range(ROUNDS):
        name = f"Race {round_}"
        results = at_once(
            [partial(page, name, f"page-{round_}"), partial(api, name.upper(), f"api-{round_}")]
        )
        assert not [r for r in results if isinstance(r, Exception)], results
        (page_status, page_errors), (api_status, api_body) = results
        assert sorted([page_status, api_status]) in ([200, 201], [302, 422]), results
        if page_status == 200:
            assert page_errors == {"name": [f"An environment named {name.upper()} already "
                                            "exists; choose another name."]}  # fmt: skip
        else:
            assert api_body["field"] == "name" and "choose another name" in api_body["message"]
        made = Environment.objects.filter(name_key=name.lower())
        assert made.count() == 1
