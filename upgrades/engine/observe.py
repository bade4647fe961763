"""What CF shows now, read after a step failed, for the EC team to compare with what the step expected
(shown on the request page). Read-only; a service that moved on meanwhile keeps nothing."""

from django.utils import timezone

from upgrades import actions, foundations
from upgrades.cloudfoundry import CFClient, CFError
from upgrades.cloudfoundry.factory import client_for
from upgrades.engine.context import found
from upgrades.engine.inspect import running_instances
from upgrades.models import ServiceUpgrade
from upgrades.workflow import FAILED_STATES


def observe(service_id: int) -> bool:
    service = ServiceUpgrade.objects.filter(pk=service_id, state__in=sorted(FAILED_STATES)).first()
    foundation = foundations.by_slug(service.foundation) if service else None
    if service is None or foundation is None:
        return False
    try:
        facts = _facts(client_for(foundation), service)
    except CFError as error:
        facts = {"error": f"CF did not answer as expected: {error}"}
    facts["at"] = timezone.now().isoformat()
    return actions.record_observation(service_id=service_id, facts=facts)


def _facts(cf: CFClient, service: ServiceUpgrade) -> dict:
    names = {service.blue_app_guid: "old", service.green_app_guid: "new"}
    serving = []
    if service.original_route_guid:
        for destination in cf.list_destinations(service.original_route_guid):
            serving.append(names.get(destination.app_guid, "another app"))
    apps = {}
    for role, guid in (("old", service.blue_app_guid), ("new", service.green_app_guid)):
        app = found(cf.get_app, guid) if guid else None
        if app is None:
            apps[role] = "absent"
            continue
        running, stats = running_instances(cf, guid) if app.state == "STARTED" else (0, [])
        # "STARTED" alone means every instance runs, as the steps require.
        short = stats and running < len(stats)
        apps[role] = app.state + (f" ({running} of {len(stats)} running)" if short else "")
    temporary = bool(service.temp_route_guid and found(cf.get_route, service.temp_route_guid))
    return {
        "serving": sorted(serving),
        "old": apps["old"],
        "new": apps["new"],
        "temporary_route": "present" if temporary else "absent",
    }
