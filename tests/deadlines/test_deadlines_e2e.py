"""Deadlines through a real worker and beat against cfsim over HTTP: a test window that ends rolls the
service back; the previous release restored within its retention window; the sweep of leftovers."""

import hashlib
import json

import pytest
from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient

from ecportal.embedded import demo_foundations, demo_secrets
from tests.engine.conftest import (
    ACME,
    ACME_PROD,
    ACME_ZONE,
    NEW,
    OLD,
    approve_and_trigger,
    filed_and_checked,
    topology,
    wait_for,
    wait_state,
)
from upgrades import dispatch, foundations
from upgrades.cloudfoundry.factory import client_for
from upgrades.engine import cleanup
from upgrades.engine.plan import fingerprint
from upgrades.models import Leftover, Notification, ServiceUpgrade
from upgrades.workflow import Plan, State

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def cf_picture(sim) -> dict:
    """Every app (name, state, labels, image) and every route with its destinations, by GUID."""
    state = sim.state()
    apps = {
        a["guid"]: (a["name"], a["state"], a["labels"], a["image"], a["instances"]) for a in state["apps"]
    }
    routes = {
        r["guid"]: (r["url"], r["labels"], sorted(d["app_guid"] for d in r["destinations"]))
        for r in state["routes"]
    }
    return {"apps": apps, "routes": routes}


def test_a_test_window_that_ends_without_a_confirmation_rolls_the_service_back(engine, sim, cast):
    before = topology(sim, ACME_ZONE, ACME)
    request = filed_and_checked(cast["alice"], [ACME_PROD], plan=Plan.TEST_FIRST)
    approve_and_trigger(request, cast["olga"])
    service = wait_state(request.services.get().pk, State.AWAITING_VERIFICATION)
    assert service.test_window_ends_at is not None, "the window's clock runs while the users test"
    service = wait_state(service.pk, State.ROLLED_BACK)
    assert topology(sim, ACME_ZONE, ACME) == before
    assert service.test_window_ended_at is not None
    ended = service.events.get(to_state=State.ROLLING_BACK)
    assert ended.actor_label == "system" and "test window ended" in ended.message
    assert Notification.objects.filter(request=request, milestone="window_ended").count() == 1
    assert not Notification.objects.filter(request=request, milestone="problem_reported").exists()


def test_restoring_within_the_retention_window_gives_the_exact_starting_topology(engine, sim, cast):
    before = cf_picture(sim)
    request = filed_and_checked(cast["alice"], [ACME_PROD], plan=Plan.BACK_TO_BACK)
    approve_and_trigger(request, cast["olga"])
    service = wait_state(request.services.get().pk, State.COMPLETED)
    middle = topology(sim, ACME_ZONE, ACME)
    assert middle["serving"] == [(ACME, NEW)], "the new app carries the original name and serves alone"
    aside = f"{ACME}-previous-{service.pk}"
    assert middle["apps"] == [(ACME, "STARTED", NEW, 2), (aside, "STOPPED", OLD, 0)]
    kept = cf_picture(sim)["apps"][service.blue_app_guid]
    assert kept[2] == {settings.ENGINE_LABEL: str(service.pk)}, "the old app is labelled as ours"
    assert service.restorable and not service.blue_deleted

    api = APIClient()
    api.force_authenticate(cast["olga"])
    body = api.get(f"/api/requests/{request.pk}/", format="json").json()["services"][0]
    assert "restore" in body["allowed_actions"] and body["previous_release_kept_until"]
    answer = api.post(f"/api/services/{service.pk}/restore/", {}, format="json")
    assert answer.status_code == 200, answer.content
    wait_state(service.pk, State.ROLLED_BACK)
    assert cf_picture(sim) == before, "the old app serves the original URL alone, under its own name"
    status, page, _ = sim.route(f"{ACME_ZONE}.run.aws-usw02-pr.ice.predix.io")
    assert status == 200 and page["version"] == "sendai.120"


def cf_client(sim, monkeypatch, slug: str):
    """A CF client of this process for the test's cfsim, as the portal's workers have."""
    monkeypatch.setattr(foundations, "_configured", lambda: foundations.parse(demo_foundations(sim.api_url)))
    for name, value in demo_secrets().items():
        monkeypatch.setenv(name, value)
    return client_for(foundations.by_slug(slug))


