"""The evidence pack of a request: who filed, approved and acted, every state change, CF call, mail
and webhook delivery.

A pack is `{"evidence": {...}, "signature": {"algorithm": "HMAC-SHA256", "value": <hex>}}`, the
signature taken over the canonical JSON of `evidence` (sorted keys, no whitespace, UTF-8) with
`settings.EVIDENCE_KEY`. `verify` checks a pack read back from a file; anyone holding the key can.
"""

import hashlib
import hmac
import json
from datetime import datetime
from urllib.parse import urlsplit

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from upgrades.models import CallLog, Delivery, Event, ServiceUpgrade, UpgradeRequest
from upgrades.notifications.rendering import message_id, subject_of
from upgrades.workflow import State

FORMAT = "ecportal-evidence/1"
ALGORITHM = "HMAC-SHA256"


class EvidenceInvalid(ValueError):
    """The pack is not one the portal signed, or something in it changed since; the message says which."""


def canonical(value) -> bytes:
    """The one byte form a signature covers: sorted keys, no whitespace, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def signature(evidence: dict, key: str | None = None) -> str:
    secret = (key or settings.EVIDENCE_KEY).encode()
    return hmac.new(secret, canonical(evidence), hashlib.sha256).hexdigest()


def signed_pack(request: UpgradeRequest) -> dict:
    """The request's evidence, signed."""
    evidence = collect(request)
    return {"evidence": evidence, "signature": {"algorithm": ALGORITHM, "value": signature(evidence)}}


def verify(pack, key: str | None = None) -> dict:
    """The pack's evidence if its signature holds; else raise EvidenceInvalid saying why."""
    if not isinstance(pack, dict) or not isinstance(pack.get("evidence"), dict):
        raise EvidenceInvalid("Not an evidence pack: no “evidence” object.")
    sig = pack.get("signature")
    if not isinstance(sig, dict) or not isinstance(sig.get("value"), str):
        raise EvidenceInvalid("The pack carries no signature.")
    if sig.get("algorithm") != ALGORITHM:
        raise EvidenceInvalid(f"Unknown signature algorithm {sig.get('algorithm')!r}; expected {ALGORITHM}.")
    if pack["evidence"].get("format") != FORMAT:
        raise EvidenceInvalid(f"Unknown pack format {pack['evidence'].get('format')!r}; expected {FORMAT}.")
    if not hmac.compare_digest(sig["value"], signature(pack["evidence"], key)):
        raise EvidenceInvalid(
            "The signature does not match: the pack was changed after it was signed, "
            "or signed with another key."
        )
    return pack["evidence"]


def collect(request: UpgradeRequest) -> dict:
    """Everything the pack says of `request`, as plain JSON values (a fixed number of queries)."""
    services = list(request.services.order_by("id"))
    events = list(request.events.select_related("actor").order_by("created_at", "id"))
    calls = CallLog.objects.filter(service__request=request).order_by("id")
    return {
        "format": FORMAT,
        "generated_at": _at(timezone.now()),
        "request": {
            "id": request.pk,
            "reference": request.reference,
            "release": request.release.name,
            "image": request.release.docker_image,
            "created_at": _at(request.created_at),
        },
        "filed": {"by": request.requester.get_username(), "at": _at(request.created_at)},
        "approvals": [_approval(e, events, services) for e in events if e.to_state == State.APPROVED],
        "acted": [_act(e) for e in events if e.actor_id and e.to_state != State.APPROVED],
        "services": [_service(s) for s in services],
        "events": [_event(e) for e in events],
        "cf_calls": [_call(c) for c in calls],
        "mails": _mails(request),
        "webhooks": _webhooks(request),
    }


def _at(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _approval(event: Event, events: list[Event], services: list[ServiceUpgrade]) -> dict:
    """One approval and the fingerprint of the plan it approved. An approval followed by its service
    being sent back (the plan changed) approved a plan that never ran: it is marked superseded."""
    service = next((s for s in services if s.pk == event.service_id), None)
    superseded = any(
        later.service_id == event.service_id and _sent_back(later)
        for later in events[events.index(event) + 1 :]
    )
    return {
        "by": event.actor_label,
        "at": _at(event.created_at),
        "service_id": event.service_id,
        "plan_fingerprint": None if superseded or service is None else service.approved_fingerprint,
        "superseded": superseded,
    }


def _sent_back(event: Event) -> bool:
    return event.from_state == State.STEP1_RUNNING and event.to_state == State.SUBMITTED


def _act(event: Event) -> dict:
    return {
        "by": event.actor_label,
        "at": _at(event.created_at),
        "service_id": event.service_id,
        "kind": event.kind,
        "to_state": event.to_state,
    }


def _service(service: ServiceUpgrade) -> dict:
    return {
        "id": service.pk,
        "zone_id": service.zone_id,
        "name": service.name,
        "url": service.url,
        "foundation": service.foundation,
        "plan": service.plan,
        "state": service.state,
        "plan_fingerprint": service.plan_fingerprint,
        "approved_fingerprint": service.approved_fingerprint,
        "change_plan": service.change_plan,
        # The probes of the original URL through each Step 2 attempt, the latest as `probe`.
        "probe": service.probe,
        "probe_runs": [run.summary for run in service.probe_runs.order_by("pk")],
    }


def _event(event: Event) -> dict:
    return {
        "at": _at(event.created_at),
        "kind": event.kind,
        "service_id": event.service_id,
        "by": event.actor_label,
        "from_state": event.from_state,
        "to_state": event.to_state,
        "message": event.message,
    }


def _call(call: CallLog) -> dict:
    return {
        "at": _at(call.created_at),
        "service_id": call.service_id,
        "step": call.step,
        "method": call.method,
        "path": call.path,
        "status": call.status,
        "cf_request_id": call.request_id,
        "duration_ms": call.duration_ms,
    }


def _deliveries(request: UpgradeRequest, channel: str):
    """The deliveries of `channel` about the request: its own notifications' and those of a campaign
    that moved its services."""
    return (
        Delivery.objects.filter(Q(notification__request=request) | Q(notification__services__request=request))
        .filter(channel=channel)
        .distinct()
        .order_by("id")
    )


def _mails(request: UpgradeRequest) -> list[dict]:
    """Every mail about the request (webhook deliveries are listed apart, by `_webhooks`)."""
    deliveries = _deliveries(request, Delivery.Channel.MAIL).select_related(
        "notification__request__release", "notification__campaign"
    )
    return [
        {
            "recipient": d.recipient,
            "milestone": d.notification.milestone,
            "status": d.status,
            # Subjects are rendered for mails that went out; others were never a message.
            "subject": subject_of(d) if d.status == Delivery.Status.SENT else "",
            "message_id": message_id(d),
            "sent_at": _at(d.sent_at),
        }
        for d in deliveries
    ]


def _webhooks(request: UpgradeRequest) -> list[dict]:
    """Every webhook delivery about the request. The receiver is named by its host only: the rest
    of a URL (a Slack webhook's path) is a secret, and the pack is handed around."""
    deliveries = _deliveries(request, Delivery.Channel.WEBHOOK).select_related("notification", "webhook")
    return [
        {
            "delivery": d.pk,
            "host": urlsplit(d.webhook.url).hostname if d.webhook else None,  # None: since deleted
            "milestone": d.notification.milestone,
            "status": d.status,
            "status_code": d.last_status_code,
            "attempts": d.attempts,
            "created_at": _at(d.created_at),
            "sent_at": _at(d.sent_at),
        }
        for d in deliveries
    ]
