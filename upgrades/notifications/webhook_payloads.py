"""What a webhook delivery POSTs: JSON (the milestone, its services, links) or a Slack message.

Bodies are built at send time from the notification's snapshot, identically on every try, so a
receiver can fold a resend by `X-Ecportal-Delivery` and check `X-Ecportal-Signature` on the bytes.
"""

import json

from django.urls import reverse

from upgrades.models import Delivery, Notification, Webhook
from upgrades.notifications import links
from upgrades.notifications.outbox import MILESTONES

MAX_SLACK_SERVICES = 40  # Slack takes at most 50 blocks in a message


def body(delivery: Delivery) -> bytes:
    """The bytes POSTed for this delivery, in its subscription's format."""
    payload = json_payload(delivery)
    if delivery.webhook and delivery.webhook.format == Webhook.Format.SLACK:
        payload = slack_payload(payload)
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


def _subject(notification: Notification) -> tuple[dict | None, dict | None]:
    request = campaign = None
    if notification.request_id:
        path = reverse("request-detail", args=[notification.request_id])
        request = {"id": notification.request_id, "reference": notification.request.reference,
                   "url": links.absolute(path)}  # fmt: skip
    if notification.campaign_id:
        path = reverse("campaign-detail", args=[notification.campaign_id])
        campaign = {"id": notification.campaign_id, "reference": notification.campaign.reference,
                    "url": links.absolute(path)}  # fmt: skip
    return request, campaign


def json_payload(delivery: Delivery) -> dict:
    """The milestone, its services as they were when they reached it, and links to the portal."""
    notification = delivery.notification
    request, campaign = _subject(notification)
    facts_of = notification.facts()
    if delivery.webhook and delivery.webhook.request_id and notification.campaign_id:
        # A request's subscription hears of its own services only, not the campaign's others.
        facts_of = [f for f in facts_of if f.get("request_id") == delivery.webhook.request_id]
    services = [_service(facts, facts.get("request_id") or notification.request_id) for facts in facts_of]
    return {
        "delivery": str(delivery.pk),
        "milestone": notification.milestone,
        "label": MILESTONES[notification.milestone].label,
        "request": request,
        "campaign": campaign,
        "services": services,
        "links": {"portal": links.absolute("/"), "page": (request or campaign or {}).get("url")},
    }


def _service(facts: dict, request_id: int) -> dict:
    """A service as the notification's snapshot has it, with its links."""
    return {
        "id": facts["id"],
        "name": facts.get("name") or None,
        "zone_id": facts["zone_id"],
        "foundation": facts["foundation"],
        "foundation_name": facts.get("foundation_name", ""),
        "state": facts["state"],
        "state_label": facts.get("state_label", ""),
        "error": facts.get("error", ""),
        "links": {
            "service": facts["url"],
            "temporary": facts.get("temporary_url") or None,
            "request": links.absolute(reverse("request-detail", args=[request_id])),
        },
    }


def slack_payload(payload: dict) -> dict:
    """A Slack incoming webhook's message: `text` (the notification line) and `blocks`."""
    subject = payload["request"] or payload["campaign"] or {}
    title = f"{subject.get('reference', 'ecportal')}: {payload['label']}"
    names = ", ".join(s["name"] or s["zone_id"] for s in payload["services"])
    blocks: list[dict] = [{"type": "header", "text": {"type": "plain_text", "text": title[:150]}}]
    for service in payload["services"][:MAX_SLACK_SERVICES]:
        line = (
            f"*{_escape(service['name'] or service['zone_id'])}* `{service['zone_id']}` on "
            f"{_escape(service['foundation_name'] or service['foundation'])}: {service['state_label']}"
        )
        if service["error"]:
            line += f"\n{_escape(service['error'][:500])}"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": line}})
    if payload["links"]["page"]:
        button = {"type": "button", "text": {"type": "plain_text", "text": "Open in ecportal"}}
        blocks.append({"type": "actions", "elements": [button | {"url": payload["links"]["page"]}]})
    return {"text": f"{title} ({names})" if names else title, "blocks": blocks}


def _escape(text: str) -> str:
    """Slack's mrkdwn escapes: a service name cannot turn into a link or a mention."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