def test_the_sweep_finds_a_planted_orphan_and_removes_it_and_nothing_else(
    engine, sim, cast, client, monkeypatch
):
    request = filed_and_checked(cast["alice"], [ACME_PROD], plan=Plan.BACK_TO_BACK)
    approve_and_trigger(request, cast["olga"])
    service = wait_state(request.services.get().pk, State.COMPLETED)
    cf = cf_client(sim, monkeypatch, service.foundation)
    orphan = cf.create_app(
        "orphan-of-an-ended-upgrade", service.space_guid, labels={settings.ENGINE_LABEL: str(service.pk)}
    )
    bystander = cf.create_app("someone-elses-app", service.space_guid, labels={"team": "acme"})
    kept = cf_picture(sim)
    assert orphan.guid in kept["apps"] and bystander.guid in kept["apps"]

    dispatch.send(dispatch.SWEEP_LEFTOVERS)
    found = wait_for(lambda: list(Leftover.objects.all()), 30, "the sweep to record what it found")
    assert [(item.kind, item.guid, item.upgrade_label) for item in found] == [
        ("app", orphan.guid, str(service.pk))
    ]
    client.force_login(cast["olga"])
    home = client.get("/").content.decode()
    assert "Left behind on Cloud Foundry" in home and orphan.guid in home
    client.force_login(cast["alice"])
    assert orphan.guid not in client.get("/").content.decode(), "only the EC team sees leftovers"
    assert client.post("/leftovers/clean/").status_code == 403

    client.force_login(cast["olga"])
    assert client.post("/leftovers/clean/").status_code == 302
    wait_for(
        lambda: orphan.guid not in cf_picture(sim)["apps"] and not Leftover.objects.exists(),
        30,
        "the clean-up to remove the orphan",
    )
    after = cf_picture(sim)
    del kept["apps"][orphan.guid]
    assert after == kept, "the live app, the kept old app and the bystander are untouched"


def test_a_failed_step_shows_what_cf_looks_like_now_against_what_it_expected(engine, sim, cast, client):
    original = next(r["guid"] for r in sim.state()["routes"] if r["url"].startswith(ACME_ZONE + "."))
    sim.add_fault(
        method="POST",
        path=f"^/v3/routes/{original}/destinations$",
        status=422,
        title="CF-UnprocessableEntity",
    )
    request = filed_and_checked(cast["alice"], [ACME_PROD], plan=Plan.BACK_TO_BACK)
    approve_and_trigger(request, cast["olga"])
    service = wait_state(request.services.get().pk, State.STEP2_FAILED)
    assert service.step == "map_original"
    observed = wait_for(
        lambda: ServiceUpgrade.objects.get(pk=service.pk).cf_observed, 30, "CF to be read after the failure"
    )
    assert {k: v for k, v in observed.items() if k != "at"} == {
        "serving": ["old"],
        "old": "STARTED",
        "new": "STARTED",
        "temporary_route": "present",
    }
    client.force_login(cast["olga"])
    page = client.get(f"/requests/{request.pk}/").content.decode()
    assert "Cloud Foundry now, against what the step expected" in page
    assert "differs" not in page.split("cf-compare", 1)[1].split("</table>", 1)[0]


def test_when_the_retention_window_ends_beat_deletes_the_old_app_and_restore_is_no_longer_offered(
    engine, sim, cast, api
):
    request = filed_and_checked(cast["alice"], [ACME_PROD], plan=Plan.BACK_TO_BACK)
    approve_and_trigger(request, cast["olga"])
    service = wait_state(request.services.get().pk, State.COMPLETED)
    assert service.blue_app_guid in cf_picture(sim)["apps"]
    # The hour of retention has passed, as far as the portal knows.
    ServiceUpgrade.objects.filter(pk=service.pk).update(blue_retained_until=timezone.now())
    wait_for(lambda: service.blue_app_guid not in cf_picture(sim)["apps"], 30, "beat to delete the old app")
    service.refresh_from_db()
    assert service.blue_deleted and not service.restorable
    assert topology(sim, ACME_ZONE, ACME)["apps"] == [(ACME, "STARTED", NEW, 2)]
    answer = api(cast["olga"]).post(f"/api/services/{service.pk}/restore/", {}, format="json")
    assert answer.status_code == 409
    assert service.events.filter(message__contains="retention window ended").count() == 1


def test_an_old_app_whose_deletion_failed_is_deleted_by_a_later_round(engine, sim, cast):
    request = filed_and_checked(cast["alice"], [ACME_PROD], plan=Plan.BACK_TO_BACK)
    approve_and_trigger(request, cast["olga"])
    service = wait_state(request.services.get().pk, State.COMPLETED)
    fault = sim.add_fault(
        method="DELETE",
        path=f"^/v3/apps/{service.blue_app_guid}$",
        status=422,
        title="CF-UnprocessableEntity",
    )
    ServiceUpgrade.objects.filter(pk=service.pk).update(blue_retained_until=timezone.now())
    wait_for(
        lambda: any(
            c["method"] == "DELETE" and c["path"] == f"/v3/apps/{service.blue_app_guid}" for c in sim.calls()
        ),
        30,
        "beat to try to delete the old app",
    )
    service.refresh_from_db()
    assert service.blue_deleted and service.blue_removed_at is None, "claimed, not done"
    assert service.blue_app_guid in cf_picture(sim)["apps"]
    sim.control("DELETE", f"faults/{fault['id']}")
    wait_for(lambda: service.blue_app_guid not in cf_picture(sim)["apps"], 30, "a later round to delete it")
    wait_for(
        lambda: ServiceUpgrade.objects.get(pk=service.pk).blue_removed_at, 30, "the deletion to be recorded"
    )
    assert service.events.filter(message__contains="retention window ended").count() == 1


