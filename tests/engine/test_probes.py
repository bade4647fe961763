"""Proof through Step 2: the prober process probes the original URL through cfsim's router while a
real worker cuts over, and the gates hold the cut-over until the probes say it is safe."""

import pytest

from tests.engine.conftest import (
    ACME,
    ACME_PROD,
    ACME_ZONE,
    NEW,
    OLD,
    approve_and_trigger,
    filed_and_checked,
    topology,
    wait_for,
    wait_state,
)
from upgrades import actions
from upgrades.models import CallLog, Event, ProbeRun, ProbeSecond
from upgrades.workflow import Action, Plan, State

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def probe_counts(run: ProbeRun) -> dict[str, int]:
    seconds = ProbeSecond.objects.filter(run=run)
    return {
        "sent": run.sent,
        "failed": run.failed,
        "rows": seconds.count(),
        "sent_in_rows": sum(s.sent for s in seconds),
        "new": sum(s.new for s in seconds),
        "old": sum(s.old for s in seconds),
    }


def all_written(service) -> dict[str, int] | None:
    """The counts of the service's run once the prober has written a row for every answer counted."""
    counts = probe_counts(ProbeRun.objects.get(service=service))
    return counts if counts["sent_in_rows"] == counts["sent"] else None


def test_with_a_slow_router_the_upgrade_completes_with_no_failed_probe_and_2_2_waits(engine, sim, cast):
    sim.configure(route_delay=3)
    request = filed_and_checked(cast["alice"], [ACME_PROD], plan=Plan.BACK_TO_BACK)
    approve_and_trigger(request, cast["olga"])
    service = wait_state(request.services.get().pk, State.COMPLETED, timeout=120)
    assert topology(sim, ACME_ZONE, ACME)["serving"] == [(ACME, NEW)]
    # The tallies count every answer at once; each second's row follows once the second is over and,
    # for the last ones, once the prober sees the run ended.
    counts = wait_for(lambda: all_written(service), 10, "the tallies to be the sum of the seconds written")
    run = ProbeRun.objects.get(service=service)
    print(f"\nslow router (3 s): {counts}, 2.2 waited {run.unmap_waited_ms} ms")
    assert counts["failed"] == 0 and counts["sent"] > 0, counts
    assert counts["old"] > 0 and counts["new"] > 0, "both releases answered the original URL in turn"
    assert run.ended_at is not None, "probing ended once the old app was stopped"
    # The router applies 2.1's mapping 3 s after the call, so the new release cannot have answered
    # (and 2.2 cannot have gone on) sooner than that after 2.2 began.
    assert run.unmap_waited_ms > 2000
    waited = Event.objects.get(service=service, kind=Event.Kind.NOTE, message__startswith="2.2 waited")
    assert "until the original URL answered with okinawa.130" in waited.message
    # The first of each: a sub-step that ran again (a revived lease on a loaded machine) looks up
    # before it maps, but may have asked CF twice.
    mapped = CallLog.objects.filter(service=service, step="map_original", method="POST").earliest(
        "created_at"
    )
    unmapped = CallLog.objects.filter(service=service, step="unmap_blue", method="DELETE").earliest(
        "created_at"
    )
    assert (unmapped.created_at - mapped.created_at).total_seconds() > 2, "2.2 came after the router's delay"
    # While 2.2 waited, its looks read the probe run and asked CF nothing: green's instances were
    # looked at once the gate had opened (twice, should a revived lease have run the sub-step again).
    looks = CallLog.objects.filter(service=service, step="unmap_blue", path__endswith="/stats").count()
    assert 1 <= looks <= 2, f"2.2 asked CF for green's instances {looks} times"


def test_a_new_release_that_answers_errors_stops_step_2_before_the_old_app_stops(engine, sim, cast):
    before = topology(sim, ACME_ZONE, ACME)
    sim.configure(erroring_images=[NEW])
    request = filed_and_checked(cast["alice"], [ACME_PROD])
    approve_and_trigger(request, cast["olga"])
    service = wait_state(request.services.get().pk, State.AWAITING_VERIFICATION)
    actions.apply_request_action(request=request, action=Action.CONFIRM, actor=cast["alice"])
    service.refresh_from_db()
    actions.apply_service_action(service=service, action=Action.TRIGGER, actor=cast["olga"])
    service = wait_state(service.pk, State.STEP2_FAILED, timeout=90)
    run = ProbeRun.objects.get(service=service)
    print(f"\nerroring release: {probe_counts(run)}; {service.error}")
    assert service.step == "unmap_blue" and not service.blue_stopped
    assert "probes of the original URL failed after 2.1, so the old app stays mapped" in service.error
    middle = topology(sim, ACME_ZONE, ACME)
    assert (ACME, OLD) in middle["serving"], "the old app still serves the original URL"
    assert not CallLog.objects.filter(service=service, path__endswith="/actions/stop").exists()
    actions.apply_service_action(service=service, action=Action.ROLLBACK, actor=cast["olga"])
    wait_state(service.pk, State.ROLLED_BACK)
    assert topology(sim, ACME_ZONE, ACME) == before


def test_back_to_back_whose_temporary_url_fails_its_check_stops_at_awaiting_verification(engine, sim, cast):
    sim.configure(erroring_images=[NEW])
    request = filed_and_checked(cast["alice"], [ACME_PROD], plan=Plan.BACK_TO_BACK)
    approve_and_trigger(request, cast["olga"])
    service = wait_state(request.services.get().pk, State.AWAITING_VERIFICATION)
    assert "the automatic check failed" in service.error and "answered 502" in service.error
    assert service.temporary_url and service.temp_host in service.error
    assert topology(sim, ACME_ZONE, ACME)["serving"] == [(ACME, OLD)], "no cut-over"
    assert not ProbeRun.objects.filter(service=service).exists(), "Step 2 never began"
    held = service.events.filter(kind=Event.Kind.TRANSITION).last()
    assert held.to_state == State.AWAITING_VERIFICATION and "automatic check failed" in held.message
