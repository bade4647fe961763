"""The only writer of workflow state.

Each state change is compare-and-set (`transition`): check it in `workflow` with its actor (a person's
roles on the request, or the system), `UPDATE … WHERE id=… AND state=<expected>`, insist that exactly
one row changed, and write the event row in the same transaction, together with the outbox rows of the
notifications it causes. Tasks are enqueued on commit (`dispatch`).
"""

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from upgrades import dispatch, intake, metrics, windows, workflow
from upgrades.models import (
    Contact,
    Event,
    Preflight,
    Release,
    ServiceUpgrade,
    UpgradeRequest,
    version_bump,
)
from upgrades.notifications import outbox
from upgrades.permissions import roles_for
from upgrades.workflow import FIRST_STEP, Action, Plan, Role, State


class StaleState(Exception):
    """Someone else changed the service between our read and our write; nothing was written."""


class PlanChangedSinceSeen(StaleState):
    """The plan stored on a service is not the one the approver was shown; nothing was approved."""


class InputRefused(ValueError):
    """What a person entered cannot be taken as it is; `field` names the input it came in."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


class ReasonRequired(InputRefused):
    """The action needs a reason and none was given (or one past MAX_REASON_LENGTH)."""

    def __init__(self, message: str):
        super().__init__("reason", message)


@dataclass
class IntakeRejected(Exception):
    """The submission cannot be accepted; `problems` say why, per field."""

    problems: dict[str, list[intake.Problem]]


@dataclass(frozen=True)
class Actor:
    """Who acts: a portal user, a contact through a signed link (email only), or the system."""

    user: object | None
    label: str
    is_contact: bool = False

    @classmethod
    def of(cls, user) -> "Actor":
        return cls(user, user.get_username())

    @classmethod
    def contact(cls, email: str) -> "Actor":
        return cls(None, email, is_contact=True)

    def roles(self, request: UpgradeRequest) -> frozenset[Role]:
        if self.user is not None:
            return roles_for(self.user, request)
        return frozenset({Role.CONTACT}) if self.is_contact else frozenset()

    def owns(self, request: UpgradeRequest) -> bool:
        return self.user is not None and request.requester_id == self.user.pk


SYSTEM = Actor(None, "system")


@dataclass
class RequestOutcome:
    """What a request-wide action did to each service: moved, or left as it was and why."""

    request: UpgradeRequest
    moved: list[tuple[ServiceUpgrade, State]] = field(default_factory=list)
    left: list[tuple[ServiceUpgrade, str]] = field(default_factory=list)


def submit_request(
    *,
    requester,
    services: list[intake.ParsedService],
    plan: Plan,
    release: Release,
    contacts: list[str],
    notes: str,
) -> UpgradeRequest:
    """File a request with one service upgrade per service, each `submitted`, and queue preflight.

    Each service keeps its own plan (`plan`, the request's default, where it chose none) and the
    service it waits for (`after`: an index into `services`, checked by `intake.check_order`).
    The partial unique index on active zone IDs decides races: of two submissions for one service,
    exactly one commits; the other gets IntakeRejected naming the active upgrade.
    """
    try:
        with transaction.atomic():
            request = UpgradeRequest.objects.create(
                requester=requester, plan=plan, release=release, notes=notes
            )
            Contact.objects.bulk_create(
                [Contact(request=request, **intake.contact_columns(contact)) for contact in contacts]
            )
            created = ServiceUpgrade.objects.bulk_create(
                [
                    ServiceUpgrade(
                        request=request,
                        url=service.url,
                        zone_id=service.zone_id,
                        domain=service.domain,
                        foundation=service.foundation,
                        plan=service.plan or plan,
                    )
                    for service in services
                ]
            )
            for row, service in zip(created, services, strict=True):
                if service.after is not None:
                    row.after = created[service.after]
                    ServiceUpgrade.objects.filter(pk=row.pk).update(after=row.after)
            Event.objects.create(
                request=request,
                kind=Event.Kind.SUBMITTED,
                actor=requester,
                actor_label=requester.get_username(),
                to_state=State.SUBMITTED,
                message=_submitted_message(created, release),
            )
            outbox.on_submitted(request)
            for service in created:
                _start_preflight(service.pk)
    except IntegrityError:
        lines = {service.zone_id: number for number, service in enumerate(services, start=1)}
        conflicts = intake.active_conflicts(services, lines)
        if not conflicts:
            raise
        raise IntakeRejected({"service_urls": conflicts}) from None
    return request


def _submitted_message(services: list[ServiceUpgrade], release: Release) -> str:
    """The timeline's words for a submission: release, then each service's plan and what it waits for."""
    count = f"{len(services)} service{'s' if len(services) != 1 else ''}"
    plans = []
    for service in services:
        waits = f", starting after {service.after.display_name} is confirmed" if service.after else ""
        plans.append(f"{service.display_name}: {Plan(service.plan).label.lower()}{waits}.")
    return f"{count}, release {release.name}. " + " ".join(plans)


def transition(
    service: ServiceUpgrade,
    *,
    target: State,
    actor: Actor,
    action: Action | None = None,
    message: str = "",
    updates: dict | None = None,
    enqueue: bool = True,
) -> Event:
    """The one state change: CAS from `service.state` to `target`, event and notifications, atomically.

    The move is checked against the workflow table with its actor: the system's moves against
    SYSTEM_TRANSITIONS, a person's `action` against the rules for their roles on the request (raises
    NotAllowed or InvalidTransition). Raises StaleState when the row is no longer in the state the
    caller read. Entering a running state sets its first sub-step and enqueues it on commit (unless
    not `enqueue`: the engine worker whose lease `updates` set runs it at once).
    """
    source = State(service.state)
    if actor is SYSTEM:
        workflow.check_system(source, target)
    else:
        _check_person(service, source, target, actor, action)
    # QuerySet.update() skips auto_now, and a state change is exactly what "last activity" means.
    now = timezone.now()
    clock = windows.clock_updates(service, source, target, now)
    fields = {"state": target, "updated_at": now, **clock, **(updates or {}), **version_bump()}
    if target in FIRST_STEP and "step" not in fields:
        fields.update(step=FIRST_STEP[target], attempt=0, step_started_at=timezone.now(), progress="")
    if enqueue and target in workflow.RUNNING_STATES:
        fields.update(queued())
    with transaction.atomic():
        changed = ServiceUpgrade.objects.filter(pk=service.pk, state=source).update(**fields)
        if changed != 1:
            raise StaleState(
                f"Service {service.display_name} changed while you were looking; reload and try again."
            )
        for name, value in fields.items():
            if name != "version":
                setattr(service, name, value)
        event = Event.objects.create(
            request_id=service.request_id,
            service=service,
            kind=Event.Kind.TRANSITION,
            actor=actor.user,
            actor_label=actor.label,
            from_state=source,
            to_state=target,
            message=message,
        )
        outbox.on_transition(service=service, source=source, target=target, event=event)
        if source in workflow.WAITING_ON:
            _note_wait(service, source, event.created_at)
        if target in workflow.RUNNING_STATES:
            if enqueue:
                send_step(service)
        elif service.campaign_id and source in workflow.RUNNING_STATES:
            # A campaign's service left its running step: a slot is free, or its wave or budget may
            # have moved; the driver looks now instead of at its next beat (which stays the safety net).
            dispatch.on_commit(dispatch.DRIVE_CAMPAIGN, service.campaign_id)
        if target in workflow.FAILED_STATES:
            dispatch.on_commit(dispatch.OBSERVE, service.pk)
        if target in workflow.CONFIRMED_STATES and source not in workflow.CONFIRMED_STATES:
            _note_followers(service, actor)
    return event


def _note_wait(service: ServiceUpgrade, source: State, left_at: datetime) -> None:
    """Count how long the service waited on people in `source` (since it entered it, or was filed),
    once the change commits."""
    entered = (
        service.events.filter(kind=Event.Kind.TRANSITION, to_state=source)
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    ) or service.request.created_at
    seconds = (left_at - entered).total_seconds()
    party = workflow.WAITING_ON[source]
    transaction.on_commit(lambda: metrics.waited(source.value, party.value, seconds))


def _note_followers(service: ServiceUpgrade, actor: Actor) -> None:
    """Say on the timeline that the services waiting for `service`'s confirmation may now start."""
    for follower in service.followers.filter(state__in=[State.SUBMITTED, State.APPROVED]):
        # A note on the request, not the follower: its own events are its state changes.
        Event.objects.create(
            request_id=service.request_id,
            kind=Event.Kind.NOTE,
            actor=actor.user,
            actor_label=actor.label,
            message=f"{follower.display_name} may start Step 1 now: {service.display_name} is confirmed.",
        )


