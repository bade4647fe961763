"""How people reach the EC team with questions, from the environment (EC_TEAM_* settings).

Shown in every mail's footer and, through the pages' context processor, on the new-request form and
the request page, from one shared template (`templates/_ec_team.html`, `templates/emails/_ec_team.*`).
"""

from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class TeamContact:
    name: str
    email: str
    chat_url: str
    people: tuple[str, ...]


def ec_team_contact() -> TeamContact:
    """The configured ways to reach the EC team; a chat link that is not http(s) is left out, so a
    setting can never put a `javascript:` link on a page or in a mail."""
    chat = settings.EC_TEAM_CHAT_URL.strip()
    return TeamContact(
        name=settings.EC_TEAM_NAME.strip() or "EC team",
        email=settings.EC_TEAM_CONTACT_EMAIL.strip(),
        chat_url=chat if chat.startswith(("https://", "http://")) else "",
        people=tuple(p.strip() for p in settings.EC_TEAM_PEOPLE if p.strip()),
    )
