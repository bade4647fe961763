"""The REST API contract of DESIGN §5: shapes, pagination, filters, actions and their status codes."""

import pytest
from rest_framework.authtoken.models import Token

from tests.conftest import NONPROD, PROD, file_request
from upgrades import actions
from upgrades.models import Event, Preflight


def test_create_returns_201_with_the_request_and_its_services(api, cast, releases):
    response = api(cast["alice"]).post(
        "/api/requests/",
        {"service_urls": [PROD, NONPROD], "contacts": ["carol@example.com"], "notes": "n"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert {
        "id",
        "status",
        "plan",
        "release",
        "contacts",
        "notes",
        "requester",
        "created_at",
        "services",
    } <= set(body)
    assert body["status"] == "submitted" and body["plan"] == "test_first"
    assert body["release"] == "okinawa.130", "the recommended release is the default"
    assert body["requester"] == "alice" and body["contacts"] == ["carol@example.com"]
    service = body["services"][0]
    assert set(service) >= {
        "id",
        "name",
        "url",
        "zone_id",
        "domain",
        "foundation",
        "foundation_name",
        "state",
        "step",
        "temporary_url",
        "error",
        "allowed_actions",
    }
    assert service["url"] == PROD and service["foundation"] == "predix-west"
    assert service["state"] == "submitted" and service["temporary_url"] is None
    assert service["allowed_actions"] == ["cancel"], "the requester may only cancel before approval"
    assert service["name"] is None, "the name is learnt at preflight"


def test_a_service_has_its_name_once_preflight_learnt_it_and_its_foundation_by_name(api, cast, releases):
    request = file_request(cast["alice"], [PROD, NONPROD], checked=False)
    client = api(cast["alice"])

    def services(body):
        return [(s["name"], s["zone_id"], s["foundation"], s["foundation_name"]) for s in body["services"]]

    prod_zone, nonprod_zone = (s.zone_id for s in request.services.order_by("id"))
    assert services(client.get(f"/api/requests/{request.pk}/").json()) == [
        (None, prod_zone, "predix-west", "Predix West / Basic"),
        (None, nonprod_zone, "cf3", "CF3"),
    ]
    prod = request.services.get(zone_id=prod_zone)
    actions.record_preflight(
        service_id=prod.pk, outcome=Preflight.PASSED, message="ok", facts={"name": "ec-acme-prod"}
    )
    (listed,) = client.get("/api/requests/").json()["results"]
    detail = client.get(f"/api/requests/{request.pk}/").json()
    learnt = [
        ("ec-acme-prod", prod_zone, "predix-west", "Predix West / Basic"),
        (None, nonprod_zone, "cf3", "CF3"),
    ]
    assert services(listed) == services(detail) == learnt


def test_list_is_paginated_and_filtered(api, cast, releases):
    first = file_request(cast["alice"], [PROD])
    file_request(cast["alice"], [NONPROD])
    client = api(cast["olga"])
    body = client.get("/api/requests/").json()
    assert set(body) == {"count", "next", "previous", "results"} and body["count"] == 2
    assert [r["id"] for r in client.get("/api/requests/?foundation=cf3").json()["results"]] == [first.pk + 1]
    zone = PROD.split("//")[1].split(".")[0]
    assert [r["id"] for r in client.get(f"/api/requests/?zone_id={zone.upper()}").json()["results"]] == [
        first.pk
    ]
    client.post(f"/api/requests/{first.pk}/approve/")
    assert [r["id"] for r in client.get("/api/requests/?state=approved").json()["results"]] == [first.pk]


def test_list_pages_follow_next(api, cast, releases, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "PAGE_SIZE": 2}
    for n in range(5):
        file_request(
            cast["alice"], [f"https://{n:08x}-0000-4000-8000-000000000000.run.aws-usw02-pr.ice.predix.io"]
        )
    client, url, seen = api(cast["alice"]), "/api/requests/", []
    while url:
        page = client.get(url).json()
        seen += [r["id"] for r in page["results"]]
        url = page["next"]
    assert len(seen) == 5 == len(set(seen))


def test_approve_reject_cancel_move_the_services_and_log_events(api, cast, filed):
    olga = api(cast["olga"])
    response = olga.post(f"/api/requests/{filed.pk}/approve/")
    assert response.status_code == 200
    assert {s["state"] for s in response.json()["services"]} == {"approved"}
    assert olga.post(f"/api/requests/{filed.pk}/approve/").status_code == 409
    assert olga.post(f"/api/requests/{filed.pk}/reject/", {"reason": "late"}).status_code == 409
    assert olga.post(f"/api/requests/{filed.pk}/cancel/", {"reason": "change freeze"}).status_code == 200
    events = api(cast["alice"]).get(f"/api/requests/{filed.pk}/events/").json()["results"]
    assert [(e["actor"], e["from_state"], e["to_state"]) for e in events] == [
        ("alice", "", "submitted"),
        ("olga", "submitted", "approved"),
        ("olga", "submitted", "approved"),
        ("olga", "approved", "cancelled"),
        ("olga", "approved", "cancelled"),
    ]
    assert events[-1]["message"] == "change freeze"


def test_reject_needs_a_reason(api, cast, filed):
    response = api(cast["olga"]).post(f"/api/requests/{filed.pk}/reject/", {"reason": "  "}, format="json")
    assert response.status_code == 400 and "reason" in response.json()
    response = api(cast["olga"]).post(
        f"/api/requests/{filed.pk}/reject/", {"reason": "wrong zone"}, format="json"
    )
    assert response.status_code == 200 and response.json()["status"] == "rejected"


def test_nobody_approves_their_own_request(api, cast, releases):
    own = file_request(cast["olga"], [PROD])
    response = api(cast["olga"]).post(f"/api/requests/{own.pk}/approve/")
    assert response.status_code == 403
    assert api(cast["olga"]).get(f"/api/requests/{own.pk}/").json()["allowed_actions"] == ["reject", "cancel"]
    assert api(cast["oscar"]).post(f"/api/requests/{own.pk}/approve/").status_code == 200


def test_token_authentication(cast, filed):
    from rest_framework.test import APIClient

    token = Token.objects.create(user=cast["carol"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert client.get(f"/api/requests/{filed.pk}/").status_code == 200
    client.credentials(HTTP_AUTHORIZATION="Token nope")
    assert client.get(f"/api/requests/{filed.pk}/").status_code == 401


def test_session_api_calls_need_csrf(api, cast, filed):
    assert api(cast["olga"], csrf=True).post(f"/api/requests/{filed.pk}/approve/").status_code == 403
    assert Event.objects.filter(to_state="approved").count() == 0


def test_schema_and_docs_are_served_to_users_only(api, cast):
    assert api(cast["alice"]).get("/api/schema/").status_code == 200
    assert api(cast["alice"]).get("/api/docs/").status_code == 200
    assert api().get("/api/schema/").status_code == 401
    assert api().get("/api/docs/").status_code == 401


# Role × endpoint matrix. Expected status for each (who, endpoint) on alice's fresh request.
MATRIX = {
    #            anonymous, alice (requester), bob (other), carol (contact), olga (EC team), root (admin)
    "detail": (401, 200, 404, 200, 200, 200),
    "events": (401, 200, 404, 200, 200, 200),
    "approve": (401, 403, 404, 403, 200, 200),
    "reject": (401, 403, 404, 403, 200, 200),
    "cancel": (401, 200, 404, 403, 200, 200),
}
WHO = (None, "alice", "bob", "carol", "olga", "root")


@pytest.mark.parametrize("endpoint", sorted(MATRIX))
@pytest.mark.parametrize("position", range(len(WHO)))
def test_role_matrix(api, cast, filed, endpoint, position):
    who = WHO[position]
    client = api(cast[who] if who else None)
    if endpoint in ("detail", "events"):
        path = f"/api/requests/{filed.pk}/" + ("events/" if endpoint == "events" else "")
        response = client.get(path)
    else:
        response = client.post(f"/api/requests/{filed.pk}/{endpoint}/", {"reason": "because"}, format="json")
    assert response.status_code == MATRIX[endpoint][position], (who, endpoint, response.content)


@pytest.mark.parametrize(("who", "count"), [("alice", 1), ("carol", 1), ("bob", 0), ("olga", 1), ("root", 1)])
def test_lists_show_only_visible_requests(api, cast, filed, who, count):
    assert api(cast[who]).get("/api/requests/").json()["count"] == count


def test_anonymous_list_is_401_not_a_redirect(api, db):
    response = api().get("/api/requests/")
    assert response.status_code == 401 and "Location" not in response


SERVICE_MATRIX = {
    # on a submitted service:  anonymous, alice, bob, carol, olga, root
    "trigger": (401, 403, 404, 403, 409, 409),
    "confirm": (401, 409, 404, 409, 403, 403),
    "report-problem": (401, 409, 404, 409, 403, 403),
    "retry": (401, 403, 404, 403, 409, 409),
    "rollback": (401, 403, 404, 403, 409, 409),
    "cancel": (401, 200, 404, 403, 200, 200),
}


@pytest.mark.parametrize("endpoint", sorted(SERVICE_MATRIX))
@pytest.mark.parametrize("position", range(len(WHO)))
def test_service_role_matrix(api, cast, filed, endpoint, position):
    who = WHO[position]
    service = filed.services.first()
    response = api(cast[who] if who else None).post(
        f"/api/services/{service.pk}/{endpoint}/", {"reason": "because"}, format="json"
    )
    assert response.status_code == SERVICE_MATRIX[endpoint][position], (who, endpoint, response.content)
    if response.status_code == 200:
        assert response.json()["state"] == "cancelled"


def test_approval_waits_for_preflight(api, cast, releases):
    pending = file_request(cast["alice"], [PROD], checked=False)
    response = api(cast["olga"]).post(f"/api/requests/{pending.pk}/approve/")
    assert response.status_code == 409 and "pass preflight" in response.json()["detail"]
    assert api(cast["olga"]).get(f"/api/requests/{pending.pk}/").json()["allowed_actions"] == [
        "reject",
        "cancel",
    ]
