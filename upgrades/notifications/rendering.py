"""Rendering a delivery into a message at send time, from the snapshot stored on its notification.

Templates live in `templates/emails/<milestone>/` as a subject/text/HTML triple. Each message carries
its delivery's id in `Message-ID`: delivery is at least once (a crash between the SMTP server's
acceptance and the mark can send it again), and mail clients fold duplicates by that header.
"""

from datetime import datetime
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from upgrades import addresses, foundations
from upgrades.models import Contact, Delivery
from upgrades.notifications import links as contact_links
from upgrades.notifications.outbox import MILESTONES, USERS
from upgrades.notifications.reach import ec_team_contact
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
    recipient = safe_address(delivery.recipient)
    if notification.campaign_id:
        context, headers = _campaign_context(delivery)
    else:
        context, headers = _request_context(delivery)
    context |= {
        "milestone": MILESTONES[notification.milestone].label,
        # The services by plan, those whose temporary URL people were given, and (for a confirmation)
        # those whose Step 2 waits for the EC team and the services that waited for them.
        "test_first": [s for s in context["services"] if not s["back_to_back"]],
        "back_to_back": [s for s in context["services"] if s["back_to_back"]],
        "tested": [s for s in context["services"] if s["temporary_url"]],
        "awaiting_step2": [
            s for s in context["services"] if not (s["back_to_back"] or s.get("step2_on_confirmation"))
        ],
        "followers": [name for s in context["services"] for name in s.get("followers", [])],
        "new_request_url": contact_links.absolute(reverse("request-new")),
        "reminder_hours": settings.NOTIFY_REMINDER_HOURS,
        "ec_team": ec_team_contact(),
        "css": STYLE,
    }
    name = notification.milestone
    # One line, whatever the template holds: a subject can never carry a header break.
    subject = " ".join(render_to_string(f"emails/{name}/subject.txt", context).split())
    headers |= {"Auto-Submitted": "auto-generated", "Message-ID": message_id(delivery)}
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string(f"emails/{name}/body.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[recipient],
        headers=headers,
    )
    message.attach_alternative(render_to_string(f"emails/{name}/body.html", context), "text/html")
    return message


def _request_context(delivery: Delivery) -> tuple[dict, dict]:
    """What a request's mail shows (its services, the recipient's links if a contact) and its headers."""
    notification = delivery.notification
    request = notification.request
    contact = None
    if notification.audience == USERS:
        contact = Contact.objects.filter(request=request, email__iexact=delivery.recipient).first()
    links = contact_links.urls_for(contact) if contact else {}
    request_url = contact_links.absolute(reverse("request-detail", args=[request.pk]))
    context = {
        "reference": request.reference,
        "request": request,
        "services": [_service(facts, request, links) for facts in notification.facts()],
        "links": links,
        # A contact's links lead to their signed status page (no account needed), never to a login.
        "status_url": links.get("status", request_url),
        "request_url": request_url,
    }
    headers = {"X-Ecportal-Request": request.reference}
    if links:
        headers["List-Unsubscribe"] = f"<{links['unsubscribe']}>"
    return context, headers


def _campaign_context(delivery: Delivery) -> tuple[dict, dict]:
    """A campaign's mail to one contact: their own services in it, each with their status page link.
    `request` is the campaign (the templates read the release from it)."""
    campaign = delivery.notification.campaign
    services = []
    for facts, contact in _recipient_services(delivery):
        links = contact_links.urls_for(contact)
        service = _service(facts, campaign, links)
        service["status_url"], service["unsubscribe_url"] = links["status"], links["unsubscribe"]
        service["status_label"] = f"Status of {facts['name'] or facts['zone_id']}"
        if facts.get("starts_at"):
            service["starts_at"] = datetime.fromisoformat(facts["starts_at"])
        services.append(service)
    context = {
        "reference": campaign.reference,
        "campaign": campaign,
        "request": campaign,
        "services": services,
        "links": {},
        "now": timezone.now(),
    }
    return context, {"X-Ecportal-Campaign": campaign.reference}


def _recipient_services(delivery: Delivery) -> list[tuple[dict, Contact]]:
    """The facts of the campaign notification's services this recipient is (still) a subscribed
    contact of, with that contact."""
    facts = [
        f
        for f in delivery.notification.facts()
        if delivery.recipient.lower() in {r.lower() for r in f.get("recipients", [])}
    ]
    contacts = {
        c.request_id: c
        for c in Contact.objects.filter(
            request_id__in=[f["request_id"] for f in facts], email__iexact=delivery.recipient
        ).select_related("link")
    }
    found = []
    for f in facts:
        contact = contacts.get(f["request_id"])
        if contact is not None and not contact_links.is_unsubscribed(contact):
            found.append((f, contact))
    return found


