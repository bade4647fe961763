"""A CF call that neither answers nor times out (an answer trickling in byte by byte keeps each read
under the read timeout) holds its worker thread, which nothing can stop from outside; it must not
hold the service. Past ENGINE_SUBSTEP_SECONDS its lease is no longer renewed, and another worker
thread takes the sub-step over.

This module runs its own worker whose CF reads time out after READ_TIMEOUT seconds, longer than the
test waits, so only the takeover can finish the upgrade in time.
"""

import pytest

from testkit.cfsim import ZERO_DELAYS
from tests.engine.conftest import (
    ACME,
    ACME_PROD,
    ACME_ZONE,
    NEW,
    approve_and_trigger,
    filed_and_checked,
    stack_instead,
    topology,
    wait_state,
)
from upgrades.models import CallLog
from upgrades.workflow import Plan, State

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

READ_TIMEOUT = 300
SUBSTEP_SECONDS = 5
HUNG = 120  # seconds cfsim holds the answer: longer than the test waits for the upgrade


@pytest.fixture(scope="module")
def patient_reads(stack, sim, tmp_path_factory):
    """The package's worker, beat and prober make way for ones that wait READ_TIMEOUT for a CF answer
    and give a sub-step SUBSTEP_SECONDS, and come back after this module."""
    log_dir = tmp_path_factory.mktemp("patient-reads")
    settings = {"CF_READ_TIMEOUT": str(READ_TIMEOUT), "ENGINE_SUBSTEP_SECONDS": str(SUBSTEP_SECONDS)}
    with stack_instead(stack, sim, log_dir, **settings) as running:
        yield running
        running.kill_worker()  # its stuck thread would hold up a warm shutdown


@pytest.fixture
def engine(patient_reads, sim, transactional_db, cast, releases):
    sim.reset()
    sim.configure(**ZERO_DELAYS)
    return patient_reads


def test_a_sub_step_stuck_on_a_cf_call_is_taken_over_and_the_upgrade_completes_once(engine, sim, cast):
    blue = next(app["guid"] for app in sim.state()["apps"] if app["name"] == ACME)
    env_vars = f"/v3/apps/{blue}/environment_variables"
    request = filed_and_checked(cast["alice"], [ACME_PROD], plan=Plan.BACK_TO_BACK)
    sim.add_fault(method="GET", path=f"^{env_vars}$", status=0, delay=HUNG, count=1)
    approve_and_trigger(request, cast["olga"])
    service = wait_state(request.services.get().pk, State.COMPLETED, timeout=HUNG - 30)
    # Step 1's first sub-step was taken over: the stuck thread's call has not been logged (it has
    # not returned), the thread that took over read the variables, and so did create_green.
    steps = CallLog.objects.filter(service=service, path=env_vars).order_by("id")
    assert list(steps.values_list("step", "status")) == [("preflight", 200), ("create_green", 200)]
    after = topology(sim, ACME_ZONE, ACME)
    assert after["apps"] == [(ACME, "STARTED", NEW, 2)], "exactly one green was created and kept"
    for path in ("/v3/apps", "/v3/packages", "/v3/builds", "/v3/routes"):
        assert sum(1 for c in sim.calls() if (c["method"], c["path"]) == ("POST", path)) == 1, path
    assert service.events.filter(to_state=State.COMPLETED).count() == 1