def _check_not_waiting(service: ServiceUpgrade) -> None:
    """Step 1 of a service that waits for another's confirmation starts only once that one is
    confirmed (raises InvalidTransition with the reason otherwise)."""
    if service.after_id is None:
        return
    why = service.waits_for([ServiceUpgrade.objects.get(pk=service.after_id)])
    if why:
        raise workflow.InvalidTransition(why)


def _check_person(service: ServiceUpgrade, source: State, target: State, actor: Actor, action) -> None:
    """A person's move must be the one their action leads to from `source` for their roles."""
    if action is None:
        raise workflow.InvalidTransition(
            f"A move to {target} by {actor.label} needs the action that causes it."
        )
    request = service.request
    if workflow.target_state(action, source, actor.roles(request), is_own=actor.owns(request)) != target:
        raise workflow.InvalidTransition(
            f"{Action(action).capitalize()} does not move a service from {source.label.lower()} "
            f"to {State(target).label.lower()}."
        )


def record_milestone(service: ServiceUpgrade, step: str) -> None:
    """Put the completion of `step` on the timeline if it is a milestone (`workflow.MILESTONE_STEPS`).

    Once per service: a retried Step 2 runs 2.1 and 2.2 again (each a no-op on CF by then), and the
    timeline must not say twice that traffic moved. Called by the engine in the transaction that
    moves on from `step`, whose lease check lets only one worker get here per completion."""
    words = workflow.MILESTONE_STEPS.get(step)
    if words is None:
        return
    milestones = Event.objects.filter(service=service, kind=Event.Kind.MILESTONE, message=words)
    if not milestones.exists():
        _system_event(service, Event.Kind.MILESTONE, words)


