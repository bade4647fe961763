"""Enqueue Celery tasks by name once the surrounding transaction commits, robust to a broker outage.

The database says what must happen next; a message only says "look now". When the broker cannot be
reached, the change stays committed, the failure is logged, and the reconciler (beat) sends the work
again once the broker answers: a user never gets an error for something that already happened.
This module imports no task module, so the domain never depends on `upgrades.tasks`.
"""

import logging

from celery import current_app
from django.db import transaction
from kombu.exceptions import KombuError

log = logging.getLogger(__name__)

ADVANCE = "upgrades.tasks.advance"
PREFLIGHT = "upgrades.tasks.preflight"
SEND_NOTIFICATION = "upgrades.tasks.send_notification"
SYNC_FLEET = "upgrades.tasks.sync_fleet"
DRIVE_CAMPAIGN = "upgrades.tasks.drive_campaign"
OBSERVE = "upgrades.tasks.observe_cf"
SWEEP_LEFTOVERS = "upgrades.tasks.sweep_leftovers"

# A broker that refuses connections is given up on quickly: the reconciler is the retry.
_PUBLISH_RETRY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}


def on_commit(task: str, *args, countdown: float = 0) -> None:
    """Send `task(*args)` after the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: send(task, *args, countdown=countdown), robust=True)


def send(task: str, *args, countdown: float = 0) -> bool:
    """Send `task(*args)` now; False (logged) when the broker cannot take it."""
    # No countdown at all when there is nothing to wait for: Celery holds any countdown as an ETA
    # task in a timer instead of running it at once.
    options = {"countdown": countdown} if countdown > 0 else {}
    try:
        current_app.send_task(task, args=args, retry_policy=_PUBLISH_RETRY, **options)
    except (KombuError, OSError) as error:
        log.warning("broker unreachable, %s%r left to the reconciler: %s", task, args, error)
        return False
    return True
