"""Leases on sub-steps, recorded CF facts, and moving on.

A sub-step is claimed with a compare-and-set on the lease, so a duplicate delivery finds the claim
taken and does nothing. While its holder works, a heartbeat renews the lease every third of its
lifetime, however long CF takes to answer, so nobody else can claim it; only a holder that died (or
whose heartbeat could not reach the database for a whole lease) loses it. Every write checks that the
lease is still ours: a worker that lost its lease stops before its next CF call and never releases or
overwrites the new holder's. Moving on, waiting, retrying and failing release the lease and enqueue what
comes next on commit.
"""

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from upgrades import actions, fleet_records, metrics, workflow
from upgrades.cloudfoundry import CallRecord
from upgrades.models import CallLog, ServiceUpgrade, version_bump
from upgrades.notifications import outbox
from upgrades.workflow import State

log = logging.getLogger(__name__)


class LeaseLost(Exception):
    """Another worker took over this sub-step (our lease expired); abandon quietly."""


def new_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _expiry():
    return timezone.now() + timedelta(seconds=settings.ENGINE_LEASE_SECONDS)


def claim(service_id: int, step: str, owner: str) -> ServiceUpgrade | None:
    """Take the lease on `step` of a running service, or None if it is not ours to run now. (Its
    request and release are read when a sub-step needs them: few do, and a join costs every claim.)"""
    free = Q(lease_owner="") | Q(lease_expires_at__lt=timezone.now())
    changed = (
        ServiceUpgrade.objects.filter(pk=service_id, step=step, state__in=sorted(workflow.RUNNING_STATES))
        .filter(free)
        .update(lease_owner=owner, lease_expires_at=_expiry())
    )
    if changed != 1:
        return None
    return ServiceUpgrade.objects.get(pk=service_id)


class Heartbeat:
    """Renews a held lease from a thread of its own while the sub-step works.

    Use as a context manager around the sub-step's CF calls; `check()` (called before each CF call)
    raises LeaseLost once a renewal found the lease in other hands (or the service moved on), or once
    the heartbeat has not renewed it for two thirds of its lifetime (the database unreachable): from
    then on another worker may claim it, so this one must stop first.

    A sub-step that runs longer than ENGINE_SUBSTEP_SECONDS is no longer renewed: a worker thread
    cannot be stopped from outside (a CF answer trickling in byte by byte never reaches the read
    timeout), but its service is not held with it. The lease expires, another worker takes the
    sub-step over, and the stuck one stops at its next CF call or write.
    """

    def __init__(self, service: ServiceUpgrade, owner: str):
        self.service, self.owner = service, owner
        self.lost = False
        self._renewed = self._began = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"lease-{service.pk}", daemon=True)

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def check(self) -> None:
        stale = time.monotonic() - self._renewed > settings.ENGINE_LEASE_SECONDS * 2 / 3
        if self.lost or stale:
            raise LeaseLost(f"lost the lease on service {self.service.pk}")

    def _beat(self) -> None:
        interval = settings.ENGINE_LEASE_SECONDS / 3
        try:
            while not self._stop.wait(interval):
                if time.monotonic() - self._began > settings.ENGINE_SUBSTEP_SECONDS:
                    log.warning(
                        "service %s: %s has run for over %s s; its lease is left to expire for another "
                        "worker to take over",
                        self.service.pk,
                        self.service.step,
                        settings.ENGINE_SUBSTEP_SECONDS,
                    )
                    return
                try:
                    renewed = _ours(self.service, self.owner).update(lease_expires_at=_expiry())
                except DatabaseError:
                    # Reconnect on the next beat; `check` stops the worker if that takes too long.
                    log.warning("could not renew the lease on service %s", self.service.pk, exc_info=True)
                    connection.close()
                    continue
                if renewed != 1:
                    self.lost = True
                    return
                self._renewed = time.monotonic()
        finally:
            connection.close()  # this thread's own connection


def _ours(service: ServiceUpgrade, owner: str):
    return ServiceUpgrade.objects.filter(
        pk=service.pk, lease_owner=owner, step=service.step, state=service.state
    )


def record(service: ServiceUpgrade, owner: str, **facts) -> None:
    """Store facts learnt from CF (GUIDs, progress) while we hold the lease."""
    if _ours(service, owner).update(**facts, **version_bump()) != 1:
        raise LeaseLost(f"lost the lease on {service.pk}/{service.step}")
    for name, value in facts.items():
        setattr(service, name, value)


def record_calls(service: ServiceUpgrade, step: str, calls: list[CallRecord]) -> None:
    if not calls:
        return
    CallLog.objects.bulk_create(
        [
            CallLog(
                service_id=service.pk,
                step=step,
                method=call.method,
                path=call.path[:500],
                status=call.status,
                duration_ms=call.duration_ms,
                request_id=(call.request_id or "")[:200],
            )
            for call in calls
        ]
    )


def _released() -> dict:
    return {"lease_owner": "", "lease_expires_at": None, **version_bump()}


def move_on(service: ServiceUpgrade, owner: str, next_step: str, *, keep: bool = False) -> None:
    """The sub-step is done: go to `next_step` and enqueue it; or, with `keep`, hold the lease on
    `next_step` (renewed) for this worker to run it at once, without a trip through the broker. A
    worker that dies before it does leaves an expiring lease, which the reconciler takes over."""
    with transaction.atomic():
        fields = {
            "step": next_step,
            "attempt": 0,
            "step_started_at": timezone.now(),
            "progress": "",
            "error": "",
            **_released(),
        }
        fields.update({"lease_owner": owner, "lease_expires_at": _expiry()} if keep else actions.queued())
        if _ours(service, owner).update(**fields) != 1:
            raise LeaseLost(f"lost the lease on {service.pk}/{service.step}")
        actions.record_milestone(service, service.step)
        for name in ("step", "attempt", "step_started_at", "progress", "error"):
            setattr(service, name, fields[name])
        if not keep:
            actions.send_step(service)


