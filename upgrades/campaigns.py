"""Campaigns: many EC services moved to one release in safe waves. Their rules and writes.

Each service of a campaign is an ordinary service upgrade, with a request of its own filed by the
campaign's creator: the same engine, request page, events, CF call log and rollback. The campaign
only decides when each service starts (`campaign_driver.drive`). Service states change through
`actions` alone; the campaign's own state changes here and in the driver, each under the campaign's
row lock, so a second driver, a person's button and a beat tick take turns and nothing is started
twice. Reads for pages and the API are in `campaign_reads`.
"""

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count
from django.utils import timezone

from upgrades import actions, dispatch, fleet_contacts, foundations, intake, workflow
from upgrades.models import (
    Campaign,
    Contact,
    Event,
    FleetService,
    Preflight,
    Release,
    ServiceUpgrade,
    UpgradeRequest,
)
from upgrades.notifications import outbox
from upgrades.permissions import is_ec_team
from upgrades.workflow import ACTIVE_STATES, TERMINAL_STATES, Action, Plan, State

CampaignState = Campaign.State
Running = Campaign.Running
# A service in one of these counts against the failure budget.
FAILED_STATES = frozenset({State.STEP1_FAILED, State.STEP2_FAILED, State.ROLLBACK_FAILED, State.ROLLED_BACK})
# A service that will not move again by itself: its wave no longer waits for it.
ENDED_STATES = TERMINAL_STATES | FAILED_STATES
FINISHED = frozenset({CampaignState.COMPLETED, CampaignState.STOPPED, CampaignState.ABORTED})


class CampaignAction(StrEnum):
    APPROVE = "approve"
    START = "start"
    PAUSE = "pause"
    RESUME = "resume"
    CONTINUE = "continue"
    ABORT = "abort"
    RETRY = "retry"


# Each action: the campaign states it may be fired from, and the state it leads to (None: unchanged).
RULES: dict[CampaignAction, tuple[frozenset[str], str | None]] = {
    CampaignAction.APPROVE: (frozenset({CampaignState.DRAFT}), CampaignState.APPROVED),
    CampaignAction.START: (frozenset({CampaignState.APPROVED}), CampaignState.RUNNING),
    CampaignAction.PAUSE: (frozenset({CampaignState.RUNNING}), CampaignState.PAUSED),
    CampaignAction.RESUME: (frozenset({CampaignState.PAUSED}), CampaignState.RUNNING),
    CampaignAction.CONTINUE: (frozenset({CampaignState.RUNNING}), None),
    CampaignAction.ABORT: (
        frozenset({CampaignState.DRAFT, CampaignState.APPROVED, CampaignState.RUNNING})
        | {CampaignState.PAUSED, CampaignState.STOPPED},
        CampaignState.ABORTED,
    ),
    CampaignAction.RETRY: (
        frozenset({CampaignState.RUNNING, CampaignState.PAUSED, CampaignState.STOPPED}),
        None,
    ),
}
ACTION_LABELS = {
    CampaignAction.APPROVE: "Approve",
    CampaignAction.START: "Start now",
    CampaignAction.PAUSE: "Pause",
    CampaignAction.RESUME: "Resume",
    CampaignAction.CONTINUE: "Continue to the next wave",
    CampaignAction.ABORT: "Abort",
    CampaignAction.RETRY: "Retry the failed services",
}


@dataclass(frozen=True)
class Waves:
    """How a campaign's services are split: a canary wave, then waves of `wave_size`."""

    canary_size: int
    wave_size: int
    max_parallel: int
    pause_seconds: int | None
    failure_budget: int
    failure_budget_percent: int | None = None
    foundation_order: tuple[str, ...] = ()

    @classmethod
    def of(cls, data: dict) -> "Waves":
        """The shape from parsed input (a form's or the API's) that holds these fields and more."""
        given = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        return cls(**given | {"foundation_order": tuple(given.get("foundation_order") or ())})


@dataclass
class Named:
    """The services a person named for a campaign: those in the fleet, and those left out, why."""

    services: list[FleetService] = field(default_factory=list)
    left_out: list[dict] = field(default_factory=list)


# --- Naming the services ------------------------------------------------------------------------------


