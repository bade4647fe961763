"""The outbox over real SMTP: grouping, wire format, an outage, racing senders, header injection."""

import re
import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone

from tests.conftest import NONPROD, PROD, file_request
from tests.notifications.conftest import SITE, TEAM, make_ready, send_all, walk
from upgrades import actions, contacts, dispatch
from upgrades.models import Contact, Delivery, Notification
from upgrades.notifications import outbox, rendering, sender
from upgrades.workflow import Action, State

USERS = {"alice@example.com", "carol@example.com"}


@pytest.fixture
def approved_two(cast, releases):
    request = file_request(cast["alice"], [PROD, NONPROD])
    actions.apply_request_action(request=request, action=Action.APPROVE, actor=cast["olga"])
    return request


def step1_mails():
    return [m for m in mail.outbox if "Step 1 complete" in m.subject]


def test_services_reaching_a_milestone_together_share_one_mail_per_recipient(approved_two):
    prod, nonprod = approved_two.services.order_by("id")
    walk(prod, State.AWAITING_VERIFICATION)
    walk(nonprod, State.AWAITING_VERIFICATION)
    send_all()
    mails = step1_mails()
    assert sorted(m.to[0] for m in mails) == sorted(USERS)
    for message in mails:
        assert prod.zone_id in message.body and nonprod.zone_id in message.body
    approved = [m for m in mail.outbox if m.subject.endswith(": Approved")]
    assert len(approved) == 2, "approval of both services: one mail to each of the two users"


def test_a_service_arriving_after_the_window_or_a_retried_step_makes_a_new_mail(approved_two, cast):
    prod, nonprod = approved_two.services.order_by("id")
    walk(prod, State.STEP1_FAILED)
    send_all()  # the window of the first failure closes and its mail goes out
    walk(nonprod, State.STEP1_FAILED)
    prod.refresh_from_db()
    actions.apply_service_action(service=prod, action=Action.RETRY, actor=cast["olga"])
    prod.refresh_from_db()
    actions.transition(prod, target=State.STEP1_FAILED, actor=actions.SYSTEM, updates={"error": "again"})
    send_all()
    failed = Notification.objects.filter(milestone="failed").order_by("id")
    assert [sorted(n.services.values_list("zone_id", flat=True)) for n in failed] == [
        [prod.zone_id],
        sorted([nonprod.zone_id, prod.zone_id]),
    ]
    assert len([m for m in mail.outbox if m.subject.endswith(": Failed")]) == 2 * len(USERS)


def test_a_service_never_joins_a_notification_whose_mail_went_out(approved_two):
    prod, nonprod = approved_two.services.order_by("id")
    walk(prod, State.STEP1_FAILED)
    first = Notification.objects.get(milestone="failed")
    sender.seal(first)  # the first send seals it, still inside the grouping window
    walk(nonprod, State.STEP1_FAILED)
    assert list(first.services.all()) == [prod]
    assert Notification.objects.filter(milestone="failed").count() == 2


def test_within_the_window_the_same_service_again_is_a_new_notification(approved_two, cast):
    prod = approved_two.services.order_by("id").first()
    walk(prod, State.STEP1_FAILED)
    prod.refresh_from_db()
    actions.apply_service_action(service=prod, action=Action.RETRY, actor=cast["olga"])
    prod.refresh_from_db()
    actions.transition(prod, target=State.STEP1_FAILED, actor=actions.SYSTEM)
    assert Notification.objects.filter(milestone="failed").count() == 2


