"""Find where a bare zone ID lives: ask each configured foundation's CF for the service instance and
its route `<zone-id>.<domain>`. Used at intake when a user has only `cf service <name> --guid`.

This runs inside a web request, so it is bounded: the foundations are asked at once, each call is tried
once with a short timeout, and whatever has not answered within CF_WEB_TIMEOUT seconds is reported as
"did not answer" rather than keeping the page waiting.
"""

from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass

from django.conf import settings

from upgrades import foundations
from upgrades.cloudfoundry.errors import CFError, NotFound
from upgrades.cloudfoundry.factory import quick_client_for
from upgrades.foundations import Foundation

UNANSWERED = "did not answer"
_MAX_THREADS = 16  # concurrent lookups of one submission


@dataclass(frozen=True)
class Located:
    url: str
    domain: str
    foundation: str


def locate(zone_ids: list[str]) -> dict[str, tuple[Located | None, list[str]]]:
    """For each zone ID: its service URL, or None; and the foundations looked at (with why not
    there). Every foundation is asked for every zone ID at once, all within one CF_WEB_TIMEOUT."""
    candidates = foundations.all_foundations()
    found: dict[str, tuple[Located | None, list[str]]] = {zone_id: (None, []) for zone_id in zone_ids}
    if not candidates or not zone_ids:
        return found
    jobs = [(zone_id, foundation) for zone_id in zone_ids for foundation in candidates]
    pool = ThreadPoolExecutor(max_workers=min(len(jobs), _MAX_THREADS), thread_name_prefix="zone-lookup")
    futures = {
        pool.submit(_look_on, foundation, zone_id): (zone_id, foundation) for zone_id, foundation in jobs
    }
    wait(futures, timeout=settings.CF_WEB_TIMEOUT)
    # Calls still under way end on their own socket timeouts; nobody waits for them.
    pool.shutdown(wait=False, cancel_futures=True)
    for future, (zone_id, foundation) in futures.items():
        located, looked = found[zone_id]
        if not future.done() or future.cancelled():
            looked.append(f"{foundation.name} ({UNANSWERED} within {settings.CF_WEB_TIMEOUT:g} s)")
            continue
        here, why = future.result()
        if here is not None and located is None:
            found[zone_id] = (here, looked)
        elif why:
            looked.append(why)
    return found


def _look_on(foundation: Foundation, zone_id: str) -> tuple[Located | None, str]:
    cf = quick_client_for(foundation)
    try:
        cf.get_service_instance(zone_id)
    except NotFound:
        return None, foundation.name
    except CFError:
        return None, f"{foundation.name} ({UNANSWERED}: unreachable)"
    for domain in foundation.domains:
        try:
            route = cf.find_route(zone_id, cf.get_domain_by_name(domain).guid)
        except CFError:
            continue
        if route is not None:
            return Located(f"https://{zone_id}.{domain}", domain, foundation.slug), ""
    return None, f"{foundation.name} (service found, but no route {zone_id}.<domain>)"
