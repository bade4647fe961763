"""After a rollback: the page says what it means, "File again" opens the form prefilled, and the
message after submitting is gone once the live part refreshes."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.test_journeys import ACME, LIVE, card
from tests.engine.conftest import ACME_PROD, approve_and_trigger, filed_and_checked, wait_state
from upgrades import actions
from upgrades.models import UpgradeRequest
from upgrades.workflow import Action, State

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_a_rolled_back_service_is_filed_again_in_one_press(engine, people, cast):
    request = filed_and_checked(cast["alice"], [ACME_PROD])
    approve_and_trigger(request, cast["olga"])
    service = wait_state(request.services.get().pk, State.AWAITING_VERIFICATION)
    actions.apply_service_action(
        service=service, action=Action.REPORT_PROBLEM, actor=cast["alice"], reason="502 on the temporary URL"
    )
    wait_state(service.pk, State.ROLLED_BACK)

    alice = people("alice")
    page = alice.page
    page.goto(f"/requests/{request.pk}/")
    acme = card(page, ACME)
    expect(acme.locator(".outcome")).to_have_text(
        "Rolled back: the previous release serves the original URL; the new one was removed."
    )
    acme.get_by_role("link", name="File again").click()
    expect(page.get_by_label("Service URLs")).to_have_value(ACME_PROD)
    expect(page.get_by_label("Test after Step 1")).to_be_checked()
    expect(page.get_by_label("Points of contact")).to_have_value("carol@example.com")
    page.get_by_role("button", name="Submit request").click()
    page.wait_for_url(re.compile(r"/requests/\d+/$"))
    again = UpgradeRequest.objects.exclude(pk=request.pk).get()
    assert again.services.get().zone_id == service.zone_id
    message = page.locator("#messages .msg.success")
    expect(message).to_have_text(f"Request {again.reference} submitted.")
    # Shown once: the live part's next refresh (every 10 s while it waits for preflight and approval)
    # takes it away, with nothing else on the page moving.
    expect(message).to_have_count(0, timeout=LIVE)
    expect(page.locator("#request-status")).to_have_text("Submitted")
