"""A plan sent back for approval at Step 1 (CF changed since it was approved) tells the EC team, with
the difference, through the outbox and a real SMTP listener; its metric is its own outcome."""

import pytest
from prometheus_client import REGISTRY

from tests.conftest import PROD, file_request
from tests.notifications.conftest import TEAM, send_all, walk
from upgrades import actions
from upgrades.engine import leases, runner
from upgrades.engine.plan import PlanChanged
from upgrades.models import Notification, ServiceUpgrade
from upgrades.workflow import Action, State

CHANGES = ["instances 2 → 3 since approval"]


@pytest.fixture
def running(cast, releases):
    """alice's service in Step 1, its first sub-step leased by "worker-1"."""
    request = file_request(cast["alice"], [PROD])
    actions.apply_request_action(request=request, action=Action.APPROVE, actor=cast["olga"])
    service = walk(request.services.get(), State.STEP1_RUNNING)
    ServiceUpgrade.objects.filter(pk=service.pk).update(lease_owner="worker-1")
    service.refresh_from_db()
    return service


def test_a_plan_sent_back_for_approval_mails_the_ec_team_the_difference(running, smtp, settings):
    settings.EC_TEAM_EMAILS = TEAM
    changed = PlanChanged(CHANGES, {"version": 1})
    leases.send_back(running, "worker-1", str(changed), {"approved_fingerprint": ""})
    assert ServiceUpgrade.objects.get(pk=running.pk).state == State.SUBMITTED
    notification = Notification.objects.get(milestone="plan_changed")
    assert notification.audience == Notification.Audience.TEAM

    smtp.start()
    assert send_all().sent
    mails = [m for m in smtp.messages() if "Plan changed since approval" in m["Subject"]]
    assert sorted(m["To"] for m in mails) == sorted(TEAM), "the EC team, not the requester"
    text = mails[0].get_body(("plain",)).get_content()
    assert "instances 2 → 3 since approval" in text and "approval again" in text
    assert "instances 2 → 3 since approval" in mails[0].get_body(("html",)).get_content()


def test_a_changed_plan_is_measured_as_its_own_outcome_not_as_a_failed_step():
    def count(name: str, labels: dict) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    before_failed = count("ecportal_substep_seconds_count", {"step": "inspect", "outcome": "step_failed"})
    before_changed = count("ecportal_substep_seconds_count", {"step": "inspect", "outcome": "plan_changed"})
    runner._measure("inspect", PlanChanged(CHANGES, {}), 0.1)
    after_failed = count("ecportal_substep_seconds_count", {"step": "inspect", "outcome": "step_failed"})
    assert after_failed == before_failed
    after = count("ecportal_substep_seconds_count", {"step": "inspect", "outcome": "plan_changed"})
    assert after == before_changed + 1
    assert not count("ecportal_upgrade_failures_total", {"reason": "plan_changed"})
