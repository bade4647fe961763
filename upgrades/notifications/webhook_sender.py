"""Sending webhook deliveries: the outbox's claim, then one signed POST each, then the outcome.

As with mail (`sender`): claimed with a CAS on the lease, no HTTP inside a transaction, at least
once (a crash between the receiver's answer and the mark resends; `X-Ecportal-Delivery` lets the
receiver fold it). A receiver that is down, times out, or answers 408, 425, 429 or 5xx is tried
again with the same capped exponential backoff, up to WEBHOOK_MAX_ATTEMPTS tries in all, after
which the delivery fails for good (its error says so); any other answer but 2xx, and an address
the portal may not post to (now), fail it at once. One receiver's failure never holds up another's
deliveries, nor any mail: webhooks are sent by a task of their own (`tasks.send_webhooks`).
"""

from urllib.parse import urlsplit

from django.conf import settings

from upgrades.models import Delivery
from upgrades.models.webhooks import masked_url
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
        text = _scrubbed(str(error), delivery.webhook.url)  # requests' errors name the path
        report.errors.append(text)
        _try_again(delivery, text, None, report)
        return
    if 200 <= answer.status < 300:
        sender.finish(delivery, Delivery.Status.SENT, "", answer.status)
        report.sent += 1
    elif answer.status >= 500 or answer.status in RETRIED_STATUSES:
        _try_again(delivery, f"HTTP {answer.status}: {answer.text}", answer.status, report)
    else:
        sender.finish(delivery, Delivery.Status.FAILED, f"HTTP {answer.status}: {answer.text}", answer.status)
        report.failed += 1


def _try_again(delivery: Delivery, error: str, code: int | None, report: sender.SendReport) -> None:
    """A transient failure: back off and retry, unless this was the last try allowed (the claim
    counted it in `attempts`), which fails the delivery for good."""
    if delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
        error = f"Gave up after {delivery.attempts} tries: {error}"
        sender.finish(delivery, Delivery.Status.FAILED, error, code)
        report.failed += 1
        return
    sender.defer(delivery, error, code)
    report.deferred += 1


def _scrubbed(text: str, url: str) -> str:
    """`text` with the receiver's path (its credential, often) masked as pages show it."""
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    text = text.replace(url, masked_url(url))
    return text.replace(path, "/…") if len(path) > 1 else text