def note_progress(service: ServiceUpgrade, message: str) -> None:
    """Put what the engine found on its way on the timeline (e.g. how long 2.2 waited for the router).
    The caller makes it once (a conditional UPDATE of its own decides who writes it)."""
    _system_event(service, Event.Kind.NOTE, message)


def _system_event(service: ServiceUpgrade, kind: str, message: str) -> None:
    Event.objects.create(
        request_id=service.request_id, service=service, kind=kind, actor_label=SYSTEM.label, message=message
    )


def enqueue_step(service: ServiceUpgrade, countdown: float = 0) -> None:
    """Queue the service's current sub-step once the surrounding transaction commits. If the broker
    cannot take it, `enqueued_at` lets the reconciler find the service silent and send it again."""
    ServiceUpgrade.objects.filter(pk=service.pk).update(**queued())
    send_step(service, countdown)


def queued() -> dict:
    """The fields that say a service's current sub-step is being sent to the broker: a writer that
    updates the service anyway sets them in its own UPDATE, then calls `send_step`."""
    return {"enqueued_at": timezone.now()}


def send_step(service: ServiceUpgrade, countdown: float = 0) -> None:
    """Send the service's current sub-step once the surrounding transaction commits; the caller's
    UPDATE in that transaction set `queued()`."""
    dispatch.on_commit(dispatch.ADVANCE, service.pk, service.step, countdown=countdown)


