"""A plan per service, a service that starts only after another is confirmed, and Start Step N for all:
the API's and the form's intake, the 409 of a waiting Start Step 1, the cards and the timeline."""

import re
from dataclasses import replace
from datetime import timedelta

import pytest
from django.db.models import F
from django.utils import timezone
from django.utils.html import strip_tags

from tests.conftest import NONPROD, PROD
from upgrades import actions, intake
from upgrades.models import Event, Preflight, Release, ServiceUpgrade, UpgradeRequest
from upgrades.workflow import SYSTEM_TRANSITIONS, Action, Plan, State

PROD_ZONE = PROD.removeprefix("https://").split(".")[0]
NONPROD_ZONE = NONPROD.removeprefix("https://").split(".")[0]
THIRD = "https://2b3c4d5e-6f70-4b1c-8d2e-3f4a5b6c7d8e.run.aws-usw02-pr.ice.predix.io"


def file_planned(requester, *, prod_plan=Plan.BACK_TO_BACK, prod_after_nonprod=True) -> UpgradeRequest:
    """alice's usual request: non-prod tested after Step 1, prod back to back once non-prod is
    confirmed; preflight passed for both."""
    (nonprod, prod), problems = intake.parse_service_urls([NONPROD, PROD])
    assert not problems
    request = actions.submit_request(
        requester=requester,
        services=[nonprod, replace(prod, plan=prod_plan, after=0 if prod_after_nonprod else None)],
        plan=Plan.TEST_FIRST,
        release=Release.objects.get(recommended=True),
        contacts=["carol@example.com"],
        notes="",
    )
    for service in request.services.all():
        actions.record_preflight(service_id=service.pk, outcome=Preflight.PASSED, message="ok")
    return request


def services_of(request) -> tuple[ServiceUpgrade, ServiceUpgrade]:
    nonprod, prod = request.services.order_by("id")
    return nonprod, prod


def named(service: ServiceUpgrade, name: str) -> None:
    ServiceUpgrade.objects.filter(pk=service.pk).update(name=name, version=F("version") + 1)


def step1_done(service: ServiceUpgrade, operator) -> None:
    """Start Step 1 and let it end as the engine would (the engine's own tests run it for real)."""
    actions.apply_service_action(service=service, action=Action.TRIGGER, actor=operator)
    service.refresh_from_db()
    actions.transition(service, target=State.AWAITING_VERIFICATION, actor=actions.SYSTEM)


def text_of(html: str) -> str:
    return " ".join(strip_tags(html).split())


# --- The API -----------------------------------------------------------------------------------------


