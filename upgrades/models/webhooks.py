"""Webhook subscriptions: a URL told of milestones, for one request, one campaign or the whole portal.

Their deliveries are rows of the outbox (`Delivery` with `channel="webhook"`), sent and retried like
mails.
"""

from urllib.parse import urlsplit

from django.conf import settings
from django.db import models
from django.db.models import Q

SHOWN_TAIL = 4  # characters of a long path shown, enough to tell two receivers on one host apart


def masked_url(url: str) -> str:
    """`url` as pages, the API and logs show it: scheme and host, the path and query masked. A
    receiver's path is often its only credential (a Slack incoming webhook's is), so it is given in
    full only to the person who types it, when it is made; of a long one the last few characters
    are shown, to tell it apart."""
    parts = urlsplit(url)
    rest = parts.path.lstrip("/") + (f"?{parts.query}" if parts.query else "")
    tail = rest[-SHOWN_TAIL:] if len(rest) >= 4 * SHOWN_TAIL else ""
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}/" + (f"…{tail}" if rest else "")


class WebhookQuerySet(models.QuerySet):
    def visible_to(self, user) -> "WebhookQuerySet":
        """The EC team sees every subscription; anyone else those of the requests they filed."""
        if not user.is_authenticated:
            return self.none()
        if user.has_perm("upgrades.operate"):
            return self.all()
        return self.filter(request__requester=user)


class Webhook(models.Model):
    """A subscription: POST each notification of `events` (milestone names; empty: all) to `url`.

    Neither `request` nor `campaign` set: portal-wide. The signing secret is not stored: it is
    derived from WEBHOOK_KEY (environment) and `nonce` (`upgrades.notifications.webhooks.secret_of`).
    """

    class Format(models.TextChoices):
        JSON = "json", "JSON"
        SLACK = "slack", "Slack (incoming webhook)"

    request = models.ForeignKey(
        "UpgradeRequest", null=True, blank=True, on_delete=models.CASCADE, related_name="webhooks"
    )
    campaign = models.ForeignKey(
        "Campaign", null=True, blank=True, on_delete=models.CASCADE, related_name="webhooks"
    )
    url = models.CharField(max_length=2000)
    events = models.JSONField(default=list, blank=True)
    format = models.CharField(max_length=8, choices=Format.choices, default=Format.JSON)
    # Random, public on its own: with WEBHOOK_KEY it gives the secret.
    nonce = models.CharField(max_length=64)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = WebhookQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(request__isnull=True) | Q(campaign__isnull=True), name="webhook_one_scope"
            )
        ]

    def __str__(self) -> str:
        return f"webhook {self.pk} {self.masked_url}"

    @property
    def masked_url(self) -> str:
        return masked_url(self.url)

    @property
    def scope(self) -> str:
        if self.request_id:
            return "request"
        return "campaign" if self.campaign_id else "portal"
