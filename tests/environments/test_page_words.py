"""The environment pages speak the admin's language: what a restored environment holds and
when it stops sharing storage with its source, never the store's vocabulary (depth,
flattening, "stored once"); and New offers only the types a tenant can still create."""

import datetime
import html
import re

import pytest
from django.urls import reverse

from backups import engine, restores
from environments import flatten
from environments.models import DataTable
from tests.factories import EnvironmentFactory

ENGINE_WORDS = ("table deep", "flattening", "stored once", "reads ", "Storage 0")


def _restore(source, target, moment, admin):
    op = restores.restore_start(
        restores.RestoreRequest(source=source, target=target, moment=moment, requested_by=admin)
    )
    assert engine.restore_run(op.pk) == "succeeded"
    target.refresh_from_db()
    return op


def _text(client, env) -> str:
    page = client.get(reverse("environments:detail", args=[env.slug]))
    assert page.status_code == 200
    # The words as read: tags out, spaces folded.
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", "", page.content.decode())))


def _assert_no_engine_words(text: str) -> None:
    for words in ENGINE_WORDS:
        assert words not in text, words


@pytest.mark.django_db
def test_a_restored_environment_says_how_many_rows_it_holds_and_whom_it_shares_them_with(
    client_admin, admin, source, target, clock
):
    _restore(source, target, source.last_change_at, admin)
    text = _text(client_admin, target)
    assert "Holds 3 rows (262 bytes)." in text
    assert (
        "3 of them are shared with the environment they were restored from" in text
        and "until Contoso Test is fully independent of it" in text
    )
    # Not yet copied over: it waits until Contoso Prod (production, 28 days) no longer keeps
    # the moment it reads, and says so.
    assert "Accounts: restored Nov 20, 2026, 12:00 UTC+00:00 from Contoso Prod as of " in text
    assert (
        "shares 2 rows with Contoso Prod until it is fully independent, which starts around "
        "Dec 17, 2026, 12:00 UTC+00:00." in text
    )
    _assert_no_engine_words(text)


@pytest.mark.django_db
def test_while_it_is_made_independent_the_page_estimates_when_from_the_pace_so_far(
    client_admin, admin, source, target, clock, settings
):
    _restore(source, target, source.last_change_at, admin)
    table = DataTable.objects.get(
        generation__environment=target, name="accounts", base__isnull=False
    )
    assert not flatten.flatten_chunk(table.pk, rows=1)  # one of its 2 rows copied
    clock.shift(datetime.timedelta(minutes=2))  # one row in 2 minutes: 1 row left, 2 minutes
    text = _text(client_admin, target)
    assert "fully independent of Contoso Prod in about 2 min 0 s." in text
    assert "2 of them are shared with the environment they were restored from" in text
    _assert_no_engine_words(text)
    for branch in DataTable.objects.filter(generation__environment=target, base__isnull=False):
        flatten.flatten(branch.pk)
    text = _text(client_admin, target)
    assert "Restored tables" not in text and "shared with" not in text
    assert "Holds 3 rows (" in text


@pytest.mark.django_db
def test_an_environment_restored_from_itself_never_names_itself_as_its_source(
    client_admin, admin, source, clock
):
    source.type = "sandbox"
    source.save(update_fields=["type"])
    moment = source.last_change_at
    clock.shift(datetime.timedelta(minutes=1))
    _restore(source, source, moment, admin)
    text = _text(client_admin, source)
    assert "Accounts: restored " in text and " from its own data as of " in text
    assert "shares 2 rows with its earlier data until it is fully independent" in text
    restored = text[text.index("Restored tables") : text.index("A restore takes seconds")]
    assert "Contoso Prod" not in restored
    _assert_no_engine_words(text)


@pytest.mark.django_db
def test_the_restored_tables_say_nothing_of_depth_even_two_restores_deep(
    client_admin, admin, source, target, clock
):
    _restore(source, target, source.last_change_at, admin)
    again = EnvironmentFactory(name="Contoso Again", type="sandbox", region=target.region)
    clock.shift(datetime.timedelta(minutes=1))
    _restore(target, again, target.last_change_at, admin)
    text = _text(client_admin, again)
    # Read through two restores: the portal makes it independent at its next round.
    assert (
        "shares 2 rows with Contoso Test until it is fully independent, which starts within "
        "minutes." in text
    )
    _assert_no_engine_words(text)


@pytest.mark.django_db
def test_new_does_not_offer_default_once_the_tenant_has_one(client_admin, db):
    url = reverse("environments:new")
    assert '<option value="default"' in client_admin.get(url).content.decode()
    EnvironmentFactory(type="default", slug="contoso-default")
    page = client_admin.get(url).content.decode()
    assert '<option value="default"' not in page
    assert '<option value="sandbox"' in page and '<option value="production"' in page


@pytest.mark.django_db
def test_the_list_says_what_a_restored_environment_shares_beside_what_it_stores(
    client_admin, admin, source, target, clock
):
    _restore(source, target, source.last_change_at, admin)
    page = client_admin.get(reverse("environments:list")).content.decode()
    rows = {
        name: row
        for row in page.split("<tr>")
        for name in ("Contoso Prod", "Contoso Test")
        if f">{name}</a>" in row
    }
    assert (
        "and 3 rows shared with the environment they were restored from, until it is fully "
        "independent" in rows["Contoso Test"]
    )
    assert "shared" not in rows["Contoso Prod"]
