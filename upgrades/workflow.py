"""The state machine of a service upgrade, as a plain table. No database here.

`services.py` asks this module whether an action may fire (who, from which state) and which state it
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


class Role(StrEnum):
    REQUESTER = "requester"
    CONTACT = "contact"
    EC_TEAM = "ec_team"


class Action(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    CANCEL = "cancel"


# How an action reads on the timeline once done.
ACTION_DONE = {Action.APPROVE: "Approved", Action.REJECT: "Rejected", Action.CANCEL: "Cancelled"}


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


RULES: tuple[Rule, ...] = (
    _rule(Action.APPROVE, {Role.EC_TEAM}, {State.SUBMITTED}, State.APPROVED, forbids_own=True),
    _rule(Action.REJECT, {Role.EC_TEAM}, {State.SUBMITTED}, State.REJECTED, reason_required=True),
    _rule(Action.CANCEL, {Role.REQUESTER}, {State.SUBMITTED}, State.CANCELLED),
    _rule(Action.CANCEL, {Role.EC_TEAM}, {State.SUBMITTED, State.APPROVED}, State.CANCELLED),
)

# Actions that apply to a whole request (every service in a source state moves together).
REQUEST_ACTIONS = frozenset({Action.APPROVE, Action.REJECT, Action.CANCEL})


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
        raise NotAllowed(f"You may not {action} this request.")
    for rule in RULES:
        if rule.action == action and rule.roles & roles and state in rule.sources:
            return rule.target
    raise InvalidTransition(f"Cannot {action} a service that is {State(state).label.lower()}.")


def reason_required(action: Action) -> bool:
    return any(rule.reason_required for rule in RULES if rule.action == action)


def allowed_actions(state: State, roles: frozenset[Role], *, is_own: bool) -> list[Action]:
    """The actions these roles may fire from `state`, in table order, without duplicates."""
    found: list[Action] = []
    for rule in RULES:
        if rule.action in found or not rule.roles & roles or state not in rule.sources:
            continue
        if rule.forbids_own and is_own:
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
