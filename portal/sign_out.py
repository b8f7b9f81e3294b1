"""Sign out: a POST, as Django asks (a link or an image on another site must not sign a person
out). A GET, from a bookmark or a typed address, shows the button that does it instead of an
empty 405."""

from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


class SignOutView(auth_views.LogoutView):
    http_method_names = ["get", "post", "options"]

    def get(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        return render(request, "registration/sign_out.html")
