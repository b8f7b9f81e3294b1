"""Settings: personal API tokens. A signed-in user makes and revokes their own; the new token is
shown once, on the page that answers the POST, and never again."""

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


@require_http_methods(["GET", "POST"])
def token_list(request: HtmxHttpRequest) -> HttpResponse:
    form = TokenForm(request.POST or None)
    new_token = ""
    if request.method == "POST" and form.is_valid():
        try:
            _row, new_token = tokens.token_create(user=request.user, name=form.cleaned_data["name"])
        except Refused as exc:
            form.add_error("name" if exc.field == "name" else None, exc.message)
        else:
            form = TokenForm()
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
