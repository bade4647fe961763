"""Campaign tests: a cfsim seeded with a generated fleet, a real worker and beat driving campaigns
against it over HTTP, PostgreSQL and Redis."""

import pytest
import redis
from django.conf import settings
from django.db import connection

from ecportal.embedded import demo_foundations, demo_secrets
from testkit.cfsim import CfSim
from tests.engine.conftest import start_stack, wait_for
from upgrades import campaign_reads, campaigns, foundations, inventory
from upgrades.models import Campaign, FleetService, Preflight, Release
from upgrades.workflow import Plan

FLEET_SIZE, FLEET_SEED = 60, 23
TARGET = "okinawa.130"
BROKEN = "broken.999"
BROKEN_IMAGE = "ecsim/ec-service:broken.999"


@pytest.fixture(scope="package")
def fleet_sim():
    with CfSim(args=("--fleet", str(FLEET_SIZE), "--fleet-seed", str(FLEET_SEED))) as sim:
        yield sim


@pytest.fixture(scope="package")
def campaign_stack(django_db_setup, django_db_blocker, fleet_sim, tmp_path_factory):
    """A worker and beat on the fleet cfsim; beat drives campaigns every second."""
    assert connection.vendor == "postgresql", "campaign tests run on PostgreSQL (make test sets DATABASE_URL)"
    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()
    # Short leases and a quick reconciler: work a killed worker held is taken up again within seconds.
    # A long grouping window: each campaign mail holds every service of the test, whatever the timing.
    running = start_stack(
        fleet_sim,
        tmp_path_factory.mktemp("celery"),
        CAMPAIGN_DRIVE_SECONDS="1",
        ENGINE_LEASE_SECONDS="6",
        ENGINE_RECONCILE_SECONDS="2",
        CAMPAIGN_NOTIFY_GROUP_SECONDS="600",
    )
    yield running
    running.stop()


@pytest.fixture
def fleet(campaign_stack, fleet_sim, transactional_db, cast, releases, monkeypatch):
    """The fleet cfsim back at its seed with no delays, the portal's foundations on it, the inventory
    read, and a release whose image cfsim fails to stage."""
    fleet_sim.reset()
    fleet_sim.configure(staging_delay=0, start_delay=0, job_delay=0, failing_images=[BROKEN_IMAGE])
    monkeypatch.setattr(
        foundations, "_configured", lambda: foundations.parse(demo_foundations(fleet_sim.api_url))
    )
    for name, value in demo_secrets().items():
        monkeypatch.setenv(name, value)
    inventory.sync_all()
    Release.objects.create(name=BROKEN, docker_image=BROKEN_IMAGE)
    return fleet_sim


def behind(count: int) -> list[FleetService]:
    """`count` fleet services not yet on the target release, in a fixed order."""
    found = list(FleetService.objects.exclude(release=TARGET).order_by("zone_id")[:count])
    assert len(found) == count, f"the fleet seed has only {len(found)} services behind {TARGET}"
    return found


def create(creator, services, *, release=TARGET, plan=Plan.BACK_TO_BACK, **waves) -> Campaign:
    shape = {"canary_size": 2, "wave_size": 4, "max_parallel": 4, "pause_seconds": 0, "failure_budget": 1}
    return campaigns.create_campaign(
        creator=creator,
        name="Roll out",
        release=Release.objects.get(name=release),
        plan=plan,
        named=campaigns.named_services([s.zone_id for s in services], "zone_ids"),
        waves=campaigns.Waves(**(shape | waves)),
    )


def checked(campaign: Campaign) -> Campaign:
    """Wait until the worker's preflight reported on every service of the campaign."""
    wait_for(
        lambda: not campaign.services.filter(preflight__in=[Preflight.PENDING, Preflight.RETRYING]).exists(),
        60,
        "every preflight check",
    )
    return campaign


def approved_and_started(campaign: Campaign, approver) -> Campaign:
    checked(campaign)
    campaigns.act(campaign=campaign, action=campaigns.CampaignAction.APPROVE, actor=approver)
    return campaigns.act(campaign=campaign, action=campaigns.CampaignAction.START, actor=approver)


def wait_campaign(campaign: Campaign, *states: str, timeout: float = 120) -> Campaign:
    def reached():
        campaign.refresh_from_db()
        return campaign if campaign.state in states else None

    try:
        return wait_for(reached, timeout, f"campaign {campaign.pk} to reach {states}")
    except AssertionError:
        counts = campaign_reads.progress(campaign).counts
        raise AssertionError(f"campaign {campaign.pk} is {campaign.state} with {counts}") from None
