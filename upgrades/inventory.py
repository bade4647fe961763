"""The fleet inventory: every EC service on every configured foundation, as CF shows it.

A sync of one foundation reads, in large pages and batches of GUIDs (a few calls per hundred
services, not a few per service):
1. the routes on the foundation's EC domains whose host is a zone ID (the EC services' URLs);
2. the apps on those routes, their web processes (instances) and current droplets (the image, and
   so the release);
3. the service instances whose GUID is the zone ID (the EC service's name).

Then it writes what changed: new services, services gone (kept, with `gone_at`), services back, and
release changes, each recorded as a FleetChange. History is never deleted.
"""

import logging
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from upgrades import foundations
from upgrades.cloudfoundry import CFError
from upgrades.cloudfoundry.factory import client_for
from upgrades.intake import ZONE_ID_RE
from upgrades.models import FleetChange, FleetService, FleetSync, Release

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Found:
    """One EC service as CF shows it now."""

    zone_id: str
    domain: str
    name: str
    app_guid: str
    app_name: str
    image: str
    release: str
    instances: int


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


FIELDS = ("foundation", "domain", "name", "app_guid", "app_name", "image", "release", "instances")


def record_found(foundation: str, found: list[Found]) -> int:
    """Write what a sync found for `foundation`; the number of changes recorded."""
    now = timezone.now()
    changes: list[FleetChange] = []

    def change(service: FleetService, kind: FleetChange.Kind, old: str = "", new: str = "") -> None:
        changes.append(FleetChange(service=service, kind=kind, old_release=old, new_release=new, at=now))

    with transaction.atomic():
        mine = FleetService.objects.select_for_update().filter(foundation=foundation)
        known = {service.zone_id: service for service in mine}
        # A service that moved here from another foundation is found under its zone ID.
        moved = [item.zone_id for item in found if item.zone_id not in known]
        known |= {s.zone_id: s for s in FleetService.objects.select_for_update().filter(zone_id__in=moved)}
        created, seen = [], []
        for item in found:
            values = {"foundation": foundation} | {field: getattr(item, field) for field in FIELDS[1:]}
            service = known.pop(item.zone_id, None)
            if service is None:
                service = FleetService(zone_id=item.zone_id, first_seen_at=now, last_seen_at=now, **values)
                created.append(service)
                change(service, FleetChange.Kind.APPEARED, new=item.release)
                continue
            if service.gone_at is not None:
                change(service, FleetChange.Kind.APPEARED, new=item.release)
            elif service.release != item.release:
                change(service, FleetChange.Kind.RELEASE, old=service.release, new=item.release)
            for field, value in values.items():
                setattr(service, field, value)
            service.last_seen_at, service.gone_at = now, None
            seen.append(service)
        gone = [s for s in known.values() if s.foundation == foundation and s.gone_at is None]
        for service in gone:
            service.gone_at = now
            change(service, FleetChange.Kind.DISAPPEARED, old=service.release)
        FleetService.objects.bulk_create(created, batch_size=1000)
        FleetService.objects.bulk_update(seen + gone, [*FIELDS, "last_seen_at", "gone_at"], batch_size=1000)
        FleetChange.objects.bulk_create(changes, batch_size=1000)
    return len(changes)
