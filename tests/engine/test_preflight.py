"""Preflight against cfsim through the worker, and bare zone IDs found on the foundations."""

import time

import pytest

from ecportal.embedded import CFSIM_CLIENT_SECRET, demo_foundations, demo_secrets
from testkit import demo
from tests.engine.conftest import ACME_PROD, ACME_ZONE, INITECH, filed_and_checked, wait_for
from upgrades import actions, foundations, intake
from upgrades.cloudfoundry import CFClient
from upgrades.models import Preflight, ServiceUpgrade
from upgrades.workflow import Action, InvalidTransition

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def preflight_of(request):
    service = request.services.get()
    return wait_for(
        lambda: (
            (s := ServiceUpgrade.objects.get(pk=service.pk)).preflight in (Preflight.PASSED, Preflight.FAILED)
            and s
        ),
        30,
        "preflight",
    )


def test_preflight_passes_and_records_what_it_found(engine, cast):
    service = filed_and_checked(cast["alice"], [ACME_PROD]).services.get()
    assert service.name == demo.ACME_PROD_SERVICE, "the EC service's name is its service instance's"
    assert service.blue_app_name == "ec-service-acme-prod" and service.instances_running == 2
    assert "ec-service-acme-prod serves the route with 2 running instances" in service.preflight_message


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ({"method": "GET", "path": r"^/v3/routes$", "status": 0}, None),  # control: no damage
        (
            dict(method="GET", path="^/v3/service_instances/", status=404, title="CF-ResourceNotFound"),
            "Service instance ec000001-0000-4000-8000-000000000001 not found on Predix West",
        ),
    ],
)  # fmt: skip
def test_preflight_failures_say_what_is_wrong_and_block_approval(engine, sim, cast, damage, message):
    sim.add_fault(**damage)
    from tests.conftest import file_request

    request = file_request(cast["alice"], [ACME_PROD], checked=False)
    service = preflight_of(request)
    if message is None:
        assert service.preflight == Preflight.PASSED
        return
    assert service.preflight == Preflight.FAILED and message in service.preflight_message
    with pytest.raises(InvalidTransition, match="pass preflight"):
        actions.apply_request_action(request=request, action=Action.APPROVE, actor=cast["olga"])


def test_two_apps_on_the_route_read_as_a_half_done_upgrade(engine, sim, cast):
    cf = CFClient(sim.api_url, client_id="ecportal", client_secret=CFSIM_CLIENT_SECRET)
    state = sim.state()
    route = next(r for r in state["routes"] if r["url"].startswith(ACME_ZONE + "."))
    other = next(a for a in state["apps"] if a["name"] == "ec-service-globex-prod")
    cf.insert_destination(route["guid"], other["guid"])
    from tests.conftest import file_request

    service = preflight_of(file_request(cast["alice"], [ACME_PROD], checked=False))
    assert service.preflight == Preflight.FAILED
    assert (
        service.preflight_message == "Two apps are mapped to the route: an earlier upgrade looks half done."
    )


def test_a_bare_zone_id_is_found_on_its_foundation(engine, sim, monkeypatch):
    monkeypatch.setattr(foundations, "_configured", lambda: foundations.parse(demo_foundations(sim.api_url)))
    for name, secret in demo_secrets().items():
        monkeypatch.setenv(name, secret)
    initech = INITECH
    parsed, problems = intake.parse_service_urls(f"{ACME_ZONE.upper()}\nec000c31-0000-4000-8000-000000000001")
    assert problems == []
    assert [(p.url, p.foundation) for p in parsed] == [(ACME_PROD, "predix-west"), (initech, "cf3")]
    _, problems = intake.parse_service_urls("0000dead-0000-4000-8000-000000000000")
    assert str(problems[0]) == (
        "Line 1: zone ID 0000dead-0000-4000-8000-000000000000 was not found on "
        "Predix West / Basic, Predix East / Select, CF3."
    )


def test_a_slow_foundation_costs_bare_zone_ids_seconds_not_the_page(engine, sim, monkeypatch, settings):
    """Locating bare zone IDs runs inside the form's web request: every foundation hangs 20 s here, and
    the form answers after one CF_WEB_TIMEOUT for all of them with what it could not learn, well
    before any web timeout."""
    monkeypatch.setattr(foundations, "_configured", lambda: foundations.parse(demo_foundations(sim.api_url)))
    for name, secret in demo_secrets().items():
        monkeypatch.setenv(name, secret)
    settings.CF_WEB_TIMEOUT = 2
    sim.add_fault(method="GET", path="^/v3/service_instances/", status=0, delay=20)
    zones = [ACME_ZONE, "ec000c31-0000-4000-8000-000000000001", "0000dead-0000-4000-8000-000000000000"]
    started = time.monotonic()
    parsed, problems = intake.parse_service_urls("\n".join(zones))
    waited = time.monotonic() - started
    assert parsed == [] and len(problems) == 3
    for line, (zone, problem) in enumerate(zip(zones, problems, strict=True), start=1):
        message = str(problem)
        assert message.startswith(f"Line {line}: zone ID {zone} was not found on Predix West"), message
        # Each foundation either timed out its one call or was cut off by the form's deadline.
        assert message.count("(did not answer") == 3, message
        assert message.endswith(
            "Paste the full service URL (https://<zone-id>.<domain>) instead, or try again later."
        )
    assert waited < 20, "the form never waits for a hung foundation"
