"""The state machine of a service upgrade, as a plain table. No database here.

`actions.py` asks this module whether an action may fire (who, from which state) and which state it
leads to; views and the API ask it which actions to offer. Permission is decided before state, so a
user who may never do something gets "not allowed" (403) rather than "not now" (409).
"""

from dataclasses import dataclass
from enum import StrEnum


class State(StrEnum):
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    STEP1_RUNNING = "step1_running"
    STEP1_FAILED = "step1_failed"
    AWAITING_VERIFICATION = "awaiting_verification"
    VERIFIED = "verified"
    STEP2_RUNNING = "step2_running"
    STEP2_FAILED = "step2_failed"
    COMPLETED = "completed"
    ROLLING_BACK = "rolling_back"
    ROLLBACK_FAILED = "rollback_failed"
    ROLLED_BACK = "rolled_back"

    @property
    def label(self) -> str:
        return STATE_LABELS[self]

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATES


STATE_LABELS = {
    State.SUBMITTED: "Submitted",
    State.APPROVED: "Approved",
    State.REJECTED: "Rejected",
    State.CANCELLED: "Cancelled",
    State.STEP1_RUNNING: "Step 1 running",
    State.STEP1_FAILED: "Step 1 failed",
    State.AWAITING_VERIFICATION: "Awaiting verification",
    State.VERIFIED: "Verified",
    State.STEP2_RUNNING: "Step 2 running",
    State.STEP2_FAILED: "Step 2 failed",
    State.COMPLETED: "Completed",
    State.ROLLING_BACK: "Rolling back",
    State.ROLLBACK_FAILED: "Rollback failed",
    State.ROLLED_BACK: "Rolled back",
}

# What a state means for the service, where its label alone could be misread: how it ended (with the
# new release or without it), or where a failure left it.
STATE_MEANINGS = {
    State.COMPLETED: "Completed: the new release serves the original URL.",
    State.ROLLED_BACK: "Rolled back: the previous release serves the original URL; the new one was removed.",
    State.CANCELLED: "Cancelled: not upgraded; the service runs its previous release as before.",
    State.REJECTED: "Rejected: not upgraded; the service runs its previous release as before.",
    State.STEP1_FAILED: "Step 1 failed: the previous release still serves the original URL; "
    "the EC team retries or rolls back.",
    State.STEP2_FAILED: "Step 2 failed: it stopped while moving the original URL to the new release; "
    "the EC team retries or rolls back.",
    State.ROLLBACK_FAILED: "Rollback failed: it stopped on the way back to the previous release; "
    "the EC team retries.",
}

TERMINAL_STATES = frozenset({State.REJECTED, State.CANCELLED, State.COMPLETED, State.ROLLED_BACK})
ACTIVE_STATES = frozenset(State) - TERMINAL_STATES


class Plan(StrEnum):
    TEST_FIRST = "test_first"
    BACK_TO_BACK = "back_to_back"

    @property
    def label(self) -> str:
        return PLAN_LABELS[self]


PLAN_LABELS = {
    Plan.TEST_FIRST: "Test after Step 1",
    Plan.BACK_TO_BACK: "Steps 1 and 2 back to back",
}


def plans_label(plans: list[str]) -> str:
    """The plans of a request's services in words: one plan's label, or how many follow each."""
    counts = {Plan(plan): plans.count(plan) for plan in PLAN_LABELS if plan in plans}
    if len(counts) == 1:
        return next(iter(counts)).label
    return "Per service: " + ", ".join(f"{n} {plan.label.lower()}" for plan, n in counts.items())


# A service that waits for another of its request may start Step 1 once that one is confirmed: it
# answered "It works" (or, back to back, went on into Step 2).
CONFIRMED_STATES = frozenset({State.VERIFIED, State.STEP2_RUNNING, State.COMPLETED})
# What became of an awaited service that will not be confirmed (as things stand), in words.
_NOT_CONFIRMED = {
    State.REJECTED: "was rejected",
    State.CANCELLED: "was cancelled",
    State.ROLLED_BACK: "was rolled back",
    State.ROLLING_BACK: "is being rolled back",
    State.ROLLBACK_FAILED: "failed to roll back",
    State.STEP1_FAILED: "failed in Step 1",
    State.STEP2_FAILED: "failed in Step 2",
}


def wait_reason(awaited_name: str, awaited_state: State) -> str:
    """Why a service that waits for `awaited_name` may not start Step 1 yet, or "" once it may."""
    state = State(awaited_state)
    if state in CONFIRMED_STATES:
        return ""
    reason = f"Starts after {awaited_name} is confirmed"
    if state in _NOT_CONFIRMED:
        return f"{reason}, but {awaited_name} {_NOT_CONFIRMED[state]}: it cannot start, and can be cancelled."
    return f"{reason}."


