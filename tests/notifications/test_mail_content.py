"""What each mail says, read from the real SMTP listener: per milestone and plan, the service by name
and foundation, what happened, what to do next, only URLs the recipient was given, buttons in HTML
and every link in the plain-text part."""

import re
from html import unescape

import pytest
from django.test import Client
from django.urls import reverse

from tests.conftest import NONPROD, PROD, file_request
from tests.notifications.conftest import SITE, TEMP_HOST_SUFFIX, send_all, walk
from upgrades import actions
from upgrades.models import Preflight, ServiceUpgrade
from upgrades.notifications.outbox import MILESTONES
from upgrades.workflow import Action, Plan, State

ZONE = PROD.removeprefix("https://").split(".")[0]
NONPROD_ZONE = NONPROD.removeprefix("https://").split(".")[0]
TEMP_PROD = f"{ZONE}{TEMP_HOST_SUFFIX}"
CONTACTS = ("carol@example.com", "dave@example.com")
USERS = {"alice@example.com", *CONTACTS}
# Words of the portal's insides that no user mail may use.
JARGON = ("blue", "green", "route alone", "rolling_back", "awaiting_verification", "unmap", "finalize")


class Mail:
    """One message off the wire: its recipient, subject, plain-text and HTML parts."""

    def __init__(self, message):
        self.to, self.subject = message["To"], message["Subject"]
        self.text = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
        self.html = message.get_body(("html",)).get_content()

    @property
    def links(self) -> list[str]:
        return [unescape(link) for link in re.findall(r'href="([^"]+)"', self.html)]

    @property
    def visible(self) -> str:
        """The HTML as read."""
        return " ".join(unescape(re.sub(r"<[^>]+>", "", self.html)).split())

    @property
    def prose(self) -> str:
        """The HTML as read, without the addresses shown for copying (code, pre) and the title."""
        html = re.sub(r"<(code|pre|title)\b[^>]*>.*?</\1>", " ", self.html, flags=re.S)
        return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())

    def button(self, label: str) -> str:
        (href,) = re.findall(rf'<a href="([^"]+)" style="[^"]*">{re.escape(label)}</a>', self.html)
        return unescape(href)


def received(smtp, milestone: str) -> dict[str, Mail]:
    """Send what is due; the messages of this milestone on the wire, by recipient."""
    send_all()
    label = MILESTONES[milestone].label
    found = [Mail(m) for m in smtp.messages() if f": {label}" in m["Subject"]]
    by_recipient = {m.to: m for m in found}
    assert len(by_recipient) == len(found), "one mail per recipient"
    return by_recipient


def assert_well_formed(mail: Mail, *names: str) -> None:
    """Names the services and foundation, says what to do next, buttons with words, every link in text."""
    for text in (mail.text, mail.visible):
        for name in names:
            assert name in text, (mail.subject, name)
        assert "What to do next:" in text, mail.subject
        assert "Questions? Reach the EC team" in text
    assert "Predix West / Basic" in mail.text or "CF3" in mail.text
    assert "http" not in mail.prose, f"a raw URL as text in the HTML of {mail.subject}"
    assert mail.links, "actions are buttons"
    for link in mail.links:
        assert link.removeprefix("mailto:") in mail.text, f"{link} is missing from the plain text"
    assert 'style="' in mail.html and "<style" not in mail.html, "inline CSS only"
    assert "Segoe UI" in mail.html and 'role="presentation"' in mail.html


@pytest.fixture(autouse=True)
def _ec_team_settings(settings):
    settings.EC_TEAM_CONTACT_EMAIL = "ec-team@example.com"
    settings.EC_TEAM_CHAT_URL = "https://chat.example.com/ec-team"
    settings.EC_TEAM_PEOPLE = ["Olga", "Oscar"]