def test_an_old_app_that_still_serves_a_route_is_kept_and_the_ec_team_told(engine, sim, cast, monkeypatch):
    request = filed_and_checked(cast["alice"], [ACME_PROD], plan=Plan.BACK_TO_BACK)
    approve_and_trigger(request, cast["olga"])
    service = wait_state(request.services.get().pk, State.COMPLETED)
    cf = cf_client(sim, monkeypatch, service.foundation)
    route = cf.create_route("someone-elses-route", service.domain_guid, service.space_guid)
    cf.insert_destination(route.guid, service.blue_app_guid)
    ServiceUpgrade.objects.filter(pk=service.pk).update(blue_retained_until=timezone.now())
    note = wait_for(
        lambda: service.events.filter(message__contains="still serves a route").first(),
        30,
        "the clean-up to say why the old app is kept",
    )
    assert "is not deleted" in note.message
    assert service.blue_app_guid in cf_picture(sim)["apps"]
    assert ServiceUpgrade.objects.get(pk=service.pk).blue_removed_at is None


def test_a_step_1_rollback_keeps_the_label_an_earlier_upgrade_left_on_the_app(engine, sim, cast, monkeypatch):
    cf = cf_client(sim, monkeypatch, "predix-west")
    blue = next(a for a in cf_picture(sim)["apps"].items() if a[1][0] == ACME)[0]
    cf.update_app(
        blue, name=ACME, labels={settings.ENGINE_LABEL: "999999"}
    )  # the green of an earlier upgrade
    request = filed_and_checked(cast["alice"], [ACME_PROD], plan=Plan.TEST_FIRST)
    approve_and_trigger(request, cast["olga"])
    service = wait_state(request.services.get().pk, State.ROLLED_BACK)  # its test window ran out
    assert service.blue_app_guid == blue
    assert cf_picture(sim)["apps"][blue][2] == {settings.ENGINE_LABEL: "999999"}


def test_the_plan_says_the_old_app_is_kept_for_the_retention_window_and_its_fingerprint_does_not_depend_on_it(
    engine, cast
):
    service = filed_and_checked(cast["alice"], [ACME_PROD]).services.get()
    plan = service.change_plan
    fate = next(item["what"] for item in plan["delete"] if item["guid"] == service.blue_app_guid)
    assert (
        fate == f"stopped, renamed {ACME}-previous-{service.pk} and kept 1 hour for a restore, then deleted"
    )
    # A plan approved when the old app was simply deleted (the first wording) keeps its fingerprint.
    first = {
        **plan,
        "delete": [
            {**item, "what": "stopped, then deleted"} if item["guid"] == service.blue_app_guid else item
            for item in plan["delete"]
        ],
    }
    canonical = json.dumps(first, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert service.plan_fingerprint == fingerprint(plan) == hashlib.sha256(canonical.encode()).hexdigest()


def test_the_sweep_lists_but_never_deletes_what_carries_an_upgrade_id_this_portal_does_not_know(
    engine, sim, cast, monkeypatch
):
    request = filed_and_checked(cast["alice"], [ACME_PROD], plan=Plan.BACK_TO_BACK)
    approve_and_trigger(request, cast["olga"])
    service = wait_state(request.services.get().pk, State.COMPLETED)
    cf = cf_client(sim, monkeypatch, service.foundation)
    ours = cf.create_app(
        "orphan-of-ours", service.space_guid, labels={settings.ENGINE_LABEL: str(service.pk)}
    )
    unknown = str(ServiceUpgrade.objects.order_by("-pk").first().pk + 1000)
    theirs = cf.create_app("another-portals-app", service.space_guid, labels={settings.ENGINE_LABEL: unknown})
    their_route = cf.create_route(
        "another-portals-route",
        service.domain_guid,
        service.space_guid,
        labels={settings.ENGINE_LABEL: unknown},
    )

    cleanup.sweep(clean=True)
    after = cf_picture(sim)
    assert ours.guid not in after["apps"], "an orphan of this portal's ended upgrade is removed"
    assert theirs.guid in after["apps"] and their_route.guid in after["routes"]
    listed = {item.guid: item for item in Leftover.objects.filter(upgrade_label=unknown)}
    assert set(listed) == {theirs.guid, their_route.guid}
    assert all("never deleted" in item.reason for item in listed.values())
