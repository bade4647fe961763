"""Whole upgrades through a real worker against cfsim: the happy paths and every way back."""

import pytest

from tests.engine.conftest import (
    ACME,
    ACME_NONPROD,
    ACME_PROD,
    ACME_ZONE,
    NEW,
    OLD,
    approve_and_trigger,
    filed_and_checked,
    topology,
    wait_state,
)
from upgrades import actions
from upgrades.models import CallLog
from upgrades.workflow import Action, Plan, State

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_back_to_back_runs_to_completed_and_leaves_one_app_on_the_new_release(engine, sim, cast):
    before = topology(sim, ACME_ZONE, ACME)
    assert before["serving"] == [(ACME, OLD)]
    request = filed_and_checked(cast["alice"], [ACME_PROD], plan=Plan.BACK_TO_BACK)
    approve_and_trigger(request, cast["olga"])
    service = wait_state(request.services.get().pk, State.COMPLETED)
    after = topology(sim, ACME_ZONE, ACME)
    assert after["serving"] == [(ACME, NEW)], "green took blue's name and serves the original route alone"
    assert after["apps"] == [(ACME, "STARTED", NEW, 2)], "blue is deleted; green runs blue's 2 instances"
    assert after["bindings"] == [(ACME, guid) for _, guid in before["bindings"]], "green has blue's bindings"
    assert after["temporary_routes"] == []
    status, body, _ = sim.route(f"{ACME_ZONE}.run.aws-usw02-pr.ice.predix.io")
    assert status == 200 and body["version"] == "okinawa.130"
    assert service.blue_deleted and not service.error
    assert CallLog.objects.filter(service=service, method="POST", path="/v3/apps").count() == 1
    states = list(service.events.filter(kind="transition").values_list("to_state", flat=True))
    assert states == ["approved", "step1_running", "step2_running", "completed"]


def test_green_s_instances_are_read_through_the_web_process_scale_recorded(engine, sim, cast):
    """Green's processes are listed once (to scale it); every later look at its instances, the wait
    for them to run and Step 2's checks before it touches blue, reads only their stats."""
    sim.configure(start_delay=1.5)
    request = filed_and_checked(cast["alice"], [ACME_PROD], plan=Plan.BACK_TO_BACK)
    approve_and_trigger(request, cast["olga"])
    service = wait_state(request.services.get().pk, State.COMPLETED)
    calls = CallLog.objects.filter(service=service)
    listed = calls.filter(path=f"/v3/apps/{service.green_app_guid}/processes")
    assert list(listed.values_list("step", flat=True)) == ["scale"]
    stats = f"/v3/processes/{service.green_process_guid}/stats"
    looks = calls.filter(step="wait_running")
    assert looks.count() > 1, "the wait looked more than once"
    assert set(looks.values_list("path", flat=True)) == {stats}
    checks = calls.filter(path=stats).exclude(step="wait_running").values_list("step", flat=True)
    assert set(checks) == {"map_original", "unmap_blue", "stop_blue", "delete_blue"}


def test_step_1_checks_and_snapshots_blue_reading_each_resource_once(engine, sim, cast):
    """Step 1's preflight surveys the plan, inspects the service and snapshots blue: rules that read
    the same resources, judged on one answer each."""
    request = filed_and_checked(cast["alice"], [ACME_PROD], plan=Plan.BACK_TO_BACK)
    approve_and_trigger(request, cast["olga"])
    service = wait_state(request.services.get().pk, State.COMPLETED)
    reads = list(CallLog.objects.filter(service=service, step="preflight").values_list("method", "path"))
    assert (f"/v3/apps/{service.blue_app_guid}/processes") in {path for _, path in reads}
    assert len(reads) == len(set(reads)), f"read twice: {sorted(r for r in reads if reads.count(r) > 1)}"
    assert service.blue_snapshot["bindings"], "blue's bindings were snapshot for green"
    assert [p["type"] for p in service.blue_snapshot["processes"]] == ["web"]


