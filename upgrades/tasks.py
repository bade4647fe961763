"""Every Celery task: ids in, call the engine or the mail sender, retry policy; nothing else.

Every task is safe to run twice: a sub-step is claimed with a lease, a preflight check belongs to a
numbered run and is void once a newer one started, a delivery is claimed with a lease of its own.
Tasks are sent by name through `upgrades.dispatch`, which imports no task module.
"""

from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from upgrades import campaign_driver, deadlines, inventory
from upgrades.engine import cleanup, observe, reconciler, runner
from upgrades.engine import preflight as preflight_check
from upgrades.models import Notification
from upgrades.notifications import sender, webhook_sender


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def advance(service_id: int, step: str) -> None:
    """Run one sub-step of a running service (a duplicate finds the lease taken and does nothing)."""
    runner.run(service_id, step)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def preflight(service_id: int, run: int | None = None) -> None:
    """Check a submitted service on its foundation (run `run` of its checks) and record the verdict."""
    preflight_check.check(service_id, run)


@shared_task(ignore_result=True)
def reconcile() -> dict:
    """Beat, every ENGINE_RECONCILE_SECONDS: re-enqueue silent or orphaned work, fire schedules."""
    return reconciler.reconcile()


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def send_notification(self, notification_id: int) -> None:
    """Send one notification's mails and webhook deliveries once its grouping window closed; retry
    with backoff while some are pending (a bounded number of times; beat's `send_pending` carries
    on after that)."""
    notification = Notification.objects.filter(pk=notification_id).first()
    if notification is None:
        return
    early = (notification.ready_at - timezone.now()).total_seconds()
    if early <= 0:
        sender.send_due(notification_id=notification_id)  # mail first: a slow receiver cannot delay it
        webhook_sender.send_due(notification_id=notification_id)
        early = sender.next_retry_in(notification_id) or 0
    if early > 0 and self.request.retries < settings.NOTIFY_TASK_RETRIES:
        raise self.retry(countdown=early, max_retries=settings.NOTIFY_TASK_RETRIES)


@shared_task(ignore_result=True)
def send_pending() -> dict:
    """Beat, every NOTIFY_SEND_SECONDS: queue due reminders, then send every mail pending and due."""
    return sender.send_pending()


@shared_task(ignore_result=True)
def send_webhooks() -> dict:
    """Beat, every WEBHOOK_SEND_SECONDS: send up to WEBHOOK_BATCH webhook deliveries pending and due,
    apart from mail (a receiver that hangs holds up only this). One round at a time: a round asked
    for while another runs is left out, so hanging receivers never take every worker process."""
    longest = settings.WEBHOOK_BATCH * (settings.WEBHOOK_CONNECT_TIMEOUT + settings.WEBHOOK_READ_TIMEOUT)
    if not cache.add("webhook-send-running", True, timeout=int(longest) + 1):
        return {}
    try:
        report = webhook_sender.send_due(limit=settings.WEBHOOK_BATCH)
    finally:
        cache.delete("webhook-send-running")
    return {"sent": report.sent, "deferred": report.deferred, "failed": report.failed}


@shared_task(ignore_result=True)
def sync_fleet() -> list[int]:
    """Beat, every FLEET_SYNC_SECONDS, and "Refresh now": sync the inventory of every foundation.
    One at a time: a sync asked for while another runs is left out (the running one is as new)."""
    if not cache.add("fleet-sync-running", True, timeout=settings.FLEET_SYNC_SECONDS):
        return []
    try:
        return [record.pk for record in inventory.sync_all()]
    finally:
        cache.delete("fleet-sync-running")


@shared_task(ignore_result=True)
def drive_campaign(campaign_id: int, *_earlier) -> int:
    """A nudge (a campaign started, resumed or continued, or one of its services left its running
    step): start what its waves allow now, after any drive at work on it. (`_earlier`: what
    earlier versions sent along, ignored.)"""
    return campaign_driver.drive(campaign_id, wait=True)


@shared_task(ignore_result=True)
def drive_campaigns() -> int:
    """Beat, every CAMPAIGN_DRIVE_SECONDS: move every running campaign on (waves, pauses, budget)."""
    return campaign_driver.drive_running()


@shared_task(ignore_result=True)
def check_deadlines() -> dict:
    """Beat, every DEADLINE_CHECK_SECONDS: remind before test windows end, end those that ran out,
    and delete the old apps whose retention window ended."""
    return {**deadlines.check_windows(), "deleted": cleanup.delete_expired_retentions()}


@shared_task(ignore_result=True)
def sweep_leftovers(clean: bool = False) -> dict:
    """Beat, every SWEEP_SECONDS, and the EC team's "Clean up" (`clean`): what the portal left behind."""
    return cleanup.sweep(clean=clean)


@shared_task(ignore_result=True)
def observe_cf(service_id: int) -> bool:
    """After a failure: record what CF shows now, for the request page."""
    return observe.observe(service_id)
