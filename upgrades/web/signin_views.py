"""The two ends of a sign-in through the OpenID Connect provider: off to its login page, and back with
a code. mozilla-django-oidc's views, answering 404 while no provider is configured. And the way out,
which also deletes the cached CF access token of the sign-in."""

from django.conf import settings
from django.contrib.auth.views import LogoutView
from django.http import Http404
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from upgrades import identity


class _OnlyWhenConfigured:
    def dispatch(self, request, *args, **kwargs):
        if not settings.OIDC_ENABLED:
            raise Http404("Sign-in through an OpenID Connect provider is not configured.")
        return super().dispatch(request, *args, **kwargs)


class ProviderSignIn(_OnlyWhenConfigured, OIDCAuthenticationRequestView):
    pass


class ProviderCallback(_OnlyWhenConfigured, OIDCAuthenticationCallbackView):
    pass


class SignOut(LogoutView):
    """Django's sign-out, deleting the session's cached CF access token first: the session's
    reference to it goes with the session, the token itself would otherwise live until it expires."""

    def post(self, request, *args, **kwargs):
        identity.forget_access_token(request.session)
        return super().post(request, *args, **kwargs)