def enqueue_step_now(service: ServiceUpgrade) -> None:
    """Enqueue the current sub-step outside any transaction (the reconciler's path)."""
    with transaction.atomic():
        enqueue_step(service)


# --- Actions by people ---------------------------------------------------------------------------


def apply_request_action(
    *,
    request: UpgradeRequest,
    action: Action,
    actor,
    reason: str = "",
    trigger_at: datetime | None = None,
    start_step2_on_confirmation: bool | None = None,
    plan_fingerprints: dict[int, str] | None = None,
) -> RequestOutcome:
    """Fire a request-wide action (approve, reject, cancel, confirm) on every service it applies to,
    and say which services it moved and which it left as they were, and why.

    Approval needs every service to have passed preflight and may carry a time for Step 1 and the
    "start Step 2 on confirmation" choice, and `plan_fingerprints` (service id → the fingerprint of
    the plan the approver was shown): a service approved with another plan stored, or not shown at
    all, raises PlanChangedSinceSeen. Without them, the stored plans are approved (older clients).
    Raises workflow.NotAllowed (the user may never do this),
    ReasonRequired, workflow.InvalidTransition (not from the current states) or StaleState.
    """
    who = Actor.of(actor)
    roles, is_own = who.roles(request), who.owns(request)
    reason = _checked_reason(action, roles, is_own=is_own, reason=reason)
    _checked_schedule(trigger_at)
    with transaction.atomic():
        services = list(request.services.select_for_update().order_by("id"))
        outcome = _moves(RequestOutcome(request), action, services, roles, is_own=is_own)
        if action == Action.APPROVE:
            _check_preflight(services)
            _check_plans_seen([service for service, _ in outcome.moved], plan_fingerprints)
        for service, target in outcome.moved:
            updates = _updates_for(action, service, trigger_at, start_step2_on_confirmation)
            _fire(service, action, target, who, reason, updates)
        if outcome.left:
            _note_left(request, who, action, outcome.left)
    request.refresh_from_db()
    return outcome


def apply_service_action(
    *, service: ServiceUpgrade, action: Action, actor=None, contact_email: str = "", reason: str = ""
) -> ServiceUpgrade:
    """Fire an action on one service, by a user or by a contact through a signed link.

    Same exceptions as `apply_request_action`; a contact acts with the contact role only.
    """
    request = service.request
    who = Actor.of(actor) if actor is not None else Actor.contact(contact_email)
    roles, is_own = who.roles(request), who.owns(request)
    reason = _checked_reason(action, roles, is_own=is_own, reason=reason)
    if action not in workflow.SERVICE_ACTIONS:
        raise workflow.InvalidTransition(
            f"{action.capitalize()} applies to the whole request, not one service."
        )
    with transaction.atomic():
        locked = ServiceUpgrade.objects.select_for_update().get(pk=service.pk)
        target = workflow.target_state(action, State(locked.state), roles, is_own=is_own)
        if target == State.STEP1_RUNNING:
            _check_not_waiting(locked)
        _fire(locked, action, target, who, reason, _updates_for(action, locked, None, None))
    service.refresh_from_db()
    return service


STEP_STATES = {1: State.STEP1_RUNNING, 2: State.STEP2_RUNNING}