def wait(service: ServiceUpgrade, owner: str, countdown: float, progress: str = "") -> None:
    """Asynchronous CF work is under way: look again in `countdown` seconds (never sleep in a task)."""
    with transaction.atomic():
        fields = {**_released(), **actions.queued(), **({"progress": progress} if progress else {})}
        if _ours(service, owner).update(**fields) != 1:
            raise LeaseLost(f"lost the lease on {service.pk}/{service.step}")
        actions.send_step(service, countdown)


def retry_later(service: ServiceUpgrade, owner: str, message: str) -> None:
    """A transient CF error: try the same sub-step again after a capped exponential backoff, or fail
    once the attempts are used up."""
    attempt = service.attempt + 1
    if attempt >= settings.ENGINE_MAX_ATTEMPTS:
        fail(service, owner, f"{message} (gave up after {attempt} attempts)")
        metrics.failure("cf_unavailable")
        return
    countdown = min(settings.ENGINE_BACKOFF_CAP, settings.ENGINE_BACKOFF_BASE * 2 ** (attempt - 1))
    with transaction.atomic():
        fields = {"attempt": attempt, "progress": f"{message}; retrying", **_released(), **actions.queued()}
        if _ours(service, owner).update(**fields) != 1:
            raise LeaseLost(f"lost the lease on {service.pk}/{service.step}")
        actions.send_step(service, countdown)


def fail(service: ServiceUpgrade, owner: str, message: str) -> None:
    """The sub-step cannot succeed: the service goes to its failed state, locked for the EC team."""
    with transaction.atomic():
        if _ours(service, owner).update(**_released()) != 1:
            raise LeaseLost(f"lost the lease on {service.pk}/{service.step}")
        actions.transition(
            service,
            target=workflow.FAILED_STATE[State(service.state)],
            actor=actions.SYSTEM,
            message=message,
            updates={"error": message, "progress": ""},
        )


def send_back(service: ServiceUpgrade, owner: str, message: str, updates: dict) -> None:
    """Step 1 found the plan changed before it touched anything: the service goes back to awaiting
    approval (`submitted`, preflight passed) with the new plan, says why, and tells the EC team."""
    with transaction.atomic():
        if _ours(service, owner).update(**_released()) != 1:
            raise LeaseLost(f"lost the lease on {service.pk}/{service.step}")
        event = actions.transition(
            service,
            target=State.SUBMITTED,
            actor=actions.SYSTEM,
            message=message,
            updates={**updates, "step": "", "progress": "", "preflight_message": message},
        )
        outbox.on_plan_changed(service, event)


def finish(
    service: ServiceUpgrade,
    owner: str,
    phase_end: Callable[[], tuple[State, str]],
    *,
    error: str = "",
    keep: bool = False,
) -> bool:
    """The phase is complete: move to the state `phase_end()` decides, with its message (which may
    start the next phase); `error` says why it stopped there when an automatic check held it. The
    decision is taken inside the transaction that records it, once that holds the service's row.

    A next phase's first sub-step is enqueued; or, with `keep`, its lease is held for this worker to
    run it at once (as `move_on` does), and the answer is True."""
    with transaction.atomic():
        if _ours(service, owner).update(**_released()) != 1:
            raise LeaseLost(f"lost the lease on {service.pk}/{service.step}")
        target, message = phase_end()
        updates = {"progress": "", **({"error": error} if error else {})}
        held = keep and target in workflow.RUNNING_STATES
        if held:
            updates.update(lease_owner=owner, lease_expires_at=_expiry())
        if target not in workflow.RUNNING_STATES:
            updates["step"] = ""
        if target == State.COMPLETED:
            # First: the transition joins the campaign's shared mail, whose row stays locked until
            # this transaction commits.
            _record_in_fleet(service)
        actions.transition(
            service, target=target, actor=actions.SYSTEM, message=message, updates=updates, enqueue=not held
        )
    return held


def _record_in_fleet(service: ServiceUpgrade) -> None:
    """The inventory learns the new release with the completion, not at its next sync: the renamed
    green app (under blue's name) runs the release's image."""
    release = service.request.release
    fleet_records.record_upgraded(
        zone_id=service.zone_id,
        release=release.name,
        image=release.docker_image,
        app_guid=service.green_app_guid,
        app_name=service.blue_app_name or service.green_app_name,
    )


def release(service_id: int, owner: str) -> None:
    """Give the lease back without changing anything; a no-op once someone else holds it."""
    ServiceUpgrade.objects.filter(pk=service_id, lease_owner=owner).update(
        lease_owner="", lease_expires_at=None
    )


def requeue(service_id: int) -> None:
    """Queue the current sub-step of a running service (a no-op for one that is not running)."""
    service = ServiceUpgrade.objects.filter(pk=service_id, state__in=sorted(workflow.RUNNING_STATES)).first()
    if service is not None:
        actions.enqueue_step_now(service)


def stalled(now=None):
    """Running services nobody is working on: an expired lease, or no lease and no task for a while."""
    now = now or timezone.now()
    silent_since = now - timedelta(seconds=settings.ENGINE_SILENCE_SECONDS)
    return ServiceUpgrade.objects.filter(state__in=sorted(workflow.RUNNING_STATES)).filter(
        Q(lease_owner="", enqueued_at__lt=silent_since)
        | Q(lease_owner="", enqueued_at__isnull=True)
        | Q(lease_expires_at__lt=now)
    )
