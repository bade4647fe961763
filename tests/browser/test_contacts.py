"""Contacts in a browser: one who is not mailed, and one who follows a link read out of a real mail."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.test_journeys import ACME, card
from tests.engine.conftest import ACME_PROD, approve_and_trigger, filed_and_checked, wait_for, wait_state
from tests.notifications.conftest import send_all
from upgrades import actions
from upgrades.workflow import Action, State

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_the_ec_team_sees_a_contact_who_is_not_mailed_as_such(engine, people):
    alice = people("alice")
    page = alice.page
    page.get_by_role("link", name="New upgrade request").first.click()
    page.get_by_label("Service URLs").fill(ACME_PROD)
    page.get_by_label("Points of contact").fill("carol@example.com\nSlack: @dana (on call)")
    page.get_by_role("button", name="Submit request").click()
    page.wait_for_url(re.compile(r"/requests/\d+/$"))

    olga = people("olga")
    olga.page.goto(page.url)
    listed = olga.page.locator("#contacts").get_by_role("listitem")
    expect(listed.filter(has_text="Slack: @dana (on call)")).to_contain_text("not mailed")
    expect(listed.filter(has_text="carol@example.com")).not_to_contain_text("not mailed")
    # The EC team adds a phone number the same way; it is kept, and not mailed either.
    olga.page.get_by_label("Add a contact").fill("+1 555 0100 (Dana, on call)")
    olga.page.get_by_role("button", name="Add", exact=True).click()
    expect(olga.page.locator(".msg.success")).to_contain_text(
        "+1 555 0100 (Dana, on call) added as a contact"
    )
    expect(listed.filter(has_text="+1 555 0100")).to_contain_text("not mailed")


def status_link(message, base_url: str) -> str:
    """The contact's status page link in a mail's plain-text part (the one with nothing after the token)."""
    text = message.get_body(("plain",)).get_content()
    return re.search(rf"{re.escape(base_url)}/c/[^/\s]+/(?=\s|$)", text).group()


def test_a_contact_opens_the_status_page_from_a_real_mail_and_confirms(
    engine, people, cast, settings, smtp, live_server
):
    settings.SITE_URL = live_server.url  # the mails link to this server
    smtp.start()
    request = filed_and_checked(cast["alice"], [ACME_PROD])
    approve_and_trigger(request, cast["olga"])
    service = wait_state(request.services.get().pk, State.AWAITING_VERIFICATION)

    def carols_step1_mail():
        send_all()
        return next(
            (
                m
                for m in smtp.messages()
                if m["To"] == "carol@example.com" and "Step 1 complete" in m["Subject"]
            ),
            None,
        )

    mail = wait_for(carols_step1_mail, 30, "carol's Step 1 mail")
    carol = people("carol", log_in=False)
    page = carol.page
    page.goto(status_link(mail, live_server.url))
    expect(page.get_by_role("heading", level=1)).to_contain_text(request.reference)
    acme = card(page, ACME)
    expect(acme.locator(".badge")).to_have_text("Awaiting verification")
    expect(acme.locator("svg.topology")).to_have_attribute("aria-label", re.compile("Stage 2 of 5"))
    expect(acme.locator(".gateway")).to_contain_text(f"-sst {service.temporary_url}")
    expect(acme.locator(".next")).to_contain_text("Point a test gateway at the temporary URL")
    expect(page.locator(".timeline")).to_contain_text("Awaiting verification")
    expect(page.locator(".calls")).to_have_count(0)
    carol.screenshot("contact-status")

    acme.get_by_role("link", name="It works").click()
    expect(page.get_by_role("heading", name="Does it work?")).to_be_visible()
    page.get_by_role("button", name="It works").click()
    expect(page.locator(".msg.success")).to_contain_text("Thank you")
    expect(card(page, ACME).locator(".badge")).to_have_text("Verified")
    expect(card(page, ACME).locator(".next")).to_contain_text("waiting for the EC team to start Step 2")

    # The requester is told in a mail of its own, with what happens next.
    def alices_confirmed_mail():
        send_all()
        return next(
            (m for m in smtp.messages() if m["To"] == "alice@example.com" and "Confirmed" in m["Subject"]),
            None,
        )

    told = wait_for(alices_confirmed_mail, 30, "alice's mail that carol confirmed").get_body(("plain",))
    assert "carol@example.com" in told.get_content() and ACME in told.get_content()
    assert "Waiting for the EC team to start Step 2" in told.get_content()


def mail_to(smtp, address: str, subject: str):
    def found():
        send_all()
        return next((m for m in smtp.messages() if m["To"] == address and subject in m["Subject"]), None)

    return wait_for(found, 30, f"the “{subject}” mail to {address}")


def test_a_contact_who_did_not_report_the_problem_learns_of_the_rollback(
    engine, people, cast, settings, smtp, live_server
):
    settings.SITE_URL = live_server.url
    smtp.start()
    request = filed_and_checked(cast["alice"], [ACME_PROD])
    approve_and_trigger(request, cast["olga"])
    service = wait_state(request.services.get().pk, State.AWAITING_VERIFICATION)
    temporary_url = service.temporary_url
    actions.apply_service_action(
        service=service,
        action=Action.REPORT_PROBLEM,
        actor=cast["alice"],
        reason="Our gateway gets 502 from the temporary URL.",
    )
    wait_state(service.pk, State.ROLLED_BACK)

    mail = mail_to(smtp, "carol@example.com", "Rolled back")
    text = mail.get_body(("plain",)).get_content()
    assert "alice reported a problem: “Our gateway gets 502 from the temporary URL.”" in text
    assert "serves the original URL again" in text
    assert f"-sst {ACME_PROD}" in text and temporary_url in text
    assert "File a new request" in text

    carol = people("carol", log_in=False)
    page = carol.page
    page.set_content(mail.get_body(("html",)).get_content())
    expect(page.get_by_role("link", name="Open the status page")).to_be_visible()
    carol.screenshot("mail-rolled-back")

    page.goto(status_link(mail, live_server.url))
    acme = card(page, ACME)
    expect(acme.locator(".badge")).to_have_text("Rolled back")
    expect(acme.locator("svg.topology")).to_have_attribute("aria-label", "Stage 1 of 5: one app, one route")
    expect(acme.locator(".gateway")).to_contain_text(f"-sst {ACME_PROD}")
    expect(page.locator(".timeline")).to_contain_text("Our gateway gets 502 from the temporary URL.")
    expect(acme.get_by_role("link", name="It works")).to_have_count(0)
