"""The runner: executes one claimed sub-step of a running service.

One short task runs one sub-step: claim the lease, call CF (outside any transaction, with the lease
kept alive by a heartbeat), record, then move on, wait, retry or fail. The database decides what runs
next; the order of sub-steps is `workflow.PHASES`, and this module binds each name to its code.
"""

import logging
import time

from django.conf import settings

from ecportal import logcontext
from upgrades import campaigns, metrics, workflow
from upgrades.cloudfoundry import CFError, Forbidden, RateLimited, Transient, Unauthorized
from upgrades.cloudfoundry.factory import client_for
from upgrades.engine import checks, leases, pacing, rollback, step1, step2
from upgrades.engine.context import Context, Done, Hold, StepFailed, Wait, foundation_of, since_step_began
from upgrades.engine.plan import PlanChanged, fingerprint
from upgrades.models import ServiceUpgrade
from upgrades.workflow import Plan, State

log = logging.getLogger(__name__)

HANDLERS = {
    "preflight": step1.preflight,
    "create_green": step1.create_green,
    "create_package": step1.create_package,
    "stage": step1.stage,
    "set_droplet": step1.set_droplet,
    "scale": step1.scale,
    "bind": step1.bind,
    "create_temp_route": step1.create_temp_route,
    "map_temp_route": step1.map_temp_route,
    "start_green": step1.start_green,
    "wait_running": step1.wait_running,
    "check_temporary_url": checks.check_temporary_url,
    "map_original": step2.map_original,
    "unmap_blue": step2.unmap_blue,
    "delete_temp_route": step2.delete_temp_route,
    "stop_blue": step2.stop_blue,
    "delete_blue": step2.delete_blue,
    "rename_green": step2.rename_green,
    "rb_start_blue": rollback.rb_start_blue,
    "rb_map_blue": rollback.rb_map_blue,
    "rb_unmap_green": rollback.rb_unmap_green,
    "rb_delete_temp_route": rollback.rb_delete_temp_route,
    "rb_delete_green": rollback.rb_delete_green,
    "rb_rename_blue": rollback.rb_rename_blue,
}
assert set(HANDLERS) == {name for phase in workflow.PHASES.values() for name, _ in phase}


def run(service_id: int, step: str) -> None:
    """Run one sub-step if we can claim it, then the sub-steps that follow it at once (up to
    ENGINE_CHAIN_STEPS in all) while this worker keeps the lease; a duplicate or stale delivery does
    nothing. Each sub-step is recorded before the next begins, so a worker that dies midway leaves
    exactly what one sub-step per task would have left: an expiring lease on the current sub-step."""
    owner = leases.new_owner()
    service = leases.claim(service_id, step, owner)
    chained = 1
    while service is not None:
        keep = chained < settings.ENGINE_CHAIN_STEPS
        service = _run_claimed(service, owner, keep)
        chained += 1


def _run_claimed(service: ServiceUpgrade, owner: str, keep: bool) -> ServiceUpgrade | None:
    """Carry out and settle the claimed sub-step; the service again when its next sub-step is ours
    to run now (`keep` allowed it), else None."""
    calls, step, started = [], service.step, time.monotonic()
    # A run of a sub-step that waited before (and was not retried after an error): a wait whose end
    # tells how long such waits take.
    waited = bool(service.progress) and not service.attempt
    try:
        with logcontext.bound(upgrade_id=service.pk, cf_request_id=None):
            outcome = _carry_out(service, owner, calls)
            if waited and isinstance(outcome, Done):
                pacing.learn(service.foundation, step, since_step_began(service))
            following = _settle(service, owner, outcome, keep)
        _measure(step, outcome, time.monotonic() - started)
        return following
    except leases.LeaseLost:
        # The service moved on under us (e.g. the EC team rolled back mid-sub-step): hand the lease
        # back and queue whatever its current sub-step is now, instead of leaving it to the reconciler.
        log.info("service %s: %s overtaken; queueing its current sub-step", service.pk, step)
        leases.release(service.pk, owner)
        leases.requeue(service.pk)
        return None
    finally:
        leases.record_calls(service, step, calls)


