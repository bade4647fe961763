"""Parsing what a requester types: service URLs and contacts. Shared by the form, the API and
the contact management on the request page.

User-supplied URLs are parsed, never fetched. Each problem names the line it was found on.
"""

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.urls import reverse

from upgrades import addresses, foundations
from upgrades.cloudfoundry import zone_lookup
from upgrades.models import ServiceUpgrade
from upgrades.workflow import ACTIVE_STATES

ZONE_ID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
_UNPRINTABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # control characters but \t \n \r
MAX_URL_LENGTH = 300  # https:// + a 36-character zone ID + a domain of up to 253, with room to spare


@dataclass(frozen=True)
class ParsedService:
    url: str
    zone_id: str
    domain: str
    foundation: str
    # What the requester chose for this service: its plan ("" = the request's), and the 0-based
    # index of another service of the same request whose confirmation it waits for.
    plan: str = ""
    after: int | None = None


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input; `link` points at what it conflicts with, if anything."""

    message: str
    link: str = ""

    def __str__(self) -> str:
        return f"{self.message} ({self.link})" if self.link else self.message


def split_entries(value: str | list) -> list[tuple[int, str]]:
    """(line number, entry) pairs from text with one entry per line or comma-separated entries.

    A list (from the API) counts each item as its own line and keeps any CR/LF inside an item, so
    header injection attempts are seen and refused rather than silently split.
    """
    if isinstance(value, list):
        return [(number, str(item).strip(" \t")) for number, item in enumerate(value, start=1)]
    entries = []
    for number, line in enumerate(value.splitlines(), start=1):
        for part in line.split(","):
            if part.strip():
                entries.append((number, part.strip()))
    return entries


def _parse_url(text: str, located: dict) -> tuple[ParsedService | None, str]:
    """A service from one URL (or a bare zone ID, found in `located`), or None and what is wrong."""
    if len(text) > MAX_URL_LENGTH:
        return None, f"too long for a service URL (at most {MAX_URL_LENGTH} characters)."
    if _CONTROL_CHARS.search(text) or " " in text:
        return None, "not a URL (it contains spaces or control characters)."
    if ZONE_ID_RE.match(text.lower()):
        return _located_zone(text.lower(), *located[text.lower()])
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return None, "not a valid URL."
    if not parts.scheme or not parts.netloc:
        return None, "not a URL; enter it as https://<zone-id>.<domain>."
    if parts.scheme.lower() != "https":
        return None, "the URL must start with https://."
    if parts.username is not None or parts.password is not None:
        return None, "the URL must not contain a user name or password."
    if port is not None:
        return None, "the URL must not contain a port."
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return None, "the URL must not have a path, query or fragment; enter just https://<zone-id>.<domain>."
    host = (parts.hostname or "").lower().rstrip(".")
    if _is_ip_literal(host):
        return None, "the host is an IP address; enter the service's https://<zone-id>.<domain> URL."
    zone_id, _, domain = host.partition(".")
    if not ZONE_ID_RE.match(zone_id):
        return None, f"the host must start with the zone ID (a GUID), not “{zone_id}”."
    foundation = foundations.for_domain(domain)
    if foundation is None:
        known = ", ".join(foundations.known_domains())
        return None, f"“{domain}” is not a known Cloud Foundry domain. Known domains: {known}."
    url = f"https://{zone_id}.{domain}"
    return ParsedService(url=url, zone_id=zone_id, domain=domain, foundation=foundation.slug), ""


def parse_url(text: str) -> tuple[ParsedService | None, str]:
    """One service URL (not a bare zone ID) by the form's rules: the service, or None and what is wrong."""
    return _parse_url(text, {})


