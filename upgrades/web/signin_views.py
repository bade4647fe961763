"""The two ends of a sign-in through the OpenID Connect provider: off to its login page, and back with
a code. mozilla-django-oidc's views, answering 404 while no provider is configured."""

from django.conf import settings
from django.http import Http404
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView


class _OnlyWhenConfigured:
    def dispatch(self, request, *args, **kwargs):
        if not settings.OIDC_ENABLED:
            raise Http404("Sign-in through an OpenID Connect provider is not configured.")
        return super().dispatch(request, *args, **kwargs)


class ProviderSignIn(_OnlyWhenConfigured, OIDCAuthenticationRequestView):
    pass


class ProviderCallback(_OnlyWhenConfigured, OIDCAuthenticationCallbackView):
    pass
