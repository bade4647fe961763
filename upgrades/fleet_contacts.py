"""The points of contact of fleet services: read where they live, set by the EC team, imported from CSV.

A fleet service's contacts are those of its latest request (read, never copied: a contact added to
that request later counts at once), until the EC team sets them on the Fleet (by hand or from CSV);
the set list then holds until a newer request names the service, whose contacts count again.
A campaign files each of its services' requests with these contacts (`contacts_for`).
"""

import csv
import io
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from upgrades import intake
from upgrades.models import Contact, FleetContact, FleetService, ServiceUpgrade
from upgrades.permissions import is_ec_team
from upgrades.workflow import NotAllowed

MAX_IMPORT_LINES = 20_000


class ContactsRefused(ValueError):
    """Input that cannot be taken; `problems` holds one message per bad line (none taken)."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


def contacts_for(zone_ids: list[str]) -> dict[str, list[str]]:
    """zone ID -> its contacts (email addresses and other contact info), by the rule above.

    Three queries, whatever the number of services."""
    latest: dict[str, tuple[int, object]] = {}
    rows = ServiceUpgrade.objects.filter(zone_id__in=zone_ids, campaign__isnull=True).order_by("id")
    for zone_id, request_id, filed_at in rows.values_list("zone_id", "request_id", "request__created_at"):
        latest[zone_id] = (request_id, filed_at)
    by_request: dict[int, list[str]] = {}
    for contact in Contact.objects.filter(request_id__in={r for r, _ in latest.values()}).order_by("id"):
        by_request.setdefault(contact.request_id, []).append(str(contact))
    found = {zone_id: by_request.get(request_id, []) for zone_id, (request_id, _) in latest.items()}
    set_by_team = FleetService.objects.filter(zone_id__in=zone_ids, contacts_set_at__isnull=False)
    for service in set_by_team.prefetch_related("contacts"):
        filed_at = latest.get(service.zone_id, (None, None))[1]
        if filed_at is None or filed_at < service.contacts_set_at:
            found[service.zone_id] = [str(c) for c in service.contacts.all()]
    return found


def parse(text: str) -> list[str]:
    """Contacts as the new-request form takes them (one per line or comma-separated); raises
    ContactsRefused with the form's messages."""
    parsed, problems = intake.parse_contacts(text)
    if problems:
        raise ContactsRefused([p.message for p in problems])
    return parsed


def set_contacts(*, service: FleetService, user, contacts: list[str]) -> None:
    """Make `contacts` (as `parse` returns them) the service's contacts; an empty list clears them."""
    _check(user)
    with transaction.atomic():
        _replace({service.pk: contacts}, timezone.now())


@dataclass
class Imported:
    services: int = 0
    contacts: int = 0
    zone_ids: list[str] = field(default_factory=list)


def import_csv(*, user, text: str) -> Imported:
    """Import `zone_id,contact` lines (a `zone_id,contact` header allowed; a zone ID on several lines
    has several contacts). Each zone ID named gets exactly the contacts its lines give.

    All or nothing: any bad line (not two columns, a zone ID not in the fleet, a contact the form
    would refuse) raises ContactsRefused listing every bad line by number, and nothing is imported,
    so the file can be fixed and imported again without wondering which half is in."""
    _check(user)
    lines = _rows(text)
    problems: list[str] = []
    wanted: dict[str, list[str]] = {}
    for number, row in lines:
        if len(row) != 2 or not row[0].strip() or not row[1].strip():
            problems.append(f"Line {number}: expected a zone ID and a contact separated by a comma.")
            continue
        zone_id, entry = row[0].strip().lower(), row[1].strip()
        parsed, refused = intake.parse_contacts([entry])
        if refused:
            problems.append(f"Line {number}: {refused[0].message.removeprefix('Line 1: ')}")
            continue
        contacts = wanted.setdefault(zone_id, [])
        if parsed and parsed[0].casefold() not in {c.casefold() for c in contacts}:
            contacts.append(parsed[0])
    known = dict(
        FleetService.objects.filter(zone_id__in=list(wanted), gone_at__isnull=True).values_list(
            "zone_id", "pk"
        )
    )
    for number, row in lines:
        zone_id = row[0].strip().lower() if row else ""
        if zone_id in wanted and zone_id not in known:
            problems.append(f"Line {number}: zone ID {zone_id} is not in the fleet.")
    for zone_id, contacts in wanted.items():
        if len(contacts) > settings.MAX_CONTACTS_PER_REQUEST:
            problems.append(
                f"Zone ID {zone_id} has {len(contacts)} contacts; at most "
                f"{settings.MAX_CONTACTS_PER_REQUEST} are taken per service."
            )
    if problems:
        raise ContactsRefused(problems)
    if not wanted:
        raise ContactsRefused(["No lines to import: give one `zone_id,contact` per line."])
    with transaction.atomic():
        _replace({known[zone_id]: contacts for zone_id, contacts in wanted.items()}, timezone.now())
    return Imported(len(wanted), sum(len(c) for c in wanted.values()), sorted(wanted))


def _rows(text: str) -> list[tuple[int, list[str]]]:
    """(line number, columns) of each non-blank line, the header line left out."""
    if "\x00" in text:
        raise ContactsRefused(["This is not a text file: give one `zone_id,contact` per line."])
    rows = []
    reader = csv.reader(io.StringIO(text))
    try:
        for row in reader:
            number = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if not rows and [c.strip().lower() for c in row] == ["zone_id", "contact"]:
                continue
            rows.append((number, row))
    except csv.Error as error:
        raise ContactsRefused([f"Line {reader.line_num}: not readable as CSV ({error})."]) from None
    if len(rows) > MAX_IMPORT_LINES:
        raise ContactsRefused([f"At most {MAX_IMPORT_LINES:,} lines at once; this has {len(rows):,}."])
    return rows


def _replace(contacts: dict[int, list[str]], now) -> None:
    """Give each fleet service (by pk) exactly these contacts, and mark them as set by the EC team."""
    FleetContact.objects.filter(service_id__in=list(contacts)).delete()
    FleetContact.objects.bulk_create(
        [
            FleetContact(service_id=pk, **intake.contact_columns(entry))
            for pk, entries in contacts.items()
            for entry in entries
        ]
    )
    FleetService.objects.filter(pk__in=list(contacts)).update(contacts_set_at=now)


def _check(user) -> None:
    if not is_ec_team(user):
        raise NotAllowed("Only the EC team may change the contacts of fleet services.")
