"""Organizations, spaces, domains, routes and route destinations."""

from __future__ import annotations

import re

from cfsim import presenters as p
from cfsim.errors import ApiError, not_found, unprocessable
from cfsim.http_util import (
    Request,
    Response,
    accepted_job,
    filter_by,
    filter_labels,
    no_content,
    ok,
    ordered,
    paginate,
)
from cfsim.lookups import apply_metadata, get_or_404, relationship_guid
from cfsim.state import Destination, Route, Store, new_guid, now_iso

_HOST = re.compile(r"^(\*|[A-Za-z0-9_-]+)$")


def list_organizations(req: Request, store: Store) -> Response:
    orgs = filter_by(
        req, ordered(store.organizations.values()), {"guids": lambda o: o.guid, "names": lambda o: o.name}
    )
    return paginate(req, orgs, lambda o: p.organization(req.base, o))


def get_organization(req: Request, store: Store, guid: str) -> Response:
    return ok(p.organization(req.base, get_or_404(store.organizations, guid, "Organization")))


def list_spaces(req: Request, store: Store) -> Response:
    spaces = filter_by(
        req,
        ordered(store.spaces.values()),
        {
            "guids": lambda s: s.guid,
            "names": lambda s: s.name,
            "organization_guids": lambda s: s.organization_guid,
        },
    )
    return paginate(req, spaces, lambda s: p.space(req.base, s))


def get_space(req: Request, store: Store, guid: str) -> Response:
    return ok(p.space(req.base, get_or_404(store.spaces, guid, "Space")))


def list_domains(req: Request, store: Store) -> Response:
    domains = ordered(store.domains.values())
    if (names := req.csv("names")) is not None:
        # CF matches domain names case-insensitively.
        wanted = {name.lower() for name in names}
        domains = [d for d in domains if d.name.lower() in wanted]
    domains = filter_by(req, domains, {"guids": lambda d: d.guid})
    return paginate(req, domains, lambda d: p.domain(req.base, d))


def get_domain(req: Request, store: Store, guid: str) -> Response:
    return ok(p.domain(req.base, get_or_404(store.domains, guid, "Domain")))


def list_routes(req: Request, store: Store) -> Response:
    routes = filter_by(
        req,
        ordered(store.routes.values()),
        {
            "guids": lambda r: r.guid,
            "hosts": lambda r: r.host,
            "paths": lambda r: r.path,
            "domain_guids": lambda r: r.domain_guid,
            "space_guids": lambda r: r.space_guid,
        },
    )
    if (app_guids := req.csv("app_guids")) is not None:
        routes = [r for r in routes if any(d.app_guid in app_guids for d in r.destinations)]
    routes = filter_labels(req, routes, lambda r: r.labels)
    return paginate(req, routes, lambda r: p.route(req.base, store, r))


def list_app_routes(req: Request, store: Store, app_guid: str) -> Response:
    get_or_404(store.apps, app_guid, "App")
    routes = [
        r for r in ordered(store.routes.values()) if any(d.app_guid == app_guid for d in r.destinations)
    ]
    return paginate(req, routes, lambda r: p.route(req.base, store, r))


def get_route(req: Request, store: Store, guid: str) -> Response:
    return ok(p.route(req.base, store, get_or_404(store.routes, guid, "Route")))


def create_route(req: Request, store: Store) -> Response:
    body = req.json()
    host, path = body.get("host", ""), body.get("path", "")
    domain = store.domains.get(relationship_guid(body, "domain") or "")
    if domain is None:
        raise unprocessable("Invalid domain. Ensure that the domain exists and you have access to it.")
    space_guid = relationship_guid(body, "space") or ""
    if space_guid not in store.spaces:
        raise unprocessable("Invalid space. Ensure that the space exists and you have access to it.")
    if not isinstance(host, str) or not isinstance(path, str):
        raise unprocessable("Host and path must be strings")
    if host and (len(host) > 63 or not _HOST.match(host)):
        raise unprocessable(
            'Host must be either "*" or contain only alphanumeric characters, "_", or "-"'
            " and be no longer than 63 characters"
        )
    for other in store.routes.values():
        if other.domain_guid == domain.guid and other.host.lower() == host.lower() and other.path == path:
            detail = f"Route already exists with host '{host}' for domain '{domain.name}'."
            if path:
                detail = (
                    f"Route already exists with host '{host}' and path '{path}' for domain '{domain.name}'."
                )
            raise unprocessable(detail)
    route = Route(guid=new_guid(), host=host, path=path, domain_guid=domain.guid, space_guid=space_guid)
    apply_metadata(body, route.labels, route.annotations)
    store.routes[route.guid] = route
    return ok(p.route(req.base, store, route), 201)