def named_request(cast, urls, *, plan=Plan.TEST_FIRST, plans=None):
    """A request with named services (as preflight learns them), and `plans` per service set after
    the request was received."""
    request = file_request(cast["alice"], urls, contacts=CONTACTS, checked=False, plan=plan)
    names = {ZONE: "ec-acme-prod", NONPROD_ZONE: "ec-acme-nonprod"}
    for service in request.services.all():
        if plans:
            ServiceUpgrade.objects.filter(pk=service.pk).update(plan=plans[service.zone_id])
        actions.record_preflight(
            service_id=service.pk,
            outcome=Preflight.PASSED,
            message="ok",
            facts={"name": names[service.zone_id]},
        )
    return request


def approve(request, cast, **options) -> None:
    actions.apply_request_action(request=request, action=Action.APPROVE, actor=cast["olga"], **options)


@pytest.fixture
def approved(cast, releases, smtp):
    """Alice's approved request for ec-acme-prod (carol and dave its contacts), the SMTP listener up."""
    smtp.start()
    request = named_request(cast, [PROD])
    approve(request, cast)
    return request


def finish_rollback(smtp, service: ServiceUpgrade, target: State) -> dict[str, Mail]:
    """The engine ends the rollback, in its own words (which no mail may repeat); the mails of it."""
    service.refresh_from_db()
    actions.transition(
        service,
        target=target,
        actor=actions.SYSTEM,
        message="Rollback done: the old app serves the original route alone.",
    )
    return received(smtp, str(target))


def test_a_test_first_service_every_milestone_names_it_says_what_next_and_gives_buttons(cast, smtp, approved):
    request = approved
    service = walk(request.services.get(), State.COMPLETED, actor=cast["carol"])
    temporary = service.temporary_url
    for mail in received(smtp, "received").values():
        assert_well_formed(mail, f"{ZONE} on Predix West / Basic"), "the name is learnt at preflight"
    for milestone in ("approved", "step1_started", "step1_complete", "verified", "step2_started"):
        mails = received(smtp, milestone)
        assert set(mails) == USERS, milestone
        for mail in mails.values():
            assert_well_formed(mail, "ec-acme-prod on Predix West / Basic")
    completed = received(smtp, "completed")
    for mail in completed.values():
        assert_well_formed(mail, "ec-acme-prod on Predix West / Basic")
        assert f"-sst {PROD}" in mail.text and f"instead of\n    -zon {ZONE} -sst {temporary}" in mail.text
    carol = received(smtp, "step1_complete")["carol@example.com"]
    assert carol.button("Confirm it works").startswith(f"{SITE}/c/") and "/confirm/" in carol.button(
        "Confirm it works"
    )
    assert "/report/" in carol.button("Report a problem")
    assert carol.button("Open the status page").startswith(f"{SITE}/c/")
    assert f"{SITE}/requests/" not in carol.text, "a contact's links never lead to a login page"
    alice = received(smtp, "step1_complete")["alice@example.com"]
    assert alice.button("Open the request page") == f"{SITE}/requests/{request.pk}/"
    assert "on the request page" in alice.text


def test_a_back_to_back_service_is_never_told_of_a_temporary_url(cast, releases, smtp):
    smtp.start()
    request = named_request(cast, [PROD], plan=Plan.BACK_TO_BACK)
    approve(request, cast)
    service = request.services.get()
    actions.apply_service_action(service=service, action=Action.TRIGGER, actor=cast["olga"])
    service.refresh_from_db()
    # Step 1 made the temporary route as always; Step 2 followed at once and deleted it.
    actions.transition(
        service,
        target=State.STEP2_RUNNING,
        actor=actions.SYSTEM,
        updates={"temp_host": TEMP_PROD, "temp_route_guid": "route-guid-1"},
    )
    actions.transition(service, target=State.COMPLETED, actor=actions.SYSTEM)
    send_all()
    assert not received(smtp, "step1_complete"), "nothing to test: no Step 1 mail"
    everything = [Mail(m) for m in smtp.messages()]
    assert {m.subject.split(": ", 1)[1] for m in everything if m.to == "carol@example.com"} >= {
        "Step 1 started",
        "Step 2 started",
        "Completed",
    }
    for mail in everything:
        assert TEMP_PROD not in mail.text + mail.html, mail.subject
        assert "temporary URL to test" not in mail.text, mail.subject
    for mail in received(smtp, "completed").values():
        assert_well_formed(mail, "ec-acme-prod on Predix West / Basic")
        assert "runs the new release on its original URL" in mail.text
        assert "Gateways need nothing: they kept the original URL." in mail.text
        assert "Nothing to do." in mail.text


