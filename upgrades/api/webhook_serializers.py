"""API shapes of webhook subscriptions. Input serializers only parse; `upgrades.subscriptions` decides."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from upgrades.models import Webhook
from upgrades.notifications.outbox import MILESTONES
from upgrades.notifications.webhook_urls import MAX_URL_LENGTH


class LastDeliverySerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["pending", "sent", "failed", "skipped"])
    status_code = serializers.IntegerField(allow_null=True, help_text="The receiver's last HTTP status.")
    error = serializers.CharField(help_text="Why the last try failed, or empty.")


class WebhookSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.CharField(
        source="masked_url", help_text="Scheme and host; the path, often the receiver's credential, masked."
    )
    format = serializers.ChoiceField(choices=Webhook.Format.choices)
    events = serializers.ListField(
        child=serializers.CharField(),
        help_text="Milestones it hears of; empty: every milestone its maker may subscribe to.",
    )
    scope = serializers.ChoiceField(choices=["request", "campaign", "portal"])
    request = serializers.IntegerField(source="request_id", allow_null=True)
    campaign = serializers.IntegerField(source="campaign_id", allow_null=True)
    created_at = serializers.DateTimeField()
    last_delivery = serializers.SerializerMethodField()

    @extend_schema_field(LastDeliverySerializer(allow_null=True))
    def get_last_delivery(self, hook) -> dict | None:
        status = getattr(hook, "last_status", None)
        if status is None:
            return None
        return {"status": status, "status_code": hook.last_code, "error": hook.last_error or ""}


class WebhookCreatedSerializer(WebhookSerializer):
    url = serializers.CharField(help_text="The receiver's URL in full, given only now.")
    secret = serializers.CharField(
        help_text="The signing secret, given only now: `X-Ecportal-Signature` is `sha256=` and the hex "
        "HMAC-SHA256 of the body with it."
    )


class WebhookCreateSerializer(serializers.Serializer):
    """Neither `request` nor `campaign`: a portal-wide subscription (EC team only)."""

    url = serializers.CharField(max_length=MAX_URL_LENGTH, help_text="https:// URL of the receiver.")
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=list(MILESTONES)), required=False, default=list, max_length=50
    )
    format = serializers.ChoiceField(choices=Webhook.Format.choices, default=Webhook.Format.JSON)
    request = serializers.IntegerField(required=False, min_value=1, max_value=2**62)
    campaign = serializers.IntegerField(required=False, min_value=1, max_value=2**62)

    def validate(self, attrs):
        if "request" in attrs and "campaign" in attrs:
            raise serializers.ValidationError("Give a request or a campaign, not both.")
        return attrs
