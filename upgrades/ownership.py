"""Only the people who own a service file for it: someone signed in through UAA may file for a service
only if their own CF access token sees its service instance (the zone ID) on the service's foundation,
as `cf service` would for them. The space's managers, where CF names them by an email address, are
offered as points of contact.

Pages and the API call `confirm` once their input is parsed (never from a form or serializer: it
calls CF), and file the request with the contacts it returns.

This runs inside a web request: each call is tried once, bounded by CF_WEB_TIMEOUT seconds, and the
whole check stops after that long, reporting the services it could not check.
"""

import time
from dataclasses import dataclass, field

from django.conf import settings

from upgrades import foundations, intake
from upgrades.cloudfoundry.errors import CFError, NotFound, Unauthorized
from upgrades.cloudfoundry.factory import quick_client_for
from upgrades.notifications.reach import ec_team_contact


@dataclass
class Verdict:
    problems: list[intake.Problem] = field(default_factory=list)
    managers: list[str] = field(default_factory=list)  # email addresses of the spaces' managers


class NotYours(Exception):
    """Some services are not the requester's, or could not be checked: one problem each."""

    def __init__(self, problems: list[intake.Problem]):
        super().__init__("; ".join(str(problem) for problem in problems))
        self.problems = problems


def confirm(
    *, services: list[intake.ParsedService], contacts: list[str], owner_token: str | None
) -> list[str]:
    """The contacts to file with: ``contacts``, then the managers of the services' spaces not among
    them, at most MAX_CONTACTS_PER_REQUEST. ``owner_token`` is the requester's CF access token when
    they may file only for their own services ("" if they have none), None when anyone's services may
    be named (then nothing is checked and ``contacts`` come back as they are). Raises NotYours."""
    if owner_token is None:
        return contacts
    verdict = check(services, owner_token)
    if verdict.problems:
        raise NotYours(verdict.problems)
    offered = [manager for manager in verdict.managers if manager not in contacts]
    return (contacts + offered)[: settings.MAX_CONTACTS_PER_REQUEST]


def api_token_refusal() -> str:
    """Why a UAA account cannot file with an API token: the token carries no CF access token, so whose
    the services are cannot be checked. A browser sign-in through UAA has one; the EC team needs none."""
    return (
        "Your account signs in through UAA, and an API token carries no Cloud Foundry access to check "
        "which services are yours, so requests cannot be filed with it. Sign in through UAA in the "
        f"browser and file the request there, or ask the {_ec_team()} to file it for you."
    )


def whom_to_ask() -> str:
    return f"the people who manage its space in Cloud Foundry, or the {_ec_team()}"


def _ec_team() -> str:
    """The EC team's name and how to reach them, as configured: "EC team (ec@example.com, ...)"."""
    team = ec_team_contact()
    ways = ", ".join(part for part in (team.email, team.chat_url, *team.people) if part)
    return f"{team.name} ({ways})" if ways else team.name


def check(services: list[intake.ParsedService], access_token: str) -> Verdict:
    """Whether the token's user sees every service; a problem per service they do not (or that could
    not be checked), and the managers of the spaces they do."""
    verdict = Verdict()
    if not access_token:
        verdict.problems.append(
            intake.Problem(
                "Your sign-in through UAA has no Cloud Foundry access to check which services are yours; "
                "sign out and sign in through UAA again."
            )
        )
        return verdict
    deadline = time.monotonic() + settings.CF_WEB_TIMEOUT
    for number, service in enumerate(services, start=1):
        if time.monotonic() > deadline:
            why = f"whether {service.zone_id} is yours could not be checked in time; try again."
            verdict.problems.append(intake.Problem(f"Line {number}: {why}"))
            continue
        problem, managers = _check_one(service, access_token)
        if problem:
            verdict.problems.append(intake.Problem(f"Line {number}: {problem}"))
        verdict.managers.extend(m for m in managers if m not in verdict.managers)
    return verdict


def _check_one(service: intake.ParsedService, access_token: str) -> tuple[str, list[str]]:
    foundation = foundations.by_slug(service.foundation)
    if foundation is None:
        return "", []
    cf = quick_client_for(foundation, access_token=access_token)
    try:
        instance = cf.get_service_instance(service.zone_id)
    except NotFound:
        return (
            f"the service {service.zone_id} on {foundation.name} is not yours: your Cloud Foundry user "
            f"cannot see it. To upgrade it, ask {whom_to_ask()}.",
            [],
        )
    except Unauthorized:
        return f"{foundation.name} did not accept your UAA sign-in; sign out and sign in again.", []
    except CFError:
        why = f"whether {service.zone_id} is yours could not be checked: {foundation.name} did not answer"
        return f"{why}; try again.", []
    try:
        names = cf.space_manager_names(instance.space_guid) if instance.space_guid else []
    except CFError:
        names = []  # the managers are an offer; the service is theirs all the same
    return "", [name.lower() for name in names if intake.is_email_entry(name)]