def trigger_all(*, request: UpgradeRequest, step: int, actor) -> RequestOutcome:
    """Start Step `step` (1 or 2) of every service of the request whose own Start Step `step` is
    allowed now, and say which were left as they were and why.

    Raises workflow.NotAllowed (not the EC team), InputRefused (no such step) or
    workflow.InvalidTransition when no service can start that step now.
    """
    if step not in STEP_STATES:
        raise InputRefused("step", "The step to start is 1 or 2.")
    who = Actor.of(actor)
    roles, is_own = who.roles(request), who.owns(request)
    _checked_reason(Action.TRIGGER, roles, is_own=is_own, reason="")
    outcome = RequestOutcome(request)
    with transaction.atomic():
        services = list(request.services.select_for_update().order_by("id"))
        for service in services:
            why = _why_not_started(service, services, step, roles, is_own=is_own)
            if not why:
                outcome.moved.append((service, STEP_STATES[step]))
            elif not State(service.state).is_terminal:
                outcome.left.append((service, why))
        if not outcome.moved:
            reasons = "; ".join(f"{service.display_name} — {why}" for service, why in outcome.left)
            raise workflow.InvalidTransition(f"No service can start Step {step} now. {reasons}".strip())
        for service, target in outcome.moved:
            _fire(service, Action.TRIGGER, target, who, "", _updates_for(Action.TRIGGER, service, None, None))
        if outcome.left:
            _note_left(request, who, Action.TRIGGER, outcome.left)
    request.refresh_from_db()
    return outcome


def _why_not_started(service: ServiceUpgrade, services, step: int, roles, *, is_own: bool) -> str:
    """Why Start Step `step` does not apply to `service` now, or "" when it does."""
    state = State(service.state)
    try:
        target = workflow.target_state(Action.TRIGGER, state, roles, is_own=is_own)
    except workflow.InvalidTransition:
        target = None
    if target != STEP_STATES[step]:
        return f"{state.label}: Start Step {step} does not apply."
    return service.waits_for(services) if step == 1 else ""


def _checked_reason(action: Action, roles, *, is_own: bool, reason: str) -> str:
    if not workflow.permitted(action, roles, is_own=is_own):
        raise workflow.NotAllowed(f"You may not {action.replace('-', ' ')} this request.")
    reason = _written("reason", reason.strip())
    if workflow.reason_required(action) and not reason:
        raise ReasonRequired(f"A reason is required to {action.replace('-', ' ')}.")
    if len(reason) > settings.MAX_REASON_LENGTH:
        raise ReasonRequired(
            f"A reason may be at most {settings.MAX_REASON_LENGTH:,} characters; this one is {len(reason):,}."
        )
    return reason


_UNPRINTABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _written(field: str, text: str) -> str:
    """Free text as people write it: line breaks and tabs, never NUL or other control characters
    (which no page could show, and PostgreSQL refuses)."""
    if _UNPRINTABLE.search(text):
        raise InputRefused(field, "Only printable text, please: control characters are not allowed.")
    return text


def _checked_schedule(trigger_at: datetime | None) -> None:
    """A scheduled Step 1 lies ahead, and not further than MAX_SCHEDULE_DAYS."""
    if trigger_at is None:
        return
    now = timezone.now()
    if trigger_at < now - timedelta(minutes=5):
        raise InputRefused("trigger_at", "The start time has passed; choose a time ahead, or leave it empty.")
    if trigger_at > now + timedelta(days=settings.MAX_SCHEDULE_DAYS):
        raise InputRefused(
            "trigger_at", f"A start may be scheduled at most {settings.MAX_SCHEDULE_DAYS} days ahead."
        )


def _moves(outcome: RequestOutcome, action: Action, services, roles, *, is_own: bool) -> RequestOutcome:
    """Which services the action moves (and where) and which it leaves; approve needs all of them,
    except those approved before (a service sent back because its plan changed is approved again
    alone, while the others go on)."""
    refused, blocking = None, None
    for service in services:
        try:
            target = workflow.target_state(action, State(service.state), roles, is_own=is_own)
        except workflow.InvalidTransition as error:
            refused = error
            if service.state not in workflow.PAST_APPROVAL:
                blocking = error
            if not State(service.state).is_terminal:  # an ended service is no news
                outcome.left.append((service, _why_left(action, State(service.state), roles)))
        else:
            outcome.moved.append((service, target))
    if action == Action.APPROVE and (blocking or not outcome.moved):
        raise blocking or refused
    if refused and not outcome.moved:
        raise refused
    return outcome


