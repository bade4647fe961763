"""The campaign pages: from the Fleet page's filters to a draft, what the draft shows, the controls."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from upgrades import actions, campaign_driver
from upgrades.models import Campaign, Event, ServiceUpgrade
from upgrades.workflow import State

from .test_campaign_api import body, inventory, preflight_passed, zone  # noqa: F401 (fixture)


def test_a_campaign_is_drafted_from_the_fleet_pages_filters(client, cast, inventory):  # noqa: F811
    client.force_login(cast["olga"])
    fleet = client.get("/fleet/?release=sendai.120")
    assert "Create a campaign from these 6 services" in fleet.content.decode()
    assert 'href="/campaigns/new/?release=sendai.120"' in fleet.content.decode()

    form = client.get("/campaigns/new/?release=sendai.120")
    assert form.status_code == 200
    assert form.context["form"].initial["services"].splitlines() == [zone(n) for n in range(1, 7)]

    created = client.post(
        "/campaigns/new/",
        {
            "name": "West first",
            "release": form.context["form"].initial["release"].pk,
            "services": form.context["form"].initial["services"],
            "plan": "back_to_back",
            "canary_size": 1,
            "wave_size": 5,
            "max_parallel": 5,
            "pause_seconds": "",
            "failure_budget": 1,
        },
    )
    campaign = Campaign.objects.get()
    assert created.status_code == 302 and created["Location"] == f"/campaigns/{campaign.pk}/"
    assert campaign.pause_seconds is None and campaign.canary_size == 1

    page = client.get(f"/campaigns/{campaign.pk}/").content.decode()
    assert "Draft" in page and "ec-svc-1" in page and "sendai.120" in page
    assert "nobody approves their own" in page and f'action="/campaigns/{campaign.pk}/approve/"' not in page
    assert "after each wave, wait for a person to continue" in page


def test_bad_services_are_named_next_to_the_field(client, cast, inventory):  # noqa: F811
    client.force_login(cast["olga"])
    fields = body(services="https://nope.example.com\n" + zone(1), release="", pause_seconds="")
    fields["release"] = Campaign._meta.get_field("release").related_model.objects.get(name="okinawa.130").pk
    refused = client.post("/campaigns/new/", fields)
    assert refused.status_code == 200
    assert "Line 1: the host must start with the zone ID" in refused.content.decode()
    assert not Campaign.objects.exists()


def test_campaign_pages_are_the_ec_teams_and_their_controls_post(client, cast, inventory):  # noqa: F811
    client.force_login(cast["olga"])
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_login(cast["olga"])
    campaign_id = api.post("/api/campaigns/", body(), format="json").data["id"]
    preflight_passed(campaign_id)

    assert client.post(f"/campaigns/{campaign_id}/approve/").status_code == 403  # her own
    client.force_login(cast["oscar"])
    assert client.get(f"/campaigns/{campaign_id}/approve/").status_code == 405
    approved = client.post(f"/campaigns/{campaign_id}/approve/", follow=True)
    assert f"CA-{campaign_id}: approved." in approved.content.decode()
    live = client.get(f"/campaigns/{campaign_id}/live/").content.decode()
    assert "Start now" in live and "Wave" in live
    assert "Campaigns under way" not in client.get("/").content.decode()
    client.post(f"/campaigns/{campaign_id}/start/")
    assert "Campaigns under way" in client.get("/").content.decode()
    running = client.get(f"/campaigns/{campaign_id}/live/").content.decode()
    assert "Pause" in running and "Continue to the next wave" not in running  # only between waves
    wrong = client.post(f"/campaigns/{campaign_id}/continue/", follow=True).content.decode()
    assert "Continue starts the next wave once it has" in wrong

    client.force_login(cast["alice"])
    for path in (
        "/campaigns/",
        "/campaigns/new/",
        f"/campaigns/{campaign_id}/",
        f"/campaigns/{campaign_id}/live/",
    ):
        assert client.get(path).status_code == 403, path
    assert client.post(f"/campaigns/{campaign_id}/abort/").status_code == 403
    assert "Campaigns" not in client.get("/").content.decode().split("<main")[0]


def test_abort_asks_what_started_services_do_and_the_page_follows_a_roll_back(client, api, cast, inventory):  # noqa: F811
    campaign_id = api(cast["olga"]).post("/api/campaigns/", body(), format="json").data["id"]
    preflight_passed(campaign_id)
    client.force_login(cast["oscar"])
    client.post(f"/campaigns/{campaign_id}/approve/")
    client.post(f"/campaigns/{campaign_id}/start/")
    live = client.get(f"/campaigns/{campaign_id}/live/").content.decode()
    assert '<input type="radio" name="running" value="finish" checked>' in live
    assert 'name="running" value="rollback"' in live
    assert "Roll back every service this campaign touched that has not completed" in live

    # Without a worker, the engine's moves are made here: one service completed (blue deleted), one
    # waits for verification, one is in Step 1; the others have not started.
    done, waiting, in_step1, *rest = ServiceUpgrade.objects.filter(campaign_id=campaign_id).order_by("id")
    moved(done, State.STEP1_RUNNING, State.STEP2_RUNNING, State.COMPLETED)
    ServiceUpgrade.objects.filter(pk=done.pk).update(blue_deleted=True)
    moved(waiting, State.STEP1_RUNNING, State.AWAITING_VERIFICATION)
    moved(in_step1, State.STEP1_RUNNING)

    refused = client.post(f"/campaigns/{campaign_id}/abort/", {"running": "later"}, follow=True)
    assert "Say what running services do: finish or rollback" in refused.content.decode()
    assert Campaign.objects.get(pk=campaign_id).state == Campaign.State.RUNNING

    aborted = client.post(f"/campaigns/{campaign_id}/abort/", {"running": "rollback"}, follow=True)
    page = aborted.content.decode()
    assert f"CA-{campaign_id}: aborted." in page
    assert states(done, waiting, in_step1) == [State.COMPLETED, State.ROLLING_BACK, State.STEP1_RUNNING]
    assert {s.state for s in states_of(rest)} == {State.CANCELLED}
    assert "The abort is under way: 1 service still in a running step" in page
    assert "1 completed service is left as it is: past the point of no return" in page
    assert 'hx-trigger="every 2s"' in page

    # Step 1 ends: the driver rolls that one back, in oscar's name, once.
    moved(in_step1, State.AWAITING_VERIFICATION)
    assert campaign_driver.drive(campaign_id) == 0
    assert campaign_driver.drive(campaign_id) == 0
    assert states(done, waiting, in_step1) == [State.COMPLETED, State.ROLLING_BACK, State.ROLLING_BACK]
    rollbacks = Event.objects.filter(service__campaign_id=campaign_id, to_state=State.ROLLING_BACK)
    assert list(rollbacks.values_list("actor__username", flat=True)) == ["oscar", "oscar"]
    assert Campaign.objects.get(pk=campaign_id).ended_at is None

    # Both rollbacks end: so does the abort, and the page stops asking for itself.
    moved(waiting, State.ROLLED_BACK)
    moved(in_step1, State.ROLLED_BACK)
    campaign_driver.drive(campaign_id)
    assert Campaign.objects.get(pk=campaign_id).ended_at is not None
    ended = client.get(f"/campaigns/{campaign_id}/live/").content.decode()
    assert "The abort ended at" in ended and "2 rolled back" in ended and "hx-trigger" not in ended


def moved(service: ServiceUpgrade, *targets: State) -> None:
    """The engine's moves of `service`, one after another."""
    for target in targets:
        service.refresh_from_db()
        actions.transition(service, target=target, actor=actions.SYSTEM)


