"""Find where a bare zone ID lives: ask each configured foundation's CF for the service instance and
its route `<zone-id>.<domain>`. Used at intake when a user has only `cf service <name> --guid`."""

from dataclasses import dataclass

from upgrades import foundations
from upgrades.cloudfoundry import CFError, NotFound
from upgrades.steps.base import client_for


@dataclass(frozen=True)
class Located:
    url: str
    domain: str
    foundation: str


def locate(zone_id: str) -> tuple[Located | None, list[str]]:
    """The service URL of `zone_id`, or None; and the foundations looked at (with why not there)."""
    looked: list[str] = []
    for foundation in foundations.all_foundations():
        cf = client_for(foundation)
        try:
            cf.get_service_instance(zone_id)
        except NotFound:
            looked.append(foundation.name)
            continue
        except CFError:
            looked.append(f"{foundation.name} (unreachable)")
            continue
        for domain in foundation.domains:
            try:
                route = cf.find_route(zone_id, cf.get_domain_by_name(domain).guid)
            except CFError:
                continue
            if route is not None:
                return Located(f"https://{zone_id}.{domain}", domain, foundation.slug), looked
        looked.append(f"{foundation.name} (service found, but no route {zone_id}.<domain>)")
    return None, looked
