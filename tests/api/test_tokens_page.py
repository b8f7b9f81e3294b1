from portal.models import ApiToken
from tests.api.conftest import Api


def test_the_tokens_page_needs_a_sign_in(client, db):
    response = client.get("/settings/tokens/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def _token_in(html):
    return html.split('id="new-token" class="mono" type="text" readonly size="64" value="')[1]


def test_a_new_token_is_shown_once_after_the_redirect_and_works(client, maker, sandbox):
    client.force_login(maker)
    assert "No tokens yet" in client.get("/settings/tokens/").content.decode()
    posted = client.post("/settings/tokens/", {"name": "nightly"})
    assert (posted.status_code, posted["Location"]) == (302, "/settings/tokens/")
    assert "envp_" not in posted.content.decode()
    response = client.get("/settings/tokens/")
    html = response.content.decode()
    assert response.status_code == 200 and "shown only once" in html
    assert response["Cache-Control"] == "no-store"
    token = _token_in(html).split('"')[0]
    assert token.startswith("envp_")
    later = client.get("/settings/tokens/").content.decode()
    assert token not in later and "nightly" in later and "Never" in later
    client.logout()
    # The maker's token has the maker's rights: the data, not the admin center.
    assert Api(client, token).get("/environments").status_code == 403


def test_a_token_needs_a_name(client, maker):
    client.force_login(maker)
    response = client.post("/settings/tokens/", {"name": ""})
    assert response.status_code == 200 and not ApiToken.objects.exists()
    assert "This field is required" in response.content.decode()


def test_revoking_a_token_makes_it_401(client, global_admin, sandbox):
    client.force_login(global_admin)
    html = client.post("/settings/tokens/", {"name": "ci"}, follow=True).content.decode()
    token = html.split('readonly size="64" value="')[1].split('"')[0]
    row = ApiToken.objects.get()
    response = client.post(f"/settings/tokens/{row.pk}/revoke/", follow=True)
    assert "Revoked ci" in response.content.decode()
    row.refresh_from_db()
    assert row.revoked_at is not None
    client.logout()
    assert Api(client, token).get("/environments").status_code == 401


def test_nobody_revokes_someone_elses_token(client, global_admin, outsider):
    client.force_login(global_admin)
    client.post("/settings/tokens/", {"name": "mine"})
    row = ApiToken.objects.get()
    client.force_login(outsider)
    assert client.post(f"/settings/tokens/{row.pk}/revoke/").status_code == 404
    assert client.get(f"/settings/tokens/{row.pk}/revoke/").status_code == 405
    row.refresh_from_db()
    assert row.revoked_at is None


def test_a_reload_after_creating_a_token_makes_no_second_one(client, maker):
    client.force_login(maker)
    created = client.post("/settings/tokens/", {"name": "nightly"}, follow=True)
    assert created.redirect_chain == [("/settings/tokens/", 302)]
    # What a browser's reload repeats now is the GET the POST redirected to.
    reloaded = client.get("/settings/tokens/")
    assert "shown only once" not in reloaded.content.decode()
    assert ApiToken.objects.filter(user=maker).count() == 1
