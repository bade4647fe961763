"""The evidence pack lists every mail of a request as it went out through a real SMTP listener."""

import pytest

from tests.conftest import file_request
from tests.notifications.conftest import send_all
from upgrades import actions, evidence
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
