"""The signed-in user's own settings: their API token (see it exists, make one, revoke it).

A new key is shown once: the POST keeps it in the session for the page it redirects to, which takes
it out again, and the page is never stored by a cache.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from upgrades import tokens

_NEW_KEY = "settings.new_api_token"


@login_required
@never_cache
def settings_page(request):
    context = {
        "token_created_at": tokens.created_at(request.user),
        "new_key": request.session.pop(_NEW_KEY, ""),
        "api_url": request.build_absolute_uri(reverse("api-requests")),
    }
    return render(request, "upgrades/settings.html", context)


@login_required
@require_POST
def create_token(request):
    replaced = tokens.created_at(request.user) is not None
    request.session[_NEW_KEY] = tokens.replace(request.user)
    if replaced:
        messages.success(request, "New API token created; the old one no longer works.")
    else:
        messages.success(request, "API token created.")
    return redirect("settings")


@login_required
@require_POST
def revoke_token(request):
    if tokens.revoke(request.user):
        messages.success(request, "API token revoked; calls that use it are refused from now on.")
    else:
        messages.info(request, "You had no API token.")
    return redirect("settings")