def _located_zone(zone_id: str, found, looked: list[str]) -> tuple[ParsedService | None, str]:
    """A bare zone ID, as the lookup on the configured foundations found it (CF's API, never a URL
    the user gave)."""
    if found is None:
        where = ", ".join(looked) or "any configured foundation"
        message = f"zone ID {zone_id} was not found on {where}."
        if any(zone_lookup.UNANSWERED in entry for entry in looked):
            message += " Paste the full service URL (https://<zone-id>.<domain>) instead, or try again later."
        return None, message
    return ParsedService(url=found.url, zone_id=zone_id, domain=found.domain, foundation=found.foundation), ""


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def parse_service_urls(value: str | list) -> tuple[list[ParsedService], list[Problem]]:
    """The services named by `value`, and every problem found, each naming its line."""
    entries = split_entries(value)
    if not entries:
        return [], [Problem("Enter at least one service URL.")]
    limit = settings.MAX_SERVICES_PER_REQUEST
    if len(entries) > limit:
        return [], [Problem(f"A request may name at most {limit} services; this one names {len(entries)}.")]
    parsed: list[ParsedService] = []
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    # Bare zone IDs are looked up together: one deadline for the whole submission.
    bare = {text.lower() for _, text in entries if ZONE_ID_RE.match(text.lower())}
    located = zone_lookup.locate(sorted(bare)) if bare else {}
    for number, text in entries:
        service, error = _parse_url(text, located)
        if service is None:
            problems.append(Problem(f"Line {number}: {error}"))
        elif service.zone_id in seen:
            problems.append(Problem(f"Line {number}: duplicate of line {seen[service.zone_id]}."))
        else:
            seen[service.zone_id] = number
            parsed.append(service)
    problems.extend(active_conflicts(parsed, {s.zone_id: seen[s.zone_id] for s in parsed}))
    return parsed, problems


def check_order(names: list[str], after: list[int | None]) -> list[Problem]:
    """Problems with which service waits for which: `after[i]` is the index of the service that the
    one called `names[i]` waits for (or None). It must be another service of the list, and no
    services may wait for each other in a circle (none of them could ever start)."""
    problems = []
    for index, awaited in enumerate(after):
        if awaited is None:
            continue
        if not 0 <= awaited < len(names):
            problems.append(
                Problem(
                    f"{names[index]} waits for service {awaited}, but the services are numbered 0 to "
                    f"{len(names) - 1} (“after” counts from 0)."
                )
            )
        elif awaited == index:
            problems.append(Problem(f"{names[index]} cannot wait for itself."))
    if problems:
        return problems
    reported: set[int] = set()
    for start in range(len(after)):
        path, current = [], start
        while current is not None and current not in path:
            path.append(current)
            current = after[current]
        if current is not None and current not in reported:
            circle = path[path.index(current) :]
            reported.update(circle)
            chain = " → ".join(names[i] for i in [*circle, current])
            problems.append(Problem(f"These services wait for each other, so none could start: {chain}."))
    return problems


def zone_ids_in(value: str) -> list[tuple[str, str]]:
    """(zone ID, foundation display name or "") of each service named in `value` as far as the text
    alone tells: no zone ID is looked up and no URL fetched. For the form's per-service rows while
    someone types; entries that are not a service are left to the full parse."""
    entries = split_entries(value)
    if len(entries) > settings.MAX_SERVICES_PER_REQUEST:
        return []
    found: dict[str, str] = {}
    for _, text in entries:
        if ZONE_ID_RE.match(text.lower()):
            found.setdefault(text.lower(), "")
            continue
        service, _ = _parse_url(text, {})
        if service is not None:
            found.setdefault(service.zone_id, foundations.name_of(service.foundation))
    return list(found.items())


def active_conflicts(services: list[ParsedService], lines: dict[str, int]) -> list[Problem]:
    """A problem for each service that already has an upgrade under way."""
    active = ServiceUpgrade.objects.filter(
        zone_id__in=[s.zone_id for s in services], state__in=sorted(ACTIVE_STATES)
    ).values_list("zone_id", "request_id")
    return [
        Problem(
            f"Line {lines[zone_id]}: an upgrade of this service is already active (UR-{request_id}).",
            link=reverse("request-detail", args=[request_id]),
        )
        for zone_id, request_id in active
    ]


