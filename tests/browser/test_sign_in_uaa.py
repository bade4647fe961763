"""Signing in through cfsim's UAA in a browser (the authorization code flow, PKCE included), then filing
for one's own service and being refused, clearly, for another team's."""

import re

import pytest
from playwright.sync_api import expect

from testkit import demo
from testkit.uaa import DEMO_PASSWORD
from tests.signin.conftest import provider, uaa_sim  # noqa: F401 (fixtures)
from upgrades.models import UpgradeRequest

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

GLOBEX_PROD_URL = f"https://{demo.GLOBEX_PROD_ZONE}.{demo.WEST}"


def sign_in_through_uaa(person, username: str) -> None:
    page = person.page
    page.goto("/accounts/login/")
    page.get_by_role("link", name="Sign in with UAA").click()
    expect(page.get_by_role("heading", name="Cloud Foundry sign in")).to_be_visible()
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"^http://[^/]+/$"))


def test_alice_signs_in_through_uaa_files_for_acme_and_is_refused_for_globex(
    people,
    provider,  # noqa: F811 (the imported fixture)
    releases,
):
    alice = people("alice", log_in=False)
    sign_in_through_uaa(alice, "alice")
    page = alice.page
    page.get_by_role("link", name="New upgrade request").first.click()
    page.get_by_label("Service URLs").fill(GLOBEX_PROD_URL)
    page.get_by_role("button", name="Submit request").click()
    refusal = page.locator(".errorlist, .errors").filter(has_text="is not yours")
    expect(refusal).to_contain_text(
        f"the service {demo.GLOBEX_PROD_ZONE} on Predix West / Basic is not yours"
    )
    expect(refusal).to_contain_text("ask the people who manage its space in Cloud Foundry, or the EC team")
    assert not UpgradeRequest.objects.exists()

    page.get_by_label("Service URLs").fill(demo.ACME_PROD_URL)
    page.get_by_role("button", name="Submit request").click()
    page.wait_for_url(re.compile(r"/requests/\d+/$"))
    expect(page.locator("#contacts")).to_contain_text("dana@acme.example")
    alice.screenshot("signed-in-through-uaa")


def test_a_wrong_password_at_uaa_keeps_the_person_there(people, provider):  # noqa: F811
    bob = people("bob", log_in=False)
    page = bob.page
    page.goto("/accounts/login/")
    page.get_by_role("link", name="Sign in with UAA").click()
    page.get_by_label("Username").fill("bob")
    page.get_by_label("Password").fill("not-his-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Provided credentials are invalid")).to_be_visible()
