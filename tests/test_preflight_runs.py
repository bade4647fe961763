"""Preflight runs one chain of checks per service at a time: results of a chain that was replaced are
void, transient failures end, and the EC team hears of a failure once per episode."""

from tests.conftest import PROD, file_request
from upgrades import actions, dispatch
from upgrades.models import Notification, Preflight, ServiceUpgrade


def _fresh(service) -> ServiceUpgrade:
    return ServiceUpgrade.objects.get(pk=service.pk)


def _preflight_messages(queued) -> list[tuple]:
    """The preflight sends the on-commit callbacks would make, as (service id, run)."""
    sent = []
    original = dispatch.send
    try:
        dispatch.send = lambda task, *args, countdown=0: sent.append((task, *args)) or True
        for callback in queued:
            callback()
    finally:
        dispatch.send = original
    return [tuple(args) for task, *args in sent if task == dispatch.PREFLIGHT]


def test_a_recheck_makes_the_older_chain_void(cast, releases, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as queued:
        service = file_request(cast["alice"], [PROD], checked=False).services.get()
    [(service_id, first_run)] = _preflight_messages(queued)
    assert service_id == service.pk
    actions.record_preflight(service_id=service.pk, run=first_run, outcome=Preflight.RETRYING, message="x")
    with django_capture_on_commit_callbacks() as queued:
        actions.recheck_preflight(service=service, actor=cast["alice"])
    [(_, second_run)] = _preflight_messages(queued)
    assert second_run == first_run + 1
    # The first chain's late verdict arrives after the recheck: it changes nothing.
    assert not actions.record_preflight(
        service_id=service.pk, run=first_run, outcome=Preflight.FAILED, message="stale"
    )
    assert _fresh(service).preflight == Preflight.PENDING
    assert actions.record_preflight(
        service_id=service.pk, run=second_run, outcome=Preflight.PASSED, message="ok"
    )
    assert _fresh(service).preflight == Preflight.PASSED


def test_one_failure_mail_per_episode(cast, releases):
    service = file_request(cast["alice"], [PROD], checked=False).services.get()

    def fail_again():
        actions.recheck_preflight(service=service, actor=cast["alice"])
        run = _fresh(service).preflight_run
        actions.record_preflight(
            service_id=service.pk, run=run, outcome=Preflight.FAILED, message="No route."
        )

    fail_again()
    fail_again()
    fail_again()
    assert Notification.objects.filter(milestone="preflight_failed").count() == 1
    actions.recheck_preflight(service=service, actor=cast["alice"])
    actions.record_preflight(service_id=service.pk, outcome=Preflight.PASSED, message="ok")
    fail_again()  # a failure after a pass is a new episode
    assert Notification.objects.filter(milestone="preflight_failed").count() == 2


def test_transient_failures_end_in_a_failed_check(
    cast, releases, settings, django_capture_on_commit_callbacks
):
    settings.ENGINE_MAX_ATTEMPTS = 3
    service = file_request(cast["alice"], [PROD], checked=False).services.get()
    run = _fresh(service).preflight_run
    for _ in range(2):
        with django_capture_on_commit_callbacks() as queued:
            actions.record_preflight(
                service_id=service.pk, run=run, outcome=Preflight.RETRYING, message="CF down."
            )
        assert _preflight_messages(queued) == [(service.pk, run)], "retried in the same run"
    with django_capture_on_commit_callbacks() as queued:
        actions.record_preflight(
            service_id=service.pk, run=run, outcome=Preflight.RETRYING, message="CF down."
        )
    assert _preflight_messages(queued) == [], "no endless retries"
    after = _fresh(service)
    assert after.preflight == Preflight.FAILED and "Gave up after 3 tries" in after.preflight_message
