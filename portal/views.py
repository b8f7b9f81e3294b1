from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from portal import permissions


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    if permissions.can_use_admin_center(user):
        return redirect("environments:list")
    environments = permissions.data_environments(user).order_by("name")
    if environments.exists():
        return render(request, "portal/home.html", {"environments": environments})
    if permissions.is_support_staff(user):
        return redirect("admin:index")
    raise PermissionDenied("Your account has no role in any environment yet. Ask an administrator.")


@login_not_required
def forbidden(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    message = (
        str(exception)
        if exception and str(exception)
        else ("You do not have permission to see this page.")
    )
    return render(request, "403.html", {"message": message}, status=403)


@login_not_required
def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "404.html", status=404)
