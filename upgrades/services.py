"""The only writer of workflow state.

Each state change is compare-and-set (`transition`): check it in `workflow`, `UPDATE … WHERE id=… AND
state=<expected>`, insist that exactly one row changed, and write the event row in the same transaction,
together with the outbox rows of the notifications it causes. Tasks are enqueued on commit.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from upgrades import intake, notifications, page_cache, workflow
from upgrades.models import Contact, Event, Preflight, Release, ServiceUpgrade, UpgradeRequest
from upgrades.permissions import roles_for
from upgrades.workflow import Action, Plan, Role, State

# The first sub-step of each running phase (the engine's tables in `upgrades.steps` go on from there).
FIRST_STEP = {
    State.STEP1_RUNNING: "preflight",
    State.STEP2_RUNNING: "map_original",
    State.ROLLING_BACK: "rb_start_blue",
}


class StaleState(Exception):
    """Someone else changed the service between our read and our write; nothing was written."""


class ReasonRequired(ValueError):
    """The action needs a reason and none was given."""


@dataclass
class IntakeRejected(Exception):
    """The submission cannot be accepted; `problems` say why, per field."""

    problems: dict[str, list[intake.Problem]]


@dataclass(frozen=True)
class Actor:
    """Who acts: a portal user, a contact through a signed link (email only), or the system."""

    user: object | None
    label: str

    @classmethod
    def of(cls, user) -> "Actor":
        return cls(user, user.get_username())

    @classmethod
    def contact(cls, email: str) -> "Actor":
        return cls(None, email)


SYSTEM = Actor(None, "system")


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

    The partial unique index on active zone IDs decides races: of two submissions for one service,
    exactly one commits; the other gets IntakeRejected naming the active upgrade.
    """
    try:
        with transaction.atomic():
            request = UpgradeRequest.objects.create(
                requester=requester, plan=plan, release=release, notes=notes
            )
            Contact.objects.bulk_create([Contact(request=request, email=email) for email in contacts])
            created = ServiceUpgrade.objects.bulk_create(
                [
                    ServiceUpgrade(
                        request=request,
                        url=service.url,
                        zone_id=service.zone_id,
                        domain=service.domain,
                        foundation=service.foundation,
                    )
                    for service in services
                ]
            )
            Event.objects.create(
                request=request,
                kind=Event.Kind.SUBMITTED,
                actor=requester,
                actor_label=requester.get_username(),
                to_state=State.SUBMITTED,
                message=f"{len(services)} service(s), plan “{Plan(plan).label}”, release {release.name}.",
            )
            notifications.on_submitted(request)
            for service in created:
                _enqueue_preflight(service.pk)
    except IntegrityError:
        lines = {service.zone_id: number for number, service in enumerate(services, start=1)}
        conflicts = intake.active_conflicts(services, lines)
        if not conflicts:
            raise
        raise IntakeRejected({"service_urls": conflicts}) from None
    return request


def transition(
    service: ServiceUpgrade, *, target: State, actor: Actor, message: str = "", updates: dict | None = None
) -> Event:
    """The one state change: CAS from `service.state` to `target`, event and notifications, atomically.

    Raises StaleState when the row is no longer in the state the caller read. Entering a running
    state sets its first sub-step and enqueues it on commit.
    """
    source = State(service.state)
    if actor is SYSTEM:
        workflow.check_system(source, target)
    # QuerySet.update() skips auto_now, and a state change is exactly what "last activity" means.
    fields = {"state": target, "updated_at": timezone.now(), **(updates or {})}
    if target in FIRST_STEP and "step" not in fields:
        fields.update(step=FIRST_STEP[target], attempt=0, step_started_at=timezone.now(), progress="")
    with transaction.atomic():
        changed = ServiceUpgrade.objects.filter(pk=service.pk, state=source).update(**fields)
        if changed != 1:
            raise StaleState(
                f"Service {service.zone_id} changed while you were looking; reload and try again."
            )
        for name, value in fields.items():
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
        notifications.on_transition(service=service, source=source, target=target, event=event)
        if target in workflow.RUNNING_STATES:
            enqueue_step(service)
    return event


