"""Signed links for contacts without an account: one per (request, contact), revocable, expiring.

A token is `<contact id>:<signature>`, signed with SECRET_KEY and a salt that includes the contact's own
secret. Rotating that secret (`revoke`) kills every link handed out before; removing the contact kills
them too. A link stops working CONTACT_LINK_DAYS after the request ended (all its services terminal).
"""

import re
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.db.models import Max
from django.urls import reverse
from django.utils import timezone

from upgrades.models import Contact, ContactLink, Event, ServiceUpgrade, UpgradeRequest, version_bump
from upgrades.workflow import State

_SALT = "ecportal.contact-link"


_ID = re.compile(r"[0-9]{1,18}")
EXPIRED = "This link has expired."


class LinkInvalid(Exception):
    """The link is forged, revoked, for a removed contact, or expired; the page answers 404."""


def _signer(link: ContactLink) -> signing.Signer:
    return signing.Signer(salt=f"{_SALT}:{link.secret}")


def link_for(contact: Contact) -> ContactLink:
    """The contact's link record, created with a fresh secret on first use."""
    link, _ = ContactLink.objects.get_or_create(
        contact=contact, defaults={"secret": secrets.token_urlsafe(32)}
    )
    return link


def token_for(contact: Contact) -> str:
    return _signer(link_for(contact)).sign(str(contact.pk))


def revoke(contact: Contact) -> None:
    """Invalidate every link handed out so far; the next mail carries a fresh one."""
    link = link_for(contact)
    ContactLink.objects.filter(pk=link.pk).update(secret=secrets.token_urlsafe(32), revoked_at=timezone.now())


def absolute(path: str) -> str:
    return f"{settings.SITE_URL}{path}"


def urls_for(contact: Contact) -> dict[str, str]:
    """Absolute links of a contact's pages (status, unsubscribe); each opens a page, never acts on GET."""
    token = token_for(contact)
    return {
        "status": absolute(reverse("contact-status", args=[token])),
        "unsubscribe": absolute(reverse("contact-unsubscribe", args=[token])),
        "token": token,
    }


def action_url(token: str, action: str, service_id: int) -> str:
    name = {"confirm": "contact-confirm", "report": "contact-report"}[action]
    return absolute(reverse(name, args=[token, service_id]))


def ended_at(request_id: int) -> datetime | None:
    """When the request ended: its last state change, if every service is in a terminal state."""
    states = set(ServiceUpgrade.objects.filter(request_id=request_id).values_list("state", flat=True))
    if not states or not all(State(state).is_terminal for state in states):
        return None
    return Event.objects.filter(request_id=request_id).aggregate(last=Max("created_at"))["last"]


def resolve(token: str, *, now: datetime | None = None) -> Contact:
    """The contact a token stands for, or raise LinkInvalid (tampered, revoked, removed, expired)."""
    contact_id, _, _ = token.partition(":")
    # ASCII digits only, and few enough for the id column: a link is never a database error.
    if not _ID.fullmatch(contact_id):
        raise LinkInvalid("Malformed link.")
    link = ContactLink.objects.select_related("contact__request").filter(contact_id=int(contact_id)).first()
    if link is None:
        raise LinkInvalid("No such contact.")
    try:
        if _signer(link).unsign(token) != contact_id:
            raise LinkInvalid("Bad signature.")
    except signing.BadSignature:
        raise LinkInvalid("Bad signature.") from None
    ended = ended_at(link.contact.request_id)
    if ended and (now or timezone.now()) > ended + timedelta(days=settings.CONTACT_LINK_DAYS):
        raise LinkInvalid(EXPIRED)
    return link.contact


def is_unsubscribed(contact: Contact) -> bool:
    return ContactLink.objects.filter(contact=contact, unsubscribed_at__isnull=False).exists()


def unsubscribe(contact: Contact) -> None:
    """Stop this request's mails to this contact (idempotent)."""
    link = link_for(contact)
    with transaction.atomic():
        changed = ContactLink.objects.filter(pk=link.pk, unsubscribed_at__isnull=True).update(
            unsubscribed_at=timezone.now()
        )
        if changed:  # the request page shows who unsubscribed
            UpgradeRequest.objects.filter(pk=contact.request_id).update(**version_bump())
