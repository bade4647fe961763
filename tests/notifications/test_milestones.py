"""Each milestone's recipients and content, rendered through the real templates (locmem backend)."""

import re

import pytest
from django.core import mail

from tests.conftest import NONPROD, PROD, file_request
from tests.notifications.conftest import SITE, TEAM, TEMP_HOST_SUFFIX, send_all, walk
from upgrades import actions
from upgrades.models import Delivery, Notification, NotificationEntry, Preflight
from upgrades.notifications import outbox
from upgrades.workflow import Action, State

ZONE = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"
DOMAIN = "run.aws-usw02-pr.ice.predix.io"
USERS = {"alice@example.com", "carol@example.com"}


def by_recipient(messages) -> dict:
    found = {}
    for message in messages:
        assert len(message.to) == 1, "one message per recipient, addressed in To"
        assert message.to[0] not in found, f"{message.to[0]} got two mails"
        found[message.to[0]] = message
    return found


def html_of(message) -> str:
    (html,) = [content for content, mimetype in message.alternatives if mimetype == "text/html"]
    return html


def sent(milestone: str) -> dict:
    send_all()
    return by_recipient(m for m in mail.outbox if f": {outbox.MILESTONES[milestone].label}" in m.subject)


@pytest.fixture
def approved(cast, releases):
    request = file_request(cast["alice"], [PROD])
    actions.apply_request_action(request=request, action=Action.APPROVE, actor=cast["olga"])
    return request


def test_received_goes_to_requester_and_contacts_and_new_request_to_the_ec_team(filed):
    received, team = sent("received"), sent("new_request")
    assert set(received) == USERS
    assert set(team) == set(TEAM)
    message = received["carol@example.com"]
    assert message.subject == "[ecportal] " + f"{filed.reference}: Request received (2 services)"
    for text in (message.body, html_of(message)):
        assert ZONE in text and "1a2b3c4d-5e6f-4a0b-9c1d-2e3f4a5b6c7d" in text
        assert "okinawa.130" in text and "Test after Step 1" in text
        assert "What to do next" in text
    assert f"{SITE}/c/" in message.body, "a contact gets the link to their status page"
    assert f"{SITE}/requests/" not in message.body, "never a link to a login page"
    assert f"{SITE}/requests/{filed.pk}/" in received["alice@example.com"].body, "the requester's page"


def test_ec_team_addresses_can_come_from_the_environment(filed, settings):
    settings.EC_TEAM_EMAILS = ["ec-team@example.com"]
    assert outbox.recipients(filed, Notification.Audience.TEAM) == ["ec-team@example.com"]


def test_approved_and_rejected_with_the_reason(cast, releases):
    request = file_request(cast["alice"], [PROD])
    actions.apply_request_action(request=request, action=Action.APPROVE, actor=cast["olga"])
    assert set(sent("approved")) == USERS
    other = file_request(cast["bob"], [NONPROD], contacts=["dave@example.com"])
    actions.apply_request_action(
        request=other, action=Action.REJECT, actor=cast["olga"], reason="Freeze week <b>until</b> Monday"
    )
    rejected = sent("rejected")
    assert set(rejected) == {"bob@example.com", "dave@example.com"}
    message = rejected["dave@example.com"]
    assert "Reason: Freeze week <b>until</b> Monday" in message.body
    assert "Freeze week &lt;b&gt;until&lt;/b&gt; Monday" in html_of(message), "HTML is escaped"


def test_step1_complete_gives_the_temporary_url_and_the_exact_gateway_lines(approved, cast):
    service = walk(approved.services.get(), State.AWAITING_VERIFICATION)
    assert set(sent("step1_started")) == USERS
    complete = sent("step1_complete")
    assert set(complete) == USERS
    temporary = f"https://{ZONE}{TEMP_HOST_SUFFIX}.{DOMAIN}"
    assert service.temporary_url == temporary
    for message in complete.values():
        for text in (message.body, html_of(message)):
            assert temporary in text
            assert f"-zon {ZONE} -sst https://{ZONE}.{DOMAIN}" in text
            assert f"-zon {ZONE} -sst {temporary}" in text
            assert ZONE in text and "Predix West / Basic" in text
    carol = complete["carol@example.com"].body
    assert f"Confirm it works: {SITE}/c/" in carol and "/confirm/" in carol
    assert f"Report a problem: {SITE}/c/" in carol and "/report/" in carol
    alice = complete["alice@example.com"].body
    assert f"{SITE}/requests/{approved.pk}/" in alice, "the requester confirms on the request page"


