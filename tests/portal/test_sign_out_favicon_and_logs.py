"""Small things a careful admin notices: the sign-out address opened in the browser shows a
Sign out button (a POST with CSRF), not an empty 405; a refused request is one line in the log,
not a traceback; the portal has an icon, and /favicon.ico finds it."""

import io
import logging
import sys

import pytest
from django.contrib.staticfiles import finders
from django.test import Client
from django.urls import reverse

from portal.logfilters import ForbiddenInOneLine

# -- sign out ----------------------------------------------------------------------------------


def test_opening_the_sign_out_address_shows_a_sign_out_button_and_signs_nobody_out(
    client, global_admin
):
    client.force_login(global_admin)
    page = client.get(reverse("logout"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "<h1>Sign out</h1>" in html
    assert f'<form method="post" action="{reverse("logout")}">' in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert '<button type="submit" class="primary" autofocus>Sign out</button>' in html
    assert client.session["_auth_user_id"] == str(global_admin.pk)


def test_the_sign_out_button_signs_out(global_admin):
    client = Client(enforce_csrf_checks=True)
    client.force_login(global_admin)
    page = client.get(reverse("logout"))
    token = page.context["csrf_token"]
    response = client.post(reverse("logout"), {"csrfmiddlewaretoken": str(token)})
    assert response.status_code == 302 and response["Location"] == reverse("login")
    assert "_auth_user_id" not in client.session


def test_a_sign_out_without_its_csrf_token_is_refused_and_signs_nobody_out(global_admin):
    client = Client(enforce_csrf_checks=True)
    client.force_login(global_admin)
    assert client.post(reverse("logout")).status_code == 403
    assert client.session["_auth_user_id"] == str(global_admin.pk)


def test_the_sign_out_address_sends_a_signed_out_visitor_to_sign_in(client, db):
    response = client.get(reverse("logout"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


# -- a 403 in the log --------------------------------------------------------------------------


@pytest.fixture
def console():
    """What the portal's console handler (settings.LOGGING) writes, for the test's length."""
    handlers = [
        h
        for h in logging.getLogger().handlers
        if any(isinstance(f, ForbiddenInOneLine) for f in h.filters)
    ]
    assert len(handlers) == 1, "settings.LOGGING's console handler has the filter"
    handler = handlers[0]
    stream = io.StringIO()
    old = handler.setStream(stream)
    yield stream
    handler.setStream(old)


def test_a_refused_request_is_one_line_in_the_log_with_its_reason(client, support, console):
    client.force_login(support)  # staff, but with no permission in the Django admin
    url = reverse("admin:backups_restoreoperation_changelist")
    assert client.get(url).status_code == 403
    written = console.getvalue()
    assert f"Forbidden (Permission denied): {url}\n" in written
    assert "Traceback" not in written and "PermissionDenied" not in written


def test_a_refusal_with_a_reason_keeps_the_reason_on_its_line(client, outsider, sandbox, console):
    client.force_login(outsider)
    response = client.post(reverse("environments:admin-mode", args=[sandbox.slug]), {"on": "1"})
    assert response.status_code == 403
    written = console.getvalue()
    assert (
        "Forbidden (Permission denied): /environments/sales-sandbox/admin-mode/: The admin "
        "center is for environment and tenant administrators (its pages, its API and its "
        "commands).\n"
    ) in written
    assert "Traceback" not in written


def test_a_fault_still_has_its_traceback():
    """Only refusals lose theirs: a 500 is a fault, and its traceback is what to read."""
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        info = sys.exc_info()
    fault = logging.LogRecord(
        "django.request", logging.ERROR, __file__, 1, "Internal Server Error: /", None, info
    )
    fault.status_code = 500
    assert ForbiddenInOneLine().filter(fault) is True
    formatted = logging.Formatter().format(fault)
    assert "Traceback" in formatted and "RuntimeError: boom" in formatted


def test_the_filter_leaves_the_record_other_handlers_get_untouched():
    try:
        raise PermissionError("You do not manage Sales Sandbox.\nAsk its admin.")
    except PermissionError:
        info = sys.exc_info()
    record = logging.LogRecord(
        "django.request", logging.WARNING, __file__, 1, "Forbidden (%s): %s", ("x", "/p"), info
    )
    record.status_code = 403
    one = ForbiddenInOneLine().filter(record)
    assert logging.Formatter().format(one) == (
        "Forbidden (x): /p: You do not manage Sales Sandbox. Ask its admin."
    )
    assert record.exc_info is info


# -- the icon ----------------------------------------------------------------------------------


def test_every_page_links_the_portals_icon(client, db):
    html = client.get(reverse("login")).content.decode()
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in html
    with open(finders.find("favicon.svg"), encoding="utf-8") as icon:
        svg = icon.read()
    assert svg.startswith("<svg") and "<script" not in svg


def test_favicon_ico_leads_to_the_icon_without_signing_in(client, db):
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"] == "/static/favicon.svg"
