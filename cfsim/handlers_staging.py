"""Packages (docker and copies), builds (staging) and droplets."""

from __future__ import annotations

import time

from cfsim import presenters_staging as p
from cfsim.errors import ApiError, not_found, unprocessable
from cfsim.http_util import Request, Response, filter_by, filter_labels, ok, ordered, paginate
from cfsim.lookups import apply_metadata, get_or_404, relationship_guid
from cfsim.state import Build, Package, Store, new_guid


def _target_app(store: Store, body: dict):
    app = store.apps.get(relationship_guid(body, "app") or "")
    if app is None:
        raise unprocessable("App is invalid. Ensure it exists and you have access to it.")
    return app


def create_package(req: Request, store: Store) -> Response:
    body = req.json()
    app = _target_app(store, body)
    if (source_guid := req.query.get("source_guid")) is not None:
        source = store.packages.get(source_guid)
        if source is None:
            raise unprocessable("Source package is invalid. Ensure it exists and you have access to it.")
        package = Package(guid=new_guid(), app_guid=app.guid, type=source.type, image=source.image)
        # A copy answers COPYING and is READY at the next look, like a quick blobstore copy.
        package.state, package.ready_at = "COPYING", time.monotonic()
    else:
        kind = body.get("type")
        if kind not in ("docker", "bits"):
            raise unprocessable("Type must be one of 'bits', 'docker'")
        image = (body.get("data") or {}).get("image")
        if kind == "docker" and not image:
            raise unprocessable("Image required")
        package = Package(guid=new_guid(), app_guid=app.guid, type=kind, image=image)
        package.state = "READY" if kind == "docker" else "AWAITING_UPLOAD"
    apply_metadata(body, package.labels, package.annotations)
    store.packages[package.guid] = package
    return ok(p.package(req.base, package), 201)


def get_package(req: Request, store: Store, guid: str) -> Response:
    return ok(p.package(req.base, get_or_404(store.packages, guid, "Package")))


def _package_filters(store: Store) -> dict:
    def space(pk: Package) -> str | None:
        app = store.apps.get(pk.app_guid)
        return app.space_guid if app else None

    return {
        "guids": lambda pk: pk.guid,
        "states": lambda pk: pk.state,
        "types": lambda pk: pk.type,
        "app_guids": lambda pk: pk.app_guid,
        "space_guids": space,
    }


def list_packages(req: Request, store: Store) -> Response:
    packages = filter_by(req, ordered(store.packages.values(), req), _package_filters(store))
    packages = filter_labels(req, packages, lambda pk: pk.labels)
    return paginate(req, packages, lambda pk: p.package(req.base, pk))


def list_app_packages(req: Request, store: Store, guid: str) -> Response:
    get_or_404(store.apps, guid, "App")
    packages = [pk for pk in ordered(store.packages.values(), req) if pk.app_guid == guid]
    filters = {k: v for k, v in _package_filters(store).items() if k in ("guids", "states", "types")}
    return paginate(req, filter_by(req, packages, filters), lambda pk: p.package(req.base, pk))


def create_build(req: Request, store: Store) -> Response:
    body = req.json()
    package = store.packages.get((body.get("package") or {}).get("guid") or "")
    if package is None:
        raise unprocessable(
            "Unable to use package. Ensure that the package exists and you have access to it."
        )
    if package.state != "READY":
        raise unprocessable("Unable to stage package: package state is not READY.")
    if any(b.app_guid == package.app_guid and b.state == "STAGING" for b in store.builds.values()):
        raise ApiError("CF-StagingInProgress", "Only one build can be STAGING at a time per application.")
    build = Build(
        guid=new_guid(),
        app_guid=package.app_guid,
        package_guid=package.guid,
        ready_at=time.monotonic() + store.config.staging_delay,
    )
    apply_metadata(body, build.labels, {})
    store.add_build(build)
    if store.config.staging_delay <= 0:
        store.advance()
    return ok(p.build(req.base, build), 201)


def get_build(req: Request, store: Store, guid: str) -> Response:
    return ok(p.build(req.base, get_or_404(store.builds, guid, "Build")))


def list_builds(req: Request, store: Store) -> Response:
    builds = filter_by(
        req,
        ordered(store.builds.values(), req),
        {
            "app_guids": lambda b: b.app_guid,
            "states": lambda b: b.state,
            "package_guids": lambda b: b.package_guid,
        },
    )
    builds = filter_labels(req, builds, lambda b: b.labels)
    return paginate(req, builds, lambda b: p.build(req.base, b))


def list_droplets(req: Request, store: Store) -> Response:
    droplets = filter_by(
        req,
        ordered(store.droplets.values()),
        {"guids": lambda d: d.guid, "app_guids": lambda d: d.app_guid, "states": lambda d: d.state},
    )
    return paginate(req, droplets, lambda d: p.droplet(req.base, d))


def get_droplet(req: Request, store: Store, guid: str) -> Response:
    return ok(p.droplet(req.base, get_or_404(store.droplets, guid, "Droplet")))


def current_droplet(req: Request, store: Store, guid: str) -> Response:
    app = get_or_404(store.apps, guid, "App")
    droplet = store.droplets.get(app.droplet_guid or "")
    if droplet is None:
        raise not_found("Droplet")
    return ok(p.droplet(req.base, droplet))


def _droplet_relationship(req: Request, guid: str, droplet_guid: str | None) -> dict:
    return {
        "data": {"guid": droplet_guid} if droplet_guid else None,
        "links": {
            "self": {"href": f"{req.base}/v3/apps/{guid}/relationships/current_droplet"},
            "related": {"href": f"{req.base}/v3/apps/{guid}/droplets/current"},
        },
    }


def set_current_droplet(req: Request, store: Store, guid: str) -> Response:
    app = get_or_404(store.apps, guid, "App")
    droplet_guid = (req.json().get("data") or {}).get("guid")
    droplet = store.droplets.get(droplet_guid or "")
    if droplet is None or droplet.app_guid != app.guid or droplet.state != "STAGED":
        raise unprocessable(
            "Unable to assign current droplet. Ensure the droplet exists and belongs to this app."
        )
    app.droplet_guid = droplet.guid
    return ok(_droplet_relationship(req, guid, droplet.guid))


def get_current_droplet_relationship(req: Request, store: Store, guid: str) -> Response:
    app = get_or_404(store.apps, guid, "App")
    return ok(_droplet_relationship(req, guid, app.droplet_guid))


ROUTES = [
    ("GET", r"/v3/packages", list_packages),
    ("POST", r"/v3/packages", create_package),
    ("GET", r"/v3/packages/([^/]+)", get_package),
    ("GET", r"/v3/apps/([^/]+)/packages", list_app_packages),
    ("POST", r"/v3/builds", create_build),
    ("GET", r"/v3/builds", list_builds),
    ("GET", r"/v3/builds/([^/]+)", get_build),
    ("GET", r"/v3/droplets", list_droplets),
    ("GET", r"/v3/droplets/([^/]+)", get_droplet),
    ("GET", r"/v3/apps/([^/]+)/droplets/current", current_droplet),
    ("PATCH", r"/v3/apps/([^/]+)/relationships/current_droplet", set_current_droplet),
    ("GET", r"/v3/apps/([^/]+)/relationships/current_droplet", get_current_droplet_relationship),
]
