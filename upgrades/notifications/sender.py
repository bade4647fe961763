"""Sending the outbox: claim a delivery (CAS on its lease), commit, talk SMTP, record the outcome.

No SMTP inside a transaction. A delivery is claimed by one sender at a time: the claim is a single
`UPDATE … WHERE status='pending' AND lease free`, so two senders racing for a row send it once.
Delivery is at least once: a sender that dies after the SMTP server accepted a message and before
the row is marked sent leaves it to be sent again when its lease expires; the delivery's id in
`Message-ID` lets mail clients fold such a duplicate. A
transient SMTP failure (server down, 4xx) puts the row back with a capped exponential backoff and is
never given up on; a permanent refusal (5xx, an address that would inject headers) marks it failed.
"""

import logging
import smtplib
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.core.mail import mailers
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from upgrades.models import Delivery, Notification, UpgradeRequest
from upgrades.notifications import outbox, rendering

log = logging.getLogger(__name__)
PENDING = Delivery.Status.PENDING


@dataclass
class SendReport:
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    deferred: int = 0
    errors: list[str] = field(default_factory=list)


def backoff(attempts: int) -> float:
    """Seconds before the next try after `attempts` tries: exponential, capped."""
    return min(settings.NOTIFY_RETRY_CAP, settings.NOTIFY_RETRY_BASE * 2 ** max(0, attempts - 1))


def due(*, notification_id: int | None = None, channel: str = Delivery.Channel.MAIL):
    """Pending deliveries of `channel` whose notification is ready, whose retry time came and whose
    lease is free."""
    now = timezone.now()
    queryset = Delivery.objects.filter(
        channel=channel, status=PENDING, next_attempt_at__lte=now, notification__ready_at__lte=now
    ).filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
    if notification_id is not None:
        queryset = queryset.filter(notification_id=notification_id)
    return queryset


def claim(delivery_id: int) -> bool:
    """Take the row for this sender (autocommit: the claim is visible to others at once)."""
    now = timezone.now()
    return (
        Delivery.objects.filter(pk=delivery_id, status=PENDING)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(
            claimed_until=now + timedelta(seconds=settings.NOTIFY_LEASE_SECONDS), attempts=F("attempts") + 1
        )
        == 1
    )


def seal(notification: Notification) -> None:
    """Close the notification to joiners before its first mail is rendered (see Notification)."""
    if notification.sealed:
        return
    with transaction.atomic():
        UpgradeRequest.objects.select_for_update().filter(pk=notification.request_id).first()
        Notification.objects.filter(pk=notification.pk).update(sealed=True)
    notification.refresh_from_db(fields=["sealed"])


def finish(delivery: Delivery, status: str, error: str = "", code: int | None = None) -> None:
    """Record a claimed delivery's final outcome (`code`: a webhook receiver's HTTP status) and free it."""
    Delivery.objects.filter(pk=delivery.pk).update(
        status=status,
        last_error=error[:2000],
        last_status_code=code,
        claimed_until=None,
        sent_at=timezone.now() if status == Delivery.Status.SENT else None,
    )


def defer(delivery: Delivery, error: str, code: int | None = None) -> None:
    """Put a claimed delivery back, to be tried again after the backoff of its attempts so far."""
    retry_at = timezone.now() + timedelta(seconds=backoff(delivery.attempts))
    Delivery.objects.filter(pk=delivery.pk).update(
        last_error=error[:2000], last_status_code=code, claimed_until=None, next_attempt_at=retry_at
    )


def _permanent(error: Exception) -> bool:
    """A 5xx answer refuses this message for good; anything else (down, 4xx, timeouts) passes."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in error.recipients.values())
    return isinstance(error, smtplib.SMTPResponseException) and error.smtp_code >= 500


def send_due(*, notification_id: int | None = None, limit: int = 200) -> SendReport:
    """Send what is due (of one notification, or all), one SMTP connection per call.

    Stops at the first transient failure: the server is likely down for the rest too, and what is
    left stays pending for the next try.
    """
    report = SendReport()
    ids = list(due(notification_id=notification_id).order_by("id").values_list("id", flat=True)[:limit])
    if not ids:
        return report
    connection = mailers.default
    try:
        for delivery_id in ids:
            if not claim(delivery_id):
                continue  # another sender has it
            if not _send_one(connection, delivery_id, report):
                break
    finally:
        try:
            connection.close()
        except Exception:  # closing a broken connection must not hide the outcome
            log.debug("closing the SMTP connection failed", exc_info=True)
    return report


def _send_one(connection, delivery_id: int, report: SendReport) -> bool:
    """Send one claimed delivery and record the outcome; False when the server looks down."""
    delivery = Delivery.objects.select_related("notification__request__requester").get(pk=delivery_id)
    seal(delivery.notification)
    reason = rendering.skip_reason(delivery)
    if reason:
        finish(delivery, Delivery.Status.SKIPPED, reason)
        report.skipped += 1
        return True
    try:
        message = rendering.render_message(delivery)
        message.message()  # builds the headers now: a header injection fails here, not on the wire
    except ValueError as error:  # Unsendable, or a header Django refuses to build
        finish(delivery, Delivery.Status.FAILED, str(error))
        report.failed += 1
        return True
    try:
        connection.open()  # once per batch: later messages reuse the connection
        connection.send_messages([message])
    except (OSError, smtplib.SMTPException) as error:
        text = f"{type(error).__name__}: {error}"
        report.errors.append(text)
        if _permanent(error):
            finish(delivery, Delivery.Status.FAILED, text)
            report.failed += 1
            return True
        defer(delivery, text)
        report.deferred += 1
        return False
    finish(delivery, Delivery.Status.SENT)
    report.sent += 1
    return True


def next_retry_in(notification_id: int) -> float | None:
    """Seconds until the notification's earliest pending delivery may be tried again, if any is left."""
    pending = Delivery.objects.filter(notification_id=notification_id, status=PENDING).order_by(
        "next_attempt_at"
    )
    first = pending.values_list("next_attempt_at", flat=True).first()
    if first is None:
        return None
    return max(1.0, (first - timezone.now()).total_seconds())


def send_pending() -> dict:
    """Beat's round: queue due reminders, then send everything pending and due."""
    reminders = outbox.queue_reminders()
    report = send_due()
    return {"reminders": reminders, "sent": report.sent, "deferred": report.deferred, "failed": report.failed}
