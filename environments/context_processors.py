from django.http import HttpRequest
from django.urls import ResolverMatch

from environments import permissions

# Which entry of the left navigation each page belongs to, by URL name ("namespace:name"), or
# by namespace ("namespace:*") when every page of it does. The one place that says so: the
# navigation highlights its section on every page, backup, restore, operation, data and
# changes pages included. A page with no section (sign-in) maps to None. Each URL name must be
# found here (tests/portal/test_navigation.py walks them all), so a new page is placed on
# purpose rather than left unhighlighted.
SECTIONS: dict[str, str | None] = {
    "home": "home",
    "login": None,
    "logout": None,
    "environments:*": "environments",
    # An environment's backups, restores, copies, changes and the operations they start are
    # reached from its page, so they are the Environments section's too.
    "backups:*": "environments",
    # The tenant's list of every operation has an entry of its own.
    "backups:operations": "operations",
    "tokens": "tokens",
    "token-revoke": "tokens",
    # The API's own pages (its documentation) are found from the API tokens page.
    "api-v1:*": "tokens",
    "admin:*": "support",
}


def section_of(match: ResolverMatch | None) -> str | None:
    """The navigation section of a resolved URL; KeyError for a URL name not placed above."""
    if match is None or match.url_name is None:
        return None
    name = match.view_name  # "namespace:name", or "name" outside any namespace
    if name in SECTIONS:
        return SECTIONS[name]
    namespace = match.namespaces[0] if match.namespaces else ""
    return SECTIONS[f"{namespace}:*"]


def navigation(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    try:
        section = section_of(getattr(request, "resolver_match", None))
    except KeyError:  # a page not yet placed: no highlight, rather than a broken page
        section = None
    return {
        "nav_admin_center": permissions.can_use_admin_center(user),
        "nav_django_admin": permissions.is_support_staff(user),
        "nav_section": section,
    }
