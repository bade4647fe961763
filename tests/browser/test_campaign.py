"""A campaign in a browser: an EC team member builds it from the Fleet page's filters, another
approves it, and the page shows its waves moving without a reload until it is Completed."""

import pytest
from playwright.sync_api import expect

from tests.engine.conftest import wait_for
from upgrades.models import Campaign, Preflight

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_a_campaign_built_from_fleet_filters_is_approved_by_another_and_runs_to_completed(
    engine, west_on_sendai, people, cast
):
    west = west_on_sendai

    olga = people("olga")
    page = olga.page
    page.get_by_role("link", name="Fleet", exact=True).click()
    page.get_by_role("link", name=f"Predix West / Basic, sendai.120: {west} services").click()
    page.get_by_role("link", name=f"Create a campaign from these {west} services").click()
    page.get_by_label("Name").fill("West to okinawa")
    page.get_by_label("Then waves of").fill("1")
    page.get_by_label("Pause between waves (seconds)").fill("0")
    page.get_by_role("button", name="Create draft").click()
    expect(page.locator("#campaign-state")).to_have_text("Draft")
    campaign = Campaign.objects.get()
    wait_for(
        lambda: not campaign.services.filter(preflight__in=[Preflight.PENDING, Preflight.RETRYING]).exists(),
        60,
        "preflight of every service",
    )

    oscar = people("oscar")
    oscar.page.goto(f"/campaigns/{campaign.pk}/")
    oscar.page.get_by_role("button", name="Approve").click()
    expect(oscar.page.locator("#campaign-state")).to_have_text("Approved")

    page.reload()
    page.get_by_role("button", name="Start now").click()
    # The live part moves by itself: the canary wave runs, ends, and the last wave ends too.
    expect(page.locator("#campaign-state")).to_have_text("Running")
    expect(page.locator("#wave-1")).to_contain_text("Done", timeout=90_000)
    expect(page.locator(f"#wave-{west}")).to_contain_text("Done", timeout=120_000)
    expect(page.locator("#campaign-state")).to_have_text("Completed", timeout=30_000)
    expect(page.locator("#campaign-counts")).to_contain_text(f"{west} of {west} services ended")
    olga.screenshot("campaign")
