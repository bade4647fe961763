"""Signed links for contacts without an account, their pages, unsubscribing, and managing contacts."""

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.html import strip_tags

from tests.conftest import PROD, file_request
from tests.notifications.conftest import send_all, walk
from upgrades import actions, contacts
from upgrades.models import Contact, Delivery, Event, ServiceUpgrade
from upgrades.notifications import links as contact_links
from upgrades.web import pages
from upgrades.workflow import Action, NotAllowed, State


@pytest.fixture
def awaiting(cast, releases):
    request = file_request(cast["alice"], [PROD])
    actions.apply_request_action(request=request, action=Action.APPROVE, actor=cast["olga"])
    walk(request.services.get(), State.AWAITING_VERIFICATION)
    return request


@pytest.fixture
def carol(awaiting):
    return awaiting.contacts.get(email="carol@example.com")


def anonymous() -> Client:
    return Client(enforce_csrf_checks=True)


def post_form(client: Client, url: str, data: dict | None = None):
    """GET the page (for its CSRF cookie), then POST its form as a browser would."""
    page = client.get(url)
    assert page.status_code == 200
    token = (
        page.cookies["csrftoken"].value if "csrftoken" in page.cookies else client.cookies["csrftoken"].value
    )
    return client.post(url, {"csrfmiddlewaretoken": token, **(data or {})})


def test_a_link_opens_the_status_page_without_login(carol, awaiting):
    token = contact_links.token_for(carol)
    page = anonymous().get(reverse("contact-status", args=[token]))
    assert page.status_code == 200
    body = page.content.decode()
    assert awaiting.reference in body and "Awaiting verification" in body
    assert "-upgrade-a1b2c3" in body, "the temporary URL is shown while it serves"
    inline_scripts = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", body)
    assert not inline_scripts and "style=" not in body and "<style" not in body, "nothing inline (strict CSP)"
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]


def test_the_contact_pages_name_the_service_and_its_foundation_then_its_zone_id(carol, awaiting):
    service = awaiting.services.get()
    ServiceUpgrade.objects.filter(pk=service.pk).update(name="ec-acme-prod")  # as preflight learnt it
    token = contact_links.token_for(carol)

    def words(url: str) -> str:
        html = anonymous().get(url).content.decode().replace("</dt>", " ").replace("</dd>", " ")
        return " ".join(strip_tags(html).split())

    status = words(reverse("contact-status", args=[token]))
    assert f"ec-acme-prod Awaiting verification Predix West / Basic · zone ID {service.zone_id}" in status
    for name in ("contact-confirm", "contact-report"):
        page = words(reverse(name, args=[token, service.pk]))
        assert f"service ec-acme-prod on Predix West / Basic (zone ID {service.zone_id})" in page, name


def test_tampered_forged_and_foreign_tokens_are_404(carol, awaiting, cast):
    token = contact_links.token_for(carol)
    contact_id, signature = token.split(":")
    other = file_request(
        cast["bob"], ["https://1a2b3c4d-5e6f-4a0b-9c1d-2e3f4a5b6c7d.run.aws-usw02.dev.ice.predix.io"]
    )
    other_contact = other.contacts.get()
    forged = [
        token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
        f"{other_contact.pk}:{signature}",
        "nonsense",
        f"{contact_id}:",
    ]
    for bad in forged:
        with pytest.raises(contact_links.LinkInvalid):
            contact_links.resolve(bad)
        assert anonymous().get(reverse("contact-status", args=[bad])).status_code == 404


def test_revoking_or_removing_kills_the_old_link(carol, awaiting, cast):
    token = contact_links.token_for(carol)
    assert contact_links.resolve(token) == carol
    contact_links.revoke(carol)
    with pytest.raises(contact_links.LinkInvalid):
        contact_links.resolve(token)
    fresh = contact_links.token_for(carol)
    assert fresh != token and contact_links.resolve(fresh) == carol
    contacts.remove_contact(request=awaiting, user=cast["alice"], contact_id=carol.pk)
    assert anonymous().get(reverse("contact-status", args=[fresh])).status_code == 404


def test_a_link_expires_contact_link_days_after_the_request_ended(carol, awaiting, settings, time_machine):
    token = contact_links.token_for(carol)
    service = awaiting.services.get()
    actions.apply_service_action(
        service=service, action=Action.REPORT_PROBLEM, contact_email=carol.email, reason="x"
    )
    service.refresh_from_db()
    actions.transition(service, target=State.ROLLED_BACK, actor=actions.SYSTEM)
    ended = contact_links.ended_at(awaiting.pk)
    assert ended is not None
    assert contact_links.resolve(token, now=ended + timedelta(days=settings.CONTACT_LINK_DAYS - 1)) == carol
    with pytest.raises(contact_links.LinkInvalid, match="expired"):
        contact_links.resolve(token, now=ended + timedelta(days=settings.CONTACT_LINK_DAYS, seconds=1))


