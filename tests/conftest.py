"""Shared fixtures: the cast of users (one of whom must always be refused), releases, requests."""

import pytest
from django.contrib.auth.models import User
from django.test import TransactionTestCase
from django.utils import timezone
from rest_framework.test import APIClient

from testkit.database import outlasting_deadlocks
from upgrades import actions, campaigns, intake
from upgrades.models import Campaign, FleetService, Preflight, Release
from upgrades.permissions import ec_team_group
from upgrades.workflow import Plan

PASSWORD = "correct-horse-battery"
PROD = "https://0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0.run.aws-usw02-pr.ice.predix.io"
NONPROD = "https://1a2b3c4d-5e6f-4a0b-9c1d-2e3f4a5b6c7d.run.aws-usw02.dev.ice.predix.io"


def make_user(username: str, *, ec_team: bool = False, superuser: bool = False) -> User:
    user = User.objects.create_user(username, f"{username}@example.com", PASSWORD)
    if superuser:
        user.is_staff = user.is_superuser = True
        user.save()
    if ec_team:
        user.groups.add(ec_team_group())
    return user


@pytest.fixture(autouse=True, scope="session")
def _flush_outlasts_worker_deadlocks():
    """The flush after each transactional test is run again when it deadlocks with the worker that
    the engine, campaign and browser tests keep running (testkit/database.py)."""
    original = TransactionTestCase._fixture_teardown
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            TransactionTestCase,
            "_fixture_teardown",
            lambda case: outlasting_deadlocks(lambda: original(case)),
        )
        yield


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # Real hashing costs a second per user; the hasher is not what these tests are about.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def cast(db):
    """alice files, carol is her contact, bob is an unrelated EC user, olga is EC team, root is admin."""
    return {
        "alice": make_user("alice"),
        "bob": make_user("bob"),
        "carol": make_user("carol"),
        "olga": make_user("olga", ec_team=True),
        "oscar": make_user("oscar", ec_team=True),
        "root": make_user("root", superuser=True),
    }


@pytest.fixture
def releases(db):
    return {
        "sendai": Release.objects.create(name="sendai.120", docker_image="ecsim/ec-service:sendai.120"),
        "okinawa": Release.objects.create(
            name="okinawa.130", docker_image="ecsim/ec-service:okinawa.130", recommended=True
        ),
    }


def file_request(
    requester,
    urls=(PROD,),
    *,
    contacts=("carol@example.com",),
    release=None,
    plan=Plan.TEST_FIRST,
    checked=True,
):
    """File a request as `requester`; `checked` records a passed preflight for each service, as the
    preflight task would against CF (tests of that task run it for real)."""
    parsed, problems = intake.parse_service_urls(list(urls))
    assert not problems, problems
    request = actions.submit_request(
        requester=requester,
        services=parsed,
        plan=plan,
        release=release or Release.objects.get(recommended=True),
        contacts=list(contacts),
        notes="",
    )
    if checked:
        for service in request.services.all():
            actions.record_preflight(service_id=service.pk, outcome=Preflight.PASSED, message="ok")
    return request


def campaign_of(creator, release, zones: list[str], *, name: str, wave_size: int) -> Campaign:
    """A back-to-back campaign to `release` of fleet services on Predix West with these zone IDs, as
    the inventory would have found them (on sendai.120), created by `creator`, in waves of `wave_size`
    after a canary of 1."""
    now = timezone.now()
    FleetService.objects.bulk_create(
        FleetService(zone_id=zone, foundation="predix-west", domain="run.aws-usw02-pr.ice.predix.io",
                     release="sendai.120", first_seen_at=now, last_seen_at=now)
        for zone in zones
    )  # fmt: skip
    return campaigns.create_campaign(
        creator=creator,
        name=name,
        release=release,
        plan=Plan.BACK_TO_BACK,
        named=campaigns.named_services(zones, "zone_ids"),
        waves=campaigns.Waves(
            canary_size=1, wave_size=wave_size, max_parallel=wave_size, pause_seconds=None, failure_budget=1
        ),
    )


@pytest.fixture
def filed(cast, releases):
    """A request by alice for two services, with carol as a contact."""
    return file_request(cast["alice"], [PROD, NONPROD])


@pytest.fixture
def api():
    def client_for(user=None, *, csrf: bool = False) -> APIClient:
        client = APIClient(enforce_csrf_checks=csrf)
        if user is not None:
            client.force_login(user)
        return client

    return client_for
