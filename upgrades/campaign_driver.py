"""The wave driver: starts a running campaign's services when their wave is due, and ends it.

Runs from beat (`drive_running`) and after a person's action (`drive`); see `campaigns` for the
rules it follows.
"""

from collections import Counter
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from upgrades import actions
from upgrades.campaigns import (
    ENDED_STATES,
    FAILED_STATES,
    CampaignState,
    announce_wave,
    between_waves,
    by_wave,
    roll_back_touched,
)
from upgrades.models import Campaign, ServiceUpgrade
from upgrades.workflow import RUNNING_STATES, State

# Campaigns the driver moves on: running ones, and aborted ones whose abort has not ended yet.
DRIVEN = Q(state=CampaignState.RUNNING) | Q(state=CampaignState.ABORTED, ended_at__isnull=True)


def _driven(campaign: Campaign) -> bool:
    """Whether `campaign` is one of DRIVEN."""
    aborting = campaign.state == CampaignState.ABORTED and campaign.ended_at is None
    return campaign.state == CampaignState.RUNNING or aborting


def drive_running() -> int:
    """Beat, every CAMPAIGN_DRIVE_SECONDS: start the campaigns scheduled for now or earlier, then drive
    every running campaign and every abort still under way; how many services started."""
    start_scheduled()
    driven = Campaign.objects.filter(DRIVEN).values_list("pk", flat=True)
    return sum(drive(pk) for pk in list(driven))


def start_scheduled() -> int:
    """Approved campaigns whose start time has come run now (one conditional UPDATE: a campaign
    aborted or started by a person meanwhile is left as it is). How many started."""
    now = timezone.now()
    return Campaign.objects.filter(state=CampaignState.APPROVED, start_at__lte=now).update(
        state=CampaignState.RUNNING, started_at=now, start_at=None, updated_at=now
    )


def drive(campaign_id: int, *, wait: bool = False) -> int:
    """Move a running campaign on, in one transaction under its row lock: stop it when the failure
    budget is spent, complete it when every service ended, wait between waves as told, and start
    the current wave's services up to `max_parallel` running at once. Returns how many it started.

    Beat skips a campaign another driver holds (0). A nudge (`wait`: a service left its step, a
    person acted) waits for that driver instead, then looks: the other may have read the services
    before the change that asked for this drive. A drive takes tens of milliseconds, so the nudges
    of a wave's end queue only briefly, and the next wave starts as soon as the last one's ends.

    An aborted campaign starts nothing: see `_wind_down`.

    Idempotent: two drivers take turns; a driver killed midway commits nothing; a service starts
    only by the compare-and-set from `approved`."""
    with transaction.atomic():
        # Locked by key alone: a row whose state another driver is changing is waited for, then read
        # as that one left it.
        campaign = Campaign.objects.locked(skip_locked=not wait).filter(pk=campaign_id).first()
        if campaign is None or not _driven(campaign):
            return 0
        if campaign.state == CampaignState.ABORTED:
            _wind_down(campaign, list(_members(campaign).order_by("wave", "id")))
            return 0
        # Each service that ends its step asks for a drive, and a campaign may hold thousands: a drive
        # decides from the services counted by wave and state, and reads only those it acts on.
        counted = by_wave(campaign)
        if spent := _budget_spent(campaign, counted):
            _end(campaign, CampaignState.STOPPED, spent)
            return 0
        if all(state in ENDED_STATES for states in counted.values() for state in states):
            _end(campaign, CampaignState.COMPLETED, "")
            return 0
        if not _next_wave_due(campaign, counted):
            return 0
        return _start_services(campaign, counted)


def _members(campaign: Campaign):
    return campaign.services.filter(wave__isnull=False)


def _next_wave_due(campaign: Campaign, counted: dict[int, Counter]) -> bool:
    """Whether the current wave may start services: it has not ended, or the next one is due now
    (then it becomes current). The end of a wave is recorded once; the pause runs from there."""
    if campaign.current_wave > 0 and not between_waves(campaign, counted):
        return True
    following = min(number for number in counted if number > campaign.current_wave)
    now = timezone.now()
    if campaign.current_wave > 0:
        pause = campaign.pause_seconds
        if campaign.wave_ended_at is None:
            campaign.wave_ended_at = now
            campaign.save(update_fields=["wave_ended_at", "updated_at"])
            members = list(_members(campaign).filter(wave=following).order_by("id"))
            announce_wave(
                campaign, members, following, None if pause is None else now + timedelta(seconds=pause)
            )
        due = pause is not None and now >= campaign.wave_ended_at + timedelta(seconds=pause)
        if not (campaign.continue_now or due):
            return False
    campaign.current_wave = following
    campaign.wave_ended_at, campaign.continue_now = None, False
    campaign.save(update_fields=["current_wave", "wave_ended_at", "continue_now", "updated_at"])
    return True


def _start_services(campaign: Campaign, counted: dict[int, Counter]) -> int:
    running = sum(n for states in counted.values() for state, n in states.items() if state in RUNNING_STATES)
    free = max(campaign.max_parallel - running, 0)
    waiting = _members(campaign).filter(wave=campaign.current_wave, state=State.APPROVED).order_by("id")
    started = 0
    for service in waiting[:free]:
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


def _budget_spent(campaign: Campaign, counted: dict[int, Counter]) -> str:
    """Why the failure budget is spent (K failures in all, or X % of the current wave), or ""."""
    failed = Counter()
    for states in counted.values():
        failed.update({state: n for state, n in states.items() if state in FAILED_STATES})
    wave = counted.get(campaign.current_wave, Counter())
    failed_in_wave = Counter({state: n for state, n in wave.items() if state in FAILED_STATES})
    percent = campaign.failure_budget_percent
    if failed.total() >= campaign.failure_budget:
        spent, which = f"the failure budget of {campaign.failure_budget} is spent", failed
    elif percent and wave and 100 * failed_in_wave.total() >= percent * wave.total():
        spent = (
            f"the failure budget of {percent} % of a wave is spent in wave {campaign.current_wave} "
            f"({failed_in_wave.total()} of {wave.total()})"
        )
        which = failed_in_wave
    else:
        return ""
    states = Counter()
    for state, n in which.items():
        states[State(state).label.lower()] += n
    kinds = ", ".join(f"{n} {label}" for label, n in sorted(states.items()))
    return (
        f"{spent[0].upper()}{spent[1:]}: {which.total()} service(s) failed ({kinds}). "
        "No further service is started; retry the failed ones or abort."
    )


def _wind_down(campaign: Campaign, services: list[ServiceUpgrade]) -> None:
    """An abort under way: with roll back, roll back each service the person chose to as soon as its
    state allows; the abort ends once every service has ended (the next pass looks at the states
    the rollbacks just set)."""
    if not roll_back_touched(campaign, services) and all(s.state in ENDED_STATES for s in services):
        campaign.ended_at = timezone.now()
        campaign.save(update_fields=["ended_at", "updated_at"])


def _end(campaign: Campaign, state: str, reason: str) -> None:
    campaign.state, campaign.reason, campaign.ended_at = state, reason, timezone.now()
    campaign.save(update_fields=["state", "reason", "ended_at", "updated_at"])