def test_open_requests_links_do_not_expire(carol, awaiting):
    token = contact_links.token_for(carol)
    assert contact_links.resolve(token, now=timezone.now() + timedelta(days=400)) == carol


def test_confirm_through_the_link_moves_the_state_with_the_contact_as_actor(carol, awaiting):
    token = contact_links.token_for(carol)
    service = awaiting.services.get()
    url = reverse("contact-confirm", args=[token, service.pk])
    client = anonymous()
    assert client.get(url).status_code == 200
    service.refresh_from_db()
    assert service.state == State.AWAITING_VERIFICATION, "GET never changes anything"
    response = post_form(client, url)
    assert response.status_code == 302 and response.url == reverse("contact-status", args=[token])
    service.refresh_from_db()
    assert service.state == State.VERIFIED
    event = Event.objects.filter(service=service, to_state=State.VERIFIED).get()
    assert event.actor is None and event.actor_label == "carol@example.com"


def test_report_a_problem_needs_a_reason_and_rolls_back(carol, awaiting):
    token = contact_links.token_for(carol)
    service = awaiting.services.get()
    url = reverse("contact-report", args=[token, service.pk])
    client = anonymous()
    post_form(client, url, {"reason": "   "})
    service.refresh_from_db()
    assert service.state == State.AWAITING_VERIFICATION
    post_form(client, url, {"reason": "Gateway cannot connect"})
    service.refresh_from_db()
    assert service.state == State.ROLLING_BACK
    event = Event.objects.filter(service=service, to_state=State.ROLLING_BACK).get()
    assert event.actor_label == "carol@example.com" and event.message == "Gateway cannot connect"


def test_a_post_without_csrf_is_refused_and_a_service_of_another_request_is_404(carol, awaiting, cast):
    token = contact_links.token_for(carol)
    service = awaiting.services.get()
    assert anonymous().post(reverse("contact-confirm", args=[token, service.pk])).status_code == 403
    other = file_request(
        cast["bob"], ["https://1a2b3c4d-5e6f-4a0b-9c1d-2e3f4a5b6c7d.run.aws-usw02.dev.ice.predix.io"]
    )
    foreign = other.services.get()
    assert anonymous().get(reverse("contact-confirm", args=[token, foreign.pk])).status_code == 404


def test_unsubscribe_is_a_post_and_is_honoured_for_that_request_only(carol, awaiting, cast):
    token = contact_links.token_for(carol)
    url = reverse("contact-unsubscribe", args=[token])
    client = anonymous()
    client.get(url)
    assert not contact_links.is_unsubscribed(carol), "GET never unsubscribes"
    post_form(client, url)
    assert contact_links.is_unsubscribed(carol)
    service = awaiting.services.get()
    actions.apply_service_action(service=service, action=Action.CONFIRM, contact_email=carol.email)
    mail.outbox.clear()
    send_all()
    assert "carol@example.com" not in {m.to[0] for m in mail.outbox}
    skipped = Delivery.objects.filter(recipient="carol@example.com", status=Delivery.Status.SKIPPED)
    assert skipped.exists(), "queued before she unsubscribed: skipped at send time"
    other = file_request(
        cast["bob"], ["https://1a2b3c4d-5e6f-4a0b-9c1d-2e3f4a5b6c7d.run.aws-usw02.dev.ice.predix.io"]
    )
    send_all()
    assert "carol@example.com" in {m.to[0] for m in mail.outbox if other.reference in m.subject}


def test_requester_and_ec_team_manage_contacts_others_may_not(awaiting, cast):
    added = contacts.add_contact(request=awaiting, user=cast["alice"], entry="Dave@Example.com")
    assert added.email == "dave@example.com"
    contacts.add_contact(request=awaiting, user=cast["olga"], entry="erin@example.com")
    with pytest.raises(contacts.ContactRefused, match="already a contact"):
        contacts.add_contact(request=awaiting, user=cast["olga"], entry="erin@example.com")
    with pytest.raises(contacts.ContactRefused, match="line breaks"):
        contacts.add_contact(
            request=awaiting, user=cast["alice"], entry="x@example.com\r\nBcc: y@example.com"
        )
    with pytest.raises(NotAllowed):
        contacts.add_contact(request=awaiting, user=cast["carol"], entry="z@example.com")
    contacts.remove_contact(request=awaiting, user=cast["olga"], contact_id=added.pk)
    assert set(awaiting.contacts.values_list("email", flat=True)) == {"carol@example.com", "erin@example.com"}


