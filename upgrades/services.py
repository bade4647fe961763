"""The only writer of workflow state.

Each state change is compare-and-set: check the transition in `workflow`, `UPDATE … WHERE id=… AND
state=<expected>`, insist that exactly one row changed, and write the event row in the same transaction.
Side effects are enqueued on commit.
"""

from dataclasses import dataclass

from django.db import IntegrityError, transaction

from upgrades import intake, workflow
from upgrades.models import Contact, Event, Release, ServiceUpgrade, UpgradeRequest
from upgrades.permissions import roles_for
from upgrades.workflow import Action, Plan, State


class StaleState(Exception):
    """Someone else changed the service between our read and our write; nothing was written."""


class ReasonRequired(ValueError):
    """The action needs a reason and none was given."""


@dataclass
class IntakeRejected(Exception):
    """The submission cannot be accepted; `problems` say why, per field."""

    problems: dict[str, list[intake.Problem]]


def submit_request(
    *,
    requester,
    services: list[intake.ParsedService],
    plan: Plan,
    release: Release,
    contacts: list[str],
    notes: str,
) -> UpgradeRequest:
    """File a request with one service upgrade per service, each `submitted`.

    The partial unique index on active zone IDs decides races: of two submissions for one service,
    exactly one commits; the other gets IntakeRejected naming the active upgrade.
    """
    try:
        with transaction.atomic():
            request = UpgradeRequest.objects.create(
                requester=requester, plan=plan, release=release, notes=notes
            )
            Contact.objects.bulk_create([Contact(request=request, email=email) for email in contacts])
            ServiceUpgrade.objects.bulk_create(
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
    except IntegrityError:
        lines = {service.zone_id: number for number, service in enumerate(services, start=1)}
        conflicts = intake.active_conflicts(services, lines)
        if not conflicts:
            raise
        raise IntakeRejected({"service_urls": conflicts}) from None
    return request


def apply_request_action(
    *, request: UpgradeRequest, action: Action, actor, reason: str = ""
) -> UpgradeRequest:
    """Fire a request-wide action (approve, reject, cancel) on every service it applies to.

    Raises workflow.NotAllowed (the user may never do this), ReasonRequired, workflow.InvalidTransition
    (not from the current states) or StaleState (lost a race; nothing changed).
    """
    roles = roles_for(actor, request)
    is_own = request.requester_id == actor.pk
    if not workflow.permitted(action, roles, is_own=is_own):
        raise workflow.NotAllowed(f"You may not {action} this request.")
    reason = reason.strip()
    if workflow.reason_required(action) and not reason:
        raise ReasonRequired(f"A reason is required to {action} a request.")
    with transaction.atomic():
        services = list(request.services.select_for_update().order_by("id"))
        moves = _moves(action, services, roles, is_own=is_own)
        for service, target in moves:
            _compare_and_set(service, target=target, actor=actor, message=reason, action=action)
    request.refresh_from_db()
    return request


def _moves(action: Action, services, roles, *, is_own: bool) -> list[tuple[ServiceUpgrade, State]]:
    """(service, target) for each service the action applies to; approve needs all of them."""
    moves, refused = [], None
    for service in services:
        try:
            moves.append((service, workflow.target_state(action, service.state, roles, is_own=is_own)))
        except workflow.InvalidTransition as error:
            refused = error
    if refused and (action == Action.APPROVE or not moves):
        raise refused
    return moves


def _compare_and_set(service: ServiceUpgrade, *, target: State, actor, message: str, action: Action) -> None:
    changed = ServiceUpgrade.objects.filter(pk=service.pk, state=service.state).update(
        state=target, step="", error=""
    )
    if changed != 1:
        raise StaleState(f"Service {service.zone_id} changed while you were looking; reload and try again.")
    Event.objects.create(
        request_id=service.request_id,
        service=service,
        kind=Event.Kind.TRANSITION,
        actor=actor,
        actor_label=actor.get_username(),
        from_state=service.state,
        to_state=target,
        message=message or f"{workflow.ACTION_DONE[action]}.",
    )
    service.state = target


def add_comment(*, request: UpgradeRequest, actor, text: str) -> Event:
    """A comment on the timeline; anyone who can see the request may comment."""
    text = text.strip()
    if not text:
        raise ValueError("A comment cannot be empty.")
    return Event.objects.create(
        request=request,
        kind=Event.Kind.COMMENT,
        actor=actor,
        actor_label=actor.get_username(),
        message=text,
    )