def enqueue_step(service: ServiceUpgrade, countdown: float = 0) -> None:
    """Queue the service's current sub-step once the surrounding transaction commits."""
    from upgrades import tasks  # tasks import services; import here to keep the graph acyclic

    ServiceUpgrade.objects.filter(pk=service.pk).update(enqueued_at=timezone.now())
    service_id, step = service.pk, service.step
    # No countdown at all when there is nothing to wait for: Celery treats any countdown as an ETA
    # task, which the worker holds in a timer instead of running it at once.
    options = {"countdown": countdown} if countdown > 0 else {}
    transaction.on_commit(lambda: tasks.advance.apply_async((service_id, step), **options))


def enqueue_step_now(service: ServiceUpgrade) -> None:
    """Enqueue the current sub-step outside any transaction (the reconciler's path)."""
    with transaction.atomic():
        enqueue_step(service)


def enqueue_preflight_now(service_id: int) -> None:
    """Queue a preflight check again (the reconciler's path for checks that went quiet)."""
    with transaction.atomic():
        _enqueue_preflight(service_id)


def _enqueue_preflight(service_id: int, countdown: float = 0) -> None:
    from upgrades import tasks

    transaction.on_commit(lambda: tasks.preflight.apply_async((service_id,), countdown=countdown))


# --- Actions by people ---------------------------------------------------------------------------


def apply_request_action(
    *,
    request: UpgradeRequest,
    action: Action,
    actor,
    reason: str = "",
    trigger_at: datetime | None = None,
    start_step2_on_confirmation: bool | None = None,
) -> UpgradeRequest:
    """Fire a request-wide action (approve, reject, cancel, confirm) on every service it applies to.

    Approval needs every service to have passed preflight and may carry a time for Step 1 and the
    "start Step 2 on confirmation" choice. Raises workflow.NotAllowed (the user may never do this),
    ReasonRequired, workflow.InvalidTransition (not from the current states) or StaleState.
    """
    roles = roles_for(actor, request)
    is_own = request.requester_id == actor.pk
    reason = _checked_reason(action, roles, is_own=is_own, reason=reason)
    with transaction.atomic():
        services = list(request.services.select_for_update().order_by("id"))
        moves = _moves(action, services, roles, is_own=is_own)
        if action == Action.APPROVE:
            _check_preflight(services)
        for service, target in moves:
            updates = _updates_for(action, service, trigger_at, start_step2_on_confirmation)
            _fire(service, action, target, Actor.of(actor), reason, updates)
    request.refresh_from_db()
    return request


def apply_service_action(
    *, service: ServiceUpgrade, action: Action, actor=None, contact_email: str = "", reason: str = ""
) -> ServiceUpgrade:
    """Fire an action on one service, by a user or by a contact through a signed link.

    Same exceptions as `apply_request_action`; a contact acts with the contact role only.
    """
    request = service.request
    if actor is not None:
        roles, is_own, who = roles_for(actor, request), request.requester_id == actor.pk, Actor.of(actor)
    else:
        roles, is_own, who = frozenset({Role.CONTACT}), False, Actor.contact(contact_email)
    reason = _checked_reason(action, roles, is_own=is_own, reason=reason)
    if action not in workflow.SERVICE_ACTIONS:
        raise workflow.InvalidTransition(
            f"{action.capitalize()} applies to the whole request, not one service."
        )
    with transaction.atomic():
        locked = ServiceUpgrade.objects.select_for_update().get(pk=service.pk)
        target = workflow.target_state(action, State(locked.state), roles, is_own=is_own)
        _fire(locked, action, target, who, reason, _updates_for(action, locked, None, None))
    service.refresh_from_db()
    return service


def _checked_reason(action: Action, roles, *, is_own: bool, reason: str) -> str:
    if not workflow.permitted(action, roles, is_own=is_own):
        raise workflow.NotAllowed(f"You may not {action.replace('-', ' ')} this request.")
    reason = reason.strip()
    if workflow.reason_required(action) and not reason:
        raise ReasonRequired(f"A reason is required to {action.replace('-', ' ')}.")
    return reason


