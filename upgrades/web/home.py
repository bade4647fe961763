"""What the home page shows: what needs the user now, each list one capped query."""

from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Q, QuerySet

from upgrades.models import ServiceUpgrade, UpgradeRequest
from upgrades.selectors import QueueFilters, filter_requests, my_requests, request_rows_for, state_counts
from upgrades.web.pages import PHASE_NAMES
from upgrades.workflow import CONFIRMED_STATES, FAILED_STATE, State


@dataclass
class Worklist:
    """What needs the user now, for the home page; each list is one query, capped."""

    awaiting_verification: list[ServiceUpgrade]
    awaiting_approval: list[UpgradeRequest]
    to_start: list[ServiceUpgrade]
    failures: list[ServiceUpgrade]
    running: list[ServiceUpgrade]
    mine: list[UpgradeRequest]
    counts: dict[str, int]


HOME_ROWS = 10
# Services free to start Step 1: none they wait for, or it is confirmed.
_NOT_WAITING = Q(after__isnull=True) | Q(after__state__in=sorted(CONFIRMED_STATES))
FAILED_STATES = tuple(FAILED_STATE.values())


def _services_in(requests: QuerySet[UpgradeRequest], states, *conditions, **extra) -> list[ServiceUpgrade]:
    return list(
        ServiceUpgrade.objects.of(requests)
        .filter(*conditions, state__in=states, **extra)
        .select_related("request__requester", "request__release")
        .order_by("-updated_at", "-id")[:HOME_ROWS]
    )


def _to_follow_up(requests: QuerySet[UpgradeRequest]) -> list[ServiceUpgrade]:
    """Failed services, and rolled-back ones nobody has filed again yet (a newer upgrade of the same
    zone ID ends the follow-up), newest first."""
    filed_again = ServiceUpgrade.objects.filter(zone_id=OuterRef("zone_id"), pk__gt=OuterRef("pk"))
    return _services_in(
        requests,
        [*FAILED_STATES, State.ROLLED_BACK],
        Q(state__in=FAILED_STATES) | ~Exists(filed_again),
    )


def worklist(user, *, team: bool) -> Worklist:
    visible = request_rows_for(user)
    mine = my_requests(user, rows=True)
    empty: list = []
    return Worklist(
        awaiting_verification=_services_in(mine, [State.AWAITING_VERIFICATION]),
        awaiting_approval=list(filter_requests(visible, QueueFilters(state=State.SUBMITTED))[:HOME_ROWS])
        if team
        else empty,
        to_start=_services_in(visible, [State.APPROVED], _NOT_WAITING, trigger_at__isnull=True)
        + _services_in(visible, [State.VERIFIED])
        if team
        else empty,
        failures=_to_follow_up(visible) if team else empty,
        running=_services_in(visible if team else mine, list(PHASE_NAMES)),
        mine=list(mine[:HOME_ROWS]),
        counts=state_counts(visible),
    )
