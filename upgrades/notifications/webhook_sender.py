"""Sending webhook deliveries: the outbox's claim, then one signed POST each, then the outcome.

As with mail (`sender`): claimed with a CAS on the lease, no HTTP inside a transaction, at least
once (a crash between the receiver's answer and the mark resends; `X-Ecportal-Delivery` lets the
receiver fold it). A receiver that is down, times out, or answers 408, 425, 429 or 5xx is tried
again with the same capped exponential backoff, without end; any other answer but 2xx, and an
address the portal may not post to (now), fail the delivery for good. One receiver's failure
never holds up another's deliveries.
"""

from upgrades.models import Delivery
from upgrades.notifications import sender, webhook_payloads, webhook_transport, webhooks
from upgrades.notifications.webhook_urls import WebhookURLError

RETRIED_STATUSES = frozenset({408, 425, 429})


def send_due(*, notification_id: int | None = None, limit: int = 200) -> sender.SendReport:
    """Send the webhook deliveries that are due (of one notification, or all)."""
    report = sender.SendReport()
    due = sender.due(notification_id=notification_id, channel=Delivery.Channel.WEBHOOK)
    for delivery_id in due.order_by("id").values_list("id", flat=True)[:limit]:
        if sender.claim(delivery_id):
            _send_one(delivery_id, report)
    return report


def _send_one(delivery_id: int, report: sender.SendReport) -> None:
    delivery = Delivery.objects.select_related(
        "webhook", "notification__request", "notification__campaign"
    ).get(pk=delivery_id)
    if delivery.webhook is None:
        sender.finish(delivery, Delivery.Status.SKIPPED, "The subscription was deleted.")
        report.skipped += 1
        return
    sender.seal(delivery.notification)
    body = webhook_payloads.body(delivery)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "ecportal-webhooks",
        webhooks.DELIVERY_HEADER: str(delivery.pk),
        webhooks.SIGNATURE_HEADER: webhooks.signature(webhooks.secret_of(delivery.webhook), body),
    }
    try:
        answer = webhook_transport.post(delivery.webhook.url, body, headers)
    except WebhookURLError as error:
        sender.finish(delivery, Delivery.Status.FAILED, str(error))
        report.failed += 1
        return
    except webhook_transport.Unreachable as error:
        sender.defer(delivery, str(error))
        report.deferred += 1
        report.errors.append(str(error))
        return
    if 200 <= answer.status < 300:
        sender.finish(delivery, Delivery.Status.SENT, "", answer.status)
        report.sent += 1
    elif answer.status >= 500 or answer.status in RETRIED_STATUSES:
        sender.defer(delivery, f"HTTP {answer.status}: {answer.text}", answer.status)
        report.deferred += 1
    else:
        sender.finish(delivery, Delivery.Status.FAILED, f"HTTP {answer.status}: {answer.text}", answer.status)
        report.failed += 1
