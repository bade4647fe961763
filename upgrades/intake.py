"""Parsing what a requester types: service URLs and contacts. Shared by the form and the API.

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


def parse_contacts(value: str | list) -> tuple[list[str], list[Problem]]:
    """Contact emails (lower-cased, duplicates dropped, order kept) and the problems found. An address
    is accepted only if the sender will mail it (`addresses.problem`)."""
    entries = split_entries(value)
    limit = settings.MAX_CONTACTS_PER_REQUEST
    if len(entries) > limit:
        return [], [
            Problem(f"A request may have at most {limit} points of contact; this one has {len(entries)}.")
        ]
    emails: list[str] = []
    problems: list[Problem] = []
    for number, text in entries:
        refused = addresses.problem(text)
        if refused == "not a valid email address":
            problems.append(Problem(f"Line {number}: “{text[:100]}” is not a valid email address."))
        elif refused:
            problems.append(Problem(f"Line {number}: {refused}."))
        elif text.lower() not in emails:
            emails.append(text.lower())
    return emails, problems


def check_notes(notes: str) -> list[Problem]:
    if _UNPRINTABLE.search(notes):
        return [Problem("Notes may hold line breaks and tabs, but no other control characters.")]
    limit = settings.MAX_NOTES_LENGTH
    if len(notes) > limit:
        return [Problem(f"Notes may be at most {limit:,} characters; these are {len(notes):,}.")]
    return []