def update_route(req: Request, store: Store, guid: str) -> Response:
    route = get_or_404(store.routes, guid, "Route")
    apply_metadata(req.json(), route.labels, route.annotations)
    route.updated_at = now_iso()
    return ok(p.route(req.base, store, route))


def delete_route(req: Request, store: Store, guid: str) -> Response:
    get_or_404(store.routes, guid, "Route")
    job = store.new_job("route.delete", ("routes", guid))
    return accepted_job(req.base, job.guid)


def list_destinations(req: Request, store: Store, guid: str) -> Response:
    route = get_or_404(store.routes, guid, "Route")
    dests = filter_by(req, route.destinations, {"app_guids": lambda d: d.app_guid, "guids": lambda d: d.guid})
    return ok(p.destinations(req.base, route, dests))


def _requested_destinations(store: Store, route: Route, body: dict) -> list[Destination]:
    """Validate ``destinations`` of an insert/replace body and turn them into Destinations."""
    wanted = body.get("destinations")
    if not isinstance(wanted, list):
        raise unprocessable("Destinations must be an array")
    result = []
    for item in wanted:
        app_part = item.get("app") if isinstance(item, dict) else None
        app_guid = app_part.get("guid") if isinstance(app_part, dict) else None
        app = store.apps.get(app_guid or "")
        if app is None:
            raise unprocessable(f'App(s) with guid(s) "{app_guid}" do not exist or you do not have access.')
        if app.space_guid != route.space_guid:
            raise unprocessable(
                "Routes destinations must be in either the route's space or the route's shared spaces"
            )
        process_type = (app_part.get("process") or {}).get("type", "web")
        port = item.get("port") or 8080
        protocol = item.get("protocol") or "http1"
        result.append(Destination(new_guid(), app.guid, process_type, port, protocol))
    return result


def _same_target(a: Destination, b: Destination) -> bool:
    return (a.app_guid, a.process_type, a.port) == (b.app_guid, b.process_type, b.port)


def insert_destinations(req: Request, store: Store, guid: str) -> Response:
    route = get_or_404(store.routes, guid, "Route")
    before = list(route.destinations)
    for dest in _requested_destinations(store, route, req.json()):
        # Re-inserting an existing mapping is a no-op in CF, so retries never duplicate it.
        if not any(_same_target(dest, existing) for existing in route.destinations):
            route.destinations.append(dest)
    if len(route.destinations) > 100:
        raise unprocessable("Routes can be mapped to at most 100 destinations.")
    store.destinations_changed(route, before)
    route.updated_at = now_iso()
    return ok(p.destinations(req.base, route, route.destinations))


def replace_destinations(req: Request, store: Store, guid: str) -> Response:
    route = get_or_404(store.routes, guid, "Route")
    replacement = []
    for dest in _requested_destinations(store, route, req.json()):
        kept = next((d for d in route.destinations if _same_target(d, dest)), None)
        replacement.append(kept or dest)
    before, route.destinations = route.destinations, replacement
    store.destinations_changed(route, before)
    route.updated_at = now_iso()
    return ok(p.destinations(req.base, route, route.destinations))


def remove_destination(req: Request, store: Store, guid: str, destination_guid: str) -> Response:
    route = store.routes.get(guid)
    if route is None:
        raise not_found("Route")
    remaining = [d for d in route.destinations if d.guid != destination_guid]
    if len(remaining) == len(route.destinations):
        raise ApiError(
            "CF-UnprocessableEntity",
            "Unable to unmap route from destination. Ensure the route has a destination with this guid.",
        )
    before, route.destinations = route.destinations, remaining
    store.destinations_changed(route, before)
    route.updated_at = now_iso()
    return no_content()


ROUTES = [
    ("GET", r"/v3/organizations", list_organizations),
    ("GET", r"/v3/organizations/([^/]+)", get_organization),
    ("GET", r"/v3/spaces", list_spaces),
    ("GET", r"/v3/spaces/([^/]+)", get_space),
    ("GET", r"/v3/domains", list_domains),
    ("GET", r"/v3/domains/([^/]+)", get_domain),
    ("GET", r"/v3/routes", list_routes),
    ("POST", r"/v3/routes", create_route),
    ("GET", r"/v3/routes/([^/]+)", get_route),
    ("PATCH", r"/v3/routes/([^/]+)", update_route),
    ("DELETE", r"/v3/routes/([^/]+)", delete_route),
    ("GET", r"/v3/apps/([^/]+)/routes", list_app_routes),
    ("GET", r"/v3/routes/([^/]+)/destinations", list_destinations),
    ("POST", r"/v3/routes/([^/]+)/destinations", insert_destinations),
    ("PATCH", r"/v3/routes/([^/]+)/destinations", replace_destinations),
    ("DELETE", r"/v3/routes/([^/]+)/destinations/([^/]+)", remove_destination),
]