def test_contact_pages_for_the_request_page(awaiting, cast, client):
    client.force_login(cast["alice"])
    response = client.post(reverse("contact-add", args=[awaiting.pk]), {"contact": "frank@example.com"})
    assert response.status_code == 302
    assert awaiting.contacts.filter(email="frank@example.com").exists()
    client.force_login(cast["bob"])
    assert (
        client.post(reverse("contact-add", args=[awaiting.pk]), {"contact": "g@example.com"}).status_code
        == 404
    )
    client.force_login(cast["carol"])
    assert (
        client.post(reverse("contact-add", args=[awaiting.pk]), {"contact": "g@example.com"}).status_code
        == 403
    )
    anonymous_response = Client().post(
        reverse("contact-add", args=[awaiting.pk]), {"contact": "g@example.com"}
    )
    assert anonymous_response.status_code == 302 and "/accounts/login/" in anonymous_response.url


def test_contacts_are_frozen_once_the_request_ended(cast, releases):
    request = file_request(cast["alice"], [PROD])
    actions.apply_request_action(request=request, action=Action.CANCEL, actor=cast["alice"])
    with pytest.raises(contacts.ContactRefused, match="ended"):
        contacts.add_contact(request=request, user=cast["alice"], entry="late@example.com")


def test_page_context_shows_the_mail_log_to_the_ec_team_only(awaiting, cast, smtp):
    send_all()  # nobody listens: deliveries stay pending with an error
    team = pages.contacts_context(awaiting, cast["olga"])
    assert team["show_mail_log"] and team["mail_log"]
    row = team["mail_log"][0]
    assert {"recipient", "milestone", "status", "attempts", "last_error"} <= set(row)
    assert any(r["attempts"] == 1 and r["last_error"] for r in team["mail_log"])
    assert team["can_manage_contacts"]
    user = pages.contacts_context(awaiting, cast["carol"])
    assert not user["show_mail_log"] and user["mail_log"] == []
    assert not user["can_manage_contacts"]
    assert [c["email"] for c in user["contact_rows"]] == ["carol@example.com"]
    from django.template.loader import render_to_string

    html = render_to_string("upgrades/_mail_log.html", {**team, "req": awaiting})
    assert "Step 1 complete" in html and "Attempts" in html
    html = render_to_string("upgrades/_contacts.html", {**team, "req": awaiting})
    assert "carol@example.com" in html and reverse("contact-add", args=[awaiting.pk]) in html


def test_the_kept_request_page_shows_what_the_sender_did(awaiting, cast, smtp):
    olga = Client()
    olga.force_login(cast["olga"])
    path = reverse("request-detail", args=[awaiting.pk])
    olga.get(path)
    assert "Pending" in olga.get(path).content.decode()  # kept
    smtp.start()
    assert send_all().sent
    assert "Sent" in re.sub(r"\s+", " ", olga.get(path).content.decode().split('id="mail-log"')[1])


def test_removed_contacts_get_no_queued_mail(awaiting, cast):
    carol = Contact.objects.get(request=awaiting, email="carol@example.com")
    contacts.remove_contact(request=awaiting, user=cast["alice"], contact_id=carol.pk)
    mail.outbox.clear()
    send_all()
    assert "carol@example.com" not in {m.to[0] for m in mail.outbox}
    assert ServiceUpgrade.objects.filter(request=awaiting).exists()


def test_other_contact_info_is_added_shown_as_not_mailed_and_removed(awaiting, cast, client):
    client.force_login(cast["alice"])
    client.post(reverse("contact-add", args=[awaiting.pk]), {"contact": "Slack:  @dana (on call)"})
    added = awaiting.contacts.get(email="")
    assert added.other == "Slack: @dana (on call)"
    for user in ("alice", "olga"):
        client.force_login(cast[user])
        page = client.get(reverse("request-detail", args=[awaiting.pk])).content.decode()
        assert 'Slack: @dana (on call) <span class="badge not-mailed">not mailed</span>' in page, user
        assert "carol@example.com <span" not in page, "an address is mailed: no such mark"
    response = client.post(reverse("contact-add", args=[awaiting.pk]), {"contact": "slack: @DANA (on call)"})
    assert "already a contact" in client.get(response["Location"]).content.decode()
    client.post(reverse("contact-remove", args=[awaiting.pk, added.pk]))
    assert list(awaiting.contacts.values_list("email", flat=True)) == ["carol@example.com"]


