from environments import permissions


def navigation(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "nav_admin_center": permissions.can_use_admin_center(user),
        "nav_django_admin": permissions.is_support_staff(user),
    }
