"""Failed sign-ins are throttled (django-axes, portal.throttling) by account and address, by
account from anywhere, and by address for any account with a much higher and shorter limit, so
that colleagues behind one address cannot lock the Global admin out; each with a clear page and
an audit event. Failed API token checks are throttled per address."""

import datetime

import pytest
import time_machine
from django.urls import reverse

from portal.models import AuditEvent

PASSWORD = "secret-pass-1"  # what tests.factories.UserFactory sets


def sign_in(client, username, password, address="203.0.113.5"):
    return client.post(
        reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address
    )


def test_five_wrong_passwords_pause_the_account_even_for_the_right_one(
    client, global_admin, settings
):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        page = sign_in(client, global_admin.username, "wrong")
        assert page.status_code == 200 and b"Please enter a correct" in page.content
    locked = sign_in(client, global_admin.username, "wrong")
    assert locked.status_code == 429
    assert (
        b"Too many failed sign-ins" in locked.content and b"Try again in 15 min" in locked.content
    )
    right = sign_in(client, global_admin.username, PASSWORD)
    assert right.status_code == 429
    assert "_auth_user_id" not in client.session
    # From another address the account is not paused (its own limit is higher).
    assert sign_in(client, global_admin.username, PASSWORD, "198.51.100.7").status_code == 302


def test_a_lockout_is_in_the_audit_log_once(client, global_admin, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT + 3):
        sign_in(client, global_admin.username, "wrong")
    events = AuditEvent.objects.filter(action="auth.lockout")
    assert events.count() == 1
    assert global_admin.username in events.get().summary


def test_a_lockout_after_the_pause_is_over_is_audited_again(client, global_admin, settings):
    import datetime

    import time_machine

    start = datetime.datetime(2026, 11, 20, 9, 0, tzinfo=datetime.UTC)
    with time_machine.travel(start, tick=False):
        for _ in range(settings.AXES_FAILURE_LIMIT + 1):
            sign_in(client, global_admin.username, "wrong")
    with time_machine.travel(
        start + settings.AXES_COOLOFF_TIME + datetime.timedelta(minutes=1), tick=False
    ):
        for _ in range(settings.AXES_FAILURE_LIMIT + 1):
            sign_in(client, global_admin.username, "wrong")
    assert AuditEvent.objects.filter(action="auth.lockout").count() == 2


START = datetime.datetime(2026, 11, 20, 9, 0, tzinfo=datetime.UTC)


@pytest.fixture
def frozen():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


def test_colleagues_failing_from_one_address_do_not_lock_the_global_admin_out(
    client, global_admin, settings, frozen
):
    """The office behind one NAT address: each colleague mistypes up to their own pause, all
    together more than the account limit; the Global admin still signs in from there."""
    office = "203.0.113.5"
    failures = 0
    for n in range(8):
        for _ in range(settings.AXES_FAILURE_LIMIT):
            sign_in(client, f"colleague{n}", "wrong", office)
            failures += 1
    assert settings.SIGNIN_ACCOUNT_FAILURE_LIMIT < failures < settings.SIGNIN_ADDRESS_FAILURE_LIMIT
    # Each colleague is paused from there, and only that colleague.
    assert sign_in(client, "colleague0", "wrong", office).status_code == 429
    assert sign_in(client, global_admin.username, PASSWORD, office).status_code == 302
    assert client.session["_auth_user_id"] == str(global_admin.pk)
    events = AuditEvent.objects.filter(action="auth.lockout")
    assert events.count() == 8
    assert all("(address 203.0.113.5)" in e.summary for e in events)


def test_one_address_guessing_many_accounts_is_paused_for_a_short_while(
    client, service_admin, settings, frozen
):
    for n in range(settings.SIGNIN_ADDRESS_FAILURE_LIMIT):
        sign_in(client, f"nobody{n}", "wrong")
    paused = sign_in(client, service_admin.username, PASSWORD)
    assert paused.status_code == 429
    assert b"from your address, for several accounts" in paused.content
    assert b"Try again in 5 min" in paused.content
    # Another address is not affected.
    assert sign_in(client, service_admin.username, PASSWORD, "198.51.100.7").status_code == 302
    client.logout()
    event = AuditEvent.objects.get(action="auth.lockout")
    assert event.summary == (
        "Sign-in paused from address 203.0.113.5 after 50 failures for several accounts"
    )
    assert event.details["limit"] == "ip_address"
    # The address limit's window is shorter than the accounts' cool-off.
    frozen.shift(settings.SIGNIN_ADDRESS_WINDOW + datetime.timedelta(seconds=1))
    assert sign_in(client, service_admin.username, PASSWORD).status_code == 302


