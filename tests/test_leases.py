"""The heartbeat keeps a sub-step's lease while its worker lives, and stops the worker once the lease
may be in other hands: taken over, or not renewed for two thirds of its life."""

import time

import pytest
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext

from tests.conftest import PROD, file_request
from upgrades.engine import leases
from upgrades.models import ServiceUpgrade
from upgrades.workflow import State

pytestmark = pytest.mark.django_db(transaction=True)


def _wait(predicate, seconds=10):
    deadline = time.monotonic() + seconds
    while not (value := predicate()):
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)
    return value


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


def test_a_sub_step_stuck_past_its_time_is_left_for_another_worker_to_take_over(running, settings):
    """A thread cannot be stopped from outside: past ENGINE_SUBSTEP_SECONDS the heartbeat stops
    renewing, so the lease expires and another worker can claim the sub-step; the stuck one, should
    its call ever return, stops before its next CF call."""
    settings.ENGINE_SUBSTEP_SECONDS = 1.5
    with leases.Heartbeat(running, "worker-a") as heartbeat:
        taken = _wait(lambda: leases.claim(running.pk, "stage", "worker-b"), seconds=10)
        with pytest.raises(leases.LeaseLost):
            heartbeat.check()
    assert taken.lease_owner == "worker-b"


def _raises(check) -> bool:
    try:
        check()
    except leases.LeaseLost:
        return True
    return False


@pytest.mark.parametrize("keep", [True, False])
def test_a_phase_that_ends_into_the_next_keeps_its_first_sub_step_for_the_worker_only_if_asked(
    cast, releases, keep
):
    """A back-to-back Step 1 ends into Step 2: a worker allowed to go on holds the lease on Step 2's
    first sub-step and runs it at once (nothing goes through the broker); otherwise it is enqueued."""
    service = file_request(cast["alice"], [PROD]).services.get()
    ServiceUpgrade.objects.filter(pk=service.pk).update(state=State.STEP1_RUNNING, step="check_temporary_url")
    claimed = leases.claim(service.pk, "check_temporary_url", "worker-a")
    held = leases.finish(claimed, "worker-a", lambda: (State.STEP2_RUNNING, "Step 2 follows."), keep=keep)
    row = ServiceUpgrade.objects.get(pk=service.pk)
    assert (row.state, row.step) == (State.STEP2_RUNNING, "map_original")
    assert held is keep
    if keep:
        assert row.lease_owner == "worker-a" and row.lease_expires_at is not None
        assert row.enqueued_at is None, "nothing was sent to the broker"
        assert (claimed.state, claimed.step) == (State.STEP2_RUNNING, "map_original")
    else:
        assert row.lease_owner == "" and row.enqueued_at is not None


def test_a_look_that_finds_cf_still_working_writes_the_service_once(running):
    """A poll runs many times per upgrade: handing the lease back, its progress and the time its next
    look was queued (which the reconciler watches) go in one UPDATE."""
    with CaptureQueriesContext(connection) as queries:
        leases.wait(running, "worker-a", 5, "Staging the new release")
    writes = [q["sql"] for q in queries if q["sql"].startswith('UPDATE "upgrades_serviceupgrade"')]
    assert len(writes) == 1, writes
    row = ServiceUpgrade.objects.get(pk=running.pk)
    assert (row.lease_owner, row.progress) == ("", "Staging the new release")
    assert row.enqueued_at is not None
