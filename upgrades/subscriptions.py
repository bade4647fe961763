"""Webhook subscriptions: who may make and delete them, and the reads behind their pages and API.

A request's subscriptions are its requester's and the EC team's; a campaign's and the portal-wide
ones are the EC team's. Someone other than the EC team subscribes only to the milestones their own
mails cover. The secret is returned once, by `subscribe`, and never stored (`notifications.webhooks`).
"""

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import OuterRef, Subquery

from upgrades.actions import InputRefused
from upgrades.models import Campaign, Delivery, UpgradeRequest, Webhook, version_bump
from upgrades.notifications import webhooks
from upgrades.notifications.outbox import MILESTONES, USERS
from upgrades.notifications.webhook_urls import WebhookURLError, check
from upgrades.permissions import is_ec_team
from upgrades.workflow import NotAllowed


@dataclass(frozen=True)
class Scope:
    """What a subscription is for: a request, a campaign, or (neither) the whole portal."""

    request: UpgradeRequest | None = None
    campaign: Campaign | None = None

    def filter(self) -> dict:
        return {"request": self.request, "campaign": self.campaign}


def may_manage(user, scope: Scope) -> bool:
    if is_ec_team(user):
        return True
    return scope.request is not None and scope.request.requester_id == user.pk


def event_choices(user) -> list[tuple[str, str]]:
    """The milestones `user` may subscribe to, as (name, label)."""
    team = is_ec_team(user)
    return [(m.name, m.label) for m in MILESTONES.values() if team or m.audience == USERS]


def subscribe(*, user, scope: Scope, url: str, events: list[str], format: str) -> tuple[Webhook, str]:
    """A new subscription and its secret (shown once). NotAllowed for someone who may not manage
    the scope's subscriptions; InputRefused (with the field) for a URL, event or format refused."""
    if not may_manage(user, scope):
        raise NotAllowed("Only the requester and the EC team manage a request's webhooks; "
                         "campaign and portal-wide webhooks are the EC team's.")  # fmt: skip
    try:
        url = check(url)
    except WebhookURLError as error:
        raise InputRefused("url", str(error)) from None
    allowed = dict(event_choices(user))
    unknown = [event for event in events if event not in allowed]
    if unknown:
        raise InputRefused("events", f"Not a milestone you may subscribe to: {', '.join(unknown)[:200]}.")
    if format not in Webhook.Format.values:
        raise InputRefused("format", f"Choose one of: {', '.join(Webhook.Format.values)}.")
    with transaction.atomic():
        if Webhook.objects.filter(**scope.filter()).count() >= settings.MAX_WEBHOOKS_PER_SCOPE:
            raise InputRefused("url", f"At most {settings.MAX_WEBHOOKS_PER_SCOPE} webhooks here.")
        hook = Webhook.objects.create(
            **scope.filter(),
            url=url,
            events=sorted(set(events), key=list(allowed).index),
            format=format,
            nonce=webhooks.new_nonce(),
            created_by=user,
        )
        _touch(scope)
    return hook, webhooks.secret_of(hook)


def unsubscribe(*, user, webhook: Webhook) -> None:
    """Delete the subscription; its pending deliveries are skipped, its sent ones stay on record."""
    scope = Scope(request=webhook.request, campaign=webhook.campaign)
    if not may_manage(user, scope):
        raise NotAllowed("You may not delete this webhook.")
    with transaction.atomic():
        Webhook.objects.filter(pk=webhook.pk).delete()
        _touch(scope)


def _touch(scope: Scope) -> None:
    """The request page shows its webhooks: its version moves so its ETag does."""
    if scope.request is not None:
        UpgradeRequest.objects.filter(pk=scope.request.pk).update(**version_bump())


# --- Reads ---------------------------------------------------------------------------------------


def listed(user, scope: Scope | None = None):
    """The subscriptions `user` sees (of one scope, or all), each with its last delivery's status,
    answer and error (`last_status`, `last_code`, `last_error`)."""
    last = Delivery.objects.filter(webhook=OuterRef("pk")).order_by("-id")
    queryset = Webhook.objects.visible_to(user).select_related("request", "campaign", "created_by")
    if scope is not None:
        queryset = queryset.filter(**scope.filter())
    return queryset.annotate(
        last_status=Subquery(last.values("status")[:1]),
        last_code=Subquery(last.values("last_status_code")[:1]),
        last_error=Subquery(last.values("last_error")[:1]),
    ).order_by("id")


def recent_deliveries(user, limit: int = 100):
    """The newest webhook deliveries, for the EC team's page (nobody else sees them)."""
    if not is_ec_team(user):
        return Delivery.objects.none()
    return (
        Delivery.objects.filter(channel=Delivery.Channel.WEBHOOK)
        .select_related("notification", "webhook")
        .order_by("-id")[:limit]
    )
