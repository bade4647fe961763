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


@dataclass(frozen=True)
class Located:
    url: str
    domain: str
    foundation: str


def locate(zone_id: str) -> tuple[Located | None, list[str]]:
    """The service URL of `zone_id`, or None; and the foundations looked at (with why not there)."""
    candidates = foundations.all_foundations()
    if not candidates:
        return None, []
    pool = ThreadPoolExecutor(max_workers=len(candidates), thread_name_prefix="zone-lookup")
    futures = {pool.submit(_look_on, foundation, zone_id): foundation for foundation in candidates}
    wait(futures, timeout=settings.CF_WEB_TIMEOUT)
    # Calls still under way end on their own socket timeouts; nobody waits for them.
    pool.shutdown(wait=False, cancel_futures=True)
    found, looked = None, []
    for future, foundation in futures.items():
        if not future.done() or future.cancelled():
            looked.append(f"{foundation.name} ({UNANSWERED} within {settings.CF_WEB_TIMEOUT:g} s)")
            continue
        located, why = future.result()
        if located is not None and found is None:
            found = located
        elif why:
            looked.append(why)
    return found, looked


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
