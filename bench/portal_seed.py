"""A portal that has run for a while, written in bulk for benchmarks.

`seed(10_000, rng)` files 10,000 requests of two services each, spread over the states as on a
portal in use (mostly done, some work under way), with their timeline (20 events each), two contacts
each and the CF call log of every service that ran a step, all through `bulk_create`. Call it with
Django set up on an empty, migrated database.
"""

from __future__ import annotations

import random
from contextlib import contextmanager
from datetime import timedelta

EVENTS_PER_REQUEST = 20
CALLS_PER_STEP = {"step1": 24, "step2": 9, "rollback": 7}
FOUNDATIONS = [
    ("predix-west", "run.aws-usw02-pr.ice.predix.io"),
    ("predix-east", "run.asv-pr.ice.predix.io"),
    ("cf3", "run.aws-usw02.dev.ice.predix.io"),
]

# Where services stand, as on a portal that has run for a while: mostly done, some work under way.
STATE_WEIGHTS = {
    "completed": 46,
    "rolled_back": 5,
    "cancelled": 4,
    "rejected": 3,
    "submitted": 9,
    "approved": 6,
    "step1_running": 3,
    "step1_failed": 2,
    "awaiting_verification": 9,
    "verified": 3,
    "step2_running": 3,
    "step2_failed": 2,
    "rolling_back": 2,
    "rollback_failed": 1,
}
# The states a service went through to reach each state (the timeline's transitions).
PATHS = {
    "submitted": [],
    "rejected": ["rejected"],
    "approved": ["approved"],
    "cancelled": ["approved", "cancelled"],
    "step1_running": ["approved", "step1_running"],
    "step1_failed": ["approved", "step1_running", "step1_failed"],
    "awaiting_verification": ["approved", "step1_running", "awaiting_verification"],
    "verified": ["approved", "step1_running", "awaiting_verification", "verified"],
    "step2_running": ["approved", "step1_running", "awaiting_verification", "verified", "step2_running"],
    "step2_failed": ["approved", "step1_running", "awaiting_verification", "verified", "step2_running",
                     "step2_failed"],
    "completed": ["approved", "step1_running", "awaiting_verification", "verified", "step2_running",
                  "completed"],
    "rolling_back": ["approved", "step1_running", "awaiting_verification", "rolling_back"],
    "rollback_failed": ["approved", "step1_running", "awaiting_verification", "rolling_back",
                        "rollback_failed"],
    "rolled_back": ["approved", "step1_running", "awaiting_verification", "rolling_back", "rolled_back"],
}  # fmt: skip
# The sub-step a service in a running or failed state stands at.
CURRENT_STEP = {
    "step1_running": "stage",
    "step1_failed": "start_green",
    "step2_running": "unmap_blue",
    "step2_failed": "delete_temp_route",
    "rolling_back": "rb_unmap_green",
    "rollback_failed": "rb_delete_green",
}


def service_row(rng: random.Random, n: int, state: str):
    from upgrades.models import Preflight, ServiceUpgrade

    foundation, domain = FOUNDATIONS[n % len(FOUNDATIONS)]
    zone = f"{n:08x}-{rng.randrange(16**4):04x}-4{rng.randrange(16**3):03x}-8000-{rng.randrange(16**12):012x}"
    path = PATHS[state]
    ran_step1 = "step1_running" in path
    service = ServiceUpgrade(
        url=f"https://{zone}.{domain}",
        zone_id=zone,
        domain=domain,
        foundation=foundation,
        state=state,
        step=CURRENT_STEP.get(state, ""),
        preflight=Preflight.PASSED if state != "submitted" or n % 5 else Preflight.FAILED,
        preflight_message="The service stands on its foundation as an upgrade needs it.",
        instances_desired=2,
        instances_running=2 if ran_step1 else 0,
    )
    if state.endswith("_failed"):
        service.error = "Cloud Foundry answered 502 Bad Gateway three times; retry once CF is back."
    if ran_step1:
        name = f"ec-service-{zone[:8]}"
        service.space_guid = "5ace0000-0000-4000-8000-000000000001"
        service.original_route_guid = f"7{n:07x}-0000-4000-8000-000000000000"
        service.blue_app_guid, service.blue_app_name = f"b{n:07x}-0000-4000-8000-000000000000", name
        service.blue_release = "sendai.120"
        service.green_app_guid = f"9{n:07x}-0000-4000-8000-000000000000"
        service.green_app_name = f"{name}-okinawa.130"
        service.temp_host = f"{zone}-upgrade-{n:06x}"
        service.temp_route_guid = f"e{n:07x}-0000-4000-8000-000000000000"
        service.blue_stopped = service.blue_deleted = state == "completed"
    return service


@contextmanager
def stamps_as_given():
    """Let bulk_create keep the timestamps the seed sets (auto_now/auto_now_add would stamp "now")."""
    from upgrades.models import Event, ServiceUpgrade, UpgradeRequest

    fields = [
        UpgradeRequest._meta.get_field("created_at"),
        Event._meta.get_field("created_at"),
        ServiceUpgrade._meta.get_field("updated_at"),
    ]
    saved = [(f.auto_now, f.auto_now_add) for f in fields]
    for f in fields:
        f.auto_now = f.auto_now_add = False
    try:
        yield
    finally:
        for f, (auto_now, auto_now_add) in zip(fields, saved, strict=True):
            f.auto_now, f.auto_now_add = auto_now, auto_now_add