# Why cancelling leaves a service as it is, and what can be done instead, per state.
_NOT_CANCELLED = {
    State.STEP1_RUNNING: "Step 1 is running; cancel it once Step 1 has finished (it is then rolled back).",
    State.STEP2_RUNNING: "Step 2 is running and can no longer be cancelled; the EC team can roll it back.",
    State.STEP2_FAILED: "Step 2 failed; the EC team can retry it or roll it back.",
    State.ROLLING_BACK: "it is already being rolled back.",
    State.ROLLBACK_FAILED: "its rollback failed; the EC team can retry it.",
}


def _why_left(action: Action, state: State, roles) -> str:
    if action == Action.CANCEL and Role.EC_TEAM not in roles:
        return f"{state.label}: only the EC team can cancel it now."
    if action == Action.CANCEL and state in _NOT_CANCELLED:
        return f"{state.label}: {_NOT_CANCELLED[state]}"
    return f"{state.label}: {Action(action).replace('-', ' ')} does not apply."


def _note_left(request: UpgradeRequest, actor: Actor, action: Action, left) -> None:
    """Put the services an action left as they were on the timeline, so nobody reads it as done."""
    lines = "; ".join(f"{service.display_name} — {why}" for service, why in left)
    Event.objects.create(
        request=request,
        kind=Event.Kind.NOTE,
        actor=actor.user,
        actor_label=actor.label,
        message=f"{workflow.ACTION_DONE[action]} only in part. Left as they were: {lines}",
    )


def _check_preflight(services: list[ServiceUpgrade]) -> None:
    waiting = [s for s in services if s.preflight != Preflight.PASSED]
    if waiting:
        names = ", ".join(f"{s.display_name} ({s.get_preflight_display().lower()})" for s in waiting)
        raise workflow.InvalidTransition(f"Approval needs every service to pass preflight first: {names}.")


def _check_plans_seen(services: list[ServiceUpgrade], seen: dict[int, str] | None) -> None:
    if seen is None:
        return
    changed = [s for s in services if seen.get(s.pk) != s.plan_fingerprint]
    if changed:
        names = ", ".join(s.display_name for s in changed)
        raise PlanChangedSinceSeen(
            f"The plan changed since you looked ({names}); review it again before approving."
        )


def _updates_for(action: Action, service: ServiceUpgrade, trigger_at, start_step2) -> dict:
    """Field changes that go with an action, beyond the state."""
    updates: dict = {}
    if action == Action.APPROVE:
        # What the approver saw: the plan stored on the service under the lock this approval holds.
        updates["approved_fingerprint"] = service.plan_fingerprint
        updates["trigger_at"] = trigger_at
        if start_step2 is not None:
            updates["start_step2_on_confirmation"] = start_step2
    elif action == Action.RETRY:
        # The phase runs again from its first sub-step (transition() sets it), with a fresh attempt
        # budget. Every sub-step observes before it acts, so work already done is adopted and what
        # CF lost since (a pruned build or job, an expired package, an app deleted by hand) is made
        # again, where resuming at the failed sub-step trusted GUIDs recorded before the failure.
        updates.update(error="")
    elif action in (Action.ROLLBACK, Action.REPORT_PROBLEM, Action.CANCEL, Action.RESTORE):
        updates.update(
            error="", rollback_outcome=State.CANCELLED if action == Action.CANCEL else State.ROLLED_BACK
        )
    elif action == Action.TRIGGER:
        updates.update(error="", trigger_at=None)
    return updates


def _fire(
    service: ServiceUpgrade, action: Action, target: State, actor: Actor, reason: str, updates: dict
) -> None:
    if target == State.ROLLING_BACK and service.blue_deleted:
        raise workflow.InvalidTransition(
            "Blue is already deleted, so this upgrade can no longer be rolled back. "
            "To go back, file a new upgrade to the previous release."
        )
    if action == Action.RESTORE:
        _check_restorable(service)
    # The timeline already says who moved the service where; the message carries only their reason.
    transition(service, target=target, actor=actor, action=action, message=reason, updates=updates)
    if action == Action.CONFIRM and service.start_step2_on_confirmation:
        transition(
            service,
            target=State.STEP2_RUNNING,
            actor=SYSTEM,
            message="Step 2 starts on confirmation, as the EC team chose.",
        )


