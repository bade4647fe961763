"""Crashes, duplicates, races and CF faults: the upgrade still happens exactly once."""

import threading
import time

import pytest

from ecportal.embedded import CFSIM_CLIENT_SECRET
from tests.engine.conftest import (
    ACME,
    ACME_PROD,
    ACME_ZONE,
    NEW,
    approve_and_trigger,
    filed_and_checked,
    topology,
    wait_for,
    wait_state,
)
from upgrades import actions, tasks, workflow
from upgrades.cloudfoundry import CFClient
from upgrades.models import CallLog, ServiceUpgrade
from upgrades.workflow import Action, Plan, State

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def cf_calls(sim, method: str, path: str) -> int:
    return sum(1 for call in sim.calls() if call["method"] == method and call["path"] == path)


def test_duplicated_messages_are_no_ops(engine, sim, cast):
    request = filed_and_checked(cast["alice"], [ACME_PROD])
    actions.apply_request_action(request=request, action=Action.APPROVE, actor=cast["olga"])
    service = request.services.get()
    # The same sub-step delivered three times at once, as a redelivery storm would.
    actions.apply_service_action(service=service, action=Action.TRIGGER, actor=cast["olga"])
    for _ in range(3):
        tasks.advance.delay(service.pk, "preflight")
    service = wait_state(service.pk, State.AWAITING_VERIFICATION)
    assert cf_calls(sim, "POST", "/v3/apps") == 1
    before = len(sim.calls())
    for step in ("create_green", "wait_running", "map_original", "rb_delete_green"):
        tasks.advance.delay(service.pk, step)
    time.sleep(2)
    assert len(sim.calls()) == before, "stale deliveries made no CF call"
    assert ServiceUpgrade.objects.get(pk=service.pk).state == State.AWAITING_VERIFICATION


def test_two_racing_triggers_start_one_run(engine, sim, cast):
    request = filed_and_checked(cast["alice"], [ACME_PROD])
    actions.apply_request_action(request=request, action=Action.APPROVE, actor=cast["olga"])
    service = request.services.get()
    barrier, outcomes = threading.Barrier(2), []

    def trigger(user):
        from django.db import connection

        barrier.wait()
        try:
            fresh = ServiceUpgrade.objects.get(pk=service.pk)
            actions.apply_service_action(service=fresh, action=Action.TRIGGER, actor=user)
            outcomes.append("started")
        except (workflow.InvalidTransition, actions.StaleState) as error:
            outcomes.append(type(error).__name__)
        finally:
            connection.close()

    threads = [threading.Thread(target=trigger, args=(cast[who],)) for who in ("olga", "oscar")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes)[0] != "started" and outcomes.count("started") == 1, outcomes
    wait_state(service.pk, State.AWAITING_VERIFICATION)
    assert cf_calls(sim, "POST", "/v3/apps") == 1
    assert service.events.filter(to_state=State.STEP1_RUNNING).count() == 1


def test_a_burst_of_503s_and_an_expired_token_mid_upgrade_are_recovered(engine, sim, cast):
    request = filed_and_checked(cast["alice"], [ACME_PROD], plan=Plan.BACK_TO_BACK)
    stats = r"^/v3/processes/[^/]+/stats$"
    sim.add_fault(method="GET", path=stats, status=503, title="CF-InstancesUnavailable", code=220002, count=6)
    sim.add_fault(method="POST", path=r"^/v3/routes$", status=502, count=1)
    approve_and_trigger(request, cast["olga"])
    service = request.services.get()
    later = ("bind", "create_temp_route", "map_temp_route", "start_green", "wait_running")
    wait_for(
        lambda: ServiceUpgrade.objects.get(pk=service.pk).step in later, 30, "Step 1 to reach its bindings"
    )
    sim.control("POST", "tokens/expire")
    service = wait_state(service.pk, State.COMPLETED, timeout=90)
    statuses = set(CallLog.objects.filter(service=service).values_list("status", flat=True))
    assert {503, 502, 401} <= statuses, "the faults really happened and were recovered from"
    assert topology(sim, ACME_ZONE, ACME)["serving"] == [(ACME, NEW)]
    assert cf_calls(sim, "POST", "/v3/apps") == 1


