"""Campaign scheduling and safety, end to end on a real worker and beat against the fleet cfsim:
a start at a set time, waves ordered by foundation, a failure budget as a share of a wave, the
expected end, and a worker killed while the campaign's services run."""

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.engine.conftest import wait_for
from upgrades import campaigns
from upgrades.campaigns import CampaignAction as Action
from upgrades.models import Campaign, Event
from upgrades.workflow import RUNNING_STATES, State

from .conftest import BROKEN, approved_and_started, behind, checked, create, wait_campaign


@pytest.fixture
def stack(campaign_stack):
    return campaign_stack


def api_start(client, campaign: Campaign, **body):
    return client.post(f"/api/campaigns/{campaign.pk}/start/", body, content_type="application/json")


def test_a_campaign_scheduled_for_a_set_time_starts_then_and_not_before(fleet, cast, client):
    campaign = checked(create(cast["olga"], behind(3), canary_size=3, max_parallel=3))
    oscar = cast["oscar"]
    campaigns.act(campaign=campaign, action=Action.APPROVE, actor=oscar)
    client.force_login(oscar)

    # A time in the past, too far ahead, or not a time at all: 400 with the field's message.
    now = timezone.now()
    past = api_start(client, campaign, start_at=(now - timedelta(minutes=5)).isoformat())
    assert past.status_code == 400 and "has passed" in past.json()["start_at"][0]
    far = api_start(client, campaign, start_at=(now + timedelta(days=31)).isoformat())
    assert far.status_code == 400 and "at most 30 days ahead" in far.json()["start_at"][0]
    assert api_start(client, campaign, start_at="tomorrow").status_code == 400

    start_at = timezone.now() + timedelta(seconds=10)
    scheduled = api_start(client, campaign, start_at=start_at.isoformat())
    assert scheduled.status_code == 200, scheduled.content
    assert scheduled.json()["state"] == "approved" and scheduled.json()["start_at"]
    page = client.get(f"/campaigns/{campaign.pk}/").content.decode()
    assert f'Starts at <time datetime="{start_at:%Y-%m-%dT%H:%M:%S}' in page
    assert f"{start_at:%Y-%m-%d %H:%M} UTC</time>, in " in page

    wait_campaign(campaign, Campaign.State.COMPLETED, timeout=90)
    first_start = Event.objects.filter(service__campaign=campaign, to_state=State.STEP1_RUNNING).earliest(
        "created_at"
    )
    assert campaign.started_at >= start_at and first_start.created_at >= start_at
    assert campaign.start_at is None


def test_waves_go_by_foundation_and_the_expected_end_shows_once_a_service_completed(fleet, cast, client):
    services = behind(12)
    assert Counter(s.foundation for s in services)["cf3"] >= 2, "the fleet seed puts some on CF3"
    campaign = create(
        cast["olga"],
        services,
        canary_size=2,
        wave_size=5,
        max_parallel=5,
        pause_seconds=None,
        foundation_order=("cf3",),
    )
    canary = campaign.services.filter(wave=1)
    assert set(canary.values_list("foundation", flat=True)) == {"cf3"}
    client.force_login(cast["oscar"])
    draft = client.get(f"/campaigns/{campaign.pk}/").content.decode()
    assert "CF3 first" in draft and "Expected end: unknown until a service has completed" in draft

    approved_and_started(campaign, cast["oscar"])
    # With no pause set, the campaign waits for a person after the canary wave: a steady moment.
    wait_for(lambda: "next wave waits for you" in live(client, campaign), 60, "the canary wave to end")
    shown = client.get(f"/api/campaigns/{campaign.pk}/").json()
    assert shown["eta"] is not None and shown["eta"]["waits"] is True and shown["eta"]["seconds"] >= 0
    assert "Expected end: <time" in live(client, campaign)
    campaigns.act(campaign=campaign, action=Action.ABORT, actor=cast["oscar"])


def live(client, campaign: Campaign) -> str:
    return client.get(f"/campaigns/{campaign.pk}/live/").content.decode()


def test_a_failure_budget_as_a_share_of_the_wave_stops_the_campaign(fleet, cast):
    campaign = create(
        cast["olga"],
        behind(4),
        release=BROKEN,
        canary_size=4,
        max_parallel=1,  # one at a time: the second failure is the one that spends the budget
        failure_budget=10,
        failure_budget_percent=50,
    )
    approved_and_started(campaign, cast["oscar"])
    wait_campaign(campaign, Campaign.State.STOPPED)

    states = sorted(campaign.services.values_list("state", flat=True))
    assert states == [State.APPROVED] * 2 + [State.STEP1_FAILED] * 2
    assert "50 % of a wave is spent in wave 1 (2 of 4)" in campaign.reason


def test_a_worker_killed_while_services_run_loses_and_doubles_nothing(fleet, cast, stack):
    services = behind(6)
    fleet.configure(start_delay=2)
    campaign = create(cast["olga"], services, canary_size=2, wave_size=4, max_parallel=4)
    approved_and_started(campaign, cast["oscar"])
    wait_for(
        lambda: campaign.services.filter(wave=2, state__in=RUNNING_STATES).count() >= 2,
        90,
        "wave 2's services to run",
    )
    stack.kill_worker()
    stack.start_worker()
    wait_campaign(campaign, Campaign.State.COMPLETED, timeout=150)

    assert set(campaign.services.values_list("state", flat=True)) == {State.COMPLETED}
    # Each service entered each state once, and CF created one green app, one temporary route and
    # one package per service: the resumed sub-steps found what the killed worker had made.
    entered = Counter(
        Event.objects.filter(service__campaign=campaign)
        .exclude(to_state="")
        .values_list("service_id", "to_state")
    )
    assert set(entered.values()) == {1}, [key for key, n in entered.items() if n > 1]
    calls = Counter((c["method"], c["path"]) for c in fleet.calls())
    for path in ("/v3/apps", "/v3/packages", "/v3/routes"):
        assert calls[("POST", path)] == len(services), path
