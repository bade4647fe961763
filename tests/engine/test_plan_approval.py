"""The plan, shown and approved: preflight records what will happen on CF, approval records its
fingerprint, and Step 1 stops and asks for approval again when CF changed since (real worker, cfsim
over HTTP); the request's evidence pack is signed and `verify_evidence` tells intact from tampered."""

import json
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command

from ecportal.embedded import CFSIM_CLIENT_SECRET
from tests.engine.conftest import (
    ACME,
    ACME_PROD,
    ACME_ZONE,
    approve_and_trigger,
    filed_and_checked,
    topology,
    wait_state,
)
from upgrades import actions
from upgrades.cloudfoundry import CFClient
from upgrades.engine.plan import fingerprint
from upgrades.models import Event, ServiceUpgrade
from upgrades.workflow import Action, State

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def cf(sim):
    """The CF API as someone at the CF command line sees it, to change things behind the portal's back."""
    return CFClient(sim.api_url, client_id="ecportal", client_secret=CFSIM_CLIENT_SECRET)


def test_preflight_shows_what_will_happen_without_environment_values(engine, cast, cf, api, client):
    request = filed_and_checked(cast["alice"], [ACME_PROD])
    service = request.services.get()
    plan = service.change_plan
    assert plan["old_app"]["name"] == ACME and plan["old_app"]["guid"] == service.blue_app_guid
    assert plan["old_app"]["instances"] == 2
    env = cf.get_env_vars(service.blue_app_guid)
    assert plan["old_app"]["env_var_count"] == len(env) > 0
    text = json.dumps(plan)
    # The zone ID is public (it is in the URL); every other value may be a secret.
    secrets = [str(v) for v in env.values() if len(str(v)) > 3 and str(v) != service.zone_id]
    assert secrets and not [value for value in secrets if value in text], "no value is in the plan"
    bound = {b.service_instance_guid for b in cf.list_credential_bindings(app_guids=[service.blue_app_guid])}
    assert {item["guid"] for item in plan["create"] if item["kind"] == "binding"} == bound and bound
    assert plan["original_route"]["app_guids"] == [service.blue_app_guid]
    assert [item["kind"] for item in plan["delete"]] == ["app", "route"]

    body = api(cast["alice"]).get(f"/api/requests/{request.pk}/").json()
    assert body["services"][0]["plan_fingerprint"] == fingerprint(plan) == service.plan_fingerprint
    client.force_login(cast["alice"])
    page = client.get(f"/requests/{request.pk}/").content.decode()
    assert "What will happen" in page and service.blue_app_guid in page
    assert f"{ACME}-okinawa.130" in page, "the new app is named on the page"


def test_more_instances_after_approval_stop_step1_until_approved_again(
    engine, sim, cast, cf, api, settings, tmp_path
):
    request = filed_and_checked(cast["alice"], [ACME_PROD])
    service = request.services.get()
    approved_plan = service.plan_fingerprint
    actions.apply_request_action(request=request, action=Action.APPROVE, actor=cast["olga"])
    assert ServiceUpgrade.objects.get(pk=service.pk).approved_fingerprint == approved_plan

    web = next(p for p in cf.list_app_processes(service.blue_app_guid) if p.type == "web")
    cf.scale_process(web.guid, instances=3)
    actions.apply_service_action(service=service, action=Action.TRIGGER, actor=cast["olga"])

    back = wait_state(service.pk, State.SUBMITTED, timeout=60)
    sent_back = Event.objects.filter(
        service=service, from_state=State.STEP1_RUNNING, to_state=State.SUBMITTED
    )
    assert "instances 2 → 3 since approval" in sent_back.get().message
    assert "instances 2 → 3 since approval" in back.preflight_message
    assert back.approved_fingerprint == "" and back.plan_fingerprint != approved_plan
    assert back.change_plan["old_app"]["instances"] == 3
    assert topology(sim, ACME_ZONE, ACME)["apps"] == [(ACME, "STARTED", "ecsim/ec-service:sendai.120", 3)], (
        "nothing was created on CF"
    )
    listed = api(cast["olga"]).get(f"/api/requests/{request.pk}/").json()
    assert "approve" in listed["allowed_actions"] and listed["services"][0]["state"] == "submitted"

    approve_and_trigger(request, cast["olga"])
    done = wait_state(service.pk, State.AWAITING_VERIFICATION, timeout=120)
    assert done.approved_fingerprint == back.plan_fingerprint
    assert sorted(a[3] for a in topology(sim, ACME_ZONE, ACME)["apps"]) == [3, 3]
    actions.apply_request_action(request=request, action=Action.CONFIRM, actor=cast["alice"])
    actions.apply_service_action(service=done, action=Action.TRIGGER, actor=cast["olga"])
    completed = wait_state(service.pk, State.COMPLETED, timeout=120)

    _evidence_of_the_upgrade(request, cast, api, settings, tmp_path, completed)


def _evidence_of_the_upgrade(request, cast, api, settings, tmp_path, service):
    """The pack over the API: the requester and EC team get it, bob gets 404; verify_evidence passes it
    intact and fails it tampered."""
    settings.EVIDENCE_KEY = "k" * 48
    assert api(cast["bob"]).get(f"/api/requests/{request.pk}/evidence/").status_code == 404
    assert api(cast["olga"]).get(f"/api/requests/{request.pk}/evidence/").status_code == 200
    response = api(cast["alice"]).get(f"/api/requests/{request.pk}/evidence/")
    assert response.status_code == 200
    pack = response.json()
    facts = pack["evidence"]
    assert facts["filed"]["by"] == "alice"
    superseded, current = facts["approvals"]
    assert superseded["superseded"] and superseded["plan_fingerprint"] is None
    assert current["by"] == "olga" and current["plan_fingerprint"] == service.approved_fingerprint
    assert any("instances 2 → 3" in e["message"] for e in facts["events"])
    assert facts["cf_calls"] and all(
        {"method", "path", "status", "cf_request_id", "duration_ms"} <= call.keys()
        for call in facts["cf_calls"]
    )
    assert facts["services"][0]["probe"] is None or isinstance(facts["services"][0]["probe"], dict)
    print(
        f"\nevidence pack of one upgrade: {len(response.content)} bytes, {len(facts['events'])} events, "
        f"{len(facts['cf_calls'])} CF calls, {len(facts['mails'])} mails"
    )

    intact = tmp_path / "intact.json"
    intact.write_text(json.dumps(pack, indent=1))
    call_command("verify_evidence", str(intact))
    facts["cf_calls"][0]["status"] = 200 if facts["cf_calls"][0]["status"] != 200 else 500
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(pack))
    with pytest.raises(CommandError, match="TAMPERED"):
        call_command("verify_evidence", str(tampered))
    # The real command in its own process, with the key from its environment.
    env = {**__import__("os").environ, "EVIDENCE_KEY": settings.EVIDENCE_KEY}
    ok = subprocess.run(
        [sys.executable, "manage.py", "verify_evidence", str(intact)], env=env, capture_output=True, text=True
    )
    assert ok.returncode == 0 and "Intact" in ok.stdout, ok.stderr
    bad = subprocess.run(
        [sys.executable, "manage.py", "verify_evidence", str(tampered)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0 and "signature does not match" in bad.stderr
