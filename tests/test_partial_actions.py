"""A request-wide action that applies to only some services says exactly what it did to each: on the
page, in the API's answer and on the timeline."""

from tests.conftest import NONPROD, PROD, file_request
from upgrades import actions
from upgrades.models import Event
from upgrades.workflow import Action, State

OTHER = "https://0f1f2d3c-4b5a-4968-8776-a5b4c3d2e1f0.run.aws-usw02-pr.ice.predix.io"


def _one_running(cast):
    request = file_request(cast["alice"], [PROD, NONPROD])
    actions.apply_request_action(request=request, action=Action.APPROVE, actor=cast["olga"])
    prod, nonprod = request.services.order_by("id")
    actions.apply_service_action(service=prod, action=Action.TRIGGER, actor=cast["olga"])
    return request, prod, nonprod


def test_cancelling_on_the_page_names_the_service_left_running(client, cast, releases):
    request, prod, nonprod = _one_running(cast)
    client.force_login(cast["olga"])
    page = client.post(f"/requests/{request.pk}/cancel/", {"reason": "freeze"}, follow=True).content.decode()
    assert f"Cancelled: {nonprod.zone_id}." in page
    assert (
        f"Left as it was: {prod.zone_id} — Step 1 running: Step 1 is running; cancel it once Step 1 has"
        in page
    )
    assert f"{request.reference}: cancelled." not in page, "never a plain success for a partial cancel"
    prod.refresh_from_db(), nonprod.refresh_from_db()
    assert (prod.state, nonprod.state) == (State.STEP1_RUNNING, State.CANCELLED)
    note = Event.objects.filter(request=request, kind=Event.Kind.NOTE).get()
    assert note.actor_label == "olga" and prod.zone_id in note.message and nonprod.zone_id not in note.message


def test_cancelling_through_the_api_lists_what_was_left(api, cast, releases):
    request, prod, nonprod = _one_running(cast)
    response = api(cast["olga"]).post(f"/api/requests/{request.pk}/cancel/", {"reason": "freeze"})
    assert response.status_code == 200
    body = response.json()
    assert {s["zone_id"]: s["state"] for s in body["services"]} == {
        prod.zone_id: "step1_running",
        nonprod.zone_id: "cancelled",
    }
    [left] = body["left_as_they_were"]
    assert (left["id"], left["state"]) == (prod.pk, "step1_running") and "once Step 1 has finished" in left[
        "reason"
    ]
    untouched = file_request(cast["alice"], [OTHER])
    whole = api(cast["olga"]).post(f"/api/requests/{untouched.pk}/cancel/")
    assert whole.status_code == 200 and whole.json()["left_as_they_were"] == []
