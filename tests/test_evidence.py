"""The evidence pack as people reach it: the printable page and the JSON download (requester and EC
team; others 404), `verify_evidence`'s verdicts, and approval again of a service sent back."""

import json

import pytest
from django.core.management import CommandError, call_command

from tests.conftest import NONPROD, PROD, file_request
from tests.notifications.conftest import walk
from upgrades import actions, evidence
from upgrades.models import Event, ServiceUpgrade
from upgrades.workflow import Action, State

pytestmark = pytest.mark.django_db


@pytest.fixture
def key(settings):
    settings.EVIDENCE_KEY = "test-evidence-key-" + "0" * 30
    return settings.EVIDENCE_KEY


def test_pages_show_the_pack_to_the_requester_and_team_only(client, cast, releases, key):
    request = file_request(cast["alice"])
    for who in ("alice", "olga"):
        client.force_login(cast[who])
        page = client.get(f"/requests/{request.pk}/evidence/")
        assert page.status_code == 200 and f"Evidence pack of {request.reference}" in page.content.decode()
        download = client.get(f"/requests/{request.pk}/evidence.json")
        assert download.status_code == 200
        assert f"{request.reference}-evidence.json" in download["Content-Disposition"]
        assert evidence.verify(json.loads(download.content))["filed"]["by"] == "alice"
    client.force_login(cast["bob"])
    assert client.get(f"/requests/{request.pk}/evidence/").status_code == 404
    assert client.get(f"/requests/{request.pk}/evidence.json").status_code == 404
    client.force_login(cast["alice"])
    assert f"/requests/{request.pk}/evidence/" in client.get(f"/requests/{request.pk}/").content.decode()


def test_verify_evidence_says_what_is_wrong(tmp_path, cast, releases, key, capsys):
    pack = evidence.signed_pack(file_request(cast["alice"]))
    intact = tmp_path / "pack.json"
    intact.write_text(json.dumps(pack))
    call_command("verify_evidence", str(intact))
    assert "Intact" in capsys.readouterr().out

    cases = {
        "not-json.json": ("{not json", "is not JSON"),
        "unsigned.json": (json.dumps({"evidence": pack["evidence"]}), "no signature"),
        "other.json": (json.dumps([1, 2]), "Not an evidence pack"),
    }
    for name, (text, message) in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(CommandError, match=message):
            call_command("verify_evidence", str(tmp_path / name))
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("verify_evidence", str(tmp_path / "missing.json"))
    with pytest.raises(evidence.EvidenceInvalid, match="signed with another key"):
        evidence.verify(pack, key="another-key")
    pack["evidence"]["filed"]["by"] = "mallory"
    with pytest.raises(evidence.EvidenceInvalid, match="changed after it was signed"):
        evidence.verify(pack)


def test_a_service_sent_back_is_approved_again_alone(cast, releases):
    request = file_request(cast["alice"], [PROD, NONPROD])
    ServiceUpgrade.objects.filter(request=request).update(plan_fingerprint="a" * 64)
    actions.apply_request_action(request=request, action=Action.APPROVE, actor=cast["olga"])
    first, second = request.services.order_by("id")
    assert first.approved_fingerprint == "a" * 64
    walk(first, State.STEP1_RUNNING, actor=cast["olga"])
    changed = {"plan_fingerprint": "b" * 64, "approved_fingerprint": ""}
    actions.transition(
        first, target=State.SUBMITTED, actor=actions.SYSTEM, message="Changed.", updates=changed
    )
    outcome = actions.apply_request_action(request=request, action=Action.APPROVE, actor=cast["olga"])
    assert [s.pk for s, _ in outcome.moved] == [first.pk]
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.state, first.approved_fingerprint) == (State.APPROVED, "b" * 64)
    assert (second.state, second.approved_fingerprint) == (State.APPROVED, "a" * 64)
    approvals = evidence.collect(request)["approvals"]
    assert [(a["service_id"], a["superseded"]) for a in approvals] == [
        (first.pk, True),
        (second.pk, False),
        (first.pk, False),
    ]
    assert Event.objects.filter(service=first, to_state=State.SUBMITTED).count() == 1


SHOWN, NOW = "a" * 64, "b" * 64


@pytest.fixture
def replanned(cast, releases):
    """alice's request, its plan shown to the EC team as SHOWN and since surveyed again as NOW."""
    request = file_request(cast["alice"])
    ServiceUpgrade.objects.filter(request=request).update(plan_fingerprint=NOW)
    return request


def test_the_api_refuses_to_approve_a_plan_other_than_the_one_seen(api, cast, replanned):
    service = replanned.services.get()
    olga = api(cast["olga"])
    for body in ({"fingerprint": SHOWN}, {"plan_fingerprints": {str(service.pk): SHOWN}}):
        answer = olga.post(f"/api/requests/{replanned.pk}/approve/", body, format="json")
        assert answer.status_code == 409 and "changed since you looked" in answer.json()["detail"]
        assert ServiceUpgrade.objects.get(pk=service.pk).state == State.SUBMITTED
    answer = olga.post(
        f"/api/requests/{replanned.pk}/approve/", {"plan_fingerprints": {str(service.pk): NOW}}, format="json"
    )
    assert answer.status_code == 200, answer.content
    assert ServiceUpgrade.objects.get(pk=service.pk).approved_fingerprint == NOW


def test_the_api_still_approves_without_a_fingerprint(api, cast, replanned):
    answer = api(cast["olga"]).post(f"/api/requests/{replanned.pk}/approve/", {}, format="json")
    assert answer.status_code == 200
    assert replanned.services.get().approved_fingerprint == NOW


def test_the_approve_form_sends_the_plan_shown_and_a_changed_one_is_reviewed_again(client, cast, replanned):
    service = replanned.services.get()
    client.force_login(cast["olga"])
    page = client.get(f"/requests/{replanned.pk}/").content.decode()
    assert f'name="plan_fingerprint" value="{service.pk}:{NOW}"' in page
    answer = client.post(
        f"/requests/{replanned.pk}/approve/", {"plan_fingerprint": f"{service.pk}:{SHOWN}"}, follow=True
    )
    assert "The plan changed since you looked" in answer.content.decode()
    assert ServiceUpgrade.objects.get(pk=service.pk).state == State.SUBMITTED
    client.post(f"/requests/{replanned.pk}/approve/", {"plan_fingerprint": f"{service.pk}:{NOW}"})
    approved = ServiceUpgrade.objects.get(pk=service.pk)
    assert approved.state == State.APPROVED and approved.approved_fingerprint == NOW