def _moves(action: Action, services, roles, *, is_own: bool) -> list[tuple[ServiceUpgrade, State]]:
    """(service, target) for each service the action applies to; approve needs all of them."""
    moves, refused = [], None
    for service in services:
        try:
            moves.append((service, workflow.target_state(action, State(service.state), roles, is_own=is_own)))
        except workflow.InvalidTransition as error:
            refused = error
    if refused and (action == Action.APPROVE or not moves):
        raise refused
    return moves


def _check_preflight(services: list[ServiceUpgrade]) -> None:
    waiting = [s for s in services if s.preflight != Preflight.PASSED]
    if waiting:
        names = ", ".join(f"{s.zone_id} ({s.get_preflight_display().lower()})" for s in waiting)
        raise workflow.InvalidTransition(f"Approval needs every service to pass preflight first: {names}.")


def _updates_for(action: Action, service: ServiceUpgrade, trigger_at, start_step2) -> dict:
    """Field changes that go with an action, beyond the state."""
    updates: dict = {}
    if action == Action.APPROVE:
        updates["trigger_at"] = trigger_at
        if start_step2 is not None:
            updates["start_step2_on_confirmation"] = start_step2
    elif action == Action.RETRY:
        # Resume at the failed sub-step with a fresh attempt budget.
        updates.update(step=service.step, attempt=0, error="", step_started_at=timezone.now())
    elif action in (Action.ROLLBACK, Action.REPORT_PROBLEM, Action.CANCEL):
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
    # The timeline already says who moved the service where; the message carries only their reason.
    transition(service, target=target, actor=actor, message=reason, updates=updates)
    if action == Action.CONFIRM and service.start_step2_on_confirmation:
        transition(
            service,
            target=State.STEP2_RUNNING,
            actor=SYSTEM,
            message="Step 2 starts on confirmation, as the EC team chose.",
        )


def add_comment(*, request: UpgradeRequest, actor, text: str) -> Event:
    """A comment on the timeline; anyone who can see the request may comment."""
    text = text.strip()
    if not text:
        raise ValueError("A comment cannot be empty.")
    return Event.objects.create(
        request=request, kind=Event.Kind.COMMENT, actor=actor, actor_label=actor.get_username(), message=text
    )


# --- Preflight and schedules ------------------------------------------------------------------------


def record_preflight(*, service_id: int, outcome: Preflight, message: str, facts: dict | None = None) -> None:
    """Store a preflight result (not a state change). Only services still `submitted` are updated."""
    with transaction.atomic():
        changed = ServiceUpgrade.objects.filter(pk=service_id, state=State.SUBMITTED).update(
            preflight=outcome, preflight_message=message, preflight_checked_at=timezone.now(), **(facts or {})
        )
        if changed:
            page_cache.changed(
                ServiceUpgrade.objects.filter(pk=service_id).values_list("request_id", flat=True).first()
            )
        if changed and outcome == Preflight.FAILED:
            notifications.on_preflight_failed(ServiceUpgrade.objects.get(pk=service_id))
        if changed and outcome == Preflight.RETRYING:
            _enqueue_preflight(service_id, countdown=15)


def recheck_preflight(*, service: ServiceUpgrade, actor=None) -> None:
    """Run preflight again (e.g. after the requester fixed something on CF). `actor` None is the system."""
    if actor is not None and not roles_for(actor, service.request) & workflow.RECHECK_ROLES:
        raise workflow.NotAllowed("Only the requester and the EC team can run preflight again.")
    ServiceUpgrade.objects.filter(pk=service.pk, state=State.SUBMITTED).update(
        preflight=Preflight.PENDING, preflight_message=""
    )
    page_cache.changed(service.request_id)
    _enqueue_preflight(service.pk)


def fire_due_schedules(now: datetime | None = None) -> int:
    """Start Step 1 for approved services whose scheduled time has come; returns how many."""
    now = now or timezone.now()
    started = 0
    for service in ServiceUpgrade.objects.filter(state=State.APPROVED, trigger_at__lte=now):
        try:
            transition(
                service,
                target=State.STEP1_RUNNING,
                actor=SYSTEM,
                message="Scheduled start of Step 1.",
                updates={"trigger_at": None},
            )
            started += 1
        except StaleState:
            continue  # someone triggered or cancelled it meanwhile
    return started