def test_a_request_mixing_plans_says_per_service_what_happens(cast, releases, smtp):
    smtp.start()
    request = named_request(
        cast, [PROD, NONPROD], plans={ZONE: Plan.BACK_TO_BACK, NONPROD_ZONE: Plan.TEST_FIRST}
    )
    prod, nonprod = request.services.order_by("id")
    ServiceUpgrade.objects.filter(pk=prod.pk).update(after=nonprod)
    approve(request, cast)
    approved = received(smtp, "approved")["carol@example.com"]
    assert_well_formed(approved, "ec-acme-prod on Predix West / Basic", "ec-acme-nonprod on CF3")
    assert (
        "Plan: Steps 1 and 2 back to back, starts after ec-acme-nonprod is confirmed working" in approved.text
    )
    assert "Plan: Test after Step 1" in approved.text
    walk(nonprod, State.AWAITING_VERIFICATION)
    started = received(smtp, "step1_started")["dave@example.com"]
    assert "temporary URL to test ec-acme-nonprod on" in started.text
    step1 = received(smtp, "step1_complete")["dave@example.com"]
    assert "ec-acme-nonprod" in step1.text and "ec-acme-prod" not in step1.text
    actions.apply_service_action(service=nonprod, action=Action.CONFIRM, contact_email="dave@example.com")
    confirmed = received(smtp, "verified")
    assert set(confirmed) == USERS, "the requester and every contact hear of a confirmation"
    for mail in confirmed.values():
        assert_well_formed(mail, "ec-acme-nonprod on CF3")
        assert "dave@example.com confirmed" in mail.text
        assert "Waiting for the EC team to start Step 2." in mail.text
        assert "ec-acme-prod waited for this confirmation and may now start." in mail.text
    team = received(smtp, "confirmed")["olga@example.com"]
    assert "Start Step 2 of ec-acme-nonprod on the request page, and Step 1 of ec-acme-prod" in team.text


def test_a_confirmation_with_step2_on_confirmation_says_step2_starts_now(cast, releases, smtp):
    smtp.start()
    request = named_request(cast, [PROD])
    approve(request, cast, start_step2_on_confirmation=True)
    service = walk(request.services.get(), State.AWAITING_VERIFICATION)
    actions.apply_service_action(service=service, action=Action.CONFIRM, actor=cast["alice"])
    for mail in received(smtp, "verified").values():
        assert "alice confirmed" in mail.text and "Step 2 starts now." in mail.text
        assert "Waiting for the EC team" not in mail.text
    assert "Nothing to do: Step 2 starts on its own" in received(smtp, "confirmed")["olga@example.com"].text


def test_a_rollback_tells_every_contact_who_reported_why_and_how_to_go_back(cast, smtp, approved):
    request = approved
    service = walk(request.services.get(), State.AWAITING_VERIFICATION)
    ServiceUpgrade.objects.filter(pk=service.pk).update(blue_release="sendai.120")
    service.refresh_from_db()
    temporary = service.temporary_url
    actions.apply_service_action(
        service=service,
        action=Action.REPORT_PROBLEM,
        contact_email="carol@example.com",
        reason="Gateway <acme-gw-2> cannot connect",
    )
    rolled_back = finish_rollback(smtp, service, State.ROLLED_BACK)
    assert set(rolled_back) == USERS
    dave = rolled_back["dave@example.com"]  # a contact who did not report it
    assert_well_formed(dave, "ec-acme-prod on Predix West / Basic")
    for text in (dave.text, dave.visible):
        assert "carol@example.com reported a problem: “Gateway <acme-gw-2> cannot connect”" in text
        assert "The old release sendai.120 serves the original URL again." in text
        assert "file a new request" in text
        for word in JARGON:
            assert word not in text.lower(), word
    assert "&lt;acme-gw-2&gt;" in dave.html, "the reason is escaped in HTML"
    assert f"temporary URL {temporary} go back to the original URL:\n    -zon {ZONE} -sst {PROD}" in dave.text
    assert f"-zon {ZONE} -sst {PROD}" in dave.html
    assert dave.button("File a new request") == f"{SITE}{reverse('request-new')}"
    assert dave.button("Open the status page").startswith(f"{SITE}/c/")