def test_wire_format_multipart_headers_and_links(approved_two, smtp):
    smtp.start()
    walk(approved_two.services.order_by("id").first(), State.AWAITING_VERIFICATION)
    report = send_all()
    assert report.sent and not report.deferred
    messages = [m for m in smtp.messages() if "Step 1 complete" in m["Subject"]]
    carol = next(m for m in messages if m["To"] == "carol@example.com")
    assert carol.get_content_type() == "multipart/alternative"
    kinds = [part.get_content_type() for part in carol.iter_parts()]
    assert kinds == ["text/plain", "text/html"]
    text = carol.get_body(("plain",)).get_content()
    html = carol.get_body(("html",)).get_content()
    assert (
        carol["Subject"]
        == f"[ecportal] {approved_two.reference}: Step 1 complete, please test on the temporary URL"
    )
    assert carol["From"] and carol["Message-ID"] and carol["Auto-Submitted"] == "auto-generated"
    assert carol["List-Unsubscribe"].startswith(f"<{SITE}/c/")
    links = re.findall(r'href="([^"]+)"', html)
    assert links and all(link in text for link in links)
    assert any("/confirm/" in link for link in links) and any("/unsubscribe/" in link for link in links)
    assert "password" not in text.lower() and "secret" not in text.lower()


def test_smtp_down_then_up_delivers_everything_exactly_once(approved_two, smtp):
    walk(approved_two.services.order_by("id").first(), State.AWAITING_VERIFICATION)
    expected = Delivery.objects.count()
    report = send_all()  # nobody listens on the port yet
    assert report.sent == 0 and report.deferred == 1, "stops at the first failure; the rest wait"
    down = Delivery.objects.filter(attempts=1).get()
    assert down.status == Delivery.Status.PENDING and "Connection" in down.last_error
    assert down.next_attempt_at > timezone.now() + timedelta(seconds=5), "backs off"
    assert sender.send_due().sent == 0, "nothing is due before the backoff passes"
    for _ in range(3):  # the outage lasts a while: still nothing lost
        send_all()
    smtp.start()
    report = send_all()
    assert report.sent == expected
    send_all()
    recipients = [(m["To"], m["Subject"]) for m in smtp.messages()]
    assert len(recipients) == expected == len(set(recipients))
    assert not Delivery.objects.exclude(status=Delivery.Status.SENT).exists()
    assert Delivery.objects.filter(attempts__gt=1).exists()


def test_backoff_is_exponential_and_capped(settings):
    settings.NOTIFY_RETRY_BASE, settings.NOTIFY_RETRY_CAP = 10, 600
    assert [sender.backoff(n) for n in (1, 2, 3, 7, 30)] == [10, 20, 40, 600, 600]


