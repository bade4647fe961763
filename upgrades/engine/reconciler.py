"""The reconciler (beat, every ENGINE_RECONCILE_SECONDS): the database says what must happen next.

It re-enqueues sub-steps that are silent or whose lease expired, sends preflight checks that went
quiet again (same run), and fires scheduled starts. Losing Redis, a message or a worker only delays
work.
"""

import logging

from upgrades import actions, metrics
from upgrades.engine import leases

log = logging.getLogger(__name__)


def reconcile() -> dict:
    revived = 0
    for service in leases.stalled():
        log.info("reconcile: re-enqueueing service %s at %s", service.pk, service.step)
        actions.enqueue_step_now(service)
        revived += 1
    metrics.revived(revived)
    rechecked = 0
    for service in actions.quiet_preflights():
        actions.nudge_preflight(service)
        rechecked += 1
    started = actions.fire_due_schedules()
    return {"revived": revived, "rechecked": rechecked, "scheduled": started}
