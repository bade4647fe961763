"""The campaign's row lock, taken by the wave driver and by a person's action: it holds up neither a
service's sub-step nor its end, and a nudge that finds it taken looks again."""

import threading
from contextlib import contextmanager

import pytest
from celery.signals import after_task_publish
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F

from upgrades import dispatch, tasks
from upgrades.models import Campaign, ServiceUpgrade

from .conftest import approved_and_started, behind, create


@pytest.fixture
def stack(campaign_stack):
    return campaign_stack


def test_a_service_ends_its_sub_step_while_its_campaign_is_locked(fleet, cast):
    """A sub-step's end updates the service's row twice in one transaction (the state, then when it
    was queued), so PostgreSQL checks the row's campaign key when that transaction commits, with a
    FOR KEY SHARE lock on the campaign's row. A drive runs for every service that leaves its step,
    reading every service of the campaign under its lock: had that lock been FOR UPDATE, each
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


def test_a_nudge_that_finds_its_campaign_locked_asks_again_shortly(fleet, cast):
    """The nudge of the last service of a wave to end may find an earlier service's nudge still at work
    (which read the services before that end): it must look again a moment later, not leave the next
    wave to the driver's next beat."""
    campaign = approved_and_started(create(cast["olga"], behind(2)), cast["oscar"])
    published = []

    def note(sender=None, body=None, **_):
        published.append((sender, list(body[0])))

    after_task_publish.connect(note, weak=False)
    try:
        with locked_elsewhere(campaign):
            tasks.drive_campaign(campaign.pk)
            tasks.drive_campaign(campaign.pk, 1)
            tasks.drive_campaign(campaign.pk, 0)  # the last try: beat drives it next
    finally:
        after_task_publish.disconnect(note)
    tries = settings.CAMPAIGN_NUDGE_TRIES
    assert published == [
        (dispatch.DRIVE_CAMPAIGN, [campaign.pk, tries - 1]),
        (dispatch.DRIVE_CAMPAIGN, [campaign.pk, 0]),
    ]


@contextmanager
def locked_elsewhere(campaign: Campaign):
    """The campaign's row lock as the driver or a person's action takes it, held by another
    connection while the block runs."""
    held, release = threading.Event(), threading.Event()

    def hold():
        try:
            with transaction.atomic():
                assert Campaign.objects.filter(pk=campaign.pk).locked().get() == campaign
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
