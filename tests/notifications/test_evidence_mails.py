"""The evidence pack lists every mail of a request as it went out through a real SMTP listener."""

import pytest

from tests.conftest import file_request
from tests.notifications.conftest import send_all
from tests.webhooks.conftest import receiver  # noqa: F401 (fixture: a real HTTP receiver)
from tests.webhooks.test_subscriptions import send_now
from upgrades import actions, evidence, subscriptions
from upgrades.models import Delivery
from upgrades.workflow import Action


@pytest.mark.django_db
def test_evidence_lists_each_mail_with_its_subject_and_message_id(cast, releases, smtp):
    smtp.start()
    request = file_request(cast["alice"])
    actions.apply_request_action(request=request, action=Action.APPROVE, actor=cast["olga"])
    send_all()
    sent = {(m["To"], m["Subject"], m["Message-ID"]) for m in smtp.messages()}
    assert sent, "the submission and approval were mailed"

    mails = evidence.signed_pack(request)["evidence"]["mails"]
    listed = {(m["recipient"], m["subject"], m["message_id"]) for m in mails if m["status"] == "sent"}
    assert listed == sent
    assert all(m["sent_at"] for m in mails if m["status"] == "sent")


@pytest.mark.django_db
def test_evidence_lists_webhook_deliveries_apart_from_mails(cast, releases, smtp, receiver, settings, api):  # noqa: F811
    settings.WEBHOOK_ALLOW_HTTP = settings.WEBHOOK_ALLOW_PRIVATE = True
    smtp.start()
    receiver.start()
    hook, _ = subscriptions.subscribe(
        user=cast["olga"], scope=subscriptions.Scope(), url=receiver.url("/services/T0/secret"),
        events=["received"], format="json",
    )  # fmt: skip
    request = file_request(cast["alice"])
    send_all()
    assert send_now().sent == 1
    (delivery,) = hook.deliveries.all()

    facts = evidence.signed_pack(request)["evidence"]
    assert all(not m["recipient"].startswith("webhook") for m in facts["mails"]), "mails only"
    assert {m["recipient"] for m in facts["mails"]} == {m["To"] for m in smtp.messages()}
    assert facts["webhooks"] == [
        {
            "delivery": delivery.pk,
            "host": "127.0.0.1",
            "milestone": "received",
            "status": Delivery.Status.SENT,
            "status_code": 200,
            "attempts": 1,
            "created_at": delivery.created_at.isoformat(),
            "sent_at": facts["webhooks"][0]["sent_at"],
        }
    ]
    assert facts["webhooks"][0]["sent_at"] and "secret" not in str(facts)
    page = api(cast["alice"]).get(f"/requests/{request.pk}/evidence/").content.decode()
    assert "Webhook deliveries" in page and "/services/T0/secret" not in page