def test_the_status_page_shows_what_the_request_page_shows_a_contact(carol, awaiting, cast):
    awaiting.contacts.create(other="Slack: @dana")
    dave = awaiting.contacts.create(email="dave@example.com")
    dave_token = contact_links.token_for(dave)
    service = awaiting.services.get()
    ServiceUpgrade.objects.filter(pk=service.pk).update(name="ec-acme-prod")
    service.calls.create(step="stage", method="POST", path="/v3/builds/secret-build-guid", status=201)
    actions.add_comment(request=awaiting, actor=cast["alice"], text="Testing with gateway gw-7.")
    token = contact_links.token_for(carol)
    response = anonymous().get(reverse("contact-status", args=[token]))
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    html = response.content.decode()
    words = " ".join(strip_tags(html).split())
    service.refresh_from_db()
    assert "ec-acme-prod Awaiting verification Predix West / Basic · zone ID" in words, "names first"
    alice = Client()
    alice.force_login(cast["alice"])
    request_page = alice.get(reverse("request-detail", args=[awaiting.pk])).content.decode()
    picture = re.search(r"<svg class=\"topology\".*?</svg>", request_page, re.S).group()
    assert picture in html, "the picture of apps and routes, as on the request page"
    assert f"-zon {service.zone_id} -sst {service.temporary_url_live}" in words, "the gateway line to test"
    assert "What happens next: Point a test gateway at the temporary URL" in words
    assert "Testing with gateway gw-7." in words and "Awaiting verification" in words, "the timeline"
    live = reverse("contact-live", args=[token])
    assert f'hx-get="{live}" hx-trigger="every 10s"' in html, "refreshes itself as the request page does"
    # Its buttons open the contact's own pages (whose buttons POST); none posts from here.
    assert f'href="{reverse("contact-confirm", args=[token, service.pk])}">It works</a>' in html
    assert f'href="{reverse("contact-report", args=[token, service.pk])}">Report a problem</a>' in html
    assert 'method="post"' not in html
    # Never the EC team's things, nor another contact's link or the other contacts at all.
    for hidden in (
        "secret-build-guid",
        "CF calls",
        "Retry runs the step again",
        dave_token,
        "dave@",
        "@dana",
    ):
        assert hidden not in html, hidden
    fragment = anonymous().get(live)
    assert fragment.status_code == 200 and "no-store" in fragment["Cache-Control"]
    part = fragment.content.decode()
    assert 'id="live"' in part and "<html" not in part, "the live part alone"
    assert reverse("contact-confirm", args=[token, service.pk]) in part and dave_token not in part


def test_after_a_rollback_the_status_page_gives_the_line_to_point_back_to(carol, awaiting, cast):
    service = awaiting.services.get()
    actions.apply_service_action(
        service=service, action=Action.REPORT_PROBLEM, actor=cast["alice"], reason="502 on the temporary URL"
    )
    service.refresh_from_db()
    actions.transition(service, target=State.ROLLED_BACK, actor=actions.SYSTEM)
    html = anonymous().get(reverse("contact-status", args=[contact_links.token_for(carol)])).content.decode()
    words = " ".join(strip_tags(html).split())
    original = f"-zon {service.zone_id} -sst https://{service.zone_id}.{service.domain}"
    assert f"Gateways you pointed at the temporary URL go back to {original}" in words
    assert (
        "The previous release serves the original URL again" in words and "502 on the temporary URL" in words
    )
    assert "hx-get" not in html and ">It works<" not in html, "a request that ended stops polling; no buttons"


def test_an_expired_or_replaced_link_gets_a_page_that_says_so(carol, awaiting, settings, time_machine):
    token = contact_links.token_for(carol)
    contact_links.revoke(carol)
    for path in (
        reverse("contact-status", args=[token]),
        reverse("contact-live", args=[token]),
        reverse("contact-confirm", args=[token, awaiting.services.get().pk]),
    ):
        response = anonymous().get(path)
        assert response.status_code == 404, path
        assert (
            "This link no longer works" in response.content.decode()
            and "/accounts/login/" not in response.get("Location", "")
        )
    assert (
        "replaced by a newer link"
        in anonymous().get(reverse("contact-status", args=[token])).content.decode()
    )
    fresh = contact_links.token_for(carol)
    service = awaiting.services.get()
    actions.apply_service_action(
        service=service, action=Action.REPORT_PROBLEM, contact_email=carol.email, reason="x"
    )
    service.refresh_from_db()
    actions.transition(service, target=State.ROLLED_BACK, actor=actions.SYSTEM)
    time_machine.move_to(timezone.now() + timedelta(days=settings.CONTACT_LINK_DAYS, minutes=1))
    response = anonymous().get(reverse("contact-status", args=[fresh]))
    assert response.status_code == 404
    assert f"ended more than {settings.CONTACT_LINK_DAYS} days ago" in response.content.decode()
