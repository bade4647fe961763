"""Adding and removing a request's contacts: by its requester or the EC team, while it is open."""

from django.conf import settings
from django.db import IntegrityError, transaction

from upgrades import intake
from upgrades.models import Contact, Event, UpgradeRequest
from upgrades.permissions import is_ec_team
from upgrades.workflow import NotAllowed, State


class ContactRefused(ValueError):
    """The change cannot be made (bad address or contact info, duplicate, request closed); the message
    says why."""


def may_manage(request: UpgradeRequest, user) -> bool:
    """The requester and the EC team may change contacts while some service is not terminal."""
    if not user.is_authenticated or not (request.requester_id == user.pk or is_ec_team(user)):
        return False
    return is_open(request)


def is_open(request: UpgradeRequest) -> bool:
    return any(not State(state).is_terminal for state in request.services.values_list("state", flat=True))


def _check(request: UpgradeRequest, user) -> None:
    if not (request.requester_id == user.pk or is_ec_team(user)):
        raise NotAllowed("Only the requester and the EC team may change the contacts of a request.")
    if not is_open(request):
        raise ContactRefused(f"{request.reference} has ended; its contacts can no longer change.")


def add_contact(*, request: UpgradeRequest, user, entry: str) -> Contact:
    """Add one contact, an email address or other contact info, validated as at intake (CR/LF and
    other header injection refused)."""
    _check(request, user)
    parsed, problems = intake.parse_contacts([entry])
    if problems or len(parsed) != 1:
        raise ContactRefused(
            problems[0].message.replace("Line 1: ", "")
            if problems
            else "Enter an email address or other contact info."
        )
    try:
        with transaction.atomic():
            # Counted under the request's row lock, so two additions at once cannot pass the limit.
            UpgradeRequest.objects.select_for_update().filter(pk=request.pk).first()
            if request.contacts.count() >= settings.MAX_CONTACTS_PER_REQUEST:
                raise ContactRefused(
                    f"{request.reference} has {settings.MAX_CONTACTS_PER_REQUEST} points of contact, "
                    "as many as it may; remove one first."
                )
            columns = intake.contact_columns(parsed[0])
            # Other contact info is told apart as intake does, whatever its case ("@Dana" is "@dana").
            if columns.get("other") and request.contacts.filter(other__iexact=columns["other"]).exists():
                raise ContactRefused(f"{parsed[0]} is already a contact of {request.reference}.")
            contact = Contact.objects.create(request=request, **columns)
            _audit(request, user, f"Added contact {contact}.")
    except IntegrityError:
        raise ContactRefused(f"{parsed[0]} is already a contact of {request.reference}.") from None
    return contact


def remove_contact(*, request: UpgradeRequest, user, contact_id: int) -> None:
    """Remove a contact; their signed link stops working with it."""
    _check(request, user)
    with transaction.atomic():
        contact = Contact.objects.filter(request=request, pk=contact_id).first()
        if contact is None:
            raise ContactRefused("No such contact on this request.")
        contact.delete()
        _audit(request, user, f"Removed contact {contact}.")


def _audit(request: UpgradeRequest, user, message: str) -> None:
    Event.objects.create(
        request=request, kind=Event.Kind.NOTE, actor=user, actor_label=user.get_username(), message=message
    )