def states(*services: ServiceUpgrade) -> list[str]:
    return [s.state for s in states_of(services)]


def states_of(services) -> list[ServiceUpgrade]:
    for service in services:
        service.refresh_from_db()
    return list(services)


def test_the_live_part_groups_failures_in_the_same_queries_however_many(client, api, cast, inventory):  # noqa: F811
    campaign_id = api(cast["olga"]).post("/api/campaigns/", body(failure_budget=6), format="json").data["id"]
    preflight_passed(campaign_id)
    client.force_login(cast["oscar"])
    client.post(f"/campaigns/{campaign_id}/approve/")
    client.post(f"/campaigns/{campaign_id}/start/")
    first, second, third, fourth, fifth, sixth = ServiceUpgrade.objects.filter(
        campaign_id=campaign_id, wave__isnull=False
    ).order_by("id")
    staging = "Cloud Foundry could not finish staging: no such image\nsecond line"
    for service in (first, second):
        failed(service, staging)
    failed(third, "CF unreachable (timed out)")
    moved(fourth, State.STEP1_RUNNING, State.STEP2_RUNNING, State.COMPLETED)
    path = f"/campaigns/{campaign_id}/live/"
    client.get(path)  # the session read once
    with CaptureQueriesContext(connection) as fewer:
        client.get(path)

    failed(fifth, staging)  # the sixth is still to start: the ETA is computed both times
    with CaptureQueriesContext(connection) as more:
        page = client.get(path).content.decode()

    assert len(more) == len(fewer)
    groups = page.split("<h2>Failures</h2>")[1].split("</ul>")[0]
    unreachable = groups.index("CF unreachable (timed out)</strong> (1)")
    assert groups.index("no such image</strong> (3)") < unreachable
    assert "second line" not in groups and sixth.state == State.APPROVED
    assert '<span class="count">4</span> <span class="badge s-step1_failed">' in page


def failed(service: ServiceUpgrade, error: str) -> None:
    moved(service, State.STEP1_RUNNING)
    actions.transition(service, target=State.STEP1_FAILED, actor=actions.SYSTEM, updates={"error": error})