def test_test_first_waits_for_confirmation_then_step_2_completes(engine, sim, cast):
    request = filed_and_checked(cast["alice"], [ACME_PROD, ACME_NONPROD])
    approve_and_trigger(request, cast["olga"])
    prod, nonprod = request.services.order_by("id")
    prod = wait_state(prod.pk, State.AWAITING_VERIFICATION)
    wait_state(nonprod.pk, State.AWAITING_VERIFICATION)
    assert prod.temporary_url.startswith(f"https://{ACME_ZONE}-upgrade-")
    suffix = prod.temp_host.rsplit("-", 1)[1]
    assert len(suffix) == 6 and suffix.isalnum() and suffix == suffix.lower()
    temp_status, temp_body, _ = sim.route(prod.temporary_url.removeprefix("https://"))
    assert temp_status == 200 and temp_body["version"] == "okinawa.130", "green answers on the temporary URL"
    _, original, _ = sim.route(f"{ACME_ZONE}.run.aws-usw02-pr.ice.predix.io")
    assert original["version"] == "sendai.120", "blue still serves the original URL"
    middle = topology(sim, ACME_ZONE, ACME)
    assert middle["apps"] == [(ACME, "STARTED", OLD, 2), (f"{ACME}-okinawa.130", "STARTED", NEW, 2)]
    actions.apply_request_action(request=request, action=Action.CONFIRM, actor=cast["carol"])
    for service in request.services.all():
        assert service.state == State.VERIFIED
        actions.apply_service_action(service=service, action=Action.TRIGGER, actor=cast["olga"])
    wait_state(prod.pk, State.COMPLETED)
    wait_state(nonprod.pk, State.COMPLETED)
    assert topology(sim, ACME_ZONE, ACME)["serving"] == [(ACME, NEW)]


def test_a_reported_problem_rolls_back_to_the_exact_starting_topology(engine, sim, cast):
    before = topology(sim, ACME_ZONE, ACME)
    request = filed_and_checked(cast["alice"], [ACME_PROD])
    approve_and_trigger(request, cast["olga"])
    service = wait_state(request.services.get().pk, State.AWAITING_VERIFICATION)
    with pytest.raises(actions.ReasonRequired):
        actions.apply_service_action(service=service, action=Action.REPORT_PROBLEM, actor=cast["alice"])
    actions.apply_service_action(
        service=service, action=Action.REPORT_PROBLEM, actor=cast["alice"], reason="gateways time out"
    )
    wait_state(service.pk, State.ROLLED_BACK)
    assert topology(sim, ACME_ZONE, ACME) == before


@pytest.mark.parametrize(
    ("fault_path", "failed_at"),
    [
        # 2.2's removal of blue's destination fails: 2.1 is done, green and blue both serve.
        (r"^/v3/routes/70000001-0000-4000-8000-000000000001/destinations/.+$", "unmap_blue"),
        # Deleting the temporary route fails: 2.2 is done, only green serves.
        (r"^/v3/routes/(?!70000001-)[^/]+$", "delete_temp_route"),
    ],
)
def test_rollback_after_step_2_1_and_after_2_2_restores_the_start(engine, sim, cast, fault_path, failed_at):
    before = topology(sim, ACME_ZONE, ACME)
    request = filed_and_checked(cast["alice"], [ACME_PROD], plan=Plan.BACK_TO_BACK)
    sim.add_fault(method="DELETE", path=fault_path, status=403, title="CF-NotAuthorized", code=10003)
    approve_and_trigger(request, cast["olga"])
    service = wait_state(request.services.get().pk, State.STEP2_FAILED)
    assert service.step == failed_at and "refused" in service.error
    sim.control("DELETE", "faults")
    actions.apply_service_action(service=service, action=Action.ROLLBACK, actor=cast["olga"])
    wait_state(service.pk, State.ROLLED_BACK)
    assert topology(sim, ACME_ZONE, ACME) == before


