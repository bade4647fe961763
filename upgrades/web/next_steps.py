""" "What happens next" for one service, in the words of the people who wait for it: who acts next,
and what (if anything) they must do with their gateways. Shown on the request page and the contact
status page alike."""

from upgrades.models import Preflight, ServiceUpgrade
from upgrades.workflow import Plan, State

_NOT_UPGRADED = "Nothing to do: the service was not upgraded and answers on its original URL as before."
_TESTED = Plan.TEST_FIRST
_NOT_TESTED = Plan.BACK_TO_BACK

# (state, plan) → words; a plan of None stands for either plan. A failure has none: the card's problem
# box already says who acts (the EC team) and that the service keeps answering.
_WORDS: dict[tuple[State, Plan | None], str] = {
    (State.APPROVED, _TESTED): "The EC team starts Step 1, which sets up the new release on a temporary URL "
    "beside the current one.",
    (
        State.APPROVED,
        _NOT_TESTED,
    ): "The EC team starts Step 1; Step 2 follows at once, with no test in between.",
    (State.STEP1_RUNNING, _TESTED): "Step 1 sets up the new release on a temporary URL; you will be asked to "
    "test it there. Gateways keep working unchanged.",
    (
        State.STEP1_RUNNING,
        _NOT_TESTED,
    ): "Step 1 sets up the new release; Step 2 follows at once. Nothing to do: gateways keep working.",
    (
        State.AWAITING_VERIFICATION,
        None,
    ): "Point a test gateway at the temporary URL (the gateway lines below), "
    "test, then press It works, or Report a problem to roll back.",
    (
        State.VERIFIED,
        None,
    ): "Confirmed: waiting for the EC team to start Step 2, which moves the original URL to the new release.",
    (
        State.STEP2_RUNNING,
        None,
    ): "Step 2 moves the original URL to the new release. Nothing to do: gateways on "
    "the original URL keep working.",
    (State.COMPLETED, _TESTED): "Nothing to do: the service runs the new release on its original URL. Point "
    "gateways you moved to the temporary URL back to the original URL (below).",
    (State.COMPLETED, _NOT_TESTED): "Nothing to do: the service runs the new release on its original URL; "
    "gateways need nothing.",
    (State.ROLLING_BACK, None): "The previous release is put back on the original URL; nothing to do yet.",
    (State.ROLLED_BACK, _TESTED): "The previous release serves the original URL again. Point any gateway you "
    "moved to the temporary URL back to the original URL (below); to try again, file a new request.",
    (State.ROLLED_BACK, _NOT_TESTED): "The previous release serves the original URL again; gateways need "
    "nothing. To try again, file a new request.",
    (State.REJECTED, None): _NOT_UPGRADED,
    (State.CANCELLED, None): _NOT_UPGRADED,
}


def what_happens_next(service: ServiceUpgrade) -> str:
    """One or two sentences for `service` as it stands ("" after a failure)."""
    state = State(service.state)
    if state == State.SUBMITTED:
        if service.preflight != Preflight.PASSED:
            return "The portal checks the service on its foundation; then the EC team reviews the request."
        return "The EC team reviews the request and approves or rejects it."
    if state == State.VERIFIED and service.start_step2_on_confirmation:
        return "Step 2 starts now: the original URL moves to the new release."
    return _WORDS.get((state, Plan(service.plan)), _WORDS.get((state, None), ""))