def test_a_worker_killed_mid_sub_step_is_resumed_and_the_upgrade_completes_once(engine, sim, cast):
    before = topology(sim, ACME_ZONE, ACME)
    request = filed_and_checked(cast["alice"], [ACME_PROD], plan=Plan.BACK_TO_BACK)
    # Creating green takes 3 s: the worker dies while CF is creating it, before its GUID is recorded.
    sim.add_fault(method="POST", path=r"^/v3/apps$", status=0, delay=3, count=1)
    approve_and_trigger(request, cast["olga"])
    service = request.services.get()
    wait_for(
        lambda: (s := ServiceUpgrade.objects.get(pk=service.pk)).step == "create_green" and s.lease_owner,
        30,
        "the create_green sub-step to be claimed",
    )
    time.sleep(0.5)
    killed_at = time.monotonic()
    engine.kill_worker()
    engine.start_worker()
    service = wait_state(service.pk, State.COMPLETED, timeout=120)
    assert time.monotonic() - killed_at < 120
    after = topology(sim, ACME_ZONE, ACME)
    assert after["apps"] == [(ACME, "STARTED", NEW, 2)], "exactly one green was created and kept"
    assert after["bindings"] == before["bindings"], "no duplicate bindings"
    assert after["temporary_routes"] == []
    assert cf_calls(sim, "POST", "/v3/apps") == 1, "the resumed sub-step found green by its label"
    assert cf_calls(sim, "POST", "/v3/routes") == 1
    assert cf_calls(sim, "POST", "/v3/service_credential_bindings") == len(before["bindings"])
    assert service.events.filter(to_state=State.COMPLETED).count() == 1


def test_a_sub_step_slower_than_its_lease_is_never_run_twice(engine, sim, cast):
    """One CF read hangs 35 s three times (each past the client's 30 s read timeout, the lease is 4 s
    here): the heartbeat keeps the lease, so no second worker runs the sub-step meanwhile."""
    blue = next(app["guid"] for app in sim.state()["apps"] if app["name"] == ACME)
    env_vars = f"/v3/apps/{blue}/environment_variables"
    request = filed_and_checked(cast["alice"], [ACME_PROD], plan=Plan.BACK_TO_BACK)
    sim.add_fault(method="GET", path=f"^{env_vars}$", status=0, delay=35, count=3)
    approve_and_trigger(request, cast["olga"])
    service = wait_state(request.services.get().pk, State.COMPLETED, timeout=300)
    # One worker's calls, as the portal logged them: three that timed out, then the one answered (Step
    # 1's first sub-step counts the variables to compare the plan; creating the new app copies them).
    calls = CallLog.objects.filter(service=service, path=env_vars).order_by("id")
    assert list(calls.values_list("step", "status")) == [
        ("preflight", None),
        ("preflight", None),
        ("preflight", None),
        ("preflight", 200),
        ("create_green", 200),
    ]
    for path in ("/v3/apps", "/v3/packages", "/v3/builds", "/v3/routes"):
        assert cf_calls(sim, "POST", path) == 1, path
    assert topology(sim, ACME_ZONE, ACME)["apps"] == [(ACME, "STARTED", NEW, 2)]
    assert not service.lease_owner


def test_a_route_cf_refuses_for_good_fails_step_1_with_cfs_words(engine, sim, cast):
    """A 422 that is not a taken host (here the space's route quota) ends Step 1 at once, where it used
    to pick new hosts for ever."""
    sim.add_fault(
        method="POST",
        path=r"^/v3/routes$",
        status=422,
        title="CF-UnprocessableEntity",
        detail="Routes quota exceeded for space 'ec-prod'.",
    )
    request = filed_and_checked(cast["alice"], [ACME_PROD])
    approve_and_trigger(request, cast["olga"])
    service = wait_state(request.services.get().pk, State.STEP1_FAILED, timeout=90)
    assert service.step == "create_temp_route"
    assert (
        service.error
        == "Cloud Foundry refused the temporary route: Routes quota exceeded for space 'ec-prod'."
    )
    assert cf_calls(sim, "POST", "/v3/routes") == 1


def test_a_cf_job_that_never_ends_fails_the_step_at_its_deadline(engine, sim, cast):
    """The managed binding's job stays PROCESSING: Step 1 gives up after ENGINE_JOB_TIMEOUT (20 s in
    these tests) and says what did not finish."""
    request = filed_and_checked(cast["alice"], [ACME_PROD])
    sim.configure(job_delay=3600)
    approve_and_trigger(request, cast["olga"])
    service = wait_state(request.services.get().pk, State.STEP1_FAILED, timeout=120)
    assert service.step == "bind"
    assert service.error == "Binding a service to the new app did not finish within 20 s."


def test_a_rollback_whose_old_app_never_starts_fails_at_its_deadline(engine, sim, cast):
    """Blue was stopped (finalization had begun) and now never comes up: the rollback gives up after
    ENGINE_START_TIMEOUT (30 s in these tests) and says so, instead of waiting for ever."""
    request = filed_and_checked(cast["alice"], [ACME_PROD])
    approve_and_trigger(request, cast["olga"])
    service = wait_state(request.services.get().pk, State.AWAITING_VERIFICATION, timeout=120)
    cf = CFClient(sim.api_url, client_id="ecportal", client_secret=CFSIM_CLIENT_SECRET)
    cf.stop_app(service.blue_app_guid)
    sim.configure(start_delay=3600)
    actions.apply_service_action(service=service, action=Action.ROLLBACK, actor=cast["olga"])
    failed = wait_state(service.pk, State.ROLLBACK_FAILED, timeout=120)
    assert failed.step == "rb_start_blue"
    assert failed.error == "Starting the old app again did not finish within 30 s."
