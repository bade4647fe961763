"""The reconciler finds work nobody is doing (silent, orphaned, scheduled) and queues it again."""

from datetime import timedelta

from django.utils import timezone

from tests.conftest import PROD, file_request
from upgrades import actions
from upgrades.engine import reconciler
from upgrades.models import Preflight, ServiceUpgrade
from upgrades.workflow import Action, State


def test_silent_and_orphaned_sub_steps_are_requeued_and_busy_ones_left_alone(
    cast, releases, django_capture_on_commit_callbacks
):
    request = file_request(cast["alice"], [PROD])
    actions.apply_request_action(request=request, action=Action.APPROVE, actor=cast["olga"])
    service = request.services.get()
    with django_capture_on_commit_callbacks():
        actions.apply_service_action(service=service, action=Action.TRIGGER, actor=cast["olga"])
    long_ago = timezone.now() - timedelta(minutes=5)
    busy = {"lease_owner": "worker-1", "lease_expires_at": timezone.now() + timedelta(minutes=1)}
    ServiceUpgrade.objects.filter(pk=service.pk).update(enqueued_at=long_ago, **busy)
    with django_capture_on_commit_callbacks() as queued:
        assert reconciler.reconcile()["revived"] == 0, "a live lease means someone is working on it"
    assert queued == []
    ServiceUpgrade.objects.filter(pk=service.pk).update(lease_expires_at=long_ago)
    with django_capture_on_commit_callbacks() as queued:
        assert reconciler.reconcile()["revived"] == 1, "an expired lease is an orphan"
    assert len(queued) == 1
    ServiceUpgrade.objects.filter(pk=service.pk).update(
        lease_owner="", lease_expires_at=None, enqueued_at=long_ago
    )
    with django_capture_on_commit_callbacks() as queued:
        assert reconciler.reconcile()["revived"] == 1, "queued long ago and never picked up: lost"
    assert ServiceUpgrade.objects.get(pk=service.pk).enqueued_at > long_ago


def test_quiet_preflight_checks_are_queued_again(cast, releases, django_capture_on_commit_callbacks):
    pending = file_request(cast["alice"], [PROD], checked=False).services.get()
    with django_capture_on_commit_callbacks() as queued:
        assert reconciler.reconcile()["rechecked"] == 0, "a check asked for just now is not quiet"
    assert queued == []
    run = ServiceUpgrade.objects.get(pk=pending.pk).preflight_run
    ServiceUpgrade.objects.filter(pk=pending.pk).update(
        preflight_requested_at=timezone.now() - timedelta(minutes=5)
    )
    with django_capture_on_commit_callbacks() as queued:
        assert reconciler.reconcile()["rechecked"] == 1
    revived = ServiceUpgrade.objects.get(pk=pending.pk)
    assert len(queued) == 1 and revived.preflight == Preflight.PENDING
    # The same run again: a check merely slow in a long queue is not voided by its nudge.
    assert revived.preflight_run == run
    assert revived.preflight_requested_at > timezone.now() - timedelta(minutes=1)
    with django_capture_on_commit_callbacks():
        assert reconciler.reconcile()["rechecked"] == 0, "nudged once per quiet period"


def test_due_schedules_start_step_1(cast, releases, django_capture_on_commit_callbacks):
    request = file_request(cast["alice"], [PROD])
    soon = timezone.now() + timedelta(minutes=10)
    actions.apply_request_action(request=request, action=Action.APPROVE, actor=cast["olga"], trigger_at=soon)
    with django_capture_on_commit_callbacks():
        assert reconciler.reconcile()["scheduled"] == 0
    ServiceUpgrade.objects.update(trigger_at=timezone.now() - timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=False):
        assert reconciler.reconcile()["scheduled"] == 1
    service = request.services.get()
    assert service.state == State.STEP1_RUNNING and service.trigger_at is None
    assert service.events.filter(to_state=State.STEP1_RUNNING, actor_label="system").count() == 1