def _events(request, services: list, rng: random.Random) -> list:
    """The request's timeline: submitted, each service's transitions, then comments up to 20 events."""
    from upgrades.models import Event

    at = request.created_at
    events = [
        Event(request=request, kind="submitted", actor_id=request.requester_id, actor_label="requester",
              to_state="submitted", created_at=at)
    ]  # fmt: skip
    for service in services:
        before = "submitted"
        for state in PATHS[service.state]:
            at += timedelta(minutes=rng.randrange(1, 90))
            actor = (
                "system"
                if state.endswith(("_running", "_failed")) or state == "awaiting_verification"
                else "olga"
            )
            events.append(
                Event(request=request, service=service, kind="transition", actor_label=actor,
                      from_state=before, to_state=state, created_at=at)
            )  # fmt: skip
            before = state
    while len(events) < EVENTS_PER_REQUEST:
        at += timedelta(minutes=rng.randrange(1, 30))
        events.append(
            Event(request=request, kind="comment", actor_label="olga", created_at=at,
                  message="Checked with the gateway owners; they test this afternoon.")
        )  # fmt: skip
    return events


def call_rows(service) -> list:
    """The CF calls a service's steps made, as the engine logs them."""
    from upgrades.models import CallLog

    path = PATHS[service.state]
    count = CALLS_PER_STEP["step1"] * ("step1_running" in path)
    count += CALLS_PER_STEP["step2"] * ("step2_running" in path)
    count += CALLS_PER_STEP["rollback"] * ("rolling_back" in path)
    return [
        CallLog(service=service, step="stage", method="GET", path=f"/v3/apps/{service.green_app_guid}",
                status=200, duration_ms=12 + n % 40, request_id=f"vcap-{service.zone_id[:8]}-{n}")
        for n in range(count)
    ]  # fmt: skip


def seed(requests: int, rng: random.Random, first: list[tuple[str, str]]) -> None:
    """`requests` requests of two services each, with timeline, contacts and CF calls (bulk inserts),
    filed by 200 requesters (`user000`…); `olga` of the EC team sees them all. The first requests'
    services stand in the states `first` gives, the others' are drawn by STATE_WEIGHTS."""
    from django.contrib.auth.models import User
    from django.db import connection

    from upgrades.models import CallLog, Contact, Event, Release
    from upgrades.permissions import ec_team_group

    olga = User.objects.create_user("olga", "olga@example.com", None)
    olga.groups.add(ec_team_group())
    requesters = User.objects.bulk_create(
        User(username=f"user{n:03d}", email=f"user{n:03d}@example.com") for n in range(200)
    )
    releases = Release.objects.bulk_create(
        [
            Release(name="sendai.120", docker_image="ecsim/ec-service:sendai.120"),
            Release(name="okinawa.130", docker_image="ecsim/ec-service:okinawa.130", recommended=True),
        ]
    )
    with stamps_as_given():
        made = _requests(requests, requesters, releases)
        services = _services(made, rng, first)
        Contact.objects.bulk_create(
            (Contact(request=r, email=f"ops{k}.{r.pk}@example.com") for r in made for k in range(2)),
            batch_size=5000,
        )
        Event.objects.bulk_create(
            (e for n, r in enumerate(made) for e in _events(r, services[2 * n : 2 * n + 2], rng)),
            batch_size=5000,
        )
    CallLog.objects.bulk_create((c for s in services for c in call_rows(s)), batch_size=5000)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


def _requests(count: int, requesters: list, releases: list) -> list:
    """`count` requests, the newest first, ten minutes apart."""
    from django.utils import timezone

    from upgrades.models import UpgradeRequest

    now = timezone.now()
    return UpgradeRequest.objects.bulk_create(
        (
            UpgradeRequest(
                requester=requesters[n % len(requesters)],
                plan="test_first" if n % 3 else "back_to_back",
                release=releases[1] if n % 4 else releases[0],
                notes="Upgrade in the maintenance window, please." if n % 7 == 0 else "",
                created_at=now - timedelta(minutes=10 * n + 600),
            )
            for n in range(count)
        ),
        batch_size=2000,
    )


def _services(made: list, rng: random.Random, first: list[tuple[str, str]]) -> list:
    """Two services per request, in the states `first` gives for the first ones, drawn for the others."""
    from upgrades.models import ServiceUpgrade

    states, weights = list(STATE_WEIGHTS), list(STATE_WEIGHTS.values())
    services = []
    for n, request in enumerate(made):
        for k in range(2):
            if n < len(first):
                state = first[n][k]
            else:
                state = rng.choices(states, weights)[0]
            service = service_row(rng, 2 * n + k, state)
            service.request, service.updated_at = request, request.created_at + timedelta(hours=1)
            services.append(service)
    return ServiceUpgrade.objects.bulk_create(services, batch_size=2000)
