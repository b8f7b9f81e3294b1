from tests.api.conftest import Api, assert_error, make_token


def test_writes_are_limited_per_token_with_a_429(client, settings, global_admin, sandbox):
    settings.API_WRITES_PER_MINUTE = 3
    api = Api(client, make_token(global_admin))
    for _ in range(3):
        assert (
            api.post("/environments/sales-sandbox/admin-mode", {"enabled": True}).status_code == 200
        )
    response = api.post("/environments/sales-sandbox/admin-mode", {"enabled": False})
    assert_error(response, 429, "rate_limited", match="at most 3 a minute")
    assert 1 <= int(response["Retry-After"]) <= 60
    # Reads are not limited, and another token has its own budget.
    assert api.get("/environments/sales-sandbox").json()["adminMode"] is True
    other = Api(client, make_token(global_admin, "other"))
    assert (
        other.post("/environments/sales-sandbox/admin-mode", {"enabled": False}).status_code == 200
    )


def test_the_limit_resets_the_next_minute(client, settings, global_admin, sandbox):
    import time_machine

    settings.API_WRITES_PER_MINUTE = 1
    api = Api(client, make_token(global_admin))
    with time_machine.travel("2026-11-20 12:00:10Z", tick=False) as clock:
        assert (
            api.post("/environments/sales-sandbox/admin-mode", {"enabled": True}).status_code == 200
        )
        assert (
            api.post("/environments/sales-sandbox/admin-mode", {"enabled": True}).status_code == 429
        )
        clock.shift(60)
        assert (
            api.post("/environments/sales-sandbox/admin-mode", {"enabled": True}).status_code == 200
        )
