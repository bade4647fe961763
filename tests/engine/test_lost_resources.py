"""What the portal recorded, CF no longer has: a build or job CF pruned, a package that expired, an app
or route deleted by hand. A sub-step that finds its own recorded resource gone makes it again, and
Retry runs the phase again from its first sub-step, so what still exists is adopted and what is gone
is created again: Retry can succeed instead of failing the same way for ever."""

import pytest

from tests.cf.conftest import PORTAL_CLIENT
from tests.engine.conftest import (
    ACME,
    ACME_PROD,
    ACME_ZONE,
    NEW,
    approve_and_trigger,
    filed_and_checked,
    topology,
    wait_for,
    wait_state,
)
from upgrades import actions
from upgrades.cloudfoundry import CFClient
from upgrades.models import ServiceUpgrade
from upgrades.workflow import Action, State

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

GREEN = f"{ACME}-okinawa.130"


@pytest.fixture
def cf(sim):
    """The CF API as someone at the CF command line sees it, to change things behind the portal's back."""
    return CFClient(sim.api_url, **PORTAL_CLIENT)


def recorded(service_id: int, field: str, what: str) -> str:
    """Wait until the worker has recorded `field` (a GUID) and return it."""
    return wait_for(lambda: getattr(ServiceUpgrade.objects.get(pk=service_id), field), 60, what)


def greens(sim) -> list[dict]:
    return [app for app in sim.state()["apps"] if app["name"] == GREEN]


def assert_one_of_each(sim, blue_services: list[str]) -> dict:
    """Step 1 stands once: one green with one package and one staged build, running blue's bindings,
    on one temporary route that serves it."""
    [green] = greens(sim)
    state = sim.state()
    assert [p["image"] for p in state["packages"] if p["app_guid"] == green["guid"]] == [NEW]
    assert [b["state"] for b in state["builds"] if b["app_guid"] == green["guid"]] == ["STAGED"]
    assert [i["services"] for i in green["actual"]] == [blue_services, blue_services]
    [temporary] = topology(sim, ACME_ZONE, ACME)["temporary_routes"]
    route = next(r for r in state["routes"] if r["url"] == temporary)
    assert [d["app_guid"] for d in route["destinations"]] == [green["guid"]]
    return green


def blue_services(sim) -> list[str]:
    return sorted(instance for _, instance in topology(sim, ACME_ZONE, ACME)["bindings"])


def test_retry_after_the_new_app_and_temporary_route_were_deleted_by_hand(engine, sim, cast, cf):
    """Step 1 fails (green crashes); someone deletes green and the temporary route at the command
    line. Retry used to resume at start_green and fail on the missing app for ever."""
    services = blue_services(sim)
    request = filed_and_checked(cast["alice"], [ACME_PROD])
    sim.configure(crashing_images=[NEW])
    approve_and_trigger(request, cast["olga"])
    service = wait_state(request.services.get().pk, State.STEP1_FAILED)
    assert "crashed" in service.error
    cf.wait_for_job(cf.delete_app(service.green_app_guid))
    cf.wait_for_job(cf.delete_route(service.temp_route_guid))
    sim.configure(crashing_images=[])

    actions.apply_service_action(service=service, action=Action.RETRY, actor=cast["olga"])
    service = wait_state(service.pk, State.AWAITING_VERIFICATION, timeout=90)
    green = assert_one_of_each(sim, services)
    assert service.green_app_guid == green["guid"] and green["state"] == "STARTED"
    status, body, _ = sim.route(service.temporary_url.removeprefix("https://"))
    assert status == 200 and body["version"] == "okinawa.130"


def test_retry_after_the_package_expired_builds_from_a_new_one(engine, sim, cast):
    """Staging fails; while Step 1 waits for the EC team, CF expires green's package (it keeps only
    the newest few). Retry used to ask CF to build the expired package, refused for ever."""
    services = blue_services(sim)
    request = filed_and_checked(cast["alice"], [ACME_PROD])
    sim.configure(failing_images=[NEW])
    approve_and_trigger(request, cast["olga"])
    service = wait_state(request.services.get().pk, State.STEP1_FAILED)
    assert service.step == "stage"
    sim.control("POST", f"packages/{service.package_guid}/expire")
    sim.configure(failing_images=[])

    actions.apply_service_action(service=service, action=Action.RETRY, actor=cast["olga"])
    service = wait_state(service.pk, State.AWAITING_VERIFICATION, timeout=90)
    [green] = greens(sim)
    packages = [p for p in sim.state()["packages"] if p["app_guid"] == green["guid"]]
    assert sorted(p["state"] for p in packages) == ["EXPIRED", "READY"]
    assert service.package_guid == next(p["guid"] for p in packages if p["state"] == "READY")
    builds = [b["state"] for b in sim.state()["builds"] if b["app_guid"] == green["guid"]]
    assert builds == ["FAILED", "STAGED"]
    assert [i["services"] for i in green["actual"]] == [services, services]