def test_staging_failure_fails_step_1_with_the_reason_and_retry_succeeds(engine, sim, cast):
    request = filed_and_checked(cast["alice"], [ACME_PROD])
    sim.configure(failing_images=[NEW])
    approve_and_trigger(request, cast["olga"])
    service = wait_state(request.services.get().pk, State.STEP1_FAILED)
    assert service.step == "stage" and "Staging okinawa.130 failed" in service.error
    assert actions.apply_service_action  # the EC team's next move:
    sim.configure(failing_images=[])
    actions.apply_service_action(service=service, action=Action.RETRY, actor=cast["olga"])
    wait_state(service.pk, State.AWAITING_VERIFICATION)
    apps = topology(sim, ACME_ZONE, ACME)["apps"]
    assert [name for name, *_ in apps] == [ACME, f"{ACME}-okinawa.130"], "the retry reused the one green app"


def test_crashing_instances_fail_step_1_with_their_details_and_retry_succeeds(engine, sim, cast):
    request = filed_and_checked(cast["alice"], [ACME_PROD])
    sim.configure(crashing_images=[NEW])
    approve_and_trigger(request, cast["olga"])
    service = wait_state(request.services.get().pk, State.STEP1_FAILED)
    assert "crashed" in service.error and "Exited with status 1" in service.error
    sim.configure(crashing_images=[])
    actions.apply_service_action(service=service, action=Action.RETRY, actor=cast["olga"])
    service = wait_state(service.pk, State.AWAITING_VERIFICATION)
    assert service.instances_running == 2


def test_cancel_after_step_1_undoes_it_and_ends_cancelled(engine, sim, cast):
    before = topology(sim, ACME_ZONE, ACME)
    request = filed_and_checked(cast["alice"], [ACME_PROD])
    approve_and_trigger(request, cast["olga"])
    service = wait_state(request.services.get().pk, State.AWAITING_VERIFICATION)
    actions.apply_service_action(service=service, action=Action.CANCEL, actor=cast["olga"], reason="freeze")
    wait_state(service.pk, State.CANCELLED)
    assert topology(sim, ACME_ZONE, ACME) == before


def test_a_scheduled_approval_starts_step_1_by_itself_and_confirmation_can_start_step_2(engine, sim, cast):
    from django.utils import timezone

    request = filed_and_checked(cast["alice"], [ACME_PROD])
    actions.apply_request_action(
        request=request,
        action=Action.APPROVE,
        actor=cast["olga"],
        trigger_at=timezone.now() + timezone.timedelta(seconds=2),
        start_step2_on_confirmation=True,
    )
    service = request.services.get()
    assert service.state == State.APPROVED and service.trigger_at is not None
    service = wait_state(service.pk, State.AWAITING_VERIFICATION)
    assert service.events.filter(to_state=State.STEP1_RUNNING, actor_label="system").exists()
    actions.apply_service_action(service=service, action=Action.CONFIRM, actor=cast["carol"])
    wait_state(service.pk, State.COMPLETED)
    assert topology(sim, ACME_ZONE, ACME)["serving"] == [(ACME, NEW)]


def test_rollback_requested_while_step_2_is_mid_call_still_restores_the_start(engine, sim, cast):
    """The in-flight sub-step finishes its CF call, finds the service rolling back, and hands over."""
    from tests.engine.conftest import wait_for
    from upgrades.models import ServiceUpgrade

    before = topology(sim, ACME_ZONE, ACME)
    request = filed_and_checked(cast["alice"], [ACME_PROD], plan=Plan.BACK_TO_BACK)
    sim.add_fault(method="POST", path=r"^/v3/routes/70000001-[^/]+/destinations$", status=0, delay=2, count=1)
    approve_and_trigger(request, cast["olga"])
    service = request.services.get()
    wait_for(
        lambda: (s := ServiceUpgrade.objects.get(pk=service.pk)).step == "map_original" and s.lease_owner,
        30,
        "Step 2.1 to be under way",
    )
    actions.apply_service_action(service=service, action=Action.ROLLBACK, actor=cast["olga"])
    wait_state(service.pk, State.ROLLED_BACK, timeout=30)
    assert topology(sim, ACME_ZONE, ACME) == before