# A later upgrade of the same service in one of these states left the service as this one did.
_LEFT_AS_IT_WAS = [State.REJECTED, State.CANCELLED, State.ROLLED_BACK]


def _check_restorable(service: ServiceUpgrade) -> None:
    """Restoring needs the old app still kept, and the app this upgrade left serving still serving:
    no later upgrade of the service under way or completed (the one-active-upgrade index would refuse
    the move to rolling back anyway)."""
    if not service.restorable:
        raise workflow.InvalidTransition(
            "The previous release is no longer kept (its retention window ended), so it cannot be restored."
        )
    later = ServiceUpgrade.objects.filter(zone_id=service.zone_id, pk__gt=service.pk)
    if later.exclude(state__in=_LEFT_AS_IT_WAS).exists():
        raise workflow.InvalidTransition(
            "A later upgrade of this service is under way or completed; "
            "the previous release of this one can no longer be restored."
        )


def record_observation(*, service_id: int, facts: dict) -> bool:
    """Store what CF showed after a failure (not a state change); False once the service moved on."""
    failed = ServiceUpgrade.objects.filter(pk=service_id, state__in=sorted(workflow.FAILED_STATES))
    return failed.update(cf_observed=facts, **version_bump()) == 1


def add_comment(*, request: UpgradeRequest, actor, text: str) -> Event:
    """A comment on the timeline; anyone who can see the request may comment, up to
    MAX_COMMENTS_PER_REQUEST comments of at most MAX_COMMENT_LENGTH characters."""
    text = _written("text", text.strip())
    if not text:
        raise InputRefused("text", "Write something before adding a comment.")
    if len(text) > settings.MAX_COMMENT_LENGTH:
        raise InputRefused("text", f"A comment may be at most {settings.MAX_COMMENT_LENGTH:,} characters.")
    with transaction.atomic():
        # Counted under the request's row lock, so two comments at once cannot both pass the limit.
        UpgradeRequest.objects.select_for_update().filter(pk=request.pk).first()
        if request.events.filter(kind=Event.Kind.COMMENT).count() >= settings.MAX_COMMENTS_PER_REQUEST:
            raise InputRefused(
                "text",
                f"{request.reference} has {settings.MAX_COMMENTS_PER_REQUEST} comments, as many as it may.",
            )
        return Event.objects.create(
            request=request,
            kind=Event.Kind.COMMENT,
            actor=actor,
            actor_label=actor.get_username(),
            message=text,
        )


# --- Preflight and schedules ------------------------------------------------------------------------


def _start_preflight(service_id: int) -> None:
    """Start a new chain of checks (in the caller's transaction): a new run number makes any older
    chain's messages and results void, so one chain runs per service at a time."""
    ServiceUpgrade.objects.filter(pk=service_id).update(
        preflight_run=F("preflight_run") + 1,
        preflight_requested_at=timezone.now(),
        preflight_attempts=0,
        **version_bump(),
    )
    run = ServiceUpgrade.objects.values_list("preflight_run", flat=True).get(pk=service_id)
    dispatch.on_commit(dispatch.PREFLIGHT, service_id, run)


