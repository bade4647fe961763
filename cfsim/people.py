"""The people of a foundation: UAA users (who sign in) and the roles that let them see spaces."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


def _now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass
class Person:
    """A UAA user as CF knows it: its GUID is the user's ID in UAA and CC alike."""

    guid: str
    username: str
    email: str
    groups: list[str] = field(default_factory=list)  # UAA groups, which are the scopes it may get
    given_name: str = ""
    family_name: str = ""
    email_verified: bool = True  # whether UAA has confirmed the address (its userinfo says so)
    created_at: str = field(default_factory=_now_iso)


@dataclass
class Role:
    """A space role (space_developer, space_manager, ...) or an organization role of a user."""

    guid: str
    type: str
    user_guid: str
    space_guid: str | None = None
    organization_guid: str | None = None
    created_at: str = field(default_factory=_now_iso)
