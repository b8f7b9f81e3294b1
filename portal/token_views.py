"""Settings: personal API tokens. A signed-in user makes and revokes their own; the new token is
shown once, on the page the POST redirects to, and never again: a reload makes no second token."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from portal import tokens
from portal.errors import Refused
from portal.forms import TokenForm
from portal.http import HtmxHttpRequest
from portal.models import ApiToken

# The new token waits in the session (stored in the database, never in a cookie) for the one
# page after the redirect, which takes it out: shown once, and a reload shows it no more.
NEW_TOKEN = "new_api_token"


@require_http_methods(["GET", "POST"])
def token_list(request: HtmxHttpRequest) -> HttpResponse:
    form = TokenForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            _row, token = tokens.token_create(user=request.user, name=form.cleaned_data["name"])
        except Refused as exc:
            form.add_error("name" if exc.field == "name" else None, exc.message)
        else:
            request.session[NEW_TOKEN] = token
            return redirect("tokens")
    new_token = request.session.pop(NEW_TOKEN, "") if request.method == "GET" else ""
    response = render(
        request,
        "portal/tokens.html",
        {
            "form": form,
            "new_token": new_token,
            "tokens": ApiToken.objects.filter(user=request.user),
            "api_root": request.build_absolute_uri(reverse("api-v1:openapi-view")).rsplit(
                "docs", 1
            )[0],
        },
    )
    if new_token:
        response["Cache-Control"] = "no-store"  # the token must not linger in a cache
    return response


@require_POST
def token_revoke(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=pk, user=request.user)
    tokens.token_revoke(token=token, actor=request.user)
    messages.success(request, f"Revoked {token.name}. Requests that use it now get 401.")
    return redirect("tokens")
