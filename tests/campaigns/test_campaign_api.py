"""The campaign API and pages without a worker: who may do what, what a draft shows, bad input."""

import pytest
from django.utils import timezone

from tests.conftest import PROD, file_request
from upgrades import actions, campaign_driver
from upgrades.models import Campaign, FleetService, Preflight, ServiceUpgrade
from upgrades.workflow import State

WEST = "run.aws-usw02-pr.ice.predix.io"


def zone(number: int) -> str:
    return f"00000000-0000-4000-8000-{number:012d}"


@pytest.fixture
def inventory(db, releases):
    """Seven fleet services on Predix West: six on sendai.120, the seventh already on okinawa.130."""
    now = timezone.now()
    return FleetService.objects.bulk_create(
        [
            FleetService(
                zone_id=zone(n),
                foundation="predix-west",
                domain=WEST,
                name=f"ec-svc-{n}",
                release="okinawa.130" if n == 7 else "sendai.120",
                instances=1,
                first_seen_at=now,
                last_seen_at=now,
            )
            for n in range(1, 8)
        ]
    )


def body(**overrides) -> dict:
    return {
        "name": "okinawa everywhere",
        "release": "okinawa.130",
        "zone_ids": [zone(n) for n in range(1, 8)],
        "plan": "back_to_back",
        "canary_size": 2,
        "wave_size": 3,
        "max_parallel": 3,
        "pause_seconds": None,
        "failure_budget": 1,
    } | overrides


def preflight_passed(campaign_id: int) -> None:
    for service in ServiceUpgrade.objects.filter(campaign_id=campaign_id):
        actions.record_preflight(service_id=service.pk, outcome=Preflight.PASSED, message="ok")


def test_only_the_ec_team_sees_or_creates_campaigns(api, cast, inventory):
    assert api(cast["alice"]).post("/api/campaigns/", body(), format="json").status_code == 403
    assert api(cast["alice"]).get("/api/campaigns/").status_code == 403
    assert api().get("/api/campaigns/").status_code in (401, 403)
    created = api(cast["olga"]).post("/api/campaigns/", body(), format="json")
    assert created.status_code == 201
    assert api(cast["alice"]).get(f"/api/campaigns/{created.data['id']}/").status_code == 403
    assert api(cast["alice"]).post(f"/api/campaigns/{created.data['id']}/abort/").status_code == 403
    assert api(cast["oscar"]).get("/api/campaigns/").data["count"] == 1


def test_a_draft_shows_every_service_its_wave_and_those_left_out_with_why(api, cast, inventory):
    file_request(cast["alice"], [f"https://{zone(3)}.{WEST}"])  # an upgrade under way

    created = api(cast["olga"]).post("/api/campaigns/", body(), format="json")

    assert created.status_code == 201, created.data
    data = created.data
    assert data["state"] == "draft" and data["release"] == "okinawa.130" and data["plan"] == "back_to_back"
    assert [s["zone_id"] for s in data["services"]] == [zone(n) for n in (1, 2, 4, 5, 6)]
    assert [(w["number"], w["state"], len(w["services"])) for w in data["waves"]] == [
        (1, "waiting", 2),
        (2, "waiting", 3),
    ]
    assert data["counts"] == {"submitted": 5}
    reasons = {item["zone_id"]: item["reason"] for item in data["left_out"]}
    assert reasons[zone(7)] == "already on okinawa.130"
    assert reasons[zone(3)].startswith("an upgrade is already under way (UR-")
    assert {s["name"] for s in data["services"]} == {f"ec-svc-{n}" for n in (1, 2, 4, 5, 6)}


def test_unknown_or_unparseable_services_are_refused_with_a_message_per_line(api, cast, inventory):
    olga = api(cast["olga"])
    pasted = [zone(1), "https://not-a-zone.example.com", zone(99), zone(1)]
    refused = olga.post("/api/campaigns/", body(zone_ids=pasted), format="json")
    assert refused.status_code == 400
    assert refused.data["zone_ids"] == [
        "Line 2: the host must start with the zone ID (a GUID), not “not-a-zone”.",
        "Line 4: duplicate of line 1.",
        f"Line 3: zone ID {zone(99)} is not in the fleet; refresh the Fleet page, "
        "or paste the service's URL.",
    ]
    both = olga.post("/api/campaigns/", body(service_urls=[PROD]), format="json")
    assert both.status_code == 400 and "either zone_ids or service_urls" in str(both.data)
    wrong = olga.post("/api/campaigns/", body(canary_size=0, zone_ids=zone(1)), format="json")
    assert wrong.status_code == 400 and set(wrong.data) == {"canary_size", "zone_ids"}
    assert olga.post("/api/campaigns/", body(release="nope.1"), format="json").status_code == 400
    # A URL that parses but that the fleet does not hold is left out, saying so.
    by_url = {key: value for key, value in body(service_urls=[PROD]).items() if key != "zone_ids"}
    unknown = olga.post("/api/campaigns/", by_url, format="json")
    assert unknown.status_code == 201
    assert unknown.data["left_out"][0]["reason"].startswith("unknown to the fleet")
    assert Campaign.objects.count() == 1