def named_services(value: str | list, field_name: str) -> Named:
    """The fleet services named by zone IDs or service URLs (one per line or comma-separated), by
    the new-request form's rules. Raises IntakeRejected for entries that cannot be taken at all
    (not parseable, a bare zone ID the fleet does not know, duplicates, too many); a URL that parses
    but names a service the fleet does not hold is left out, saying so."""
    entries = intake.split_entries(value)
    limit = settings.MAX_SERVICES_PER_CAMPAIGN
    if not entries:
        raise actions.IntakeRejected({field_name: [intake.Problem("Name at least one service.")]})
    if len(entries) > limit:
        message = f"A campaign may name at most {limit:,} services; this one names {len(entries):,}."
        raise actions.IntakeRejected({field_name: [intake.Problem(message)]})
    problems: list[intake.Problem] = []
    zones: dict[str, tuple[int, intake.ParsedService | None]] = {}
    for number, text in entries:
        zone_id, parsed = text.lower(), None
        if not intake.ZONE_ID_RE.match(zone_id):
            parsed, error = intake.parse_url(text)
            if parsed is None:
                problems.append(intake.Problem(f"Line {number}: {error}"))
                continue
            zone_id = parsed.zone_id
        if zone_id in zones:
            problems.append(intake.Problem(f"Line {number}: duplicate of line {zones[zone_id][0]}."))
        else:
            zones[zone_id] = (number, parsed)
    known = {s.zone_id: s for s in FleetService.objects.filter(zone_id__in=list(zones), gone_at__isnull=True)}
    named = Named()
    for zone_id, (number, parsed) in zones.items():
        if zone_id in known:
            named.services.append(known[zone_id])
        elif parsed is None:
            problems.append(
                intake.Problem(
                    f"Line {number}: zone ID {zone_id} is not in the fleet; refresh the Fleet page, "
                    "or paste the service's URL."
                )
            )
        else:
            named.left_out.append(_left(parsed, "unknown to the fleet (the last sync did not find it)"))
    if problems:
        raise actions.IntakeRejected({field_name: problems})
    return named


def _left(service, reason: str, release: str = "") -> dict:
    return {
        "zone_id": service.zone_id,
        "name": getattr(service, "name", ""),
        "foundation": service.foundation,
        "release": release,
        "reason": reason,
    }


# --- Creating a campaign ------------------------------------------------------------------------------


def create_campaign(
    *, creator, name: str, release: Release, plan: Plan, named: Named, waves: Waves
) -> Campaign:
    """A draft campaign: one request per service it takes (filed by `creator`, with the service's
    contacts, `fleet_contacts.contacts_for`), each `submitted` with its wave and preflight queued. Services
    already on `release` or with an upgrade under way are left out, saying why."""
    _check_team(creator)
    _check_order(waves.foundation_order)
    name = name.strip()
    if not name or not name.isprintable():
        raise actions.InputRefused("name", "Give the campaign a name, in printable characters.")
    try:
        with transaction.atomic():
            campaign = Campaign.objects.create(
                name=name[:200],
                release=release,
                plan=plan,
                creator=creator,
                canary_size=waves.canary_size,
                wave_size=waves.wave_size,
                max_parallel=waves.max_parallel,
                pause_seconds=waves.pause_seconds,
                failure_budget=waves.failure_budget,
                failure_budget_percent=waves.failure_budget_percent,
                foundation_order=list(waves.foundation_order),
            )
            taken, left_out = _sorted_out(named, release)
            taken = in_foundation_order(taken, waves.foundation_order)
            _file(campaign, taken, waves)
            campaign.left_out = left_out
            campaign.save(update_fields=["left_out"])
    except IntegrityError:
        # Someone filed for one of these services between our look and our write: the active
        # upgrade index refused the lot. Nothing was written; a second try leaves that one out.
        raise workflow.InvalidTransition(
            "One of these services got an upgrade of its own meanwhile; create the campaign again."
        ) from None
    return campaign


def _sorted_out(named: Named, release: Release) -> tuple[list[FleetService], list[dict]]:
    active = dict(
        ServiceUpgrade.objects.filter(
            zone_id__in=[s.zone_id for s in named.services], state__in=sorted(ACTIVE_STATES)
        ).values_list("zone_id", "request_id")
    )
    taken, left_out = [], list(named.left_out)
    for service in named.services:
        if service.release == release.name:
            left_out.append(_left(service, f"already on {release.name}", service.release))
        elif service.zone_id in active:
            reason = f"an upgrade is already under way (UR-{active[service.zone_id]})"
            left_out.append(_left(service, reason, service.release))
        else:
            taken.append(service)
    return taken, left_out


