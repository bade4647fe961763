"""Campaigns driven end to end by a real worker and beat against the fleet cfsim over HTTP."""

from upgrades import campaigns
from upgrades.models import Campaign, Event
from upgrades.workflow import State

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
    campaign = create(
        cast["olga"], behind(5), release=BROKEN, canary_size=5, max_parallel=2, failure_budget=2
    )

    approved_and_started(campaign, cast["oscar"])
    wait_campaign(campaign, Campaign.State.STOPPED)

    states = sorted(campaign.services.values_list("state", flat=True))
    assert states == [State.APPROVED] * 3 + [State.STEP1_FAILED] * 2
    assert "failure budget of 2 is spent" in campaign.reason and "2 step 1 failed" in campaign.reason
    assert campaigns.drive(campaign.pk) == 0  # a stopped campaign starts nothing more