MAX_OTHER_CONTACT_LENGTH = 200  # the `Contact.other` column
# An address inside other words ("Dana <dana@acme.com>", "Teams: dana@acme.com"): a person meant it
# to be mailed, so it is refused with a hint rather than kept, unmailed, as other contact info.
_ADDRESS_INSIDE = re.compile(r"[^\s@<>()\[\],;:\"']+@[^\s@<>()\[\],;:\"']+\.[^\s@<>()\[\],;:\"']+")


def is_email_entry(text: str) -> bool:
    """The rule that decides what a contact entry is. An entry without spaces that has an @ after its
    first character is meant as an email address (and must be a valid one: "alice@" is a typo, never
    a chat handle); anything else ("@alice", "Slack: @alice", "+1 555 0100") is other contact info."""
    return "@" in text[1:] and not any(char.isspace() for char in text)


def contact_columns(entry: str) -> dict[str, str]:
    """The `Contact` columns for an entry `parse_contacts` accepted: its email or its other text."""
    return {"email": entry} if is_email_entry(entry) else {"other": entry}


def _contact_entries(value: str | list) -> list[tuple[int, str]]:
    """(line number, entry) pairs. In typed text each line is one contact, except that a line of
    email addresses alone may separate them with commas ("+1 555 0100 (Dana, on call)" stays whole)."""
    if isinstance(value, list):
        return split_entries(value)
    entries = []
    for number, line in enumerate(value.splitlines(), start=1):
        parts = [part.strip() for part in line.split(",") if part.strip()]
        whole = not all(is_email_entry(part) for part in parts)
        entries.extend([(number, line.strip())] if whole and line.strip() else [(number, p) for p in parts])
    return entries


def _read_contact(text: str) -> tuple[str, str]:
    """The contact an entry stands for (an address lower-cased, other text with its spaces tidied),
    and what is wrong with it ("" when nothing is)."""
    if not text:
        return "", "empty; enter an email address or other contact info, or remove the line."
    if is_email_entry(text) or _CONTROL_CHARS.search(text):
        refused = addresses.problem(text)
        if refused == "not a valid email address":
            return "", f"“{text[:100]}” is not a valid email address."
        return text.lower(), f"{refused}." if refused else ""
    other = " ".join(text.split())
    if len(other) > MAX_OTHER_CONTACT_LENGTH:
        return "", f"contact info may be at most {MAX_OTHER_CONTACT_LENGTH} characters; this is {len(other)}."
    if not other.isprintable():
        return "", "contact info may not contain invisible or control characters."
    inside = _ADDRESS_INSIDE.search(other)
    if inside:
        return "", (
            f"“{other[:100]}” has an email address inside other text; enter {inside.group()} "
            "on a line of its own to have it mailed."
        )
    return other, ""


def parse_contacts(value: str | list) -> tuple[list[str], list[Problem]]:
    """Contacts (addresses lower-cased, duplicates dropped, order kept) and the problems found.

    An entry meant as an email address (`is_email_entry`) is accepted only if the sender will mail it
    (`addresses.problem`); any other printable text of up to 200 characters is kept as other contact
    info, shown to the EC team and never mailed (`contact_columns` tells the two apart)."""
    entries = _contact_entries(value)
    limit = settings.MAX_CONTACTS_PER_REQUEST
    if len(entries) > limit:
        return [], [
            Problem(f"A request may have at most {limit} points of contact; this one has {len(entries)}.")
        ]
    contacts: list[str] = []
    seen: set[str] = set()
    problems: list[Problem] = []
    for number, text in entries:
        contact, refused = _read_contact(text)
        if refused:
            problems.append(Problem(f"Line {number}: {refused}"))
        elif contact.casefold() not in seen:
            seen.add(contact.casefold())
            contacts.append(contact)
    return contacts, problems


def check_notes(notes: str) -> list[Problem]:
    if _UNPRINTABLE.search(notes):
        return [Problem("Notes may hold line breaks and tabs, but no other control characters.")]
    limit = settings.MAX_NOTES_LENGTH
    if len(notes) > limit:
        return [Problem(f"Notes may be at most {limit:,} characters; these are {len(notes):,}.")]
    return []
