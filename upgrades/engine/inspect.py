"""Inspect (read-only): does the service stand on its foundation as an upgrade needs it?

Resolve the domain, the original route `<zone-id>.<domain>`, its one destination app (STARTED, every
instance running) and the service instance whose GUID is the zone ID (its name is the EC service's).
"""

from dataclasses import dataclass

from django.template.defaultfilters import pluralize

from upgrades.cloudfoundry import CFClient, NotFound
from upgrades.cloudfoundry.types import Process, ProcessStats
from upgrades.engine.context import StepFailed
from upgrades.foundations import Foundation


@dataclass(frozen=True)
class Standing:
    """What inspection found, in the field names the service row records them under."""

    name: str  # the service instance's name, which people know the EC service by
    domain_guid: str
    original_route_guid: str
    space_guid: str
    blue_app_guid: str
    blue_app_name: str
    blue_release: str  # the release blue runs (its image's tag, e.g. `sendai.120`), "" if unknown
    instances_running: int
    instances_desired: int

    def as_facts(self) -> dict:
        return dict(self.__dict__)


def inspect(cf: CFClient, foundation: Foundation, zone_id: str, domain: str) -> Standing:
    """Raise StepFailed with a plain-words reason, or return what stands."""
    try:
        domain_guid = cf.get_domain_by_name(domain).guid
    except NotFound:
        raise StepFailed(f"Domain {domain} not found on {foundation.name}.") from None
    route = cf.find_route(zone_id, domain_guid)
    if route is None:
        raise StepFailed(f"Route not found on {foundation.name}: {zone_id}.{domain}.")
    try:
        instance = cf.get_service_instance(zone_id)
    except NotFound:
        raise StepFailed(
            f"Service instance {zone_id} not found on {foundation.name}, "
            "or not visible to the portal's CF account."
        ) from None
    if instance.last_operation_state == "in progress":
        raise StepFailed(
            f"The service instance has an operation in progress ({instance.last_operation_type})."
        )
    app_guids = sorted({d.app_guid for d in route.destinations})
    if not app_guids:
        raise StepFailed("No app is mapped to the route, so the service does not answer now.")
    if len(app_guids) > 1:
        raise StepFailed("Two apps are mapped to the route: an earlier upgrade looks half done.")
    app = cf.get_app(app_guids[0])
    if app.state != "STARTED":
        raise StepFailed(f"The app {app.name} behind the route is stopped.")
    running, stats = running_instances(cf, app.guid)
    if running == 0 or running < len(stats):
        raise StepFailed(
            f"Only {running} of {len(stats)} instance{pluralize(len(stats))} of {app.name} running."
        )
    return Standing(
        name=instance.name[:255],
        domain_guid=domain_guid,
        original_route_guid=route.guid,
        space_guid=route.space_guid or app.space_guid or "",
        blue_app_guid=app.guid,
        blue_app_name=app.name,
        blue_release=release_of(cf, app.guid),
        instances_running=running,
        instances_desired=len(stats),
    )


def release_of(cf: CFClient, app_guid: str) -> str:
    """The release an EC app runs: the tag of its current droplet's docker image (`…:sendai.120`),
    or "" when it has no droplet or its image has no tag."""
    try:
        image = cf.get_current_droplet(app_guid).image or ""
    except NotFound:
        return ""
    return image.rpartition(":")[2] if ":" in image else ""


def running_instances(cf: CFClient, app_guid: str, process_guid: str = "") -> tuple[int, list[ProcessStats]]:
    """How many instances of the app's web process run and are routable, and all of them: the one
    count every rule about instances uses (stricter than the CLI's "any instance running").
    `process_guid`: that process's GUID when it is known, which saves looking it up."""
    stats = cf.get_process_stats(process_guid or web_process(cf, app_guid).guid)
    return sum(1 for i in stats if i.state == "RUNNING" and i.routable is not False), stats


def web_process(cf: CFClient, app_guid: str) -> Process:
    """The app's `web` process (its GUID usually equals the app's, but older apps differ)."""
    for process in cf.list_app_processes(app_guid):
        if process.type == "web":
            return process
    raise StepFailed("The app has no web process.")