def _check_order(order: tuple[str, ...]) -> None:
    known = {f.slug for f in foundations.all_foundations()}
    if unknown := [slug for slug in order if slug not in known]:
        raise actions.InputRefused(
            "foundation_order",
            f"Unknown foundation(s): {', '.join(unknown)}; use one of {', '.join(sorted(known))}.",
        )
    if len(set(order)) != len(order):
        raise actions.InputRefused("foundation_order", "Name each foundation once.")


def in_foundation_order(services: list[FleetService], order: tuple[str, ...]) -> list[FleetService]:
    """The services of the foundations in `order` first, in that order; the others after. Otherwise
    as named (a stable sort)."""
    rank = {slug: number for number, slug in enumerate(order)}
    return sorted(services, key=lambda service: rank.get(service.foundation, len(order)))


def wave_of(index: int, waves: Waves) -> int:
    """The wave (1 = canary) of the service at 0-based `index` in the campaign's order."""
    if index < waves.canary_size:
        return 1
    return 2 + (index - waves.canary_size) // waves.wave_size


def _file(campaign: Campaign, taken: list[FleetService], waves: Waves) -> None:
    """One request and service upgrade per service, in bulk, and their preflight checks queued."""
    now = timezone.now()
    requests = UpgradeRequest.objects.bulk_create(
        [
            UpgradeRequest(
                requester=campaign.creator,
                plan=campaign.plan,
                release=campaign.release,
                notes=f"Part of campaign {campaign.reference} “{campaign.name}”.",
            )
            for _ in taken
        ]
    )
    contacts = fleet_contacts.contacts_for([s.zone_id for s in taken])
    Contact.objects.bulk_create(
        [
            Contact(request=request, **intake.contact_columns(entry))
            for request, service in zip(requests, taken, strict=True)
            for entry in contacts.get(service.zone_id, [])
        ]
    )
    services = ServiceUpgrade.objects.bulk_create(
        [
            ServiceUpgrade(
                request=request,
                url=service.url,
                zone_id=service.zone_id,
                name=service.name,
                domain=service.domain,
                foundation=service.foundation,
                plan=campaign.plan,
                campaign=campaign,
                wave=wave_of(index, waves),
                # The first run of preflight checks, as filing a request starts it.
                preflight_run=1,
                preflight_requested_at=now,
            )
            for index, (request, service) in enumerate(zip(requests, taken, strict=True))
        ]
    )
    Event.objects.bulk_create(
        [
            Event(
                request=service.request,
                service=service,
                kind=Event.Kind.SUBMITTED,
                actor=campaign.creator,
                actor_label=campaign.creator.get_username(),
                to_state=State.SUBMITTED,
                message=f"Filed by campaign {campaign.reference} “{campaign.name}”, wave {service.wave}, "
                f"release {campaign.release.name}.",
            )
            for service in services
        ]
    )
    for service in services:
        dispatch.on_commit(dispatch.PREFLIGHT, service.pk, 1)


# --- People's actions ---------------------------------------------------------------------------------


def _check_team(user) -> None:
    if not is_ec_team(user):
        raise workflow.NotAllowed("Campaigns are for the EC team.")


def act(
    *,
    campaign: Campaign,
    action: CampaignAction,
    actor,
    start_at: datetime | None = None,
    running: str = Running.FINISH,
) -> Campaign:
    """Fire a campaign action as `actor`; Start with `start_at` schedules the start instead (the
    driver starts it then); Abort does with the services already started what `running` says.
    Raises workflow.NotAllowed (403: not the EC team, or approving one's own),
    workflow.InvalidTransition (409: not from the current state), actions.InputRefused (400: a
    start time in the past or more than MAX_SCHEDULE_DAYS ahead, or an unknown `running`)."""
    _check_team(actor)
    if start_at is not None:
        _check_start_at(start_at)
    if running not in Running.values:
        raise actions.InputRefused(
            "running", f"Say what running services do: {' or '.join(Running.values)}, not “{running}”."
        )
    if action == CampaignAction.APPROVE and actor.pk == campaign.creator_id:
        raise workflow.NotAllowed("Nobody approves their own campaign: another EC team member must.")
    with transaction.atomic():
        locked = Campaign.objects.locked().get(pk=campaign.pk)
        sources, target = RULES[action]
        if locked.state not in sources:
            raise workflow.InvalidTransition(
                f"Cannot {action} a campaign that is {CampaignState(locked.state).label.lower()}."
            )
        services = locked.services.filter(wave__isnull=False).select_related("request").order_by("id")
        if action == CampaignAction.ABORT:
            # The rows too: a Step 1 ending meanwhile is then seen in Step 2 (see step2_held_by_abort).
            services = services.select_for_update(of=("self",))
        services = list(services)
        if action == CampaignAction.ABORT:
            locked.abort_running, locked.aborted_by = running, actor
        _DOING[action](locked, services, actor)
        if action == CampaignAction.START and start_at is not None:
            # Scheduled: it stays approved until the driver starts it at `start_at`.
            locked.start_at, locked.started_at, target = start_at, None, None
        if target is not None:
            locked.state = target
        if action == CampaignAction.START and services:
            announce_wave(locked, services, min(s.wave for s in services), start_at or locked.started_at)
        locked.save()
        if locked.state == CampaignState.RUNNING or action == CampaignAction.ABORT:
            dispatch.on_commit(dispatch.DRIVE_CAMPAIGN, locked.pk)
    return locked


