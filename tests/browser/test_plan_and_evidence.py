"""Alice sees what will happen on CF before approval, and opens the evidence pack from the request page
(under the strict CSP, readable by axe-core, and on a phone without sideways scrolling)."""

import pytest
from playwright.sync_api import expect

from tests.browser.test_journeys import _axe
from tests.engine.conftest import ACME, ACME_PROD, filed_and_checked
from upgrades import actions
from upgrades.workflow import Action

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_alice_sees_the_plan_and_opens_the_evidence_pack(engine, people, cast, browser, live_server):
    request = filed_and_checked(cast["alice"], [ACME_PROD])
    actions.apply_request_action(request=request, action=Action.APPROVE, actor=cast["olga"])
    service = request.services.get()
    alice = people("alice", viewport={"width": 390, "height": 844})
    page = alice.page
    page.goto(f"/requests/{request.pk}/")
    plan = page.get_by_role("region", name="What will happen")
    expect(plan).to_contain_text(f"{ACME}-okinawa.130")
    expect(plan).to_contain_text(service.blue_app_guid)
    expect(plan).to_contain_text("approved")
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 390, f"the plan makes the request page scroll sideways on a phone ({width} px)"
    alice.screenshot("request-plan-phone")

    page.get_by_role("link", name="Evidence pack").click()
    expect(page.get_by_role("heading", name=f"Evidence pack of {request.reference}")).to_be_visible()
    expect(page.get_by_text("Approved", exact=True)).to_be_visible()
    path = f"/requests/{request.pk}/evidence/"
    violations = _axe(browser, live_server, alice.context.storage_state(), path)
    violations += _axe(browser, live_server, alice.context.storage_state(), f"/requests/{request.pk}/")
    assert not violations, "\n".join(violations)
