"""Step 2's milestones on the timeline, recorded by a real worker against cfsim: 2.1 (the original
route reaches the new app) and 2.2 (the old app leaves it), once each, even when Step 2 is retried."""

import pytest

from tests.engine.conftest import ACME_PROD, approve_and_trigger, filed_and_checked, wait_state
from upgrades import actions
from upgrades.models import Event
from upgrades.workflow import MILESTONE_STEPS, Action, Plan, State

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

MAPPED, UNMAPPED = MILESTONE_STEPS["map_original"], MILESTONE_STEPS["unmap_blue"]


def _timeline(service) -> list[str]:
    """The service's transitions and milestones in order, as short words."""
    events = service.events.exclude(kind=Event.Kind.NOTE).order_by("created_at", "id")
    return [e.message if e.kind == Event.Kind.MILESTONE else e.to_state for e in events]


def test_step_2_records_2_1_and_2_2_as_milestones_once_even_when_retried(engine, sim, cast, client):
    request = filed_and_checked(cast["alice"], [ACME_PROD], plan=Plan.BACK_TO_BACK)
    # Deleting the temporary route (finalize, after 2.1 and 2.2) is refused: Step 2 stops there.
    sim.add_fault(
        method="DELETE", path=r"^/v3/routes/(?!70000001-)[^/]+$", status=403, title="CF-NotAuthorized"
    )
    approve_and_trigger(request, cast["olga"])
    service = wait_state(request.services.get().pk, State.STEP2_FAILED)
    assert service.step == "delete_temp_route"
    assert _timeline(service) == [
        "approved",
        "step1_running",
        "step2_running",
        MAPPED,
        UNMAPPED,
        "step2_failed",
    ]

    # The retry runs Step 2 from 2.1 again (each sub-step finds its work done): no second milestone.
    sim.control("DELETE", "faults")
    actions.apply_service_action(service=service, action=Action.RETRY, actor=cast["olga"])
    service = wait_state(service.pk, State.COMPLETED)
    assert _timeline(service) == [
        "approved", "step1_running", "step2_running", MAPPED, UNMAPPED, "step2_failed",
        "step2_running", "completed",
    ]  # fmt: skip
    milestone = service.events.get(message=MAPPED)
    assert milestone.actor_label == "system" and milestone.kind == "milestone"

    client.force_login(cast["alice"])
    page = client.get(f"/requests/{request.pk}/").content.decode()
    assert page.count("2.1 done: the original route now sends traffic to the new app as well.") == 1
    assert page.count("2.2 done: the old app no longer takes traffic on the original route.") == 1
