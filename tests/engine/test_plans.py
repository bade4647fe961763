"""Per-service plans through a real worker against cfsim: in one request, a back-to-back service runs
through to completed on one trigger while a test-first one stops for its test."""

from dataclasses import replace

import pytest

from tests.engine.conftest import ACME_NONPROD, ACME_PROD, ACME_ZONE, NEW, wait_for, wait_state
from upgrades import actions, intake
from upgrades.models import Preflight, Release, ServiceUpgrade
from upgrades.workflow import Action, Plan, State

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_one_trigger_each_completes_back_to_back_and_stops_test_first_for_its_test(engine, sim, cast):
    (prod, nonprod), problems = intake.parse_service_urls([ACME_PROD, ACME_NONPROD])
    assert not problems
    request = actions.submit_request(
        requester=cast["alice"],
        services=[replace(prod, plan=Plan.BACK_TO_BACK), nonprod],
        plan=Plan.TEST_FIRST,
        release=Release.objects.get(recommended=True),
        contacts=[],
        notes="",
    )
    services = list(request.services.order_by("id"))
    for service in services:
        wait_for(
            lambda pk=service.pk: ServiceUpgrade.objects.get(pk=pk).preflight == Preflight.PASSED,
            30,
            f"preflight of {service.zone_id}",
        )
    actions.apply_request_action(request=request, action=Action.APPROVE, actor=cast["olga"])
    outcome = actions.trigger_all(request=request, step=1, actor=cast["olga"])
    assert len(outcome.moved) == 2 and not outcome.left

    prod_done = wait_state(services[0].pk, State.COMPLETED)
    tested = wait_state(services[1].pk, State.AWAITING_VERIFICATION)
    assert list(prod_done.events.filter(kind="transition").values_list("to_state", flat=True)) == [
        "approved",
        "step1_running",
        "step2_running",
        "completed",
    ]
    assert tested.temporary_url_live and not tested.blue_deleted, "non-prod waits on its temporary URL"
    status, body, _ = sim.route(f"{ACME_ZONE}.run.aws-usw02-pr.ice.predix.io")
    assert status == 200 and body["version"] == NEW.rsplit(":", 1)[1]
    assert ServiceUpgrade.objects.get(pk=services[1].pk).state == State.AWAITING_VERIFICATION
