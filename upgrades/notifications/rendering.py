"""Rendering a delivery into a message at send time, from the snapshot stored on its notification.

Templates live in `templates/emails/<milestone>/` as a subject/text/HTML triple. Each message carries
its delivery's id in `Message-ID`: delivery is at least once (a crash between the SMTP server's
acceptance and the mark can send it again), and mail clients fold duplicates by that header.
"""

from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse

from upgrades import addresses, foundations
from upgrades.models import Contact, Delivery
from upgrades.notifications import links as contact_links
from upgrades.notifications.outbox import MILESTONES, USERS
from upgrades.workflow import Plan


class Unsendable(ValueError):
    """The delivery cannot become a message (e.g. an address that would inject headers)."""


def safe_address(address: str) -> str:
    """The address, if the portal mails it (`addresses.problem`); else raise Unsendable (never sent)."""
    refused = addresses.problem(address)
    if refused:
        raise Unsendable(f"Refused address {address!r}: {refused}.")
    return address


def render_message(delivery: Delivery) -> EmailMultiAlternatives:
    """The multipart (plain text + HTML) message of one delivery, To its recipient only."""
    notification = delivery.notification
    request = notification.request
    recipient = safe_address(delivery.recipient)
    contact = None
    if notification.audience == USERS:
        contact = Contact.objects.filter(request=request, email__iexact=recipient).first()
    links = contact_links.urls_for(contact) if contact else {}
    services = []
    for facts in notification.details.get("services", []):
        facts = dict(facts)
        # Snapshots stored before services had names lack the foundation's display name.
        facts.setdefault("foundation_name", foundations.name_of(facts["foundation"]))
        if links:
            facts["confirm_url"] = contact_links.action_url(links["token"], "confirm", facts["id"])
            facts["report_url"] = contact_links.action_url(links["token"], "report", facts["id"])
        services.append(facts)
    context = {
        "reference": request.reference,
        "milestone": MILESTONES[notification.milestone].label,
        "request": request,
        "plan_label": Plan(request.plan).label,
        "back_to_back": request.plan == Plan.BACK_TO_BACK,
        "services": services,
        "links": links,
        "request_url": contact_links.absolute(reverse("request-detail", args=[request.pk])),
        "reminder_hours": settings.NOTIFY_REMINDER_HOURS,
    }
    name = notification.milestone
    # One line, whatever the template holds: a subject can never carry a header break.
    subject = " ".join(render_to_string(f"emails/{name}/subject.txt", context).split())
    headers = {
        "Auto-Submitted": "auto-generated",
        "X-Ecportal-Request": request.reference,
        "Message-ID": message_id(delivery),
    }
    if links:
        headers["List-Unsubscribe"] = f"<{links['unsubscribe']}>"
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string(f"emails/{name}/body.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[recipient],
        headers=headers,
    )
    message.attach_alternative(render_to_string(f"emails/{name}/body.html", context), "text/html")
    return message


def message_id(delivery: Delivery) -> str:
    """The same for every send of one delivery, so a resent duplicate folds into the first."""
    host = urlsplit(settings.SITE_URL).hostname or "ecportal.localhost"
    return f"<delivery-{delivery.pk}@{host}>"


def skip_reason(delivery: Delivery) -> str:
    """Why a users' mail is no longer wanted (its contact unsubscribed or was removed), or ""."""
    notification = delivery.notification
    if notification.audience != USERS:
        return ""
    request = notification.request
    if request.requester.email and request.requester.email.lower() == delivery.recipient.lower():
        return ""
    contact = Contact.objects.filter(request=request, email__iexact=delivery.recipient).first()
    if contact is None:
        return "No longer a contact of this request."
    if contact_links.is_unsubscribed(contact):
        return "The contact unsubscribed from this request."
    return ""