def test_a_build_cf_forgot_while_staging_is_built_again(engine, sim, cast):
    """CF prunes builds; one the portal waits for is gone (404). Step 1 used to fail on it, and
    Retry with it, for ever; now the stage sub-step builds again."""
    services = blue_services(sim)
    request = filed_and_checked(cast["alice"], [ACME_PROD])
    sim.configure(staging_delay=5)
    approve_and_trigger(request, cast["olga"])
    service_id = request.services.get().pk
    forgotten = recorded(service_id, "build_guid", "the build to be recorded")
    sim.control("DELETE", f"builds/{forgotten}")
    service = wait_state(service_id, State.AWAITING_VERIFICATION, timeout=90)
    assert service.build_guid != forgotten
    assert not service.events.filter(to_state=State.STEP1_FAILED).exists()
    assert_one_of_each(sim, services)


def test_a_binding_job_cf_forgot_is_looked_up_on_the_binding(engine, sim, cast):
    """The managed binding's job is gone from CF (404) while the portal polls it: CF prunes old jobs,
    here one still running. Step 1 used to fail on it, and Retry with it, for ever; now the bind
    sub-step reads the binding itself: in progress, then succeeded."""
    services = blue_services(sim)
    request = filed_and_checked(cast["alice"], [ACME_PROD])
    sim.configure(job_delay=5)
    approve_and_trigger(request, cast["olga"])
    service_id = request.services.get().pk
    sim.control("DELETE", f"jobs/{recorded(service_id, 'job_guid', 'the binding job to be recorded')}")
    service = wait_state(service_id, State.AWAITING_VERIFICATION, timeout=90)
    assert not service.events.filter(to_state=State.STEP1_FAILED).exists()
    assert_one_of_each(sim, services)
    bindings = [b for b in sim.state()["bindings"] if b["app_guid"] == service.green_app_guid]
    assert sorted(b["state"] for b in bindings) == ["succeeded", "succeeded"]


def when_waiting_on_job(service_id: int, step: str) -> str:
    """The GUID of the CF job `step` waits on, once it is recorded."""

    def waiting():
        service = ServiceUpgrade.objects.get(pk=service_id)
        return service.job_guid if service.step == step else ""

    return wait_for(waiting, 90, f"{step} to wait on a CF job")


@pytest.mark.parametrize("step", ["delete_temp_route", "delete_blue"])
def test_a_step_2_job_cf_forgot_is_looked_up_on_the_resource(engine, sim, cast, step):
    """Finalization's delete jobs: when CF no longer knows the job, the sub-step looks at the route or
    app itself instead of failing Step 2 (and every Retry) on the 404."""
    request = filed_and_checked(cast["alice"], [ACME_PROD])
    approve_and_trigger(request, cast["olga"])
    service = wait_state(request.services.get().pk, State.AWAITING_VERIFICATION)
    sim.configure(job_delay=5)
    actions.apply_request_action(request=request, action=Action.CONFIRM, actor=cast["carol"])
    actions.apply_service_action(service=service, action=Action.TRIGGER, actor=cast["olga"])
    sim.control("DELETE", f"jobs/{when_waiting_on_job(service.pk, step)}")
    service = wait_state(service.pk, State.COMPLETED, timeout=90)
    assert not service.events.filter(to_state=State.STEP2_FAILED).exists()
    after = topology(sim, ACME_ZONE, ACME)
    assert after["apps"] == [(ACME, "STARTED", NEW, 2)] and after["temporary_routes"] == []


def test_a_rollback_job_cf_forgot_is_looked_up_on_the_apps(engine, sim, cast):
    before = topology(sim, ACME_ZONE, ACME)
    request = filed_and_checked(cast["alice"], [ACME_PROD])
    approve_and_trigger(request, cast["olga"])
    service = wait_state(request.services.get().pk, State.AWAITING_VERIFICATION)
    sim.configure(job_delay=5)
    actions.apply_service_action(
        service=service, action=Action.REPORT_PROBLEM, actor=cast["alice"], reason="gateways time out"
    )
    sim.control("DELETE", f"jobs/{when_waiting_on_job(service.pk, 'rb_delete_green')}")
    service = wait_state(service.pk, State.ROLLED_BACK, timeout=90)
    assert not service.events.filter(to_state=State.ROLLBACK_FAILED).exists()
    assert topology(sim, ACME_ZONE, ACME) == before