@pytest.mark.django_db(transaction=True)
def test_two_senders_racing_send_each_mail_once(cast, releases, smtp, monkeypatch):
    assert connection.vendor == "postgresql"
    # The senders under test are the threads below: keep the on-commit send task off the broker, where
    # a worker of another test session could pick it up.
    monkeypatch.setattr(dispatch, "send", lambda *args, **kwargs: True)
    smtp.start()
    contacts = [f"contact{n}@example.com" for n in range(25)]
    request = file_request(cast["alice"], [PROD], contacts=contacts)
    expected = Delivery.objects.count()
    assert expected == len(contacts) + 1 + len(TEAM)  # "received" to requester and contacts, "new request"
    make_ready()
    barrier = threading.Barrier(3)
    reports = []

    def send_concurrently():
        try:
            barrier.wait()
            reports.append(sender.send_due())
        finally:
            from django.db import connection as thread_connection

            thread_connection.close()

    threads = [threading.Thread(target=send_concurrently) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sum(r.sent for r in reports) == expected
    sent = [(m["To"], m["Subject"]) for m in smtp.messages()]
    assert len(sent) == expected == len(set(sent))
    assert Delivery.objects.filter(status=Delivery.Status.SENT, attempts=1).count() == expected
    assert request.reference in sent[0][1]


def test_header_injection_is_refused_at_intake_and_at_send(cast, releases, smtp):
    smtp.start()
    request = file_request(cast["alice"], [PROD])
    # Only a raw write can store such an address (intake refuses it); the sender refuses it again.
    Contact.objects.create(request=request, email="eve@example.com\r\nBcc: victim@example.com")
    actions.apply_request_action(request=request, action=Action.APPROVE, actor=cast["olga"])
    send_all()
    bad = Delivery.objects.get(recipient__startswith="eve@")
    assert bad.status == Delivery.Status.FAILED and "Refused address" in bad.last_error
    for message in smtp.messages():
        assert "victim" not in message.as_string()
    with pytest.raises(rendering.Unsendable):
        rendering.safe_address("a@example.com\nBcc: b@example.com")
    from upgrades import intake

    emails, problems = intake.parse_contacts(["x@example.com\r\nBcc: y@example.com"])
    assert not emails and "line breaks" in problems[0].message


def test_a_permanent_refusal_fails_the_delivery_and_does_not_block_the_rest(approved_two, smtp):
    import smtplib

    error = smtplib.SMTPRecipientsRefused({"carol@example.com": (550, b"no such user")})
    assert sender._permanent(error)
    assert not sender._permanent(smtplib.SMTPRecipientsRefused({"x@y": (451, b"try later")}))
    assert not sender._permanent(ConnectionRefusedError())


def test_sending_one_notification_sends_only_its_mails(filed, smtp):
    smtp.start()
    notification = Notification.objects.filter(milestone="received").get()
    make_ready()
    sender.send_due(notification_id=notification.pk)
    assert sorted(m["To"] for m in smtp.messages()) == sorted(USERS)


def test_reminder_when_nobody_confirmed(approved_two, settings, time_machine):
    prod, nonprod = approved_two.services.order_by("id")
    walk(prod, State.AWAITING_VERIFICATION)
    walk(nonprod, State.AWAITING_VERIFICATION)
    send_all()
    actions.apply_service_action(service=nonprod, action=Action.CONFIRM, contact_email="carol@example.com")
    assert outbox.queue_reminders() == 0, "not before NOTIFY_REMINDER_HOURS"
    time_machine.move_to(timezone.now() + timedelta(hours=settings.NOTIFY_REMINDER_HOURS, minutes=1))
    assert outbox.queue_reminders() == 1
    assert outbox.queue_reminders() == 0, "one reminder per Step 1 mail"
    mail.outbox.clear()
    send_all()
    reminders = [m for m in mail.outbox if ": Reminder: " in m.subject]
    assert sorted(m.to[0] for m in reminders) == sorted(USERS)
    assert prod.zone_id in reminders[0].body and nonprod.zone_id not in reminders[0].body


def test_beat_sends_what_is_pending(filed, smtp):
    smtp.start()
    make_ready()
    outcome = sender.send_pending()
    assert outcome["sent"] == Delivery.objects.count() == len(USERS) + len(TEAM)
    assert sender.send_pending()["sent"] == 0


def test_every_send_of_a_delivery_carries_its_id_in_message_id(filed, smtp):
    """Delivery is at least once (a crash after SMTP accepted and before the mark resends): clients
    fold a resent duplicate by its Message-ID, which names the delivery."""
    smtp.start()
    make_ready()
    delivery = Delivery.objects.order_by("id").first()
    first = rendering.render_message(delivery).message()["Message-ID"]
    assert (
        first
        == rendering.render_message(delivery).message()["Message-ID"]
        == f"<delivery-{delivery.pk}@portal.example.test>"
    )
    send_all()
    ids = [m["Message-ID"] for m in smtp.messages()]
    assert first in ids and len(set(ids)) == len(ids) == Delivery.objects.count()


def test_contacts_that_are_not_email_addresses_are_never_mailed(cast, releases, smtp):
    smtp.start()
    request = file_request(
        cast["alice"], [PROD], contacts=("carol@example.com", "Slack: @dana", "+1 555 0100")
    )
    contacts.add_contact(request=request, user=cast["alice"], entry="Teams channel ec-acme")
    actions.apply_request_action(request=request, action=Action.APPROVE, actor=cast["olga"])
    walk(request.services.get(), State.AWAITING_VERIFICATION)
    assert send_all().sent
    recipients = {m["To"] for m in smtp.messages()}
    assert recipients == USERS | set(TEAM), "the requester, the one mailed contact and the EC team"
    assert set(Delivery.objects.values_list("recipient", flat=True)) == USERS | set(TEAM)
    assert request.contacts.filter(email="").count() == 3, "kept, all the same"