def _service(facts: dict, request, links: dict) -> dict:
    """A service's stored facts, completed for older snapshots and with the recipient's own links."""
    facts = dict(facts)
    # Snapshots stored before services had names lack the foundation's display name, and those
    # stored before plans were per service lack the plan (the request's was then every service's).
    facts.setdefault("foundation_name", foundations.name_of(facts["foundation"]))
    facts.setdefault("plan", request.plan)
    facts["plan_label"] = Plan(facts["plan"]).label
    facts["back_to_back"] = facts["plan"] == Plan.BACK_TO_BACK
    if facts["back_to_back"]:
        facts["temporary_url"] = ""  # never given to anyone: Step 2 followed Step 1 at once
    if links:
        facts["confirm_url"] = contact_links.action_url(links["token"], "confirm", facts["id"])
        facts["report_url"] = contact_links.action_url(links["token"], "report", facts["id"])
    return facts


# Inline CSS for the HTML part (mail clients drop <style> blocks and external sheets): layout by tables,
# the system font stack, one place for every style the templates use (`{{ css.<name> }}`).
_FONT = "font-family:-apple-system,BlinkMacSystemFont,Segoe UI,Roboto,Helvetica,Arial,sans-serif;"
_MONO = "font-family:SFMono-Regular,Consolas,Liberation Mono,Menlo,monospace;"
_BUTTON = (
    f"{_FONT}display:inline-block;padding:10px 18px;font-size:15px;font-weight:600;line-height:1.2;"
    "border-radius:6px;text-decoration:none;"
)
STYLE = {
    "body": "margin:0;padding:0;background-color:#f4f6f9;",
    "outer": "background-color:#f4f6f9;",
    "card": "max-width:600px;background-color:#ffffff;border:1px solid #d5dae1;border-radius:8px;",
    "banner": f"{_FONT}padding:14px 24px;background-color:#14213d;color:#ffffff;font-size:14px;"
    "font-weight:600;border-radius:8px 8px 0 0;",
    "main": f"{_FONT}padding:20px 24px 8px;color:#1b2330;font-size:15px;line-height:1.5;",
    "h1": "margin:0 0 12px;font-size:20px;line-height:1.3;color:#1b2330;",
    "h2": "margin:20px 0 6px;font-size:16px;line-height:1.3;color:#1b2330;",
    "p": "margin:0 0 12px;",
    "ul": "margin:0 0 12px;padding-left:20px;",
    "li": "margin:0 0 8px;",
    "next": "margin:16px 0 12px;padding:10px 12px;background-color:#e3edff;border-left:4px solid #0b5cad;",
    "muted": "color:#535d6b;font-size:13px;",
    "code": f"{_MONO}font-size:13px;background-color:#f0f2f5;padding:1px 4px;border-radius:3px;",
    "pre": f"{_MONO}font-size:13px;margin:4px 0 10px;padding:8px 10px;background-color:#f0f2f5;"
    "border-radius:4px;white-space:pre-wrap;word-break:break-all;",
    "button": f"{_BUTTON}color:#ffffff;background-color:#0b5cad;border:1px solid #0b5cad;",
    "button_quiet": f"{_BUTTON}color:#0b5cad;background-color:#ffffff;border:1px solid #0b5cad;",
    "button_danger": f"{_BUTTON}color:#b42318;background-color:#ffffff;border:1px solid #b42318;",
    "footer": f"{_FONT}padding:12px 24px 20px;color:#535d6b;font-size:13px;line-height:1.5;"
    "border-top:1px solid #d5dae1;",
    "link": "color:#0b5cad;",
}


def message_id(delivery: Delivery) -> str:
    """The same for every send of one delivery, so a resent duplicate folds into the first."""
    host = urlsplit(settings.SITE_URL).hostname or "ecportal.localhost"
    return f"<delivery-{delivery.pk}@{host}>"


def skip_reason(delivery: Delivery) -> str:
    """Why a users' mail is no longer wanted (its contact unsubscribed or was removed), or ""."""
    notification = delivery.notification
    if notification.audience != USERS:
        return ""
    if notification.campaign_id:
        return "" if _recipient_services(delivery) else "No longer a contact of these services."
    request = notification.request
    if request.requester.email and request.requester.email.lower() == delivery.recipient.lower():
        return ""
    contact = Contact.objects.filter(request=request, email__iexact=delivery.recipient).first()
    if contact is None:
        return "No longer a contact of this request."
    if contact_links.is_unsubscribed(contact):
        return "The contact unsubscribed from this request."
    return ""


def subject_of(delivery: Delivery) -> str:
    """The subject a delivery's mail carries (rendered again from its notification's snapshot), or ""
    for an address the portal never mails."""
    try:
        return str(render_message(delivery).subject)
    except Unsendable:
        return ""
