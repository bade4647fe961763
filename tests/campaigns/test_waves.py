"""Campaigns driven end to end by a real worker and beat against the fleet cfsim over HTTP."""

from django.db.models.signals import post_init

from tests.engine.conftest import topology, wait_for
from upgrades import campaign_driver, campaign_reads, campaigns
from upgrades.campaigns import CampaignAction as Action
from upgrades.models import Campaign, Event, ServiceUpgrade
from upgrades.workflow import ACTIVE_STATES, RUNNING_STATES, Plan, State

from .conftest import BROKEN, TARGET, approved_and_started, behind, create, wait_campaign


def served_release(sim, zone_id: str) -> str:
    """The release of the app cfsim's route for `zone_id` sends traffic to."""
    state = sim.state()
    apps = {app["guid"]: app for app in state["apps"]}
    route = next(r for r in state["routes"] if r["url"].startswith(zone_id + "."))
    return ",".join(apps[d["app_guid"]]["image"].rsplit(":", 1)[1] for d in route["destinations"])


def test_a_30_service_campaign_in_3_waves_moves_every_service_to_the_release(fleet, cast):
    services = behind(30)
    campaign = create(cast["olga"], services, canary_size=6, wave_size=12, max_parallel=12)
    waves = sorted(set(campaign.services.values_list("wave", flat=True)))
    assert waves == [1, 2, 3]

    approved_and_started(campaign, cast["oscar"])
    wait_campaign(campaign, Campaign.State.COMPLETED, timeout=240)

    assert set(campaign.services.values_list("state", flat=True)) == {State.COMPLETED}
    assert {served_release(fleet, s.zone_id) for s in services} == {TARGET}
    # The waves went in order: no service of a wave started before every one of the wave before ended.
    for wave in (2, 3):
        assert (
            moments(campaign, wave, State.STEP1_RUNNING)[0]
            >= moments(campaign, wave - 1, State.COMPLETED)[-1]
        )


def moments(campaign: Campaign, wave: int, state: State) -> list:
    """When the services of `wave` entered `state`, earliest first."""
    events = Event.objects.filter(service__campaign=campaign, service__wave=wave, to_state=state)
    return sorted(events.values_list("created_at", flat=True))


def test_a_spent_failure_budget_stops_the_campaign_and_says_why(fleet, cast):
    # One at a time: the driver looks as each service fails, so the budget is spent by the second
    # and the other three never start, whenever the driver looks.
    campaign = create(
        cast["olga"], behind(5), release=BROKEN, canary_size=5, max_parallel=1, failure_budget=2
    )

    approved_and_started(campaign, cast["oscar"])
    wait_campaign(campaign, Campaign.State.STOPPED)

    states = sorted(campaign.services.values_list("state", flat=True))
    assert states == [State.APPROVED] * 3 + [State.STEP1_FAILED] * 2
    assert "failure budget of 2 is spent" in campaign.reason and "2 step 1 failed" in campaign.reason
    assert campaign_driver.drive(campaign.pk) == 0  # a stopped campaign starts nothing more

    # Once CF builds the image again, Retry runs the failed steps again and the campaign goes on.
    fleet.configure(failing_images=[])
    retried = campaigns.act(campaign=campaign, action=Action.RETRY, actor=cast["oscar"])
    assert retried.state == Campaign.State.RUNNING and retried.reason == ""
    wait_campaign(campaign, Campaign.State.COMPLETED)
    assert set(campaign.services.values_list("state", flat=True)) == {State.COMPLETED}


def test_pause_holds_new_starts_continue_opens_the_next_wave_and_abort_lets_running_ones_finish(fleet, cast):
    campaign = create(cast["olga"], behind(6), canary_size=2, wave_size=2, max_parallel=2, pause_seconds=None)
    oscar = cast["oscar"]
    approved_and_started(campaign, oscar)
    campaigns.act(campaign=campaign, action=Action.PAUSE, actor=oscar)

    # Paused: whatever had started finishes, and the driver starts nothing more.
    wait_for(lambda: not in_states(campaign, *RUNNING_STATES), 60, "started services to finish")
    waiting = in_states(campaign, State.APPROVED)
    assert campaign_driver.drive(campaign.pk) == 0 and in_states(campaign, State.APPROVED) == waiting
    assert len(waiting) >= 4

    # Resumed: wave 1 ends, and with no pause set the next waits for a person.
    campaigns.act(campaign=campaign, action=Action.RESUME, actor=oscar)
    wait_for(lambda: waits_for_continue(campaign), 60, "wave 1 to end")
    assert campaign_driver.drive(campaign.pk) == 0
    assert {s.wave for s in in_states(campaign, State.APPROVED)} == {2, 3}

    # Continue: wave 2 starts; aborted while it runs, it finishes and wave 3 never starts.
    fleet.configure(start_delay=2)
    campaigns.act(campaign=campaign, action=Action.CONTINUE, actor=oscar)
    wait_for(lambda: in_states(campaign, State.STEP1_RUNNING), 30, "wave 2 to start")
    aborted = campaigns.act(campaign=campaign, action=Action.ABORT, actor=oscar)
    assert aborted.state == Campaign.State.ABORTED and "aborted by oscar" in aborted.reason
    wait_for(lambda: not in_states(campaign, *ACTIVE_STATES), 60, "wave 2 to finish")
    states = {s.wave: set() for s in campaign.services.all()}
    for service in campaign.services.all():
        states[service.wave].add(service.state)
    assert states == {1: {State.COMPLETED}, 2: {State.COMPLETED}, 3: {State.CANCELLED}}
    wait_campaign(campaign, Campaign.State.ABORTED)
    wait_for(lambda: ended(campaign), 30, "the abort to end")
    assert campaign.abort_running == Campaign.Running.FINISH