def test_one_account_failing_from_many_addresses_is_paused_everywhere(
    client, global_admin, settings, frozen
):
    limit = settings.SIGNIN_ACCOUNT_FAILURE_LIMIT
    addresses = [f"198.51.100.{n}" for n in range(limit)]
    answers = [sign_in(client, global_admin.username, "wrong", a).status_code for a in addresses]
    # Below each pair's limit every time; the failure that meets the account's limit pauses it.
    assert answers == [200] * (limit - 1) + [429]
    fresh = sign_in(client, global_admin.username, PASSWORD, "192.0.2.200")
    assert fresh.status_code == 429
    assert b"from more than one address" in fresh.content
    event = AuditEvent.objects.get(action="auth.lockout")
    assert event.summary == (
        f"Sign-in paused for {global_admin.username} after {limit} failures "
        "from more than one address"
    )
    # Other accounts from those addresses are not affected.
    assert sign_in(client, "someone-else", "wrong", addresses[0]).status_code == 200
    frozen.shift(settings.AXES_COOLOFF_TIME + datetime.timedelta(seconds=1))
    assert sign_in(client, global_admin.username, PASSWORD, "192.0.2.200").status_code == 302


def test_the_limits_are_settings(client, global_admin, settings, frozen):
    settings.SIGNIN_ACCOUNT_FAILURE_LIMIT = 3
    for n in range(3):
        sign_in(client, global_admin.username, "wrong", f"198.51.100.{n}")
    assert sign_in(client, global_admin.username, PASSWORD, "192.0.2.1").status_code == 429


def test_signing_in_to_another_account_does_not_wipe_the_failures(
    client, global_admin, maker, settings
):
    """A guesser with an account of their own cannot reset the count between guesses."""
    answers = []
    for _ in range(3):
        for _ in range(2):
            answers.append(sign_in(client, global_admin.username, "wrong").status_code)
        client.post(
            reverse("login"),
            {"username": maker.username, "password": PASSWORD},
            REMOTE_ADDR="203.0.113.5",
        )
        client.logout()
    assert 429 in answers
    assert sign_in(client, global_admin.username, PASSWORD).status_code == 429


def test_failures_are_forgotten_after_the_cooloff(client, global_admin, settings):
    import datetime

    import time_machine

    start = datetime.datetime(2026, 11, 20, 9, 0, tzinfo=datetime.UTC)
    with time_machine.travel(start, tick=False):
        for _ in range(settings.AXES_FAILURE_LIMIT - 1):
            sign_in(client, global_admin.username, "wrong")
    with time_machine.travel(
        start + settings.AXES_COOLOFF_TIME + datetime.timedelta(minutes=1), tick=False
    ):
        assert sign_in(client, global_admin.username, "wrong").status_code == 200
        assert sign_in(client, global_admin.username, PASSWORD).status_code == 302


def test_bad_api_tokens_from_one_address_are_answered_429(client, global_admin, settings):
    from portal.tokens import token_create

    good = token_create(user=global_admin, name="script")[1]
    settings.API_TOKEN_FAILURES_PER_MINUTE = 10
    headers = {"Authorization": "Bearer envp_wrong_guess_000"}
    answers = [
        client.get("/api/v1/environments", headers=headers, REMOTE_ADDR="203.0.113.9").status_code
        for _ in range(12)
    ]
    assert answers == [401] * 10 + [429] * 2
    last = client.get("/api/v1/environments", headers=headers, REMOTE_ADDR="203.0.113.9")
    assert last.json()["code"] == "rate_limited" and "failed API token" in last.json()["message"]
    assert int(last["Retry-After"]) >= 1
    # Even the right token waits at that address; other addresses are not affected.
    assert (
        client.get(
            "/api/v1/environments",
            headers={"Authorization": f"Bearer {good}"},
            REMOTE_ADDR="203.0.113.9",
        ).status_code
        == 429
    )
    assert (
        client.get(
            "/api/v1/environments",
            headers={"Authorization": f"Bearer {good}"},
            REMOTE_ADDR="198.51.100.7",
        ).status_code
        == 200
    )
