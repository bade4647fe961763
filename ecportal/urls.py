from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from ecportal.health import readyz
from ecportal.metrics import metrics
from ecportal.views import favicon, healthz, not_found
from upgrades.web.signin_views import ProviderCallback, ProviderSignIn, SignOut

urlpatterns = [
    path("healthz/", healthz, name="healthz"),
    path("readyz/", readyz, name="readyz"),
    path("metrics", metrics, name="metrics"),
    path("favicon.ico", favicon, name="favicon"),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    # Sign-in through the OpenID Connect provider (the names are mozilla-django-oidc's).
    path("oidc/authenticate/", ProviderSignIn.as_view(), name="oidc_authentication_init"),
    path("oidc/callback/", ProviderCallback.as_view(), name="oidc_authentication_callback"),
    path("accounts/logout/", SignOut.as_view(), name="logout"),
    path("accounts/password/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path(
        "accounts/password/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("admin/", admin.site.urls),
    path("api/", include("upgrades.api.urls")),
    path("c/", include("upgrades.web.contact_urls")),
    path("", include("upgrades.web.urls")),
]

handler404 = not_found
