"""The fleet inventory: every EC service on every configured foundation, as CF shows it.

A sync of one foundation reads, in large pages and batches of GUIDs (a few calls per hundred
services, not a few per service):
1. the routes on the foundation's EC domains whose host is a zone ID (the EC services' URLs);
2. the apps on those routes, their web processes (instances) and current droplets (the image, and
   so the release);
3. the service instances whose GUID is the zone ID (the EC service's name).

Then it writes what changed (`fleet_records.record_found`): new services, services gone (kept, with
`gone_at`), services back, and release changes, each recorded as a FleetChange. History is never
deleted.
"""

import logging

from django.utils import timezone

from upgrades import foundations
from upgrades.cloudfoundry import CFError
from upgrades.cloudfoundry.factory import client_for
from upgrades.fleet_records import Found, record_found
from upgrades.intake import ZONE_ID_RE
from upgrades.models import FleetSync, Release

log = logging.getLogger(__name__)


def sync_all() -> list[FleetSync]:
    """Sync every configured foundation, one after another; a failing one does not stop the rest."""
    return [sync(foundation) for foundation in foundations.all_foundations()]


def sync(foundation: foundations.Foundation) -> FleetSync:
    record = FleetSync.objects.create(foundation=foundation.slug, started_at=timezone.now())
    calls = 0

    def count(_call) -> None:
        nonlocal calls
        calls += 1

    client = client_for(foundation, on_call=count)
    try:
        found = read(client, foundation)
    except CFError as error:
        record.error = f"Cloud Foundry did not answer as expected: {error}"
        log.warning("fleet sync of %s failed: %s", foundation.slug, error)
    else:
        record.services = len(found)
        record.changes = record_found(foundation.slug, found)
    finally:
        client.on_call = None
    record.cf_calls = calls
    record.finished_at = timezone.now()
    record.save()
    return record


def read(client, foundation: foundations.Foundation) -> list[Found]:
    """What CF shows of the foundation's EC services now."""
    domains = {client.get_domain_by_name(name).guid: name for name in foundation.domains}
    routes = [
        route
        for route in client.list_routes(domain_guids=list(domains))
        if not route.path and ZONE_ID_RE.match(route.host) and route.destinations
    ]
    app_guids = {route.destinations[0].app_guid for route in routes}
    apps = {app.guid: app for app in client.list_apps_by_guid(app_guids)}
    instances = {p.app_guid: p.instances for p in client.list_web_processes(app_guids)}
    droplet_guids = {app.droplet_guid for app in apps.values() if app.droplet_guid}
    images = {d.guid: d.image or "" for d in client.list_droplets(droplet_guids)}
    names = {si.guid: si.name for si in client.list_service_instances(r.host for r in routes)}
    releases = dict(Release.objects.values_list("docker_image", "name"))
    found = []
    for route in routes:
        app = apps.get(route.destinations[0].app_guid)
        if app is None:
            continue
        image = images.get(app.droplet_guid or "", "")
        found.append(
            Found(
                zone_id=route.host,
                domain=domains[route.domain_guid],
                name=names.get(route.host, ""),
                app_guid=app.guid,
                app_name=app.name,
                image=image,
                release=releases.get(image) or release_of(image),
                instances=instances.get(app.guid, 0),
            )
        )
    return found


def release_of(image: str) -> str:
    """The release an image holds where the EC team has not configured it: its tag."""
    tag = image.rsplit("/", 1)[-1].partition(":")[2]
    return tag[:64]
