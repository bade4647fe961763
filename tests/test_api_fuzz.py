"""The REST API fuzzed against its own OpenAPI schema, as each role (issue 15, DESIGN §5).

Schemathesis generates valid and invalid calls to every operation of `GET /api/schema/` and sends
them to the portal in-process (WSGI) on PostgreSQL. Every answer must be documented: no 5xx, a status
code the schema lists for that operation, and a body of the documented shape. The seed is fixed and
the examples per operation bounded, so every run sends the same calls and takes a few minutes at most.
"""

import uuid

import pytest
import schemathesis
from django.conf import settings as django_settings
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections, transaction
from django.http import HttpRequest
from django.middleware.csrf import get_token
from django.test import Client
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import NONPROD, PROD, file_request
from upgrades import actions, campaigns, subscriptions
from upgrades.models import FleetService, Preflight, Release, ServiceUpgrade
from upgrades.workflow import Plan, State

SEED = 20_151
FOUNDATION_DOMAIN = "run.aws-usw02-pr.ice.predix.io"
MAX_EXAMPLES = 20
CREATE_EXAMPLES = 50
# Anonymous callers are refused (401) whatever they send: a few examples show it.
ANONYMOUS_EXAMPLES = 5
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

# Strings and numbers that broke the portal before (issue 15), drawn now and then in place of
# generated ones: NUL and control characters, text past a column's length, header injection, markup,
# unicode edge cases, numbers past any database integer.
HOSTILE_TEXT = [
    "\x00",
    "zone\x00id",
    "x" * 300,
    "a" * 64 + "@" + ".".join(["b" * 60] * 4) + ".example.com",  # a valid address, 320 characters
    "ok@example.com\r\nBcc: victim@example.com",
    "<script>alert(1)</script>",
    '"<b>quoted</b>"@example.com',
    "\u202eevil\u200b\ufeff",
    "\U0001f600" * 100,
    "9" * 40,
]
HOSTILE_NUMBERS = [2**63, -(2**63) - 1, 10**30, 0, -1]


def fuzz_config(*, max_examples: int, create_examples: int, coverage: bool) -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "dictionaries": {"text": {"values": HOSTILE_TEXT}, "numbers": {"values": HOSTILE_NUMBERS}},
            # More often where text reaches the database as typed: the list's filters and bodies' fields.
            "parameters": {
                name: {"dictionary": "text", "probability": 0.5}
                for name in (
                    *("query.state", "query.foundation", "query.zone_id"),
                    *("body.contacts[*]", "body.notes", "body.release", "body.reason"),
                )
            },
            "generation": {
                "dictionaries": {
                    "string": {"dictionary": "text", "probability": 0.3},
                    "integer": {"dictionary": "numbers", "probability": 0.1},
                },
                "mode": "all",
                "max-examples": max_examples,
                "deterministic": True,
                "database": "none",
                # Each role's credentials are set by the test, never generated.
                "with-security-parameters": False,
            },
            # Coverage: the schema's boundaries and wrong types, deterministic, not bounded by max-examples.
            "phases": {"coverage": {"enabled": coverage}, "stateful": {"enabled": False}},
            # Filing a request takes the richest input; it gets more examples than the actions.
            "operations": [
                {"include-operation-id": "requests_create", "generation": {"max-examples": create_examples}},
            ],
        }
    )


# Who calls, and how: tokens for some, a session cookie plus CSRF token for others, so both of the
# API's authentications carry state-changing calls. The contact is carol, on alice's requests.
ROLES = {
    "requester": ("alice", "token"),
    "contact": ("carol", "session"),
    "ec-team": ("olga", "token"),
    "admin": ("root", "session"),
}