def _approve(campaign: Campaign, services: list[ServiceUpgrade], actor) -> None:
    """Approve the services whose preflight passed; cancel and leave out the others, saying why."""
    checking = [s for s in services if s.preflight in (Preflight.PENDING, Preflight.RETRYING)]
    if checking:
        raise workflow.InvalidTransition(
            f"Preflight is still checking {len(checking)} service(s); approve once every check reported."
        )
    for service in services:
        if service.state != State.SUBMITTED:
            continue
        if service.preflight == Preflight.PASSED:
            actions.apply_request_action(
                request=service.request,
                action=Action.APPROVE,
                actor=actor,
                start_step2_on_confirmation=campaign.plan == Plan.TEST_FIRST,
            )
            continue
        reason = f"Left out of campaign {campaign.reference}: preflight failed."
        _cancel(service, actor, reason)
        campaign.left_out.append(_left(service, f"preflight failed: {service.preflight_message}"))
        ServiceUpgrade.objects.filter(pk=service.pk).update(wave=None)
    campaign.approved_by = actor


def _check_start_at(start_at: datetime) -> None:
    if timezone.is_naive(start_at):
        raise actions.InputRefused(
            "start_at", "Give the start time with its time zone (e.g. 2030-01-31T06:00Z)."
        )
    now, days = timezone.now(), settings.MAX_SCHEDULE_DAYS
    if start_at < now:
        raise actions.InputRefused("start_at", "The start time has passed; give a later one, or start now.")
    if start_at > now + timedelta(days=days):
        raise actions.InputRefused("start_at", f"A campaign may be scheduled at most {days} days ahead.")


def _start(campaign: Campaign, services, actor) -> None:
    campaign.started_at, campaign.start_at = timezone.now(), None


def announce_wave(campaign: Campaign, services: list[ServiceUpgrade], wave: int, starts_at) -> None:
    """Tell the contacts of `wave`'s services (those still to start) when it starts (None: when a
    person continues)."""
    members = [s for s in services if s.wave == wave and s.state in (State.SUBMITTED, State.APPROVED)]
    if members:
        outbox.on_wave_scheduled(campaign_id=campaign.pk, services=members, starts_at=starts_at)


def _nothing(campaign: Campaign, services, actor) -> None:
    """Pause and resume change the campaign's state only: running services carry on."""


def _continue(campaign: Campaign, services: list[ServiceUpgrade], actor) -> None:
    if not between_waves(campaign, by_wave(campaign)):
        raise workflow.InvalidTransition(
            f"Wave {campaign.current_wave} has not ended yet; Continue starts the next wave once it has."
        )
    campaign.continue_now = True


def _abort(campaign: Campaign, services: list[ServiceUpgrade], actor) -> None:
    """Start nothing more: services not yet started are cancelled; those started finish, or are
    rolled back (`roll_back_touched`) as the person chose. The abort ends (`ended_at`, set by the
    driver) once every service has ended."""
    choice = "running services finish"
    if campaign.abort_running == Running.ROLLBACK:
        choice = "every service it started that has not completed is rolled back"
    reason = f"Campaign {campaign.reference} was aborted by {actor.get_username()}: {choice}."
    for service in services:
        if service.state in (State.SUBMITTED, State.APPROVED):
            _cancel(service, actor, reason)
    campaign.reason = reason
    roll_back_touched(campaign, services)


