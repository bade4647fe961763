"""The Fleet page in a browser: the EC team reads the chart and narrows the list by a bar."""

import pytest
from playwright.sync_api import expect

from upgrades.models import FleetService

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_the_ec_team_narrows_the_fleet_by_a_bar_of_the_chart(west_on_sendai, people, cast):
    west = west_on_sendai

    olga = people("olga")
    page = olga.page
    page.get_by_role("link", name="Fleet", exact=True).click()
    expect(page.get_by_role("heading", name="Fleet", level=1)).to_be_visible()
    expect(page.locator("table.fleet tbody tr")).to_have_count(FleetService.objects.count())
    olga.screenshot("fleet")

    page.get_by_role("link", name=f"Predix West / Basic, sendai.120: {west} services").click()
    expect(page.get_by_label("Foundation", exact=True)).to_have_value("predix-west")
    expect(page.locator("table.fleet tbody tr")).to_have_count(west)
    expect(page.locator("table.fleet")).not_to_contain_text("CF3")

    alice = people("alice")
    assert alice.page.goto("/fleet/").status == 403
    expect(alice.page.get_by_role("link", name="Fleet", exact=True)).to_have_count(0)