def credentials(user, how: str) -> tuple[dict, dict]:
    """(headers, cookies) that authenticate `user` for real: a token, or a session with its CSRF pair."""
    if how == "token":
        return {"Authorization": f"Token {Token.objects.create(user=user).key}"}, {}
    client = Client()
    client.force_login(user)
    csrf_request = HttpRequest()
    masked = get_token(csrf_request)
    cookies = {
        django_settings.SESSION_COOKIE_NAME: client.cookies[django_settings.SESSION_COOKIE_NAME].value,
        django_settings.CSRF_COOKIE_NAME: csrf_request.META["CSRF_COOKIE"],
    }
    return {"X-CSRFToken": masked}, cookies


@pytest.fixture
def world(cast, releases):
    """Requests in the states the actions act on, all filed by alice with carol as a contact."""
    fresh = file_request(cast["alice"], [PROD, NONPROD])
    unchecked = file_request(
        cast["alice"],
        ["https://2b3c4d5e-6f70-4811-9a2b-3c4d5e6f7081.run.asv-pr.ice.predix.io"],
        checked=False,
    )
    testing = file_request(
        cast["alice"], ["https://3c4d5e6f-7081-4922-8b3c-4d5e6f708192.run.aws-usw02-pr.ice.predix.io"]
    )
    failed = file_request(
        cast["alice"], ["https://4d5e6f70-8192-4a33-9c4d-5e6f708192a3.run.aws-usw02-pr.ice.predix.io"]
    )
    ServiceUpgrade.objects.filter(request=testing).update(state=State.AWAITING_VERIFICATION, step="")
    ServiceUpgrade.objects.filter(request=failed).update(state=State.STEP1_FAILED, error="CF said no")
    return {
        "request_id": [r.pk for r in (fresh, unchecked, testing, failed)],
        "service_id": list(ServiceUpgrade.objects.order_by("id").values_list("id", flat=True)),
        "campaign_id": campaign_world(cast),
        "webhook_id": webhook_world(cast, fresh),
    }


def webhook_world(cast, request) -> list[int]:
    """A webhook of alice's request (hers) and a portal-wide one (the EC team's)."""
    made = [
        subscriptions.subscribe(user=user, scope=scope, url="https://hooks.example.com/in", events=[],
                                format="json")[0]
        for user, scope in ((cast["alice"], subscriptions.Scope(request=request)),
                            (cast["olga"], subscriptions.Scope()))
    ]  # fmt: skip
    return [hook.pk for hook in made]


def campaign_world(cast) -> list[int]:
    """A draft campaign of two fleet services, and a running one (olga's, approved by oscar)."""
    now = timezone.now()
    zones = [f"5e6f7081-92a3-4b44-8d5e-6f708192a3b{n}" for n in range(4)]
    FleetService.objects.bulk_create(
        FleetService(zone_id=zone_id, foundation="predix-west", domain=FOUNDATION_DOMAIN,
                     release="sendai.120", first_seen_at=now, last_seen_at=now)
        for zone_id in zones
    )  # fmt: skip
    shape = campaigns.Waves(canary_size=1, wave_size=1, max_parallel=1, pause_seconds=None, failure_budget=1)
    made = []
    for part in (zones[:2], zones[2:]):
        made.append(
            campaigns.create_campaign(
                creator=cast["olga"],
                name="fuzz",
                release=Release.objects.get(name="okinawa.130"),
                plan=Plan.BACK_TO_BACK,
                named=campaigns.named_services(part, "zone_ids"),
                waves=shape,
            )
        )
    for service in ServiceUpgrade.objects.filter(campaign=made[1]):
        actions.record_preflight(service_id=service.pk, outcome=Preflight.PASSED, message="ok")
    for action in (campaigns.CampaignAction.APPROVE, campaigns.CampaignAction.START):
        campaigns.act(campaign=made[1], action=action, actor=cast["oscar"])
    return [campaign.pk for campaign in made]


