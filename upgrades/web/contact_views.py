"""Thin views: contact pages behind a signed link (no login; GET shows, POST acts) and the requester's
and EC team's add/remove of contacts (login; POST-redirect-GET)."""

from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from upgrades import actions, contacts, selectors, workflow
from upgrades.models import ServiceUpgrade, UpgradeRequest
from upgrades.notifications import links as contact_links
from upgrades.web import pages
from upgrades.workflow import Action


class _LinkRefused(Http404):
    """A contact link that no longer works (expired, replaced, removed, forged): a page saying so."""


def _contact_or_404(token: str):
    try:
        return contact_links.resolve(token)
    except contact_links.LinkInvalid as error:
        raise _LinkRefused(str(error)) from None


def link_refused(view):
    """Answer a link that does not work with a page that says why and what to do, never a login page."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except _LinkRefused as refused:
            context = {"expired": str(refused) == contact_links.EXPIRED, "days": settings.CONTACT_LINK_DAYS}
            return render(request, "contact/link_refused.html", context, status=404)

    return wrapper


def _service_or_404(contact, service_id: int) -> ServiceUpgrade:
    service = ServiceUpgrade.objects.filter(pk=service_id, request_id=contact.request_id).first()
    if service is None:
        raise Http404("No such service on this request.")
    return service


def _status_context(contact, token: str) -> dict:
    page = pages.contact_page(contact)
    return {"page": page, "req": page.req, "contact": contact, "token": token}


@link_refused
@never_cache
def status(request, token: str):
    """The request as the contact may see it: services, pictures, gateway lines, timeline (GET only)."""
    contact = _contact_or_404(token)
    context = _status_context(contact, token)
    context["unsubscribed"] = contact_links.is_unsubscribed(contact)
    return render(request, "contact/status.html", context)


@link_refused
@never_cache
def status_live(request, token: str):
    """The live part of the status page, polled by htmx as the request page's is."""
    return render(request, "upgrades/_live.html", _status_context(_contact_or_404(token), token))


def _act(request, token: str, service_id: int, action: Action, template: str):
    """GET: a page with a button. POST: fire the action as the contact, then back to the status page."""
    contact = _contact_or_404(token)
    service = _service_or_404(contact, service_id)
    if request.method == "POST":
        try:
            actions.apply_service_action(
                service=service,
                action=action,
                contact_email=contact.email,
                reason=request.POST.get("reason", ""),
            )
        except (workflow.NotAllowed, workflow.InvalidTransition, actions.StaleState) as error:
            messages.error(request, str(error))
        except actions.InputRefused as error:
            messages.error(request, str(error))
            return redirect(request.path)
        else:
            messages.success(
                request, f"{service.display_name}: {workflow.ACTION_DONE[action].lower()}. Thank you."
            )
        return redirect("contact-status", token)
    context = {"contact": contact, "token": token, "req": contact.request, "service": service}
    return render(request, template, context)


@link_refused
def confirm(request, token: str, service_id: int):
    return _act(request, token, service_id, Action.CONFIRM, "contact/confirm.html")


@link_refused
def report_problem(request, token: str, service_id: int):
    return _act(request, token, service_id, Action.REPORT_PROBLEM, "contact/report.html")


@link_refused
def unsubscribe(request, token: str):
    contact = _contact_or_404(token)
    if request.method == "POST":
        contact_links.unsubscribe(contact)
        messages.success(request, f"You will get no more mails about {contact.request.reference}.")
        return redirect("contact-status", token)
    return render(
        request, "contact/unsubscribe.html", {"contact": contact, "token": token, "req": contact.request}
    )


def _visible(user, request_id: int) -> UpgradeRequest:
    try:
        return selectors.get_request(user, request_id)
    except UpgradeRequest.DoesNotExist:
        raise Http404("No such request.") from None


@login_required
@require_POST
def add_contact(request, request_id: int):
    upgrade_request = _visible(request.user, request_id)
    try:
        added = contacts.add_contact(
            request=upgrade_request, user=request.user, entry=request.POST.get("contact", "")
        )
    except workflow.NotAllowed as error:
        raise PermissionDenied(str(error)) from None
    except contacts.ContactRefused as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"{added} added as a contact.")
    return redirect(reverse("request-detail", args=[upgrade_request.pk]) + "#contacts")


@login_required
@require_POST
def remove_contact(request, request_id: int, contact_id: int):
    upgrade_request = _visible(request.user, request_id)
    try:
        contacts.remove_contact(request=upgrade_request, user=request.user, contact_id=contact_id)
    except workflow.NotAllowed as error:
        raise PermissionDenied(str(error)) from None
    except contacts.ContactRefused as error:
        messages.error(request, str(error))
    else:
        messages.success(request, "Contact removed.")
    return redirect(reverse("request-detail", args=[upgrade_request.pk]) + "#contacts")
