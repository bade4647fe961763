"""CF acted, but its answer never reached the worker: the call times out, the sub-step runs again,
observes what CF did and adopts it. Each create call of an upgrade loses its answer once here; the
upgrade still completes, with one of each resource.

These tests run their own worker whose CF reads time out after READ_TIMEOUT seconds (30 s elsewhere),
so a lost answer costs seconds; the lease, heartbeat and retry rules are the production ones.
"""

import re

import pytest

from testkit.cfsim import ZERO_DELAYS
from testkit.demo import ACME_PROD_ROUTE
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

READ_TIMEOUT = 2
# cfsim handles the request at once and answers this long after: the worker has given up by then.
LOST = READ_TIMEOUT + 2


@pytest.fixture(scope="module")
def short_reads(stack, sim, tmp_path_factory):
    """The package's worker, beat and prober make way for ones with a short CF read timeout, and come
    back after this module."""
    with stack_instead(
        stack, sim, tmp_path_factory.mktemp("short-reads"), CF_READ_TIMEOUT=str(READ_TIMEOUT)
    ) as running:
        yield running


@pytest.fixture
def engine(short_reads, sim, transactional_db, cast, releases):
    sim.reset()
    sim.configure(**ZERO_DELAYS)
    return short_reads


def posts(sim, path: str) -> int:
    """How many times CF was asked: cfsim's own log of POSTs whose path matches `path`."""
    pattern = re.compile(path)
    return sum(1 for call in sim.calls() if call["method"] == "POST" and pattern.search(call["path"]))


ORIGINAL_ROUTE_DESTINATIONS = rf"^/v3/routes/{ACME_PROD_ROUTE}/destinations$"


@pytest.mark.parametrize(
    ("path", "asks"),
    [
        pytest.param(r"^/v3/apps$", 1, id="create-green"),
        pytest.param(r"^/v3/packages$", 1, id="create-package"),
        pytest.param(r"^/v3/builds$", 1, id="create-build"),
        # Blue has two bindings: the first answer lost is the managed one's (202 and its job).
        pytest.param(r"^/v3/service_credential_bindings$", 2, id="bind"),
        pytest.param(r"^/v3/routes$", 1, id="create-temporary-route"),
        pytest.param(rf"^/v3/routes/(?!{ACME_PROD_ROUTE})[^/]+/destinations$", 1, id="map-temporary-route"),
        pytest.param(ORIGINAL_ROUTE_DESTINATIONS, 1, id="map-original-route"),
        pytest.param(r"^/v3/apps/[^/]+/actions/start$", 1, id="start-green"),
        pytest.param(r"^/v3/apps/[^/]+/actions/stop$", 1, id="stop-blue"),
    ],
)
def test_a_create_whose_answer_is_lost_is_adopted_and_the_upgrade_completes_once(
    engine, sim, cast, path, asks
):
    before = topology(sim, ACME_ZONE, ACME)
    request = filed_and_checked(cast["alice"], [ACME_PROD], plan=Plan.BACK_TO_BACK)
    sim.add_fault(method="POST", path=path, status=0, delay=LOST, after=True, count=1)
    approve_and_trigger(request, cast["olga"])
    service = wait_state(request.services.get().pk, State.COMPLETED, timeout=120)

    timed_out = CallLog.objects.filter(service=service, method="POST", status=None)
    assert [re.search(path, call.path) is not None for call in timed_out] == [True], "one answer was lost"
    assert posts(sim, path) == asks, "the retry found what CF had made and did not ask again"
    after = topology(sim, ACME_ZONE, ACME)
    assert after["apps"] == [(ACME, "STARTED", NEW, 2)], "one green, blue gone"
    assert after["serving"] == [(ACME, NEW)]
    assert after["bindings"] == before["bindings"]
    assert after["temporary_routes"] == []
    state = sim.state()
    green = next(app["guid"] for app in state["apps"] if app["name"] == ACME)
    assert [p["image"] for p in state["packages"] if p["app_guid"] == green] == [NEW]
    assert [b["state"] for b in state["builds"] if b["app_guid"] == green] == ["STAGED"]


def test_a_lost_answer_to_a_managed_binding_is_waited_for_before_green_starts(engine, sim, cast):
    """The binding's job GUID is lost with the answer: the retry finds the binding still in progress
    at the broker and waits for it, so green's instances start with every service bound."""
    blue_services = sorted(instance for _, instance in topology(sim, ACME_ZONE, ACME)["bindings"])
    request = filed_and_checked(cast["alice"], [ACME_PROD])
    sim.configure(job_delay=LOST + 2)
    path = r"^/v3/service_credential_bindings$"
    sim.add_fault(method="POST", path=path, status=0, delay=LOST, after=True, count=1)
    approve_and_trigger(request, cast["olga"])
    service = wait_state(request.services.get().pk, State.AWAITING_VERIFICATION, timeout=120)
    assert posts(sim, path) == 2
    state = sim.state()
    green = next(app for app in state["apps"] if app["guid"] == service.green_app_guid)
    assert [i["services"] for i in green["actual"]] == [blue_services, blue_services]
