"""The Fleet page's and API's reads (every EC service the inventory found), and "Refresh now".

Reads go through `FleetService.objects.visible_to(user)`: the EC team sees the fleet, nobody else.
"""

from dataclasses import dataclass

from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from upgrades import dispatch, foundations
from upgrades.models import FleetService, FleetSync, ServiceUpgrade
from upgrades.workflow import ACTIVE_STATES, STATE_LABELS

SORTS = {
    "foundation": ("Foundation", ["foundation", "name", "zone_id"]),  # the default, listed first
    "name": ("Name", ["name", "zone_id"]),
    "release": ("Release", ["release", "name", "zone_id"]),
    "-instances": ("Most instances", ["-instances", "name", "zone_id"]),
    "-last_seen_at": ("Last seen", ["-last_seen_at", "name", "zone_id"]),
}
# Upgrade states to filter by: one of the service's latest upgrade, or these two groups.
ANY_ACTIVE, NEVER = "active", "none"
STATE_CHOICES = [(ANY_ACTIVE, "Upgrade under way"), (NEVER, "Never upgraded here"), *STATE_LABELS.items()]


@dataclass(frozen=True)
class FleetFilters:
    foundation: str = ""
    release: str = ""
    state: str = ""
    q: str = ""
    sort: str = ""
    gone: bool = False  # also services the last sync no longer found


def services_for(user, filters: FleetFilters = FleetFilters()) -> QuerySet[FleetService]:
    """The fleet `user` may see, narrowed by `filters`, each with its latest upgrade's id and state."""
    queryset = FleetService.objects.visible_to(user)
    if not filters.gone:
        queryset = queryset.filter(gone_at__isnull=True)
    if foundations.by_slug(filters.foundation):
        queryset = queryset.filter(foundation=filters.foundation)
    if filters.release:
        queryset = queryset.filter(release=filters.release)
    if term := filters.q.strip():
        queryset = queryset.filter(Q(name__icontains=term) | Q(zone_id__icontains=term))
    latest = ServiceUpgrade.objects.filter(zone_id=OuterRef("zone_id")).order_by("-id")
    queryset = queryset.annotate(
        upgrade_id=Subquery(latest.values("id")[:1]),
        upgrade_state=Subquery(latest.values("state")[:1]),
        upgrade_request_id=Subquery(latest.values("request_id")[:1]),
    )
    if filters.state == ANY_ACTIVE:
        queryset = queryset.filter(upgrade_state__in=sorted(ACTIVE_STATES))
    elif filters.state == NEVER:
        queryset = queryset.filter(upgrade_id__isnull=True)
    elif filters.state in STATE_LABELS:
        queryset = queryset.filter(upgrade_state=filters.state)
    return queryset.order_by(*SORTS.get(filters.sort, SORTS["foundation"])[1])


def release_counts(user) -> list[dict]:
    """Live services per foundation and release: [{foundation, name, releases: [(release, n)]}],
    in the configured order of foundations, newest release names last."""
    rows = (
        FleetService.objects.visible_to(user)
        .filter(gone_at__isnull=True)
        .values("foundation", "release")
        .annotate(count=Count("id"))
        .order_by("foundation", "release")
    )
    per_foundation: dict[str, list[tuple[str, int]]] = {}
    for row in rows:
        per_foundation.setdefault(row["foundation"], []).append((row["release"], row["count"]))
    order = [f.slug for f in foundations.all_foundations()]
    return [
        {"foundation": slug, "name": foundations.name_of(slug), "releases": per_foundation[slug]}
        for slug in sorted(per_foundation, key=lambda s: (order.index(s) if s in order else len(order), s))
    ]


def releases_seen(user) -> list[str]:
    return list(
        FleetService.objects.visible_to(user)
        .filter(gone_at__isnull=True)
        .order_by("release")
        .values_list("release", flat=True)
        .distinct()
    )


def last_syncs() -> list[FleetSync]:
    """The latest sync of each foundation that has one."""
    latest = FleetSync.objects.filter(foundation=OuterRef("foundation")).order_by("-started_at", "-id")
    return list(
        FleetSync.objects.filter(pk=Subquery(latest.values("pk")[:1]))
        .annotate(took=Coalesce(F("finished_at"), F("started_at")) - F("started_at"))
        .order_by("foundation")
    )


def refresh() -> None:
    """Sync the inventory now (once the current transaction commits)."""
    dispatch.on_commit(dispatch.SYNC_FLEET)