def test_abort_with_roll_back_in_wave_1_rolls_back_every_started_service_and_cancels_the_rest(fleet, cast):
    services = behind(4)
    # Tested first: Step 1 ends waiting for verification, which the rollback action is allowed from.
    campaign = create(
        cast["olga"], services, plan=Plan.TEST_FIRST, canary_size=2, wave_size=2, max_parallel=1
    )
    fleet.configure(start_delay=2)
    oscar = cast["oscar"]
    approved_and_started(campaign, oscar)
    # One at a time: the first waits for verification while the second is in Step 1.
    wait_for(
        lambda: in_states(campaign, State.AWAITING_VERIFICATION), 60, "the first to wait for verification"
    )
    wait_for(lambda: in_states(campaign, State.STEP1_RUNNING), 30, "the second to start Step 1")

    aborted = campaigns.act(campaign=campaign, action=Action.ABORT, actor=oscar, running="rollback")

    assert aborted.state == Campaign.State.ABORTED and "rolled back" in aborted.reason
    # The waiting one rolls back at once; the one in Step 1 once its step ends (the driver).
    assert in_states(campaign, State.ROLLING_BACK, State.ROLLED_BACK)
    wait_for(lambda: ended(campaign), 90, "the abort to end")
    by_wave = {wave: set() for wave in (1, 2)}
    for service in campaign.services.all():
        by_wave[service.wave].add(service.state)
    assert by_wave == {1: {State.ROLLED_BACK}, 2: {State.CANCELLED}}
    # Both rollbacks are oscar's, each fired once.
    rollbacks = Event.objects.filter(service__campaign=campaign, to_state=State.ROLLING_BACK)
    assert sorted(rollbacks.values_list("actor__username", flat=True)) == ["oscar", "oscar"]
    # CF: the old release alone serves each original route; no green app, no temporary route is left.
    for service in services:
        shown = topology(fleet, service.zone_id, service.app_name)
        assert shown["serving"] == [(service.app_name, service.image)]
        assert [app[0] for app in shown["apps"]] == [service.app_name]
        assert shown["temporary_routes"] == []
    assert campaign_driver.drive(campaign.pk) == 0 and not in_states(campaign, State.ROLLING_BACK)


def ended(campaign: Campaign) -> bool:
    campaign.refresh_from_db()
    return campaign.ended_at is not None


def in_states(campaign: Campaign, *states: State) -> list[ServiceUpgrade]:
    return list(campaign.services.filter(state__in=states))


def waits_for_continue(campaign: Campaign) -> bool:
    campaign.refresh_from_db()
    return campaign_reads.progress(campaign).waits_for_continue


def test_abort_with_roll_back_holds_step2_of_a_back_to_back_service_still_in_step1(fleet, cast):
    services = behind(2)
    campaign = create(cast["olga"], services, canary_size=1, wave_size=1, max_parallel=1)
    fleet.configure(start_delay=3)  # Step 1 waits for green's instances a while
    oscar = cast["oscar"]
    approved_and_started(campaign, oscar)
    wait_for(
        lambda: campaign.services.filter(state=State.STEP1_RUNNING, step="wait_running").first(),
        60,
        "the canary to wait for green's instances",
    )

    campaigns.act(campaign=campaign, action=Action.ABORT, actor=oscar, running="rollback")

    wait_for(lambda: ended(campaign), 90, "the abort to end")
    canary = campaign.services.get(wave=1)
    assert canary.state == State.ROLLED_BACK
    # Step 1 ended after the abort: Step 2 never started, the rollback is oscar's.
    transitions = canary.events.filter(kind=Event.Kind.TRANSITION).order_by("created_at", "id")
    moves = list(transitions.values_list("to_state", flat=True))
    assert State.STEP2_RUNNING not in moves
    assert moves[-3:] == [State.AWAITING_VERIFICATION, State.ROLLING_BACK, State.ROLLED_BACK]
    assert canary.events.get(to_state=State.ROLLING_BACK).actor.username == "oscar"
    assert campaign.services.get(wave=2).state == State.CANCELLED
    seen = next(s for s in services if s.zone_id == canary.zone_id)
    shown = topology(fleet, seen.zone_id, seen.app_name)
    assert shown["serving"] == [(seen.app_name, seen.image)]
    assert [app[0] for app in shown["apps"]] == [seen.app_name]


def test_a_drive_reads_whole_only_the_services_it_starts(fleet, cast):
    """Every service that ends its step asks for a drive: the drive decides from the campaign's
    services counted by wave and state, and reads whole only those it starts, so the end of a wave
    costs the same in a campaign of 12 services as in one of 5,000."""
    campaign = create(cast["olga"], behind(12), canary_size=2, wave_size=5, max_parallel=5)
    approved_and_started(campaign, cast["oscar"])
    read = []

    def count(sender, instance, **_):
        read.append(instance)

    post_init.connect(count, sender=ServiceUpgrade)
    try:
        started = campaign_driver.drive(campaign.pk, wait=True)
    finally:
        post_init.disconnect(count, sender=ServiceUpgrade)
    assert len(read) == started, f"{len(read)} services read to start {started}"
    wait_campaign(campaign, Campaign.State.COMPLETED, timeout=240)
