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