class Role(StrEnum):
    REQUESTER = "requester"
    CONTACT = "contact"
    EC_TEAM = "ec_team"


class Action(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    CANCEL = "cancel"
    TRIGGER = "trigger"
    CONFIRM = "confirm"
    REPORT_PROBLEM = "report-problem"
    RETRY = "retry"
    ROLLBACK = "rollback"
    RESTORE = "restore"


# How an action reads on the timeline once done, and on a button.
ACTION_DONE = {
    Action.APPROVE: "Approved",
    Action.REJECT: "Rejected",
    Action.CANCEL: "Cancelled",
    Action.TRIGGER: "Started",
    Action.CONFIRM: "Confirmed: it works",
    Action.REPORT_PROBLEM: "Problem reported",
    Action.RETRY: "Retried",
    Action.ROLLBACK: "Rollback started",
    Action.RESTORE: "Restoring the previous release",
}


@dataclass(frozen=True)
class Rule:
    """`roles` may fire `action` on a service in one of `sources`, which then moves to `target`."""

    action: Action
    roles: frozenset[Role]
    sources: frozenset[State]
    target: State
    reason_required: bool = False
    forbids_own: bool = False


def _rule(action, roles, sources, target, **flags) -> Rule:
    return Rule(action, frozenset(roles), frozenset(sources), target, **flags)


_USERS = {Role.REQUESTER, Role.CONTACT}
_TEAM = {Role.EC_TEAM}
# States from which undoing Step 1 (and Step 2, while blue still exists) is offered.
ROLLBACK_SOURCES = frozenset(
    {State.AWAITING_VERIFICATION, State.VERIFIED, State.STEP1_FAILED, State.STEP2_FAILED, State.STEP2_RUNNING}
)

RULES: tuple[Rule, ...] = (
    _rule(Action.APPROVE, _TEAM, {State.SUBMITTED}, State.APPROVED, forbids_own=True),
    _rule(Action.REJECT, _TEAM, {State.SUBMITTED}, State.REJECTED, reason_required=True),
    _rule(Action.TRIGGER, _TEAM, {State.APPROVED}, State.STEP1_RUNNING),
    _rule(Action.TRIGGER, _TEAM, {State.VERIFIED}, State.STEP2_RUNNING),
    _rule(Action.CONFIRM, _USERS, {State.AWAITING_VERIFICATION}, State.VERIFIED),
    _rule(
        Action.REPORT_PROBLEM, _USERS, {State.AWAITING_VERIFICATION}, State.ROLLING_BACK, reason_required=True
    ),
    _rule(Action.RETRY, _TEAM, {State.STEP1_FAILED}, State.STEP1_RUNNING),
    _rule(Action.RETRY, _TEAM, {State.STEP2_FAILED}, State.STEP2_RUNNING),
    _rule(Action.RETRY, _TEAM, {State.ROLLBACK_FAILED}, State.ROLLING_BACK),
    _rule(Action.ROLLBACK, _TEAM, ROLLBACK_SOURCES, State.ROLLING_BACK),
    # While the retention window keeps the old app, the EC team may restore it (`restorable`).
    _rule(Action.RESTORE, _TEAM, {State.COMPLETED}, State.ROLLING_BACK),
    _rule(Action.CANCEL, {Role.REQUESTER}, {State.SUBMITTED}, State.CANCELLED),
    _rule(Action.CANCEL, _TEAM, {State.SUBMITTED, State.APPROVED}, State.CANCELLED),
    # After Step 1 ran, cancelling means undoing it first; the rollback then ends in `cancelled`.
    _rule(
        Action.CANCEL,
        _TEAM,
        {State.AWAITING_VERIFICATION, State.VERIFIED, State.STEP1_FAILED},
        State.ROLLING_BACK,
    ),
)

# Actions that apply to a whole request (every service in a source state moves together); the rest
# apply to one service.
REQUEST_ACTIONS = frozenset({Action.APPROVE, Action.REJECT, Action.CANCEL, Action.CONFIRM})
SERVICE_ACTIONS = frozenset(
    {
        Action.TRIGGER,
        Action.CONFIRM,
        Action.REPORT_PROBLEM,
        Action.RETRY,
        Action.ROLLBACK,
        Action.RESTORE,
        Action.CANCEL,
    }
)

# What the workers may do on their own: (from, to) pairs outside any user's reach.
SYSTEM_TRANSITIONS = frozenset(
    {
        (State.STEP1_RUNNING, State.AWAITING_VERIFICATION),
        (State.STEP1_RUNNING, State.STEP2_RUNNING),  # back to back
        (State.STEP1_RUNNING, State.STEP1_FAILED),
        (State.STEP1_RUNNING, State.SUBMITTED),  # the plan changed since approval: approve again
        (State.STEP2_RUNNING, State.COMPLETED),
        (State.STEP2_RUNNING, State.STEP2_FAILED),
        (State.ROLLING_BACK, State.ROLLED_BACK),
        (State.ROLLING_BACK, State.CANCELLED),
        (State.ROLLING_BACK, State.ROLLBACK_FAILED),
        (State.APPROVED, State.STEP1_RUNNING),  # a scheduled trigger firing
        (State.VERIFIED, State.STEP2_RUNNING),  # "start Step 2 on confirmation"
        (State.AWAITING_VERIFICATION, State.ROLLING_BACK),  # the test window ended (TEST_WINDOW_ON_END)
    }
)
# Services that ended without the new release and may be filed again in one press, and by whom (the
# press only opens a prefilled new-request form; submitting it is the ordinary submission).
FILE_AGAIN_STATES = frozenset({State.ROLLED_BACK, State.CANCELLED})
FILE_AGAIN_ROLES = frozenset({Role.REQUESTER, Role.EC_TEAM})
# States a service reaches only once approved: approval again (after its plan changed) leaves them be.
PAST_APPROVAL = frozenset(State) - {State.SUBMITTED, State.REJECTED, State.CANCELLED}
# Who may ask for preflight again on a submitted service.
RECHECK_ROLES = frozenset({Role.REQUESTER, Role.EC_TEAM})
RUNNING_STATES = frozenset({State.STEP1_RUNNING, State.STEP2_RUNNING, State.ROLLING_BACK})
# Where a running phase goes when it cannot go on (locked for the EC team: retry or roll back).
FAILED_STATE = {
    State.STEP1_RUNNING: State.STEP1_FAILED,
    State.STEP2_RUNNING: State.STEP2_FAILED,
    State.ROLLING_BACK: State.ROLLBACK_FAILED,
}
# States where a service waits on people, and who must act for it to move on (metrics of waiting).
WAITING_ON = {
    State.SUBMITTED: Role.EC_TEAM,
    State.APPROVED: Role.EC_TEAM,
    State.VERIFIED: Role.EC_TEAM,
    State.STEP1_FAILED: Role.EC_TEAM,
    State.STEP2_FAILED: Role.EC_TEAM,
    State.ROLLBACK_FAILED: Role.EC_TEAM,
    State.AWAITING_VERIFICATION: Role.REQUESTER,
}

FAILED_STATES = frozenset(FAILED_STATE.values())

# Where a running phase stops for people when an automatic check fails (the work itself is done): a
# back-to-back Step 1 whose temporary URL does not answer with the new release waits for verification.
HOLD_STATE = {State.STEP1_RUNNING: State.AWAITING_VERIFICATION}

# The sub-steps each running state goes through, in order, with their words for progress displays.
# The engine (`upgrades.engine.runner`) binds each name to the code that carries it out. Entering a
# running state, a retry included, starts at the first; each is a no-op for work already done.
PHASES: dict[State, tuple[tuple[str, str], ...]] = {
    State.STEP1_RUNNING: (
        ("preflight", "checking the service"),
        ("create_green", "creating the new app"),
        ("create_package", "adding the release image"),
        ("stage", "building the droplet"),
        ("set_droplet", "setting the droplet"),
        ("scale", "scaling like the current app"),
        ("bind", "binding services"),
        ("create_temp_route", "creating the temporary route"),
        ("map_temp_route", "mapping the temporary route"),
        ("start_green", "starting the new app"),
        ("wait_running", "starting instances"),
        ("check_temporary_url", "checking the temporary URL"),
    ),
    State.STEP2_RUNNING: (
        ("map_original", "2.1 · mapping the original route to the new app"),
        ("unmap_blue", "2.2 · unmapping the old app"),
        ("delete_temp_route", "finalizing · deleting the temporary route"),
        ("stop_blue", "finalizing · stopping the old app"),
        ("delete_blue", "finalizing · setting the old app aside (or deleting it)"),
        ("rename_green", "finalizing · renaming the new app"),
    ),
    State.ROLLING_BACK: (
        ("rb_start_blue", "making sure the old app runs"),
        ("rb_map_blue", "mapping the old app to the original route"),
        ("rb_unmap_green", "unmapping the new app"),
        ("rb_delete_temp_route", "deleting the temporary route"),
        ("rb_delete_green", "deleting the new app"),
        ("rb_rename_blue", "giving the old app its name back"),
    ),
}
FIRST_STEP = {state: steps[0][0] for state, steps in PHASES.items()}
# Sub-steps whose completion the timeline records as a milestone, with its words.
MILESTONE_STEPS = {
    "map_original": "2.1 done: the original route now sends traffic to the new app as well.",
    "unmap_blue": "2.2 done: the old app no longer takes traffic on the original route.",
}


def step_names(state: State) -> list[str]:
    return [name for name, _ in PHASES[State(state)]]


def next_step(state: State, step: str) -> str | None:
    """The sub-step after `step` in `state`'s phase, or None when `step` ends the phase."""
    names = step_names(state)
    index = names.index(step)
    return names[index + 1] if index + 1 < len(names) else None


def describe(state: str, step: str) -> tuple[str, int, int]:
    """(words, position, count) of a sub-step within its phase, for progress displays."""
    phases = [PHASES[State(state)]] if state in PHASES else list(PHASES.values())
    for phase in phases:
        for index, (name, words) in enumerate(phase, start=1):
            if name == step:
                return words, index, len(phase)
    return step.replace("_", " "), 0, 0


class NotAllowed(Exception):
    """This user may not fire this action on this request at all (HTTP 403)."""


class InvalidTransition(Exception):
    """The action is allowed for this user, but not from the current state (HTTP 409)."""


def permitted(action: Action, roles: frozenset[Role], *, is_own: bool) -> bool:
    """Whether any rule lets one of `roles` fire `action`, whatever the state."""
    return any(
        rule.action == action and rule.roles & roles and not (rule.forbids_own and is_own) for rule in RULES
    )


def target_state(action: Action, state: State, roles: frozenset[Role], *, is_own: bool) -> State:
    """The state `action` leads to from `state`, or raise NotAllowed / InvalidTransition."""
    if not permitted(action, roles, is_own=is_own):
        raise NotAllowed(f"You may not {action.replace('-', ' ')} this request.")
    for rule in RULES:
        if rule.action == action and rule.roles & roles and state in rule.sources:
            return rule.target
    raise InvalidTransition(
        f"Cannot {action.replace('-', ' ')} a service that is {State(state).label.lower()}."
    )


def check_system(source: State, target: State) -> None:
    if (State(source), State(target)) not in SYSTEM_TRANSITIONS:
        raise InvalidTransition(f"The system cannot move a service from {source} to {target}.")


def reason_required(action: Action) -> bool:
    return any(rule.reason_required for rule in RULES if rule.action == action)


def allowed_actions(
    state: State,
    roles: frozenset[Role],
    *,
    is_own: bool,
    blue_gone: bool = False,
    checked: bool = True,
    waiting: bool = False,
    restorable: bool = False,
) -> list[Action]:
    """The actions these roles may fire from `state`, in table order, without duplicates.

    `blue_gone`: finalization deleted blue, so nothing can lead back. `checked`: every service of the
    request passed preflight, which approval needs. `waiting`: the service waits for another to be
    confirmed, so Step 1 may not start yet. `restorable`: the retention window still keeps the old app.
    """
    found: list[Action] = []
    for rule in RULES:
        if rule.action in found or not rule.roles & roles or state not in rule.sources:
            continue
        # Going back needs blue, which finalization deletes (the point of no return).
        if (rule.forbids_own and is_own) or (blue_gone and rule.target == State.ROLLING_BACK):
            continue
        if rule.action == Action.APPROVE and not checked:
            continue
        if rule.action == Action.RESTORE and not restorable:
            continue
        if waiting and rule.action == Action.TRIGGER and rule.target == State.STEP1_RUNNING:
            continue
        found.append(rule.action)
    return found


# How a request's status is derived from its services: the first state in this order that any of its
# services is in. Failures and running work come first because they are what a reader must see.
_STATUS_PRIORITY = (
    State.ROLLBACK_FAILED,
    State.STEP2_FAILED,
    State.STEP1_FAILED,
    State.ROLLING_BACK,
    State.STEP2_RUNNING,
    State.STEP1_RUNNING,
    State.AWAITING_VERIFICATION,
    State.SUBMITTED,
    State.APPROVED,
    State.VERIFIED,
    State.COMPLETED,
    State.ROLLED_BACK,
    State.REJECTED,
    State.CANCELLED,
)


def request_status(states: list[State] | list[str]) -> State:
    """A request's status: the most pressing state among its services' states."""
    present = {State(state) for state in states}
    for state in _STATUS_PRIORITY:
        if state in present:
            return state
    return State.SUBMITTED
