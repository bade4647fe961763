"""Webhooks in a browser: a requester adds one on the request page and sees its secret once; the EC
team finds it, and its deliveries, on the Webhooks page. Every page under the strict CSP."""

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import file_request
from upgrades.models import Webhook

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
HOOK = "https://chat.example.com/hooks/T0/B0/ecportal"
SHOWN = "https://chat.example.com/…rtal"  # the path is the receiver's credential: masked once made


def test_a_requester_adds_a_slack_webhook_and_the_ec_team_sees_it(people, cast, releases, settings):
    settings.WEBHOOK_ALLOW_HTTP = False  # as in production
    settings.WEBHOOK_ALLOW_PRIVATE = False
    request = file_request(cast["alice"])
    alice = people("alice")
    page = alice.page
    page.goto(f"/requests/{request.pk}/")
    section = page.locator("#webhooks")
    expect(section).to_contain_text("No webhooks.")
    section.get_by_text("Add a webhook").click()
    section.get_by_label("Webhook URL").fill("https://127.0.0.1/hook")
    section.get_by_role("button", name="Add webhook").click()
    expect(page.locator(".errorlist")).to_contain_text("Refused: 127.0.0.1 is a loopback address.")
    # The refused form answers 400 (bad input), which the console reports; nothing else may.
    assert [p for p in alice.problems if "status of 400" not in p] == []
    alice.problems.clear()

    page.get_by_label("Webhook URL").fill(HOOK)
    page.get_by_label("Slack (incoming webhook)").check()
    page.get_by_label("Completed").check()
    page.get_by_role("button", name="Add webhook").click()
    expect(page.get_by_role("heading", name="Webhook added")).to_be_visible()
    secret = page.locator("#webhook-secret").inner_text()
    assert re.fullmatch(r"[0-9a-f]{64}", secret)
    assert Webhook.objects.get().events == ["completed"]

    page.get_by_role("link", name="Back").click()
    row = page.locator("#webhooks tbody tr")
    expect(row).to_contain_text(SHOWN)
    expect(row).to_contain_text("Slack (incoming webhook)")
    assert secret not in page.content() and HOOK not in page.content()

    olga = people("olga")
    olga.page.get_by_role("link", name="Webhooks").click()
    expect(olga.page.locator("body")).to_contain_text(SHOWN)
    assert HOOK not in olga.page.content()
    expect(olga.page.locator("#webhook-deliveries")).to_contain_text("No deliveries yet.")

    page.goto(f"/requests/{request.pk}/")
    page.locator("#webhooks").get_by_role("button", name="Delete").click()
    expect(page.locator(".msg.success")).to_contain_text(f"Webhook to {SHOWN} deleted.")
    expect(page.locator("#webhooks")).to_contain_text("No webhooks.")
