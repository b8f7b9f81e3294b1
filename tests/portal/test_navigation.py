"""The left navigation: every URL name of the portal is placed in one of its sections (one map,
environments/context_processors.py), and every page highlights its section, the backup,
restore, operation, data and changes pages included. The icons are inline SVG."""

import re

import pytest
from django.urls import ResolverMatch, URLResolver, get_resolver, reverse

from environments.context_processors import SECTIONS, section_of
from portal import icons
from tests.factories import ago

NAV_LINKS = {"home": "Home", "environments": "Environments", "tokens": "API tokens"}


def url_names(resolver: URLResolver = None, namespaces: tuple[str, ...] = ()):
    """(namespaces, name) of every named URL pattern of the project."""
    for pattern in (resolver or get_resolver()).url_patterns:
        if isinstance(pattern, URLResolver):
            inner = namespaces + ((pattern.namespace,) if pattern.namespace else ())
            yield from url_names(pattern, inner)
        elif pattern.name:
            yield namespaces, pattern.name


def match(namespaces: tuple[str, ...], name: str) -> ResolverMatch:
    return ResolverMatch(lambda r: None, (), {}, url_name=name, namespaces=list(namespaces))


def test_every_url_name_of_the_portal_is_placed_in_a_section():
    names = list(url_names())
    assert len(names) > 60  # the walk found the apps, the API and the Django admin
    unplaced = []
    for namespaces, name in names:
        try:
            section = section_of(match(namespaces, name))
        except KeyError:
            unplaced.append(":".join((*namespaces, name)))
            continue
        assert section in (None, "home", "environments", "operations", "tokens", "support")
    assert not unplaced, f"place these in environments/context_processors.py: {unplaced}"


def test_a_url_name_not_in_the_map_is_refused_rather_than_guessed():
    with pytest.raises(KeyError):
        section_of(match(("nowhere",), "page"))
    assert "nowhere:*" not in SECTIONS


@pytest.mark.parametrize(
    "name, section",
    [
        (("backups", "system"), "environments"),
        (("backups", "restore"), "environments"),
        (("backups", "operation"), "environments"),
        (("backups", "changes"), "environments"),
        (("environments", "rows"), "environments"),
        (("", "tokens"), "tokens"),
        (("admin", "index"), "support"),
        (("", "login"), None),
    ],
)
def test_a_page_is_in_the_section_it_is_reached_from(name, section):
    namespace, url_name = name
    assert section_of(match((namespace,) if namespace else (), url_name)) == section


def highlighted(html: str) -> dict[str, str]:
    """The navigation's links that are highlighted: their label and aria-current."""
    nav = re.search(r'<nav class="leftnav".*?</nav>', html, re.S).group(0)
    return {
        label: current
        for current, label in re.findall(
            r'<a href="[^"]*" aria-current="(\w+)">.*?<span>([^<]+)</span></a>', nav, re.S
        )
    }


@pytest.fixture
def pages(clock, client_admin, admin, source, target, run_restore):
    op = run_restore(source=source, target=target, moment=ago(days=1), requested_by=admin)
    slug, table = source.slug, "accounts"
    return {
        reverse("environments:list"): ("Environments", "page"),
        reverse("environments:detail", args=[slug]): ("Environments", "true"),
        reverse("backups:system", args=[slug]): ("Environments", "true"),
        reverse("backups:manual", args=[slug]): ("Environments", "true"),
        reverse("backups:restore", args=[slug]) + f"?pick=at:{ago(hours=2).isoformat()}": (
            "Environments",
            "true",
        ),
        reverse("backups:operation", args=[op.pk]): ("Environments", "true"),
        reverse("backups:changes", args=[slug]): ("Environments", "true"),
        reverse("backups:copy", args=[slug]): ("Environments", "true"),
        reverse("backups:update-version", args=[target.slug]): ("Environments", "true"),
        reverse("environments:tables", args=[slug]): ("Environments", "true"),
        reverse("environments:rows", args=[slug, table]): ("Environments", "true"),
        reverse("environments:row", args=[slug, table, "b"]): ("Environments", "true"),
        reverse("tokens"): ("API tokens", "page"),
    }


def test_every_page_highlights_its_section_and_no_other(client_admin, pages):
    for url, (label, current) in pages.items():
        response = client_admin.get(url)
        assert response.status_code == 200, url
        assert highlighted(response.content.decode()) == {label: current}, url


def test_the_navigation_and_the_command_bar_draw_their_icons_inline(client_admin, target):
    html = client_admin.get(reverse("environments:detail", args=[target.slug])).content.decode()
    nav = re.search(r'<nav class="leftnav".*?</nav>', html, re.S).group(0)
    for name in ("home", "environments", "key"):
        assert str(icons.svg(name)) in nav
    for name, label in (("backup", "Backups"), ("copy", "Copy"), ("changes", "Changes")):
        assert f"{icons.svg(name)}{label}" in html
    # Decoration only: hidden from assistive technology, the label stays text; nothing fetched.
    assert 'aria-hidden="true"' in str(icons.svg("copy"))
    assert "<use" not in html and "icon-font" not in html


def test_an_unknown_icon_is_an_error_not_an_empty_space():
    with pytest.raises(ValueError, match="no icon named 'nope'"):
        icons.svg("nope")
