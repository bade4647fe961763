"""Who sees what: a user's token sees the resources of the spaces it has a role in (and of every space
of an organization it manages); an admin's or a client's token sees everything. ``GET /v3/roles``.
"""

from __future__ import annotations

from cfsim import presenters as p
from cfsim.http_util import Request, Response, filter_by, ordered, paginate
from cfsim.people import Person, Role
from cfsim.state import Store, Token

ADMIN_SCOPES = {
    "cloud_controller.admin",
    "cloud_controller.admin_read_only",
    "cloud_controller.global_auditor",
}
SPACE_ROLES = {"space_developer", "space_manager", "space_auditor", "space_supporter"}


def visible_spaces(store: Store, token: Token | None) -> set[str] | None:
    """The GUIDs of the spaces ``token`` may see, or None for all of them. Call with the lock held."""
    if token is None or not token.user or ADMIN_SCOPES & set(token.scope.split()):
        return None
    person = store.people.get(token.subject)
    if person is None:
        return set()
    spaces = set()
    for role in store.roles.values():
        if role.user_guid != person.guid:
            continue
        if role.type in SPACE_ROLES and role.space_guid:
            spaces.add(role.space_guid)
        elif role.type == "organization_manager":
            spaces |= {s.guid for s in store.spaces.values() if s.organization_guid == role.organization_guid}
    return spaces


def _user(base: str, person: Person) -> dict:
    return {
        "guid": person.guid,
        "created_at": person.created_at,
        "updated_at": person.created_at,
        "username": person.username,
        "presentation_name": person.username,
        "origin": "uaa",
        "metadata": {"labels": {}, "annotations": {}},
        "links": {"self": p.link(base, f"/v3/users/{person.guid}")},
    }


def _role(base: str, role: Role) -> dict:
    links = {
        "self": p.link(base, f"/v3/roles/{role.guid}"),
        "user": p.link(base, f"/v3/users/{role.user_guid}"),
    }
    if role.space_guid:
        links["space"] = p.link(base, f"/v3/spaces/{role.space_guid}")
    if role.organization_guid:
        links["organization"] = p.link(base, f"/v3/organizations/{role.organization_guid}")
    return {
        "guid": role.guid,
        "created_at": role.created_at,
        "updated_at": role.created_at,
        "type": role.type,
        "relationships": {
            "user": p.rel(role.user_guid),
            "space": p.rel(role.space_guid) if role.space_guid else {"data": None},
            "organization": p.rel(role.organization_guid) if role.organization_guid else {"data": None},
        },
        "links": links,
    }


def list_roles(req: Request, store: Store) -> Response:
    people = {person.guid: person for person in store.people.values()}
    roles = filter_by(
        req,
        ordered(store.roles.values(), req),
        {
            "guids": lambda r: r.guid,
            "types": lambda r: r.type,
            "space_guids": lambda r: r.space_guid,
            "organization_guids": lambda r: r.organization_guid,
            "user_guids": lambda r: r.user_guid,
        },
    )
    response = paginate(req, roles, lambda r: _role(req.base, r))
    if "user" in (req.csv("include") or []):
        shown = {resource["relationships"]["user"]["data"]["guid"] for resource in response.body["resources"]}
        response.body["included"] = {
            "users": [_user(req.base, people[g]) for g in sorted(shown) if g in people]
        }
    return response


ROUTES = [("GET", r"/v3/roles", list_roles)]
