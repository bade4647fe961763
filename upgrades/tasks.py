"""Celery tasks: ids in, claim, call steps or services; nothing else. Every task is safe to run twice."""

import logging
from datetime import timedelta

from celery import shared_task
from django.db.models import Q
from django.utils import timezone

from upgrades import engine, services, steps
from upgrades.cloudfoundry import CFError, RateLimited, Transient
from upgrades.models import Preflight, ServiceUpgrade
from upgrades.steps.base import StepFailed, client_for, foundation_of
from upgrades.steps.inspect import inspect
from upgrades.workflow import State

log = logging.getLogger(__name__)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def advance(service_id: int, step: str) -> None:
    """Run one sub-step of a running service (a duplicate finds the lease taken and does nothing)."""
    steps.run(service_id, step)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def preflight(service_id: int) -> None:
    """Check a submitted service on its foundation and record the verdict on the service."""
    service = ServiceUpgrade.objects.filter(pk=service_id, state=State.SUBMITTED).first()
    if service is None:
        return
    try:
        foundation = foundation_of(service)
        standing = inspect(client_for(foundation), foundation, service.zone_id, service.domain)
    except StepFailed as failure:
        services.record_preflight(service_id=service_id, outcome=Preflight.FAILED, message=str(failure))
    except (Transient, RateLimited):
        services.record_preflight(
            service_id=service_id, outcome=Preflight.RETRYING, message="CF unreachable, retrying."
        )
    except CFError as error:
        services.record_preflight(
            service_id=service_id,
            outcome=Preflight.FAILED,
            message=f"Cloud Foundry refused the check ({error.status} {error.title}).",
        )
    else:
        services.record_preflight(
            service_id=service_id,
            outcome=Preflight.PASSED,
            message=f"{standing.blue_app_name} serves the route with {standing.instances_running} "
            f"instance(s) running.",
            facts=standing.as_facts(),
        )


@shared_task(ignore_result=True)
def reconcile() -> dict:
    """Beat, every ENGINE_RECONCILE_SECONDS: re-enqueue silent or orphaned work, fire schedules.

    Losing Redis, a message or a worker only delays work: the database says what must happen next.
    """
    revived = 0
    for service in engine.stalled():
        log.info("reconcile: re-enqueueing service %s at %s", service.pk, service.step)
        services.enqueue_step_now(service)
        revived += 1
    quiet_since = timezone.now() - timedelta(seconds=60)
    stale_checks = ServiceUpgrade.objects.filter(
        state=State.SUBMITTED, preflight__in=[Preflight.PENDING, Preflight.RETRYING]
    ).filter(
        Q(preflight_checked_at__lt=quiet_since)
        | Q(preflight_checked_at__isnull=True, updated_at__lt=quiet_since)
    )
    for service in stale_checks:
        services.enqueue_preflight_now(service.pk)
    started = services.fire_due_schedules()
    return {"revived": revived, "scheduled": started}
