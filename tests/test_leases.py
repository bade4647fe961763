"""The heartbeat keeps a sub-step's lease while its worker lives, and stops the worker once the lease
may be in other hands: taken over, or not renewed for two thirds of its life."""

import time

import pytest
from django.db import OperationalError

from tests.conftest import PROD, file_request
from upgrades.engine import leases
from upgrades.models import ServiceUpgrade
from upgrades.workflow import State

pytestmark = pytest.mark.django_db(transaction=True)


def _wait(predicate, seconds=10):
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


@pytest.fixture
def running(cast, releases, settings):
    settings.ENGINE_LEASE_SECONDS = 0.9  # a beat every 0.3 s
    service = file_request(cast["alice"], [PROD]).services.get()
    ServiceUpgrade.objects.filter(pk=service.pk).update(state=State.STEP1_RUNNING, step="stage")
    claimed = leases.claim(service.pk, "stage", "worker-a")
    assert claimed is not None
    return claimed


def test_the_heartbeat_renews_and_stops_the_worker_once_another_took_over(running):
    first = running.lease_expires_at
    with leases.Heartbeat(running, "worker-a") as heartbeat:
        _wait(lambda: ServiceUpgrade.objects.get(pk=running.pk).lease_expires_at > first)
        heartbeat.check()  # still ours
        ServiceUpgrade.objects.filter(pk=running.pk).update(lease_owner="worker-b")
        _wait(lambda: heartbeat.lost)
        with pytest.raises(leases.LeaseLost):
            heartbeat.check()
    assert ServiceUpgrade.objects.get(pk=running.pk).lease_owner == "worker-b", "never taken back"


def test_a_heartbeat_that_cannot_reach_the_database_stops_the_worker_in_time(running, monkeypatch):
    def unreachable(*args):
        raise OperationalError("server closed the connection unexpectedly")

    with leases.Heartbeat(running, "worker-a") as heartbeat:
        monkeypatch.setattr(leases, "_ours", unreachable)
        # Two thirds of the lease after the last renewal at the latest, before anyone may claim it.
        _wait(lambda: _raises(heartbeat.check), seconds=5)
        assert not heartbeat.lost


def _raises(check) -> bool:
    try:
        check()
    except leases.LeaseLost:
        return True
    return False
