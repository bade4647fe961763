"""Reads of campaigns for pages and the API: lists, one campaign, its services, its progress and
the buttons a person may press."""

import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Max, Min, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from upgrades.campaigns import (
    ENDED_STATES,
    FAILED_STATES,
    FINISHED,
    RULES,
    CampaignAction,
    CampaignState,
    between_waves,
    by_wave,
)
from upgrades.models import Campaign, Event, FleetService, ServiceUpgrade
from upgrades.permissions import is_ec_team
from upgrades.workflow import State


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
        .prefetch_related("probe_runs")  # the API's `probe` of each service, in one query
        .annotate(fleet_release=Subquery(release))
        .order_by("wave", "id")
    )


def wave_members(services: list[ServiceUpgrade]) -> dict[int, list[int]]:
    """The ids of `services` by wave (the API's waves list them)."""
    members = defaultdict(list)
    for service in services:
        members[service.wave].append(service.pk)
    return members


@dataclass(frozen=True)
class Wave:
    number: int
    state: str  # waiting, running, done
    counts: dict[str, int]  # service state: how many of the wave's services are in it

    @property
    def size(self) -> int:
        return sum(self.counts.values())


# A failure group lists this many of its services by name; the count says how many in all.
FAILURE_LINKS = 20


@dataclass(frozen=True)
class Failure:
    reason: str
    count: int
    services: list[ServiceUpgrade]  # the first FAILURE_LINKS of them


@dataclass(frozen=True)
class Eta:
    """When the campaign should end: `at` (UTC), `seconds` from now; `waits` when it counts no time
    for the waits for a person to continue."""

    at: datetime
    seconds: int
    waits: bool


@dataclass(frozen=True)
class Abort:
    """What an abort does and has done: the person's choice, and its services by state."""

    rollback: bool  # roll back every started service that has not completed (else: they finish)
    ended_at: datetime | None  # None while services still move
    running: int  # in Step 1 or 2 (with roll back: rolled back once the rollback action allows)
    rolling_back: int
    rolled_back: int
    rollback_failed: int
    completed: int  # past the point of no return: left as they are
    cancelled: int


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
    eta: Eta | None = None  # None: unknown (no service finished yet) or nothing left to do
    abort: Abort | None = None  # an aborted campaign's abort (None for one aborted before the choice)


def progress(campaign: Campaign) -> Progress:
    """The campaign's progress in a fixed number of queries, whatever its size: its services counted
    by wave and state in the database, then its failed services (grouped by reason here, since the
    reason is the first line of a free-text error), then the mean duration for the ETA."""
    counted = by_wave(campaign)
    counts = sum(counted.values(), Counter())
    waves = [Wave(number, _wave_state(states), dict(states)) for number, states in counted.items()]
    between = campaign.state == CampaignState.RUNNING and between_waves(campaign, counted)
    next_at = None
    if between and campaign.pause_seconds is not None and campaign.wave_ended_at:
        next_at = campaign.wave_ended_at + timedelta(seconds=campaign.pause_seconds)
    return Progress(
        counts=dict(counts),
        waves=waves,
        failures=_failures(campaign) if counts.keys() & FAILED_STATES else [],
        total=counts.total(),
        ended=sum(n for state, n in counts.items() if state in ENDED_STATES),
        next_wave_at=next_at,
        waits_for_continue=between and campaign.pause_seconds is None,
        eta=eta(campaign, counted),
        abort=_abort(campaign, counts),
    )


def _wave_state(states: Counter) -> str:
    if all(state in ENDED_STATES for state in states):
        return "done"
    if all(state in (State.SUBMITTED, State.APPROVED) for state in states):
        return "waiting"
    return "running"


def _failures(campaign: Campaign) -> list[Failure]:
    """The failed services grouped by reason (state and the error's first line), most frequent first."""
    failed = (
        campaign.services.filter(wave__isnull=False, state__in=sorted(FAILED_STATES))
        .only("id", "request_id", "name", "zone_id", "state", "error")
        .order_by("id")
    )
    groups: dict[str, list[ServiceUpgrade]] = defaultdict(list)
    for service in failed:
        groups[_failure_reason(service)].append(service)
    ordered = sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))
    return [Failure(reason, len(members), members[:FAILURE_LINKS]) for reason, members in ordered]


def _abort(campaign: Campaign, counts: Counter) -> Abort | None:
    if campaign.state != CampaignState.ABORTED or not campaign.abort_running:
        return None
    return Abort(
        rollback=campaign.abort_running == Campaign.Running.ROLLBACK,
        ended_at=campaign.ended_at,
        running=counts[State.STEP1_RUNNING] + counts[State.STEP2_RUNNING],
        rolling_back=counts[State.ROLLING_BACK],
        rolled_back=counts[State.ROLLED_BACK],
        rollback_failed=counts[State.ROLLBACK_FAILED],
        completed=counts[State.COMPLETED],
        cancelled=counts[State.CANCELLED],
    )


def eta(campaign: Campaign, by_wave: dict[int, Counter]) -> Eta | None:
    """The expected end: each wave's services not yet ended, `max_parallel` at a time, each taking
    the mean time (Step 1 started to completed) of this campaign's services completed so far, plus
    the pauses between waves; from the scheduled start if it is later than now. None until a service
    completed, and once the campaign has finished. `by_wave`: the services counted by wave and state."""
    left = {
        number: n
        for number, states in by_wave.items()
        if (n := sum(count for state, count in states.items() if state not in ENDED_STATES))
    }
    completed = any(states[State.COMPLETED] for states in by_wave.values())
    if campaign.state in FINISHED or not left or not completed:
        return None
    mean = _mean_duration(campaign)
    if mean is None:
        return None
    seconds = sum(math.ceil(n / campaign.max_parallel) * mean for n in left.values())
    seconds += (len(left) - 1) * (campaign.pause_seconds or 0)
    now = timezone.now()
    begin = max(now, campaign.start_at or now)
    at = begin + timedelta(seconds=seconds)
    return Eta(at=at, seconds=round((at - now).total_seconds()), waits=campaign.pause_seconds is None)


def _mean_duration(campaign: Campaign) -> float | None:
    """Mean seconds from Step 1 started to completed over the campaign's completed services."""
    spans = (
        Event.objects.filter(
            service__campaign=campaign,
            service__state=State.COMPLETED,
            to_state__in=[State.STEP1_RUNNING, State.COMPLETED],
        )
        .values("service_id")
        .annotate(
            begin=Min("created_at", filter=Q(to_state=State.STEP1_RUNNING)),
            end=Max("created_at", filter=Q(to_state=State.COMPLETED)),
        )
        .values_list("begin", "end")
    )
    durations = [(end - begin).total_seconds() for begin, end in spans if begin and end]
    return sum(durations) / len(durations) if durations else None


def _failure_reason(service: ServiceUpgrade) -> str:
    first_line = (service.error or "").strip().splitlines()[:1]
    return f"{State(service.state).label}: {first_line[0]}" if first_line else State(service.state).label


def running_campaigns(user) -> list[Campaign]:
    """Home's block: the running and paused campaigns (the EC team's only)."""
    live = [CampaignState.RUNNING, CampaignState.PAUSED, CampaignState.STOPPED]
    return list(campaigns_for(user).filter(state__in=live)[:10])


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