def test_mails_name_each_service_and_its_foundation_first_then_its_zone_id(cast, releases):
    request = file_request(cast["alice"], [PROD, NONPROD], checked=False)
    prod, nonprod = request.services.order_by("id")
    received = sent("received")["carol@example.com"]
    assert f"- {ZONE} on Predix West / Basic: {PROD}" in received.body, "the zone ID until preflight"
    # Preflight learns one service's name on CF (the other, say, had none to learn yet).
    actions.record_preflight(
        service_id=prod.pk, outcome=Preflight.PASSED, message="ok", facts={"name": "ec-acme-prod"}
    )
    actions.record_preflight(service_id=nonprod.pk, outcome=Preflight.PASSED, message="ok")
    actions.apply_request_action(request=request, action=Action.APPROVE, actor=cast["olga"])
    approved = sent("approved")["carol@example.com"]
    assert f"- ec-acme-prod on Predix West / Basic (zone ID {ZONE}): {PROD}" in approved.body
    assert f"- {nonprod.zone_id} on CF3: {NONPROD}" in approved.body
    html = html_of(approved)
    assert re.search(
        rf"<strong>ec-acme-prod</strong> on Predix West / Basic \(zone ID <code [^>]*>{ZONE}</code>\)", html
    )
    walk(prod, State.AWAITING_VERIFICATION)
    step1 = sent("step1_complete")["carol@example.com"]
    named = f"Service ec-acme-prod on Predix West / Basic (zone ID {ZONE})\n  Original URL:  {PROD}"
    assert named in step1.body
    assert re.search(r"<h2 [^>]*><strong>ec-acme-prod</strong> on Predix West / Basic", html_of(step1))
    for message in (received, approved, step1):
        assert "on predix-west" not in message.body and "on cf3" not in message.body, "never by its slug"


def test_a_mail_queued_before_services_had_names_still_names_the_foundation(filed):
    for entry in NotificationEntry.objects.all():
        del entry.facts["name"], entry.facts["foundation_name"]
        entry.save(update_fields=["facts"])
    received = sent("received")["carol@example.com"]
    assert f"- {ZONE} on Predix West / Basic: {PROD}" in received.body


def test_step2_started_and_completed_tell_the_gateway_line_to_restore(approved, cast):
    walk(approved.services.get(), State.COMPLETED, actor=cast["carol"])
    assert set(sent("step2_started")) == USERS
    completed = sent("completed")
    assert set(completed) == USERS
    body = completed["carol@example.com"].body
    assert f"-zon {ZONE} -sst https://{ZONE}.{DOMAIN}" in body
    assert f"instead of\n    -zon {ZONE} -sst https://{ZONE}{TEMP_HOST_SUFFIX}.{DOMAIN}" in body
    assert "long-lived connections reconnect" in body
    assert set(sent("confirmed")) == set(TEAM), "the EC team hears the user confirmed"
    assert "Confirmed by carol" in sent("confirmed")["olga@example.com"].body


def test_a_failed_step_tells_users_the_team_is_on_it_and_the_team_what_failed(approved):
    walk(approved.services.get(), State.STEP1_FAILED)
    users, team = sent("failed"), sent("step_failed")
    assert set(users) == USERS and set(team) == set(TEAM)
    assert "the EC team has been told and is on it" in users["carol@example.com"].body
    assert "Step 1 failed at stage" in team["olga@example.com"].body
    assert "Staging failed: <docker image not found>" in team["olga@example.com"].body
    assert "Staging failed: &lt;docker image not found&gt;" in html_of(team["olga@example.com"])


def test_problem_reported_by_a_contact_reaches_the_team_with_the_reason_and_users_hear_rolled_back(approved):
    service = walk(approved.services.get(), State.AWAITING_VERIFICATION)
    actions.apply_service_action(
        service=service, action=Action.REPORT_PROBLEM, contact_email="carol@example.com", reason="TLS errors"
    )
    team = sent("problem_reported")
    assert set(team) == set(TEAM)
    assert "reported by carol@example.com:\n  TLS errors" in team["oscar@example.com"].body
    service.refresh_from_db()
    actions.transition(service, target=State.ROLLED_BACK, actor=actions.SYSTEM)
    assert set(sent("rolled_back")) == USERS


def test_cancelled_and_preflight_failed(cast, releases):
    request = file_request(cast["alice"], [PROD], checked=False)
    service = request.services.get()
    actions.record_preflight(service_id=service.pk, outcome="failed", message="No route <x> found.")
    team = sent("preflight_failed")
    assert set(team) == set(TEAM) and "No route <x> found." in team["olga@example.com"].body
    actions.apply_request_action(request=request, action=Action.CANCEL, actor=cast["alice"], reason="Not now")
    cancelled = sent("cancelled")
    assert set(cancelled) == USERS and "Not now" in cancelled["carol@example.com"].body


def test_every_mail_has_both_alternatives_and_every_html_link_is_in_the_text(approved):
    walk(approved.services.get(), State.AWAITING_VERIFICATION)
    send_all()
    assert mail.outbox
    for message in mail.outbox:
        assert message.subject.startswith(f"[ecportal] {approved.reference}: ")
        html = html_of(message)
        for link in re.findall(r'href="([^"]+)"', html):
            assert (
                link.startswith(("https://", "mailto:")) and link.removeprefix("mailto:") in message.body
            ), link


def test_the_sent_log_is_once_per_recipient_per_milestone(approved):
    walk(approved.services.get(), State.AWAITING_VERIFICATION)
    send_all()
    first = len(mail.outbox)
    send_all()
    assert len(mail.outbox) == first
    assert not Delivery.objects.exclude(status=Delivery.Status.SENT).exists()
