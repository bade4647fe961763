"""The campaign's row lock, taken by the wave driver and by a person's action: it holds up neither a
service's sub-step nor its end, and a nudge that finds it taken waits for it."""

import threading
from contextlib import contextmanager

import pytest
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from tests.engine.conftest import wait_for
from upgrades import campaigns, tasks
from upgrades.models import Campaign, ServiceUpgrade

from .conftest import behind, checked, create


@pytest.fixture
def stack(campaign_stack):
    return campaign_stack


def test_a_service_ends_its_sub_step_while_its_campaign_is_locked(fleet, cast):
    """A phase's end updates the service's row twice in one transaction (its lease, then its state),
    so PostgreSQL checks the row's campaign key when that transaction commits, with a FOR KEY SHARE
    lock on the campaign's row. A drive runs for every service that leaves its step,
    counting the campaign's services under its lock: had that lock been FOR UPDATE, each
    service's commit would wait for it, and the ends of a wave's services would go one drive at a
    time (a wave of 50 in a campaign of 500: seconds)."""
    campaign = create(cast["olga"], behind(2))
    service = campaign.services.first()
    with locked_elsewhere(campaign):
        with transaction.atomic():
            # Not waiting at all: a wait beyond this means the commit queued behind the drive.
            connection.cursor().execute("SET LOCAL lock_timeout = '5s'")
            ServiceUpgrade.objects.filter(pk=service.pk).update(progress="building", version=F("version") + 1)
            ServiceUpgrade.objects.filter(pk=service.pk).update(progress="staged", version=F("version") + 1)
    service.refresh_from_db()
    assert service.progress == "staged"


def test_a_nudge_that_finds_its_campaign_locked_waits_for_that_drive_then_drives(fleet, cast):
    """The nudge of the last service of a wave to end may find an earlier service's nudge still at work
    (which read the services before that end): it waits for it and then starts the next wave, instead
    of leaving it to the driver's next beat."""
    campaign = checked(create(cast["olga"], behind(2)))
    campaigns.act(campaign=campaign, action=campaigns.CampaignAction.APPROVE, actor=cast["oscar"])
    started = []
    nudge = threading.Thread(target=lambda: started.append(nudged(campaign)))
    # The campaign turns running under the other driver's lock: beat skips it until that commits.
    with locked_elsewhere(campaign, state=Campaign.State.RUNNING):
        nudge.start()
        wait_for(lambda: waiting_for_a_lock(), 30, "the nudge to wait for the campaign's lock")
    nudge.join(60)
    assert started == [2], "the nudge started the canary wave once the other drive ended"


def nudged(campaign: Campaign) -> int:
    try:
        return tasks.drive_campaign(campaign.pk)
    finally:
        connection.close()


def waiting_for_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND query LIKE %s",
            ['SELECT "upgrades_campaign".%'],  # the text shown is cut short: no FOR … at its end
        )
        return cursor.fetchone()[0] > 0


@contextmanager
def locked_elsewhere(campaign: Campaign, state: str = ""):
    """The campaign's row lock as the driver or a person's action takes it, held by another
    connection while the block runs (which sets the campaign's `state`, if given, under it)."""
    held, release = threading.Event(), threading.Event()

    def hold():
        try:
            with transaction.atomic():
                assert Campaign.objects.filter(pk=campaign.pk).locked().get() == campaign
                if state:
                    Campaign.objects.filter(pk=campaign.pk).update(state=state, started_at=timezone.now())
                held.set()
                release.wait(60)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(30), "the campaign's lock was not taken"
        yield
    finally:
        release.set()
        holder.join(60)