def test_the_api_takes_a_plan_and_an_order_per_service(api, cast, releases):
    response = api(cast["alice"]).post(
        "/api/requests/",
        {
            "services": [
                {"url": NONPROD},
                {"url": PROD, "plan": "back_to_back", "after": 0},
                {"url": THIRD, "after": None},
            ],
            "plan": "test_first",
            "contacts": ["carol@example.com"],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    nonprod, prod, third = body["services"]
    assert body["plan"] == "test_first", "the request's plan stays its default"
    assert (nonprod["plan"], nonprod["after"]) == ("test_first", None)
    assert (prod["plan"], prod["after"]) == ("back_to_back", nonprod["id"])
    assert (third["plan"], third["after"]) == ("test_first", None)
    assert ServiceUpgrade.objects.get(pk=prod["id"]).after_id == nonprod["id"]
    submitted = Event.objects.get(kind=Event.Kind.SUBMITTED).message
    assert (
        f"{PROD_ZONE}: steps 1 and 2 back to back, starting after {NONPROD_ZONE} is confirmed." in submitted
    )
    assert f"{NONPROD_ZONE}: test after step 1." in submitted


def test_a_service_without_a_plan_of_its_own_takes_the_requests(api, cast, releases):
    response = api(cast["alice"]).post(
        "/api/requests/", {"services": [{"url": PROD}], "plan": "back_to_back"}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["services"][0]["plan"] == "back_to_back"
    old_shape = api(cast["alice"]).post("/api/requests/", {"service_urls": [NONPROD]}, format="json")
    assert old_shape.status_code == 201, old_shape.content
    assert old_shape.json()["services"][0]["plan"] == "test_first", "the cautious default"


@pytest.mark.parametrize(
    ("services", "field", "phrase"),
    [
        ([{"url": NONPROD}, {"url": PROD, "after": 2}], "services", "numbered 0 to 1"),
        ([{"url": NONPROD}, {"url": PROD, "after": -1}], "services", "numbered 0 to 1"),
        ([{"url": NONPROD}, {"url": PROD, "after": 1}], "services", "Line 2 cannot wait for itself"),
        (
            [{"url": NONPROD, "after": 1}, {"url": PROD, "after": 0}],
            "services",
            "wait for each other, so none could start: Line 1 → Line 2 → Line 1",
        ),
        ([{"url": PROD, "after": "first"}], "services", "Line 1: after: A valid integer is required."),
        ([{"url": PROD, "plan": "yolo"}], "services", "Line 1: plan:"),
        ([PROD], "services", "Line 1:"),
        ([{"plan": "test_first"}], "services", "Line 1: url: This field is required."),
        ("https://x", "services", "Expected a list"),
        ([{"url": "https://nope.example.com"}], "services", "Line 1: the host must start with the zone ID"),
    ],
)
def test_bad_services_get_field_messages(api, cast, releases, services, field, phrase):
    response = api(cast["alice"]).post("/api/requests/", {"services": services}, format="json")
    assert response.status_code == 400, response.content
    messages = response.json()[field]
    assert any(phrase in message for message in messages), messages
    assert UpgradeRequest.objects.count() == 0


def test_both_shapes_at_once_are_refused(api, cast, releases):
    response = api(cast["alice"]).post(
        "/api/requests/", {"services": [{"url": PROD}], "service_urls": [NONPROD]}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"services": ["Give either services or service_urls, not both."]}


# --- Waiting for another service ---------------------------------------------------------------------


def test_a_waiting_service_cannot_start_step_1_until_the_awaited_one_is_confirmed(
    client, api, cast, releases
):
    request = file_planned(cast["alice"])
    nonprod, prod = services_of(request)
    named(nonprod, "ec-acme-nonprod")
    actions.apply_request_action(request=request, action=Action.APPROVE, actor=cast["olga"])
    olga = api(cast["olga"])
    waiting = "Starts after ec-acme-nonprod is confirmed."

    body = olga.get(f"/api/requests/{request.pk}/").json()
    assert body["services"][1]["allowed_actions"] == ["cancel"], "Start Step 1 is not offered yet"
    assert "trigger" in body["services"][0]["allowed_actions"]
    refused = olga.post(f"/api/services/{prod.pk}/trigger/")
    assert refused.status_code == 409 and refused.json() == {"detail": waiting}
    client.force_login(cast["olga"])
    page = text_of(client.get(f"/requests/{request.pk}/").content.decode())
    assert waiting in page and "Plan: Steps 1 and 2 back to back" in page
    assert page.count("Start Step 1") == 1, "non-prod's button only; no Start Step 1 for all with one"
    stale = client.post(f"/requests/{request.pk}/services/{prod.pk}/trigger/", follow=True)
    assert waiting in stale.content.decode()
    prod.refresh_from_db()
    assert prod.state == State.APPROVED

    step1_done(nonprod, cast["olga"])
    assert olga.post(f"/api/services/{prod.pk}/trigger/").status_code == 409, "not confirmed yet"
    actions.apply_service_action(service=nonprod, action=Action.CONFIRM, actor=cast["carol"])
    note = Event.objects.filter(kind=Event.Kind.NOTE).last()
    assert note.message == f"{PROD_ZONE} may start Step 1 now: ec-acme-nonprod is confirmed."
    body = olga.get(f"/api/requests/{request.pk}/").json()
    assert body["services"][1]["allowed_actions"] == ["trigger", "cancel"]
    page = text_of(client.get(f"/requests/{request.pk}/").content.decode())
    assert waiting not in page and note.message in page
    started = olga.post(f"/api/services/{prod.pk}/trigger/")
    assert started.status_code == 200 and started.json()["state"] == "step1_running"


@pytest.mark.parametrize(
    ("ending", "words"),
    [
        (State.ROLLED_BACK, "was rolled back"),
        (State.CANCELLED, "was cancelled"),
        (State.STEP1_FAILED, "failed in Step 1"),
    ],
)
def test_a_service_stays_blocked_when_the_awaited_one_ends_without_the_new_release(
    client, api, cast, releases, ending, words
):
    request = file_planned(cast["alice"])
    nonprod, prod = services_of(request)
    actions.apply_request_action(request=request, action=Action.APPROVE, actor=cast["olga"])
    ServiceUpgrade.objects.filter(pk=nonprod.pk).update(state=ending, version=F("version") + 1)
    why = (
        f"Starts after {NONPROD_ZONE} is confirmed, but {NONPROD_ZONE} {words}: "
        "it cannot start, and can be cancelled."
    )
    refused = api(cast["olga"]).post(f"/api/services/{prod.pk}/trigger/")
    assert refused.status_code == 409 and refused.json() == {"detail": why}
    client.force_login(cast["olga"])
    assert why in text_of(client.get(f"/requests/{request.pk}/").content.decode())
    cancelled = api(cast["olga"]).post(f"/api/services/{prod.pk}/cancel/")
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"


def test_a_scheduled_start_waits_for_the_awaited_confirmation_too(cast, releases):
    request = file_planned(cast["alice"])
    nonprod, prod = services_of(request)
    soon = timezone.now() + timedelta(minutes=1)
    actions.apply_request_action(request=request, action=Action.APPROVE, actor=cast["olga"], trigger_at=soon)
    assert actions.fire_due_schedules(soon) == 1, "non-prod starts; prod waits"
    nonprod.refresh_from_db()
    prod.refresh_from_db()
    assert (nonprod.state, prod.state) == (State.STEP1_RUNNING, State.APPROVED) and prod.trigger_at
    actions.transition(nonprod, target=State.AWAITING_VERIFICATION, actor=actions.SYSTEM)
    actions.apply_service_action(service=nonprod, action=Action.CONFIRM, actor=cast["alice"])
    assert actions.fire_due_schedules(soon) == 1
    prod.refresh_from_db()
    assert prod.state == State.STEP1_RUNNING


def test_a_back_to_back_awaited_service_counts_as_confirmed_once_in_step_2(cast, releases):
    assert (State.STEP1_RUNNING, State.STEP2_RUNNING) in SYSTEM_TRANSITIONS
    request = file_planned(cast["alice"])
    nonprod, prod = services_of(request)
    ServiceUpgrade.objects.filter(pk=nonprod.pk).update(state=State.STEP2_RUNNING)
    nonprod.refresh_from_db()
    assert prod.waits_for([nonprod]) == ""


# --- Start Step N for all ----------------------------------------------------------------------------


def test_start_step_1_for_all_starts_the_eligible_and_says_what_it_left(client, cast, releases):
    request = file_planned(cast["alice"])
    nonprod, prod = services_of(request)
    actions.apply_request_action(request=request, action=Action.APPROVE, actor=cast["olga"])
    client.force_login(cast["olga"])
    page = client.get(f"/requests/{request.pk}/").content.decode()
    assert "Start Step 1 for all" not in page, "one service may start: its own button says it"
    ServiceUpgrade.objects.filter(pk=prod.pk).update(after=None)
    page = client.get(f"/requests/{request.pk}/").content.decode()
    assert ">Start Step 1 for all</button>" in page
    ServiceUpgrade.objects.filter(pk=prod.pk).update(after=nonprod)  # the page went stale meanwhile

    client.force_login(cast["alice"])
    assert client.post(f"/requests/{request.pk}/start/1/").status_code == 403, "EC team only"
    client.force_login(cast["olga"])
    response = client.post(f"/requests/{request.pk}/start/1/", follow=True)
    shown = text_of(response.content.decode())
    assert "Step 1 started: " + NONPROD_ZONE in shown
    assert f"Left as it was: {PROD_ZONE} — Starts after {NONPROD_ZONE} is confirmed." in shown
    states = dict(request.services.values_list("pk", "state"))
    assert states == {nonprod.pk: State.STEP1_RUNNING, prod.pk: State.APPROVED}
    again = text_of(client.post(f"/requests/{request.pk}/start/1/", follow=True).content.decode())
    assert "No service can start Step 1 now." in again
    assert client.post(f"/requests/{request.pk}/start/3/", follow=True).status_code == 200


def test_start_step_2_for_all_starts_every_verified_service(client, cast, releases):
    request = file_planned(cast["alice"], prod_plan=Plan.TEST_FIRST, prod_after_nonprod=False)
    nonprod, prod = services_of(request)
    actions.apply_request_action(request=request, action=Action.APPROVE, actor=cast["olga"])
    for service in (nonprod, prod):
        step1_done(service, cast["olga"])
    actions.apply_request_action(request=request, action=Action.CONFIRM, actor=cast["alice"])
    client.force_login(cast["olga"])
    page = client.get(f"/requests/{request.pk}/").content.decode()
    assert ">Start Step 2 for all</button>" in page and "Start Step 1 for all" not in page
    response = client.post(f"/requests/{request.pk}/start/2/", follow=True)
    assert f"{request.reference}: Step 2 started." in response.content.decode()
    assert set(request.services.values_list("state", flat=True)) == {State.STEP2_RUNNING}


# --- The form ----------------------------------------------------------------------------------------


def test_the_form_offers_a_plan_per_service_once_two_are_named(client, cast, releases):
    client.force_login(cast["alice"])
    form = client.get("/requests/new/").content.decode()
    assert 'hx-post="/requests/new/plans/"' in form and 'id="plan-rows"' in form
    assert "for a production service that means downtime" in form
    one = client.post("/requests/new/plans/", {"service_urls": PROD}).content.decode()
    assert "Plan per service" not in one, "one service: the plan above is its plan"
    rows = client.post(
        "/requests/new/plans/",
        {"service_urls": f"{NONPROD}\nnot a url\n{PROD}", f"plan-{PROD_ZONE}": "back_to_back"},
    ).content.decode()
    assert rows.count("<select") == 4 and f'aria-label="Plan for {PROD_ZONE}"' in rows
    assert f'aria-label="Start {PROD_ZONE} only after this one is confirmed"' in rows
    assert '<option value="back_to_back" selected>' in rows, "the choice made is kept"
    assert f'<option value="{NONPROD_ZONE}">' in rows and "Predix West / Basic" in rows
    client.logout()
    assert client.post("/requests/new/plans/", {"service_urls": PROD}).status_code == 302


def test_the_form_files_each_services_plan_and_order(client, cast, releases):
    client.force_login(cast["alice"])
    data = {
        "service_urls": f"{NONPROD}\n{PROD}",
        "plan": "test_first",
        "release": releases["okinawa"].pk,
        "contacts": "carol@example.com",
        f"plan-{PROD_ZONE}": "back_to_back",
        f"after-{PROD_ZONE}": NONPROD_ZONE,
        f"plan-{NONPROD_ZONE}": "",
    }
    response = client.post("/requests/new/", data)
    assert response.status_code == 302, response.content.decode()
    nonprod, prod = services_of(UpgradeRequest.objects.get())
    assert (nonprod.plan, nonprod.after_id) == (Plan.TEST_FIRST, None)
    assert (prod.plan, prod.after_id) == (Plan.BACK_TO_BACK, nonprod.pk)


def test_the_form_keeps_every_choice_after_an_error(client, cast, releases):
    client.force_login(cast["alice"])
    data = {
        "service_urls": f"{NONPROD}\n{PROD}",
        "plan": "back_to_back",
        "release": releases["okinawa"].pk,
        "contacts": "alice@",
        f"plan-{NONPROD_ZONE}": "test_first",
        f"after-{PROD_ZONE}": NONPROD_ZONE,
        f"after-{NONPROD_ZONE}": PROD_ZONE,
    }
    page = client.post("/requests/new/", data).content.decode()
    assert UpgradeRequest.objects.count() == 0
    assert "is not a valid email address" in page
    assert f"wait for each other, so none could start: {NONPROD_ZONE} → {PROD_ZONE} → {NONPROD_ZONE}" in page
    assert '<option value="test_first" selected>' in page
    assert (
        f'<option value="{NONPROD_ZONE}" selected>' in page
        and f'<option value="{PROD_ZONE}" selected>' in page
    )
    assert re.search(r'value="back_to_back"[^>]* checked', page), "the plan above is kept"


def test_the_api_starts_a_step_for_all_eligible_services(api, cast, releases):
    request = file_planned(cast["alice"])
    nonprod, prod = services_of(request)
    path = f"/api/requests/{request.pk}/trigger/"
    assert api(cast["olga"]).post(path, {"step": 1}, format="json").status_code == 409, "not approved yet"
    actions.apply_request_action(request=request, action=Action.APPROVE, actor=cast["olga"])
    assert api(cast["alice"]).post(path, {"step": 1}, format="json").status_code == 403
    assert api(cast["bob"]).post(path, {"step": 1}, format="json").status_code == 404
    assert api(cast["olga"]).post(path, {"step": 3}, format="json").status_code == 400
    response = api(cast["olga"]).post(path, {}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert [s["state"] for s in body["services"]] == ["step1_running", "approved"]
    assert body["left_as_they_were"] == [
        {
            "id": prod.pk,
            "name": None,
            "zone_id": PROD_ZONE,
            "state": "approved",
            "reason": f"Starts after {NONPROD_ZONE} is confirmed.",
        }
    ]
    again = api(cast["olga"]).post(path, {"step": 2}, format="json")
    assert again.status_code == 409 and again.json()["detail"].startswith("No service can start Step 2 now.")


def test_home_lists_a_waiting_service_to_start_only_once_it_may(client, cast, releases):
    request = file_planned(cast["alice"])
    nonprod, prod = services_of(request)
    actions.apply_request_action(request=request, action=Action.APPROVE, actor=cast["olga"])
    client.force_login(cast["olga"])

    def to_start() -> str:
        home = client.get("/").content.decode()
        return home[home.index('id="start-h"') : home.index("</section>", home.index('id="start-h"'))]

    assert NONPROD_ZONE in to_start() and PROD_ZONE not in to_start()
    step1_done(nonprod, cast["olga"])
    actions.apply_service_action(service=nonprod, action=Action.CONFIRM, actor=cast["alice"])
    assert PROD_ZONE in to_start()