def record_preflight(
    *,
    service_id: int,
    run: int | None = None,
    attempt: int | None = None,
    outcome: Preflight,
    message: str,
    facts: dict | None = None,
) -> bool:
    """Store a check's result (not a state change); False when it was void.

    A check applies its result only if its run is still current, the service still `submitted`, and
    no other check of the run recorded since this one began (`attempt`: the run's count of recorded
    checks it read at its start), so a duplicate message never forks the chain or overwrites a newer
    result. A transient failure is retried in the same run until ENGINE_MAX_ATTEMPTS checks, then
    counts as failed. The EC team hears of a failure once per episode (until a check passes).
    `run` and `attempt` None apply the result whatever the chain (tests set a verdict so).
    """
    current = ServiceUpgrade.objects.filter(pk=service_id, state=State.SUBMITTED)
    if run is not None:
        current = current.filter(preflight_run=run)
    if attempt is not None:
        current = current.filter(preflight_attempts=attempt)
    with transaction.atomic():
        service = current.select_for_update().first()
        if service is None:
            return False
        attempts = service.preflight_attempts + 1
        if outcome == Preflight.RETRYING and attempts >= settings.ENGINE_MAX_ATTEMPTS:
            outcome = Preflight.FAILED
            message = f"{message} Gave up after {attempts} tries; check again later."
        alert = outcome == Preflight.FAILED and not service.preflight_alerted
        fields = {
            "preflight": outcome,
            "preflight_message": message,
            "preflight_checked_at": timezone.now(),
            "preflight_attempts": attempts,
            **(facts or {}),
            **version_bump(),
        }
        if outcome == Preflight.PASSED or alert:
            fields["preflight_alerted"] = alert
        ServiceUpgrade.objects.filter(pk=service_id).update(**fields)
        service.refresh_from_db()
        if alert:
            outbox.on_preflight_failed(service)
        if outcome == Preflight.RETRYING:
            dispatch.on_commit(dispatch.PREFLIGHT, service_id, service.preflight_run, countdown=15)
    return True


def recheck_preflight(*, service: ServiceUpgrade, actor) -> None:
    """Run preflight again as a new run (e.g. after the requester fixed something on CF)."""
    if not roles_for(actor, service.request) & workflow.RECHECK_ROLES:
        raise workflow.NotAllowed("Only the requester and the EC team can run preflight again.")
    with transaction.atomic():
        pending = ServiceUpgrade.objects.filter(pk=service.pk, state=State.SUBMITTED)
        if pending.update(preflight=Preflight.PENDING, preflight_message="") == 1:
            _start_preflight(service.pk)


def quiet_preflights(now: datetime | None = None):
    """Submitted services whose check should have reported by now (its message may be lost)."""
    quiet_since = (now or timezone.now()) - timedelta(seconds=settings.ENGINE_SILENCE_SECONDS)
    return ServiceUpgrade.objects.filter(
        state=State.SUBMITTED, preflight__in=[Preflight.PENDING, Preflight.RETRYING]
    ).filter(
        Q(preflight_checked_at__lt=quiet_since) | Q(preflight_checked_at__isnull=True),
        Q(preflight_requested_at__lt=quiet_since) | Q(preflight_requested_at__isnull=True),
    )


def nudge_preflight(service: ServiceUpgrade) -> None:
    """The reconciler's path: send the current run's check again. The run stays the same, so a check
    merely slow in a long queue is not voided; a duplicate finds its result already recorded."""
    with transaction.atomic():
        ServiceUpgrade.objects.filter(pk=service.pk).update(preflight_requested_at=timezone.now())
        dispatch.on_commit(dispatch.PREFLIGHT, service.pk, service.preflight_run)


def fire_due_schedules(now: datetime | None = None) -> int:
    """Start Step 1 for approved services whose scheduled time has come; returns how many."""
    now = now or timezone.now()
    started = 0
    for service in ServiceUpgrade.objects.filter(state=State.APPROVED, trigger_at__lte=now):
        try:
            # A service waiting for another's confirmation starts once both its time came and that
            # one is confirmed: until then the reconciler finds it due again on every round.
            _check_not_waiting(service)
            transition(
                service,
                target=State.STEP1_RUNNING,
                actor=SYSTEM,
                message="Scheduled start of Step 1.",
                updates={"trigger_at": None},
            )
            started += 1
        except (StaleState, workflow.InvalidTransition):
            continue  # someone triggered or cancelled it meanwhile, or it still waits
    return started