def test_a_rollback_by_the_ec_team_before_any_test_says_gateways_need_nothing(cast, smtp, approved):
    request = approved
    service = walk(request.services.get(), State.STEP1_FAILED)
    ServiceUpgrade.objects.filter(pk=service.pk).update(temp_host=TEMP_PROD)
    service.refresh_from_db()
    actions.apply_service_action(
        service=service, action=Action.ROLLBACK, actor=cast["olga"], reason="Image missing"
    )
    carol = finish_rollback(smtp, service, State.ROLLED_BACK)["carol@example.com"]
    assert_well_formed(carol, "ec-acme-prod on Predix West / Basic")
    assert "olga of the EC team rolled it back: “Image missing”." in carol.text
    assert "Gateways need nothing: they kept the original URL." in carol.text
    assert TEMP_PROD not in carol.text + carol.html, "never given, never mentioned"


def test_cancelling_after_step1_names_who_cancelled_and_the_gateway_line_to_restore(cast, smtp, approved):
    request = approved
    service = walk(request.services.get(), State.AWAITING_VERIFICATION)
    actions.apply_request_action(
        request=request, action=Action.CANCEL, actor=cast["olga"], reason="Freeze week"
    )
    carol = finish_rollback(smtp, service, State.CANCELLED)["carol@example.com"]
    assert_well_formed(carol, "ec-acme-prod on Predix West / Basic")
    assert "Cancelled by olga: “Freeze week”." in carol.text
    assert f"-zon {ZONE} -sst {PROD}" in carol.text and "route alone" not in carol.text


def test_ec_team_mails_name_the_service_and_say_what_to_do(cast, smtp, approved):
    request = approved
    walk(request.services.get(), State.STEP1_FAILED)
    for milestone, name in (("new_request", ZONE), ("step_failed", "ec-acme-prod")):
        olga = received(smtp, milestone)["olga@example.com"]
        assert_well_formed(olga, f"{name} on Predix West / Basic")
        assert olga.button("Open the request page") == f"{SITE}/requests/{request.pk}/"


def test_the_footer_tells_how_to_reach_the_ec_team_and_never_carries_a_script_link(
    cast, releases, smtp, settings
):
    smtp.start()
    settings.EC_TEAM_CHAT_URL = "javascript:alert(1)"
    named_request(cast, [PROD])
    carol = received(smtp, "received")["carol@example.com"]
    assert "Mail: ec-team@example.com" in carol.text and "Ask: Olga, Oscar" in carol.text
    assert "mailto:ec-team@example.com" in carol.links
    assert "javascript" not in carol.html and "Chat:" not in carol.text


def test_the_new_request_form_and_the_request_page_show_how_to_reach_the_ec_team(cast, releases):
    request = file_request(cast["alice"], [PROD])
    client = Client()
    client.force_login(cast["alice"])
    for url in (reverse("request-new"), reverse("request-detail", args=[request.pk])):
        page = client.get(url).content.decode()
        assert "Questions? Reach the EC team" in page, url
        assert (
            'href="mailto:ec-team@example.com"' in page and 'href="https://chat.example.com/ec-team"' in page
        )
        assert "ask Olga, Oscar" in page