@pytest.fixture
def in_process():
    """Requests served in the test's own transaction: Django's test client does the same."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture(params=sorted(ROLES))
def caller(request, cast):
    username, how = ROLES[request.param]
    return credentials(cast[username], how)


def served_schema() -> dict:
    """The schema `GET /api/schema/` serves (test_the_fuzzed_schema_is_the_served_one checks it)."""
    return SchemaGenerator().get_schema(request=None, public=True)


schema = schemathesis.openapi.from_dict(
    served_schema(),
    config=fuzz_config(max_examples=MAX_EXAMPLES, create_examples=CREATE_EXAMPLES, coverage=True),
)
schema.app = WSGIHandler()
anonymous_schema = schemathesis.openapi.from_dict(
    served_schema(),
    config=fuzz_config(max_examples=ANONYMOUS_EXAMPLES, create_examples=ANONYMOUS_EXAMPLES, coverage=False),
)
anonymous_schema.app = WSGIHandler()


def aim(case, world: dict) -> None:
    """Aim valid input at what exists, so calls get past the first refusal: ids at the world's requests
    and services (so actions meet real states and parse their bodies), service URLs at foundations the
    portal knows and releases at real ones (so requests get filed with whatever else was generated).
    About one valid value in five is left as generated, to be refused as documented."""
    components = case.meta.components if case.meta else {}
    path = components.get(ParameterLocation.PATH)
    if path is not None and path.mode == GenerationMode.POSITIVE:
        for name, value in case.path_parameters.items():
            known, number = world[name], int(value)  # the coverage phase sends them as strings
            if 0 <= number < 2**31 and number % (len(known) + 1) < len(known):
                case.path_parameters[name] = known[number % (len(known) + 1)]
    body = components.get(ParameterLocation.BODY)
    if body is None or body.mode != GenerationMode.POSITIVE or not isinstance(case.body, dict):
        return
    for field, valid in (("service_urls", a_service_url), ("contacts", a_contact)):
        if isinstance(case.body.get(field), list):
            case.body[field] = [aimed(item, valid) for item in case.body[field]]
    if isinstance(case.body.get("release"), str) and case.body["release"]:
        case.body["release"] = aimed(case.body["release"], lambda _: "okinawa.130")
    if isinstance(case.body.get("url"), str):  # a webhook's receiver
        case.body["url"] = aimed(
            case.body["url"], lambda text: f"https://{a_contact(text)[8:16]}.example.com/in"
        )
    if isinstance(case.body.get("request"), int) and case.body["request"] % 5 != 4:
        case.body["request"] = world["request_id"][case.body["request"] % len(world["request_id"])]


def aimed(value, valid):
    """`valid(value)` in place of a generated string, but for hostile ones and one in five others."""
    if not isinstance(value, str) or value in HOSTILE_TEXT or len(value) % 5 == 4:
        return value
    return valid(value)


def a_service_url(text: str) -> str:
    return f"https://{uuid.uuid5(uuid.NAMESPACE_URL, text)}.{FOUNDATION_DOMAIN}"


def a_contact(text: str) -> str:
    return f"contact-{uuid.uuid5(uuid.NAMESPACE_URL, text).hex[:8]}@example.com"


def test_the_fuzzed_schema_is_the_served_one(api, cast):
    assert api(cast["alice"]).get("/api/schema/?format=json").json() == served_schema()


# The run is bounded by its examples, not by Hypothesis's timing heuristics (a loaded machine would trip
# them); the fixtures hold the world and the caller's credentials, and each example rolls back its changes.
QUIET = settings(suppress_health_check=list(HealthCheck))


@schema.parametrize()
@QUIET
def test_every_answer_is_documented(case, caller, world, in_process):
    headers, cookies = caller
    aim(case, world)
    # Each call starts from the same world: what one example changes, the next does not see.
    with transaction.atomic():
        case.call_and_validate(headers=headers, cookies=cookies, checks=CHECKS)
        transaction.set_rollback(True)


@anonymous_schema.parametrize()
@QUIET
def test_anonymous_calls_are_refused_as_documented(case, db, in_process):
    response = case.call_and_validate(checks=CHECKS)
    assert response.status_code == 401, "nothing of the API answers anonymous callers"