def roll_back_touched(campaign: Campaign, services: list[ServiceUpgrade]) -> int:
    """For an abort with roll back, under the campaign's row lock: roll back, through the ordinary
    rollback action in the name of the person who aborted, every service the rollback action
    allows now (waiting for verification, verified, failed, Step 2 while blue still exists). One
    in Step 1 is taken once its step ends (the driver calls this again); a completed one is past the
    point of no return. A service rolls back once: the action moves it out of every source state.
    How many started rolling back."""
    if campaign.abort_running != Running.ROLLBACK:
        return 0
    rolled = 0
    for service in services:
        if not _team_may(service, Action.ROLLBACK):
            continue
        try:
            actions.apply_service_action(
                service=service, action=Action.ROLLBACK, actor=campaign.aborted_by, reason=campaign.reason
            )
        except (actions.StaleState, workflow.InvalidTransition):
            continue  # moved on meanwhile (e.g. Step 2 deleted blue): the next pass looks again
        rolled += 1
    return rolled


def step2_held_by_abort(service: ServiceUpgrade) -> str:
    """Why a back-to-back service whose Step 1 just ended must not start Step 2 on its own: its
    campaign was aborted with roll back. "" otherwise. Call it in the transaction that records the
    end of Step 1, after that transaction's update of the service's row: an abort locks the rows of
    the campaign's services (`act`), so either it committed first and is seen here, or it waits for
    this phase end to commit and then finds the service in Step 2, blue still there, and rolls it
    back."""
    if service.campaign_id is None:
        return ""
    campaign = Campaign.objects.filter(pk=service.campaign_id).only("id", "state", "abort_running").first()
    rolls_back = campaign is not None and campaign.abort_running == Running.ROLLBACK
    if not rolls_back or campaign.state != CampaignState.ABORTED:
        return ""
    return f"Step 1 done; Step 2 not started: campaign {campaign.reference} was aborted with roll back."


def _team_may(service: ServiceUpgrade, action: Action) -> bool:
    """Whether the workflow lets the EC team fire `action` on the service in its state now."""
    allowed = workflow.allowed_actions(
        State(service.state), frozenset({workflow.Role.EC_TEAM}), is_own=False, blue_gone=service.blue_deleted
    )
    return action in allowed


def _cancel(service: ServiceUpgrade, actor, reason: str) -> None:
    actions.apply_request_action(request=service.request, action=Action.CANCEL, actor=actor, reason=reason)


def _retry(campaign: Campaign, services: list[ServiceUpgrade], actor) -> None:
    """Retry every failed step through the ordinary retry action; a stopped campaign runs again."""
    retried = 0
    for service in services:
        if _team_may(service, Action.RETRY):
            actions.apply_service_action(service=service, action=Action.RETRY, actor=actor)
            retried += 1
    if not retried:
        raise workflow.InvalidTransition(
            "No failed step can be retried (a rolled-back service is moved again by a new campaign)."
        )
    if campaign.state == CampaignState.STOPPED:
        campaign.state, campaign.reason, campaign.ended_at = CampaignState.RUNNING, "", None


_DOING = {
    CampaignAction.APPROVE: _approve,
    CampaignAction.START: _start,
    CampaignAction.PAUSE: _nothing,
    CampaignAction.RESUME: _nothing,
    CampaignAction.CONTINUE: _continue,
    CampaignAction.ABORT: _abort,
    CampaignAction.RETRY: _retry,
}


def by_wave(campaign: Campaign) -> dict[int, Counter]:
    """The campaign's services (those left out at approval excluded) counted by wave and state, in
    wave order: one query of a few rows, whatever the campaign's size."""
    counted: dict[int, Counter] = defaultdict(Counter)
    rows = (
        campaign.services.filter(wave__isnull=False)
        .values_list("wave", "state")
        .annotate(n=Count("id"))
        .order_by("wave", "state")
    )
    for wave, state, n in rows:
        counted[wave][state] = n
    return counted


def between_waves(campaign: Campaign, counted: dict[int, Counter]) -> bool:
    """The current wave has ended and a later one waits to start (`counted`: as `by_wave` says)."""
    current = counted.get(campaign.current_wave, Counter())
    later = any(number > campaign.current_wave for number in counted)
    return campaign.current_wave > 0 and later and all(state in ENDED_STATES for state in current)
