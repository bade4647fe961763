"""Webhook deliveries: which subscriptions hear of a notification, what they are sent, how it is signed.

Secrets. A webhook's signing secret is HMAC-SHA256(WEBHOOK_KEY, "ecportal.webhook:<id>:<nonce>"),
hex. Signing needs the secret itself, so a hash of it in the database would not do; storing it
encrypted would still put a key and the ciphertext side by side. Deriving it keeps nothing secret in
the database: the nonce alone gives nothing, and the key lives only in the environment (or, without
WEBHOOK_KEY, is derived from SECRET_KEY, which lives there too). The secret is shown once, when the
subscription is made. Changing WEBHOOK_KEY changes every secret; a new subscription (new nonce) is
how one receiver gets a new secret.
"""

import hashlib
import hmac
import secrets

from django.conf import settings
from django.db.models import Q
from django.utils.crypto import salted_hmac

from upgrades.models import Delivery, Notification, ServiceUpgrade, Webhook
from upgrades.permissions import is_ec_team

WEBHOOK = Delivery.Channel.WEBHOOK
SIGNATURE_HEADER = "X-Ecportal-Signature"
DELIVERY_HEADER = "X-Ecportal-Delivery"


def new_nonce() -> str:
    return secrets.token_hex(16)


def _key() -> bytes:
    if settings.WEBHOOK_KEY:
        return settings.WEBHOOK_KEY.encode()
    return salted_hmac("ecportal.webhook-key", "webhooks", algorithm="sha256").digest()


def secret_of(webhook: Webhook) -> str:
    """The webhook's signing secret (derived, never stored; see the module's docstring)."""
    message = f"ecportal.webhook:{webhook.pk}:{webhook.nonce}".encode()
    return hmac.new(_key(), message, hashlib.sha256).hexdigest()


def signature(secret: str, body: bytes) -> str:
    """The `X-Ecportal-Signature` value: `sha256=<hex HMAC-SHA256 of the body>`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def recipient_of(webhook: Webhook) -> str:
    return f"webhook {webhook.pk}"


# --- Who hears of a notification (called by the outbox, in its transaction) ---------------------


def _hears(hook: Webhook, notification: Notification) -> bool:
    """Whether the subscription wants the notification. One made by someone other than the EC team
    hears only of milestones their own mails cover (`subscriptions`' rule), also when it names no
    events ("every milestone"); asked now, as its maker may have left the team since."""
    if hook.events and notification.milestone not in hook.events:
        return False
    if notification.audience == Notification.Audience.USERS:
        return True
    return hook.created_by is not None and is_ec_team(hook.created_by)


def add_deliveries(notification: Notification, services: list[ServiceUpgrade]) -> None:
    """A delivery for each subscription that wants this notification and lacks one: portal-wide
    ones, the request's, and those of the campaigns of `services` (which just joined it); of a
    campaign's notification, also those of the services' requests (each is sent only its own)."""
    scope = Q(request__isnull=True, campaign__isnull=True)
    if notification.request_id:
        scope |= Q(request_id=notification.request_id)
    campaigns = {s.campaign_id for s in services if s.campaign_id} | {notification.campaign_id} - {None}
    if campaigns:
        scope |= Q(campaign_id__in=campaigns)
    if notification.campaign_id:  # a campaign's mail stands in for its requests' own
        scope |= Q(request_id__in={s.request_id for s in services})
    hooks = Webhook.objects.filter(scope).select_related("created_by")
    wanted = [hook for hook in hooks if _hears(hook, notification)]
    Delivery.objects.bulk_create(
        [
            Delivery(
                notification=notification,
                recipient=recipient_of(hook),
                channel=WEBHOOK,
                webhook=hook,
                next_attempt_at=notification.ready_at,
            )
            for hook in wanted
        ],
        ignore_conflicts=True,  # it joined an open notification this subscription already hears of
    )
