from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from environments import views as environment_views
from portal import token_views, views
from portal.api.main import urls as api_urls
from portal.sign_out import SignOutView

urlpatterns = [
    path("", environment_views.home, name="home"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", SignOutView.as_view(), name="logout"),
    path("favicon.ico", views.favicon),
    path("environments/", include("environments.urls")),
    path("", include("backups.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", api_urls()),
    path("settings/tokens/", token_views.token_list, name="tokens"),
    path("settings/tokens/<int:pk>/revoke/", token_views.token_revoke, name="token-revoke"),
]

handler403 = "portal.views.forbidden"
handler404 = "portal.views.not_found"
