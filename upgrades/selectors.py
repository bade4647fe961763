"""Reads for pages and the API, each with a fixed number of queries whatever the list's length."""

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db.models import (
    BigIntegerField,
    BooleanField,
    CharField,
    Count,
    Exists,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.expressions import RawSQL

from upgrades import foundations
from upgrades.models import Contact, Delivery, Event, Preflight, ServiceUpgrade, UpgradeRequest
from upgrades.permissions import roles_for
from upgrades.workflow import (
    REQUEST_ACTIONS,
    RUNNING_STATES,
    SERVICE_ACTIONS,
    Action,
    State,
    allowed_actions,
)

# Queue orderings: key → (label, order_by). "activity" sorts by the latest change of any service.
SORTS = {
    "newest": ("Newest first", ("-created_at", "-id")),
    "oldest": ("Oldest first", ("created_at", "id")),
    "activity": ("Latest activity", ("-last_activity", "-id")),
    "requester": ("Requester A–Z", ("requester__username", "-created_at", "-id")),
}


def _with_details(requests: QuerySet[UpgradeRequest]) -> QuerySet[UpgradeRequest]:
    return requests.select_related("requester", "release").prefetch_related(
        Prefetch("services", queryset=ServiceUpgrade.objects.order_by("id")),
        "services__probe_runs",
        Prefetch("contacts", queryset=Contact.objects.order_by("id")),
    )


def requests_for(user) -> QuerySet[UpgradeRequest]:
    """Visible requests with everything a list row or an API object needs, prefetched."""
    return _with_details(UpgradeRequest.objects.visible_to(user))


def request_of_contact(contact: Contact) -> UpgradeRequest:
    """The request a contact's signed link opens (the link, resolved, is what makes it visible),
    loaded as `get_request` loads one."""
    return _with_details(UpgradeRequest.objects.filter(pk=contact.request_id)).get()


ROW_FIELDS = ("id", "request_id", "zone_id", "name", "domain", "foundation", "state", "plan")


def request_rows_for(user) -> QuerySet[UpgradeRequest]:
    """Visible requests with only what a list row shows prefetched: the services' name, foundation,
    zone ID, domain and state (the status derives from them), no contacts. Lists load 25 of these per
    page, and building whole services and contacts there cost more than the rest of the page."""
    return (
        UpgradeRequest.objects.visible_to(user)
        .select_related("requester", "release")
        .prefetch_related(
            Prefetch("services", queryset=ServiceUpgrade.objects.only(*ROW_FIELDS).order_by("id"))
        )
    )


def my_requests(user, *, rows: bool = False) -> QuerySet[UpgradeRequest]:
    """Requests the user filed or is listed on as a contact (`rows`: prefetched for a list only)."""
    return (request_rows_for(user) if rows else requests_for(user)).mine(user)


@dataclass(frozen=True)
class QueueFilters:
    state: str = ""
    foundation: str = ""
    q: str = ""
    sort: str = ""
    zone_id: str = ""


def filter_requests(queryset: QuerySet[UpgradeRequest], filters: QueueFilters) -> QuerySet[UpgradeRequest]:
    """Narrow by a service state, a foundation, an exact zone ID, or a search over service name, zone
    ID, URL, foundation and requester; order by one of SORTS."""
    if filters.state in {s.value for s in State}:
        queryset = queryset.filter(
            Exists(ServiceUpgrade.objects.filter(request=OuterRef("pk"), state=filters.state))
        )
    if foundations.by_slug(filters.foundation):
        queryset = queryset.filter(
            Exists(ServiceUpgrade.objects.filter(request=OuterRef("pk"), foundation=filters.foundation))
        )
    if filters.zone_id.strip():
        zone_id = filters.zone_id.strip().lower()
        queryset = queryset.filter(
            Exists(ServiceUpgrade.objects.filter(request=OuterRef("pk"), zone_id=zone_id))
        )
    term = filters.q.strip()
    if term:
        # Matching services and people are each found once (on PostgreSQL through the trigram
        # indexes of migrations 0007 and 0010), not probed request by request.
        services = ServiceUpgrade.objects.filter(
            Q(name__icontains=term)
            | Q(zone_id__icontains=term)
            | Q(url__icontains=term)
            | Q(foundation__icontains=term)
        )
        people = get_user_model().objects.filter(Q(username__icontains=term) | Q(email__icontains=term))
        queryset = queryset.filter(
            Q(pk__in=services.values("request_id")) | Q(requester__in=people.values("pk"))
        )
    if filters.sort == "activity":
        # A subquery rather than MAX over a join: the paginator's count then drops it (it only sorts)
        # instead of grouping every request with its services just to count them.
        latest = ServiceUpgrade.objects.filter(request=OuterRef("pk")).order_by("-updated_at")
        queryset = queryset.annotate(last_activity=Subquery(latest.values("updated_at")[:1]))
    if filters.sort in SORTS:
        queryset = queryset.order_by(*SORTS[filters.sort][1])
    return queryset


def get_request(user, request_id: int) -> UpgradeRequest:
    """One visible request (raises UpgradeRequest.DoesNotExist otherwise, shown as 404)."""
    return requests_for(user).get(pk=request_id)


def get_service(user, service_id: int) -> ServiceUpgrade:
    """One service of a visible request (raises ServiceUpgrade.DoesNotExist otherwise, a 404)."""
    service = ServiceUpgrade.objects.select_related("request__release", "request__requester").get(
        pk=service_id
    )
    if not UpgradeRequest.objects.visible_to(user).filter(pk=service.request_id).exists():
        raise ServiceUpgrade.DoesNotExist
    return service


def timeline(request: UpgradeRequest) -> QuerySet[Event]:
    return request.events.select_related("service").order_by("created_at", "id")


def timeline_of(request: UpgradeRequest, services: list[ServiceUpgrade]) -> list[Event]:
    """The request's timeline, each event's service taken from `services` (the request's, already
    loaded) instead of joined again: a request page otherwise builds every whole service once per event."""
    by_id = {service.pk: service for service in services}
    events = list(request.events.order_by("created_at", "id"))
    for event in events:
        if event.service_id in by_id:
            event.service = by_id[event.service_id]
    return events


def request_actions(user, request: UpgradeRequest) -> list[Action]:
    """Request-wide actions the user may fire now, from the request's services' states."""
    roles = roles_for(user, request)
    is_own = request.requester_id == user.pk
    services = list(request.services.all())
    checked = all(service.preflight == Preflight.PASSED for service in services)
    found: list[Action] = []
    for service in services:
        state = State(service.state)
        for action in allowed_actions(
            state, roles, is_own=is_own, blue_gone=service.blue_deleted, checked=checked
        ):
            if action in REQUEST_ACTIONS and action not in found:
                found.append(action)
    return found


def service_actions(user, request: UpgradeRequest, service: ServiceUpgrade) -> list[Action]:
    """Actions the user may fire on this one service now (approve and reject are request-wide; Start
    Step 1 waits while the service waits for another's confirmation)."""
    roles = roles_for(user, request)
    actions = allowed_actions(
        State(service.state),
        roles,
        is_own=request.requester_id == user.pk,
        blue_gone=service.blue_deleted,
        waiting=bool(service.waits_for(request.services.all())),
        restorable=service.restorable,
    )
    return [a for a in actions if a in SERVICE_ACTIONS]


def state_counts(queryset: QuerySet[UpgradeRequest]) -> dict[str, int]:
    """How many visible services are in each state (one query)."""
    # COUNT(*), not COUNT(id): the database may then count from the index on state alone instead
    # of reading every service's row.
    rows = ServiceUpgrade.objects.of(queryset).values("state").annotate(n=Count("*"))
    return {row["state"]: row["n"] for row in rows}


def request_fingerprint(user, request_id: int) -> tuple | None:
    """Everything the request page shows changes one of these, read in one indexed query: the
    request's and its services' versions; the count and latest id of its events and CF calls (a
    count also moves when a row with a lower id commits late); the mail log's rows, attempts,
    outcomes and claims (a new mail, a claim, a deferral and a send each move one); whether a step
    runs (its clock then changes every second). None if the user may not see the request."""
    columns = _fingerprint_columns(request_id)
    return (
        UpgradeRequest.objects.visible_to(user)
        .filter(pk=request_id)
        .annotate(**columns)
        .values_list("version", *columns)
        .first()
    )


def _fingerprint_columns(request_id: int) -> dict[str, RawSQL]:
    """The fingerprint's columns for one request, each a subquery on an index by request.

    Written out rather than composed from ORM subqueries: every open request page polls this, and
    composing them anew took ten times what running them does, more than the rest of a 304
    together (as with `permissions._user_sql`)."""

    def column(sql: str, field, *params) -> RawSQL:
        return RawSQL(sql, params or (request_id,), output_field=field)  # noqa: S611 (values as parameters)

    def count_and_last(table_sql: str) -> RawSQL:
        sql = f"SELECT COUNT(*) || ':' || COALESCE(MAX(x.id), 0) {table_sql}"  # noqa: S608 (no values)
        return column(sql, CharField())

    running = ", ".join(["%s"] * len(RUNNING_STATES))
    deliveries = (
        "FROM upgrades_delivery x JOIN upgrades_notification n ON n.id = x.notification_id "
        "WHERE n.request_id = %s"
    )
    mails = (
        "SELECT COUNT(*) || ':' || COALESCE(MAX(x.id), 0) || ':' || COALESCE(SUM(x.attempts), 0)"
        " || ':' || COALESCE(SUM(CASE WHEN x.status <> %s THEN 1 ELSE 0 END), 0)"
        " || ':' || COALESCE(SUM(CASE WHEN x.claimed_until IS NULL THEN 1 ELSE 0 END), 0) "
    )
    return {
        "services_version": column(
            "SELECT SUM(version) FROM upgrades_serviceupgrade WHERE request_id = %s", BigIntegerField()
        ),
        "running": column(
            "SELECT EXISTS (SELECT 1 FROM upgrades_serviceupgrade "  # noqa: S608 (placeholders only)
            f"WHERE request_id = %s AND state IN ({running}))",
            BooleanField(),
            request_id,
            *sorted(state.value for state in RUNNING_STATES),
        ),
        "events_seen": count_and_last("FROM upgrades_event x WHERE x.request_id = %s"),
        "calls_seen": count_and_last(
            "FROM upgrades_calllog x JOIN upgrades_serviceupgrade s ON s.id = x.service_id "
            "WHERE s.request_id = %s"
        ),
        # Rows, newest, attempts, outcomes and claims: a new mail, a claim, a deferral, a send.
        "mails_seen": column(mails + deliveries, CharField(), Delivery.Status.PENDING.value, request_id),
        # A test window or retention window counts down (the page's countdown moves every minute).
        "clock_running": column(
            "SELECT EXISTS (SELECT 1 FROM upgrades_serviceupgrade WHERE request_id = %s AND "
            "(test_window_ends_at IS NOT NULL OR (blue_retained_until IS NOT NULL AND NOT blue_deleted)))",
            BooleanField(),
        ),
    }
