"""Webhook sections (request and campaign pages), the EC team's webhooks page, add and delete.

Adding answers the POST with a page that shows the new secret once, instead of redirecting: the
secret is never stored, not even for the page a redirect would lead to.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from upgrades import selectors, subscriptions
from upgrades.actions import InputRefused
from upgrades.models import Campaign, UpgradeRequest
from upgrades.permissions import is_ec_team
from upgrades.web.webhook_forms import WebhookForm
from upgrades.workflow import NotAllowed


def section(user, scope: subscriptions.Scope) -> dict:
    """Context for `upgrades/_webhooks.html` on a page of `scope` (empty for who may not manage it)."""
    if not subscriptions.may_manage(user, scope):
        return {}
    return {
        "webhooks": list(subscriptions.listed(user, scope)),
        "webhook_form": WebhookForm(user=user),
        "webhook_action": _page_of(scope, add=True),
    }


def _page_of(scope: subscriptions.Scope, *, add: bool = False) -> str:
    if scope.request is not None:
        return reverse("request-webhooks" if add else "request-detail", args=[scope.request.pk])
    if scope.campaign is not None:
        return reverse("campaign-webhooks" if add else "campaign-detail", args=[scope.campaign.pk])
    return reverse("webhooks")


def _add(request, scope: subscriptions.Scope):
    """Create from the POSTed form: the secret page, or the form again with what was wrong."""
    form = WebhookForm(request.POST, user=request.user)
    context = {"scope_url": _page_of(scope), "scope": scope, "webhook_action": _page_of(scope, add=True)}
    if form.is_valid():
        data = form.cleaned_data
        try:
            hook, secret = subscriptions.subscribe(
                user=request.user, scope=scope, url=data["url"], events=data["events"], format=data["format"]
            )
        except NotAllowed as refused:
            raise PermissionDenied(str(refused)) from None
        except InputRefused as refused:
            form.add_error(refused.field if refused.field in form.fields else None, str(refused))
        else:
            context |= {"hook": hook, "secret": secret}
            return render(request, "upgrades/webhook_created.html", context)
    return render(request, "upgrades/webhook_form.html", {**context, "webhook_form": form}, status=400)


@login_required
@require_POST
@never_cache
def request_webhooks(request, request_id: int):
    try:
        found = selectors.get_request(request.user, request_id)
    except UpgradeRequest.DoesNotExist:
        raise Http404("No such request.") from None
    return _add(request, subscriptions.Scope(request=found))


@login_required
@require_POST
@never_cache
def campaign_webhooks(request, campaign_id: int):
    found = Campaign.objects.visible_to(request.user).filter(pk=campaign_id).first()
    if found is None:
        if not is_ec_team(request.user):
            raise PermissionDenied("Campaigns are for the EC team.")
        raise Http404("No such campaign.")
    return _add(request, subscriptions.Scope(campaign=found))


@login_required
@never_cache
def webhooks_page(request):
    """The EC team's page: portal-wide webhooks, every subscription, the latest deliveries."""
    if not is_ec_team(request.user):
        raise PermissionDenied("The webhooks page is for the EC team.")
    if request.method == "POST":
        return _add(request, subscriptions.Scope())
    context = section(request.user, subscriptions.Scope()) | {
        "all_webhooks": subscriptions.listed(request.user).exclude(request=None, campaign=None),
        "deliveries": subscriptions.recent_deliveries(request.user),
    }
    return render(request, "upgrades/webhooks.html", context)


@login_required
@require_POST
def webhook_delete(request, webhook_id: int):
    found = subscriptions.listed(request.user).filter(pk=webhook_id).first()
    if found is None:
        raise Http404("No such webhook.")
    scope = subscriptions.Scope(request=found.request, campaign=found.campaign)
    try:
        subscriptions.unsubscribe(user=request.user, webhook=found)
    except NotAllowed as refused:
        raise PermissionDenied(str(refused)) from None
    messages.success(request, f"Webhook to {found.masked_url} deleted.")
    return redirect(_page_of(scope))