def test_two_ec_team_members_are_needed_to_approve(api, cast, inventory):
    olga, oscar = api(cast["olga"]), api(cast["oscar"])
    campaign_id = olga.post("/api/campaigns/", body(), format="json").data["id"]

    own = olga.post(f"/api/campaigns/{campaign_id}/approve/")
    assert own.status_code == 403 and "Nobody approves their own campaign" in own.data["detail"]
    early = oscar.post(f"/api/campaigns/{campaign_id}/approve/")
    assert early.status_code == 409 and "Preflight is still checking" in early.data["detail"]
    assert oscar.post(f"/api/campaigns/{campaign_id}/start/").status_code == 409

    preflight_passed(campaign_id)
    approved = oscar.post(f"/api/campaigns/{campaign_id}/approve/")
    assert approved.status_code == 200 and approved.data["state"] == "approved"
    assert approved.data["counts"] == {"approved": 6}
    assert approved.data["approved_by"] == "oscar"
    assert oscar.post(f"/api/campaigns/{campaign_id}/approve/").status_code == 409
    started = olga.post(f"/api/campaigns/{campaign_id}/start/")
    assert started.status_code == 200 and started.data["state"] == "running"


def test_services_failing_preflight_are_left_out_at_approval(api, cast, inventory):
    campaign_id = api(cast["olga"]).post("/api/campaigns/", body(), format="json").data["id"]
    first, *rest = ServiceUpgrade.objects.filter(campaign_id=campaign_id).order_by("id")
    actions.record_preflight(service_id=first.pk, outcome=Preflight.FAILED, message="no route")
    for service in rest:
        actions.record_preflight(service_id=service.pk, outcome=Preflight.PASSED, message="ok")

    approved = api(cast["oscar"]).post(f"/api/campaigns/{campaign_id}/approve/")

    assert approved.status_code == 200
    assert first.zone_id not in [s["zone_id"] for s in approved.data["services"]]
    assert approved.data["left_out"][-1] == {
        "zone_id": first.zone_id,
        "name": first.name,
        "foundation": "predix-west",
        "release": "",
        "reason": "preflight failed: no route",
    }
    first.refresh_from_db()
    assert first.state == State.CANCELLED


def test_controls_answer_409_from_the_wrong_state_and_404_for_no_campaign(api, cast, inventory):
    oscar = api(cast["oscar"])
    campaign_id = api(cast["olga"]).post("/api/campaigns/", body(), format="json").data["id"]
    for action in ("start", "pause", "resume", "continue", "retry"):
        assert oscar.post(f"/api/campaigns/{campaign_id}/{action}/").status_code == 409, action
    assert oscar.post("/api/campaigns/999999/pause/").status_code == 404
    assert oscar.get("/api/campaigns/999999/").status_code == 404
    refused = oscar.post(f"/api/campaigns/{campaign_id}/abort/", {"running": "later"}, format="json")
    assert refused.status_code == 400 and list(refused.data) == ["running"]
    assert Campaign.objects.get(pk=campaign_id).state == Campaign.State.DRAFT
    aborted = oscar.post(f"/api/campaigns/{campaign_id}/abort/", {"running": "rollback"}, format="json")
    assert aborted.status_code == 200 and aborted.data["state"] == "aborted"
    assert aborted.data["counts"] == {"cancelled": 6}
    assert aborted.data["abort_running"] == "rollback" and aborted.data["ended_at"] is None
    assert campaign_driver.drive(campaign_id) == 0
    # Nothing had started: the abort ends at the driver's next look.
    assert oscar.get(f"/api/campaigns/{campaign_id}/").data["ended_at"] is not None
