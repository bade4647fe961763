"""Campaigns: many EC services moved to one release in safe waves. Their writes and reads.

Each service of a campaign is an ordinary service upgrade, with a request of its own filed by the
campaign's creator: the same engine, request page, events, CF call log and rollback. The campaign
only decides when each service starts (`drive`). Service states change through `actions` alone;
the campaign's own state changes here, each under the campaign's row lock, so a second driver, a
person's button and a beat tick take turns and nothing is started twice.
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from itertools import groupby

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone

from upgrades import actions, dispatch, fleet_contacts, intake, workflow
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
from upgrades.workflow import ACTIVE_STATES, RUNNING_STATES, TERMINAL_STATES, Action, Plan, State

CampaignState = Campaign.State
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

    @classmethod
    def of(cls, data: dict) -> "Waves":
        """The shape from parsed input (a form's or the API's) that holds these fields and more."""
        return cls(**{name: data[name] for name in cls.__dataclass_fields__})


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
            )
            taken, left_out = _sorted_out(named, release)
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


def allowed(campaign: Campaign, user, progress: "Progress | None" = None) -> list[CampaignAction]:
    """The buttons `user` may press now; with the campaign's `progress`, Continue only between waves
    (the driver's own conditions are checked again when pressed)."""
    if not is_ec_team(user):
        return []
    between = progress is None or progress.waits_for_continue or progress.next_wave_at is not None
    return [
        action
        for action, (sources, _) in RULES.items()
        if campaign.state in sources
        and not (action == CampaignAction.APPROVE and user.pk == campaign.creator_id)
        and not (action == CampaignAction.CONTINUE and not between)
    ]


def apply(*, campaign: Campaign, action: CampaignAction, actor) -> Campaign:
    """Fire a campaign action as `actor`. Raises workflow.NotAllowed (403: not the EC team, or
    approving one's own), workflow.InvalidTransition (409: not from the current state)."""
    _check_team(actor)
    if action == CampaignAction.APPROVE and actor.pk == campaign.creator_id:
        raise workflow.NotAllowed("Nobody approves their own campaign: another EC team member must.")
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        sources, target = RULES[action]
        if locked.state not in sources:
            raise workflow.InvalidTransition(
                f"Cannot {action} a campaign that is {CampaignState(locked.state).label.lower()}."
            )
        services = list(locked.services.filter(wave__isnull=False).select_related("request").order_by("id"))
        _DOING[action](locked, services, actor)
        if target is not None:
            locked.state = target
        locked.save()
        if locked.state == CampaignState.RUNNING:
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


def _start(campaign: Campaign, services, actor) -> None:
    campaign.started_at = timezone.now()
    if services:
        _announce(campaign, services, min(s.wave for s in services), campaign.started_at)


def _announce(campaign: Campaign, services: list[ServiceUpgrade], wave: int, starts_at) -> None:
    """Tell the contacts of `wave`'s services (those still to start) when it starts (None: when a
    person continues)."""
    members = [s for s in services if s.wave == wave and s.state in (State.SUBMITTED, State.APPROVED)]
    if members:
        outbox.on_wave_scheduled(campaign_id=campaign.pk, services=members, starts_at=starts_at)


def _nothing(campaign: Campaign, services, actor) -> None:
    """Pause and resume change the campaign's state only: running services carry on."""


def _continue(campaign: Campaign, services: list[ServiceUpgrade], actor) -> None:
    if not between_waves(campaign, services):
        raise workflow.InvalidTransition(
            f"Wave {campaign.current_wave} has not ended yet; Continue starts the next wave once it has."
        )
    campaign.continue_now = True


def _abort(campaign: Campaign, services: list[ServiceUpgrade], actor) -> None:
    """Start nothing more: services not yet started are cancelled; running ones finish."""
    reason = f"Campaign {campaign.reference} was aborted by {actor.get_username()}."
    for service in services:
        if service.state in (State.SUBMITTED, State.APPROVED):
            _cancel(service, actor, reason)
    campaign.reason = reason
    campaign.ended_at = timezone.now()


def _cancel(service: ServiceUpgrade, actor, reason: str) -> None:
    actions.apply_request_action(request=service.request, action=Action.CANCEL, actor=actor, reason=reason)


def _retry(campaign: Campaign, services: list[ServiceUpgrade], actor) -> None:
    """Retry every failed step through the ordinary retry action; a stopped campaign runs again."""
    retried = 0
    for service in services:
        if Action.RETRY in workflow.allowed_actions(
            State(service.state), frozenset({workflow.Role.EC_TEAM}), is_own=False
        ):
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


# --- Driving the waves --------------------------------------------------------------------------------


def between_waves(campaign: Campaign, services: list[ServiceUpgrade]) -> bool:
    """The current wave has ended and a later one waits to start."""
    current = [s for s in services if s.wave == campaign.current_wave]
    later = any(s.wave > campaign.current_wave for s in services)
    return campaign.current_wave > 0 and later and all(s.state in ENDED_STATES for s in current)


def drive_running() -> int:
    """Beat, every CAMPAIGN_DRIVE_SECONDS: drive every running campaign; how many services started."""
    running = Campaign.objects.filter(state=CampaignState.RUNNING).values_list("pk", flat=True)
    return sum(drive(pk) for pk in list(running))


def drive(campaign_id: int) -> int:
    """Move a running campaign on, in one transaction under its row lock: stop it when the failure
    budget is spent, complete it when every service ended, wait between waves as told, and start
    the current wave's services up to `max_parallel` running at once. Returns how many it started.

    Idempotent: a second driver skips the locked row; a driver killed midway commits nothing; a
    service starts only by the compare-and-set from `approved`."""
    with transaction.atomic():
        campaign = (
            Campaign.objects.select_for_update(skip_locked=True)
            .filter(pk=campaign_id, state=CampaignState.RUNNING)
            .first()
        )
        if campaign is None:
            return 0
        services = list(campaign.services.filter(wave__isnull=False).order_by("wave", "id"))
        failed = [s for s in services if s.state in FAILED_STATES]
        if len(failed) >= campaign.failure_budget:
            _end(campaign, CampaignState.STOPPED, _budget_spent(campaign, failed))
            return 0
        if all(s.state in ENDED_STATES for s in services):
            _end(campaign, CampaignState.COMPLETED, "")
            return 0
        if not _next_wave_due(campaign, services):
            return 0
        return _start_services(campaign, services)


def _next_wave_due(campaign: Campaign, services: list[ServiceUpgrade]) -> bool:
    """Whether the current wave may start services: it has not ended, or the next one is due now
    (then it becomes current). The end of a wave is recorded once; the pause runs from there."""
    if campaign.current_wave > 0 and not between_waves(campaign, services):
        return True
    now = timezone.now()
    if campaign.current_wave > 0:
        pause = campaign.pause_seconds
        if campaign.wave_ended_at is None:
            campaign.wave_ended_at = now
            campaign.save(update_fields=["wave_ended_at", "updated_at"])
            starts_at = None if pause is None else now + timedelta(seconds=pause)
            _announce(
                campaign, services, min(s.wave for s in services if s.wave > campaign.current_wave), starts_at
            )
        due = pause is not None and now >= campaign.wave_ended_at + timedelta(seconds=pause)
        if not (campaign.continue_now or due):
            return False
    campaign.current_wave = min(s.wave for s in services if s.wave > campaign.current_wave)
    campaign.wave_ended_at, campaign.continue_now = None, False
    campaign.save(update_fields=["current_wave", "wave_ended_at", "continue_now", "updated_at"])
    return True


def _start_services(campaign: Campaign, services: list[ServiceUpgrade]) -> int:
    running = sum(s.state in RUNNING_STATES for s in services)
    waiting = [s for s in services if s.wave == campaign.current_wave and s.state == State.APPROVED]
    started = 0
    for service in waiting[: max(campaign.max_parallel - running, 0)]:
        try:
            actions.transition(
                service,
                target=State.STEP1_RUNNING,
                actor=actions.SYSTEM,
                message=f"Started by campaign {campaign.reference}, wave {campaign.current_wave}.",
                updates={"trigger_at": None, "error": ""},
            )
        except actions.StaleState:
            continue  # cancelled or triggered by a person meanwhile
        started += 1
    return started


def _budget_spent(campaign: Campaign, failed: list[ServiceUpgrade]) -> str:
    states = Counter(State(s.state).label.lower() for s in failed)
    which = ", ".join(f"{n} {label}" for label, n in sorted(states.items()))
    return (
        f"The failure budget of {campaign.failure_budget} is spent: {len(failed)} service(s) failed "
        f"({which}). No further service is started; retry the failed ones or abort."
    )


def _end(campaign: Campaign, state: str, reason: str) -> None:
    campaign.state, campaign.reason, campaign.ended_at = state, reason, timezone.now()
    campaign.save(update_fields=["state", "reason", "ended_at", "updated_at"])


# --- Reads ---------------------------------------------------------------------------------------------


def campaigns_for(user) -> QuerySet[Campaign]:
    return Campaign.objects.visible_to(user).select_related("release", "creator", "approved_by")


def get_campaign(user, campaign_id: int) -> Campaign:
    """One visible campaign (raises Campaign.DoesNotExist otherwise, shown as 404)."""
    return campaigns_for(user).get(pk=campaign_id)


def services_of(campaign: Campaign) -> QuerySet[ServiceUpgrade]:
    """The campaign's services (those left out at approval excluded), in wave order."""
    release = FleetService.objects.filter(zone_id=OuterRef("zone_id")).values("release")[:1]
    return (
        campaign.services.filter(wave__isnull=False)
        .select_related("request__release", "request__requester")
        .annotate(fleet_release=Subquery(release))
        .order_by("wave", "id")
    )


@dataclass(frozen=True)
class Wave:
    number: int
    state: str  # waiting, running, done
    services: list[ServiceUpgrade]

    @property
    def counts(self) -> dict[str, int]:
        return dict(Counter(s.state for s in self.services))


@dataclass(frozen=True)
class Failure:
    reason: str
    services: list[ServiceUpgrade]


@dataclass(frozen=True)
class Progress:
    """What the campaign page and the API show of a campaign's services."""

    counts: dict[str, int]
    waves: list[Wave]
    failures: list[Failure]
    total: int
    ended: int
    next_wave_at: object = None  # when the next wave starts by itself, if it waits for a pause
    waits_for_continue: bool = False


def progress(campaign: Campaign, services: list[ServiceUpgrade]) -> Progress:
    waves = []
    for number, members in groupby(services, key=lambda s: s.wave):
        members = list(members)
        if all(s.state in ENDED_STATES for s in members):
            state = "done"
        elif all(s.state in (State.SUBMITTED, State.APPROVED) for s in members):
            state = "waiting"
        else:
            state = "running"
        waves.append(Wave(number, state, members))
    failed = sorted((s for s in services if s.state in FAILED_STATES), key=_failure_reason)
    failures = [Failure(reason, list(group)) for reason, group in groupby(failed, key=_failure_reason)]
    between = campaign.state == CampaignState.RUNNING and between_waves(campaign, services)
    next_at = None
    if between and campaign.pause_seconds is not None and campaign.wave_ended_at:
        next_at = campaign.wave_ended_at + timedelta(seconds=campaign.pause_seconds)
    return Progress(
        counts=dict(Counter(s.state for s in services)),
        waves=waves,
        failures=failures,
        total=len(services),
        ended=sum(s.state in ENDED_STATES for s in services),
        next_wave_at=next_at,
        waits_for_continue=between and campaign.pause_seconds is None,
    )


def _failure_reason(service: ServiceUpgrade) -> str:
    first_line = (service.error or "").strip().splitlines()[:1]
    return f"{State(service.state).label}: {first_line[0]}" if first_line else State(service.state).label


def running_campaigns(user) -> list[Campaign]:
    """Home's block: the running and paused campaigns (the EC team's only)."""
    live = [CampaignState.RUNNING, CampaignState.PAUSED, CampaignState.STOPPED]
    return list(campaigns_for(user).filter(state__in=live)[:10])
