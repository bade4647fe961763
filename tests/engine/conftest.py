"""Fixtures for end-to-end engine tests: cfsim over HTTP, a real worker and beat, PostgreSQL, Redis."""

import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis
from django.conf import settings
from django.db import connection

from testkit import demo
from testkit.cfsim import CfSim
from testkit.stack import Stack, database_url
from tests.conftest import file_request
from upgrades import actions
from upgrades.models import Preflight, ServiceUpgrade
from upgrades.workflow import Action, State


# Package scope: the worker stops when the engine tests end, so it never acts on later tests' rows.
@pytest.fixture(scope="package")
def sim():
    with CfSim() as running:
        yield running


def start_stack(sim, log_dir, **extra_env: str) -> Stack:
    """A worker and beat on the test database, the Redis broker and `sim`, with `extra_env` settings."""
    running = Stack(
        database=database_url(connection.settings_dict),
        broker=settings.CELERY_BROKER_URL,
        api_url=sim.api_url,
        router_url=sim.router_url,
        log_dir=log_dir,
        extra_env=extra_env,
    )
    running.start_worker()
    running.start_beat()
    running.start_prober()
    return running


@contextmanager
def stack_instead(stack: Stack, sim, log_dir, **extra_env: str) -> Iterator[Stack]:
    """A worker, beat and prober with `extra_env` settings in place of the package's `stack`, which
    comes back after the block."""
    stack.stop()
    running = start_stack(sim, log_dir, **extra_env)
    try:
        yield running
    finally:
        running.stop()
        stack.start_worker()
        stack.start_beat()
        stack.start_prober()


@pytest.fixture(scope="package")
def stack(django_db_setup, django_db_blocker, sim, tmp_path_factory):
    broker = settings.CELERY_BROKER_URL
    assert broker.startswith("redis://"), "engine tests run on Redis (make test sets CELERY_BROKER_URL)"
    assert connection.vendor == "postgresql", "engine tests run on PostgreSQL (make test sets DATABASE_URL)"
    redis.Redis.from_url(broker).flushdb()
    running = start_stack(sim, tmp_path_factory.mktemp("celery"))
    yield running
    running.stop()


@pytest.fixture
def engine(stack, sim, transactional_db, cast, releases):
    """A clean cfsim (the demo seed, no delays) and the running worker, for one test."""
    sim.reset()
    sim.configure(staging_delay=0, start_delay=0, job_delay=0, route_delay=0, erroring_images=[])
    return stack


# The demo seed's acme-prod service (2 instances, two bindings, on Predix West), by the short names
# the engine tests use.
ACME_ZONE, ACME, ACME_PROD = demo.ACME_PROD_ZONE, demo.ACME_PROD_NAME, demo.ACME_PROD_URL
ACME_NONPROD, INITECH = demo.ACME_NONPROD_URL, demo.INITECH_PROD_URL
NEW, OLD = demo.OKINAWA, demo.SENDAI


def wait_for(predicate, timeout: float = 60, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def wait_state(service_id: int, *states: State, timeout: float = 60) -> ServiceUpgrade:
    def reached():
        service = ServiceUpgrade.objects.get(pk=service_id)
        return service if service.state in states else None

    try:
        return wait_for(reached, timeout, f"service {service_id} to reach {states}")
    except AssertionError:
        service = ServiceUpgrade.objects.get(pk=service_id)
        detail = service.error or service.progress
        raise AssertionError(
            f"service {service_id} is {service.state} at {service.step!r} ({detail})"
        ) from None


def filed_and_checked(user, urls, **kwargs):
    """File for real and wait for the worker's preflight against cfsim to pass."""
    request = file_request(user, urls, checked=False, **kwargs)
    for service in request.services.all():
        wait_for(
            lambda pk=service.pk: ServiceUpgrade.objects.get(pk=pk).preflight == Preflight.PASSED,
            30,
            f"preflight of {service.zone_id}",
        )
    return request


def approve_and_trigger(request, operator):
    actions.apply_request_action(request=request, action=Action.APPROVE, actor=operator)
    for service in request.services.all():
        actions.apply_service_action(service=service, action=Action.TRIGGER, actor=operator)


def topology(sim, zone_id: str, base_name: str) -> dict:
    """What CF shows for one EC service: who serves its route, its apps (the original name and the
    portal's `<name>-<release>`), their bindings, and any temporary routes."""
    state = sim.state()
    apps = {app["guid"]: app for app in state["apps"]}
    family = {
        g for g, app in apps.items() if app["name"] == base_name or app["name"].startswith(base_name + "-")
    }
    route = next(r for r in state["routes"] if r["url"].startswith(zone_id + "."))

    def described(guid):
        app = apps[guid]
        return app["name"], app["state"], app["image"], sum(i["state"] == "RUNNING" for i in app["actual"])

    serving = [apps[d["app_guid"]] for d in route["destinations"]]
    bindings = [b for b in state["bindings"] if b["app_guid"] in family]
    return {
        "serving": sorted((app["name"], app["image"]) for app in serving),
        "apps": sorted(described(guid) for guid in family),
        "bindings": sorted((apps[b["app_guid"]]["name"], b["service_instance_guid"]) for b in bindings),
        "temporary_routes": sorted(
            r["url"] for r in state["routes"] if r["url"].startswith(f"{zone_id}-upgrade-")
        ),
    }
