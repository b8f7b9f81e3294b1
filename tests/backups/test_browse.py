"""Browse on every backup: the System tab's candidates and the Manual tab's backups open the
data browser at the backup's moment, for those who may read the data."""

import re
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.urls import reverse

from backups import services
from environments.models import Environment
from environments.viewing import at_text
from tests.factories import ago

pytestmark = pytest.mark.usefixtures("clock")


def browse_links(html: str) -> list[str]:
    return [
        href.replace("&amp;", "&")
        for href in re.findall(r'<a href="([^"]+)">Browse<span class="visually-hidden">', html)
    ]


def test_each_candidate_has_browse_at_its_moment(client_admin, source):
    page = client_admin.get(
        reverse("backups:system", kwargs={"slug": source.slug}),
        {"date": "2026-11-18", "time": "12:17:00", "tz": "UTC"},
    )
    moments = [c.moment for c, _ in page.context["candidate_rows"]]
    data = reverse("environments:tables", kwargs={"slug": source.slug})
    links = [urlsplit(link) for link in browse_links(page.content.decode())]
    assert [(link.path, parse_qs(link.query)) for link in links] == [
        (data, {"at": [at_text(m)]}) for m in moments
    ]
    assert moments[0] == ago(days=2, minutes=-17)


def test_each_manual_backup_has_browse_that_shows_the_data_then(client_admin, admin, source):
    with time_machine.travel(ago(days=2, hours=12), tick=False):
        backup = services.backup_create(environment=source, label="Before go-live", actor=admin)
    page = client_admin.get(reverse("backups:manual", kwargs={"slug": source.slug}))
    (link,) = browse_links(page.content.decode())
    assert parse_qs(urlsplit(link).query) == {"at": [at_text(backup.backup_at)]}
    assert '<span class="visually-hidden"> Before go-live</span>' in page.content.decode()
    browsed = client_admin.get(link)
    assert browsed.status_code == 200
    assert "Viewing Contoso Prod as it was at" in browsed.content.decode()
    accounts = client_admin.get(
        reverse("environments:rows", kwargs={"slug": source.slug, "table": "accounts"}),
        parse_qs(urlsplit(link).query),
    )
    assert [r["cells"][0][0] for r in accounts.context["page_rows"]] == ["Alpha", "Beta"]


def test_a_backup_outside_the_window_offers_no_browse(client_admin, admin, source):
    services.backup_create(environment=source, label="Old one", actor=admin)
    # Converted to sandbox: the window shrinks to 7 days; a backup 10 days old stays listed.
    source.manual_backups.update(backup_at=ago(days=10))
    Environment.objects.filter(pk=source.pk).update(type="sandbox")
    page = client_admin.get(reverse("backups:manual", kwargs={"slug": source.slug}))
    assert "Old one" in page.content.decode() and browse_links(page.content.decode()) == []


def test_browse_is_offered_only_to_those_who_may_read_the_data(rf, admin, maker, source):
    from django.template import Context, Template

    template = Template("{% load data_browser %}{% browse_url environment moment %}")
    for user, expected in ((admin, True), (maker, False)):
        request = rf.get("/")
        request.user = user
        html = template.render(
            Context({"request": request, "environment": source, "moment": ago(days=1)})
        )
        assert bool(html) is expected, user
