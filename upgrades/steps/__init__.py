"""The blue-green sub-steps as tables, and the runner that executes one claimed sub-step.

One short task runs one sub-step: claim the lease, call CF (outside any transaction), record, then
move on, wait, retry or fail. The database decides what runs next.
"""

import logging

from upgrades import engine
from upgrades.cloudfoundry import CFError, Forbidden, RateLimited, Transient, Unauthorized
from upgrades.models import ServiceUpgrade
from upgrades.steps import rollback, step1, step2
from upgrades.steps.base import Context, Done, StepFailed, Wait, client_for, foundation_of
from upgrades.workflow import Plan, State

log = logging.getLogger(__name__)

STEP1 = (
    ("preflight", step1.preflight, "checking the service"),
    ("read_blue", step1.read_blue, "reading the current app"),
    ("create_green", step1.create_green, "creating the new app"),
    ("create_package", step1.create_package, "adding the release image"),
    ("stage", step1.stage, "building the droplet"),
    ("set_droplet", step1.set_droplet, "setting the droplet"),
    ("scale", step1.scale, "scaling like the current app"),
    ("bind", step1.bind, "binding services"),
    ("create_temp_route", step1.create_temp_route, "creating the temporary route"),
    ("map_temp_route", step1.map_temp_route, "mapping the temporary route"),
    ("start_green", step1.start_green, "starting the new app"),
    ("wait_running", step1.wait_running, "starting instances"),
)
STEP2 = (
    ("map_original", step2.map_original, "2.1 · mapping the original route to the new app"),
    ("unmap_blue", step2.unmap_blue, "2.2 · unmapping the old app"),
    ("delete_temp_route", step2.delete_temp_route, "finalizing · deleting the temporary route"),
    ("stop_blue", step2.stop_blue, "finalizing · stopping the old app"),
    ("delete_blue", step2.delete_blue, "finalizing · deleting the old app"),
    ("rename_green", step2.rename_green, "finalizing · renaming the new app"),
)
ROLLBACK = (
    ("rb_start_blue", rollback.rb_start_blue, "making sure the old app runs"),
    ("rb_map_blue", rollback.rb_map_blue, "mapping the old app to the original route"),
    ("rb_unmap_green", rollback.rb_unmap_green, "unmapping the new app"),
    ("rb_delete_temp_route", rollback.rb_delete_temp_route, "deleting the temporary route"),
    ("rb_delete_green", rollback.rb_delete_green, "deleting the new app"),
)
PHASES = {State.STEP1_RUNNING: STEP1, State.STEP2_RUNNING: STEP2, State.ROLLING_BACK: ROLLBACK}


def describe(state: str, step: str) -> tuple[str, int, int]:
    """(words, position, count) of a sub-step within its phase, for progress displays."""
    table = PHASES.get(State(state)) if state in PHASES else None
    for phase in (table,) if table else PHASES.values():
        for index, (name, _, words) in enumerate(phase, start=1):
            if name == step:
                return words, index, len(phase)
    return step.replace("_", " "), 0, 0


def _after(state: State, step: str) -> str | None:
    names = [name for name, _, _ in PHASES[state]]
    index = names.index(step)
    return names[index + 1] if index + 1 < len(names) else None


def _phase_end(service: ServiceUpgrade) -> tuple[State, str]:
    state = State(service.state)
    if state == State.STEP1_RUNNING:
        if service.request.plan == Plan.BACK_TO_BACK:
            return State.STEP2_RUNNING, "Step 1 done; Step 2 follows (plan: back to back)."
        return State.AWAITING_VERIFICATION, "Step 1 done: the new release answers on the temporary URL."
    if state == State.STEP2_RUNNING:
        return State.COMPLETED, "Step 2 done: the service runs the new release on its original URL."
    outcome = State(service.rollback_outcome or State.ROLLED_BACK)
    return outcome, "Rollback done: the old app serves the original route alone."


def run(service_id: int, step: str) -> None:
    """Run one sub-step if we can claim it; a duplicate or stale delivery does nothing."""
    owner = engine.new_owner()
    service = engine.claim(service_id, step, owner)
    if service is None:
        return
    calls = []
    try:
        _run_claimed(service, owner, calls)
    except engine.LeaseLost:
        # The service moved on under us (e.g. the EC team rolled back mid-sub-step): hand the lease
        # back and queue whatever its current sub-step is now, instead of leaving it to the reconciler.
        log.info("service %s: %s overtaken; queueing its current sub-step", service_id, step)
        engine.release(service_id, owner)
        engine.requeue(service_id)
    finally:
        engine.record_calls(service, step, calls)


def _run_claimed(service: ServiceUpgrade, owner: str, calls: list) -> None:
    table = dict((name, fn) for name, fn, _ in PHASES.get(State(service.state), ()))
    if service.step not in table:
        engine.fail(service, owner, f"Unknown sub-step “{service.step}” for state {service.state}.")
        return
    try:
        foundation = foundation_of(service)
        ctx = Context(service, owner, client_for(foundation, on_call=calls.append), foundation)
        outcome = table[service.step](ctx)
    except StepFailed as failure:
        if failure.resume_at:
            engine.record(service, owner, step=failure.resume_at)
        engine.fail(service, owner, str(failure))
    except (Transient, RateLimited) as error:
        engine.retry_later(service, owner, _plain(error))
    except (Unauthorized, Forbidden) as error:
        engine.fail(
            service,
            owner,
            f"The portal's CF account was refused ({_plain(error)}); the EC team must check its role.",
        )
    except CFError as error:
        engine.fail(service, owner, f"Cloud Foundry refused a call: {_plain(error)}")
    else:
        if isinstance(outcome, Wait):
            engine.wait(service, owner, outcome.countdown or 0, outcome.progress)
        elif isinstance(outcome, Done):
            following = _after(State(service.state), service.step)
            if following:
                engine.move_on(service, owner, following)
            else:
                target, message = _phase_end(service)
                engine.finish(service, owner, target, message)


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