# How a run of a sub-step ended, for its metrics; the ones past "retry" failed the service.
_OUTCOMES = (
    (Done, "done"),
    (Wait, "wait"),
    (Hold, "held"),
    ((Transient, RateLimited), "retry"),
    (PlanChanged, "plan_changed"),  # before StepFailed, its base: approval is asked again, nothing failed
    (StepFailed, "step_failed"),
    ((Unauthorized, Forbidden), "cf_refused_account"),
    (CFError, "cf_error"),
)


def _measure(step: str, outcome, seconds: float) -> None:
    kind = next((name for types, name in _OUTCOMES if isinstance(outcome, types)), "no_outcome")
    metrics.substep(step, kind, seconds)
    if kind not in ("done", "wait", "held", "retry", "plan_changed"):
        metrics.failure(kind)


def _carry_out(service: ServiceUpgrade, owner: str, calls: list) -> Done | Wait | Hold | Exception:
    """The sub-step's CF work, under a heartbeat that keeps the lease ours however long CF takes.
    Returns its outcome, or the StepFailed / CFError that ended it."""
    if service.step not in workflow.step_names(service.state):
        return StepFailed(f"Unknown sub-step “{service.step}” for state {service.state}.")
    with leases.Heartbeat(service, owner) as heartbeat:
        try:
            foundation = foundation_of(service)
            cf = client_for(foundation, on_call=calls.append, before_call=heartbeat.check)
            return HANDLERS[service.step](Context(service, owner, cf, foundation))
        except (StepFailed, CFError) as error:
            return error


def _settle(
    service: ServiceUpgrade, owner: str, outcome: Done | Wait | Hold | Exception, keep: bool = False
) -> ServiceUpgrade | None:
    """Move on, wait, retry or fail, as the outcome says (each write checks the lease is ours).
    Returns the service when it moved on to a sub-step whose lease it kept (`keep`)."""
    match outcome:
        case PlanChanged():
            leases.send_back(service, owner, str(outcome), _new_plan(outcome.plan))
        case StepFailed():
            leases.fail(service, owner, str(outcome))
        case Transient() | RateLimited():
            leases.retry_later(service, owner, _plain(outcome))
        case Unauthorized() | Forbidden():
            leases.fail(
                service,
                owner,
                f"The portal's CF account was refused ({_plain(outcome)}); the EC team must check its role.",
            )
        case CFError():
            leases.fail(service, owner, f"Cloud Foundry refused a call: {_plain(outcome)}")
        case Wait():
            leases.wait(service, owner, outcome.countdown or 0, outcome.progress)
        case Hold():
            target = workflow.HOLD_STATE[State(service.state)]
            leases.finish(service, owner, lambda: (target, outcome.reason), error=outcome.reason)
        case Done():
            following = workflow.next_step(State(service.state), service.step)
            if following:
                leases.move_on(service, owner, following, keep=keep)
                return service if keep else None
            if leases.finish(service, owner, lambda: _phase_end(service), keep=keep):
                return service  # the next phase's first sub-step, ours to run
        case _:
            leases.fail(service, owner, f"The sub-step “{service.step}” gave no outcome ({outcome!r}).")
    return None


def _new_plan(plan: dict) -> dict:
    """The fields a service sent back for approval carries: the plan as CF stands now."""
    return {"change_plan": plan, "plan_fingerprint": fingerprint(plan), "approved_fingerprint": ""}


def _phase_end(service: ServiceUpgrade) -> tuple[State, str]:
    state = State(service.state)
    if state == State.STEP1_RUNNING:
        if service.plan == Plan.BACK_TO_BACK:
            if held := campaigns.step2_held_by_abort(service):
                return State.AWAITING_VERIFICATION, held  # the campaign's driver rolls it back
            return State.STEP2_RUNNING, "Step 1 done; Step 2 follows (plan: back to back)."
        return State.AWAITING_VERIFICATION, "Step 1 done: the new release answers on the temporary URL."
    if state == State.STEP2_RUNNING:
        return State.COMPLETED, "Step 2 done: the service runs the new release on its original URL."
    outcome = State(service.rollback_outcome or State.ROLLED_BACK)
    return outcome, "Rollback done: the old app serves the original route alone."


def _plain(error: CFError) -> str:
    """A CF error in words for people: status, title, CF's text and the request id for CF operators."""
    if error.status is None:
        return f"CF unreachable ({error.detail or error})"
    text = f"{error.status} {error.title}".strip()
    if error.detail:
        text += f": {error.detail}"
    if error.request_id:
        text += f" (request id {error.request_id})"
    return text
