"""The test window's clock, reminders, end and extension, and the restore and clean-up actions' refusals,
in this process against the database (the end-to-end runs are in tests/deadlines/)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.conftest import file_request
from tests.notifications.conftest import walk
from upgrades import actions, deadlines, windows, workflow
from upgrades.models import Delivery, Event, Notification, WindowReminder
from upgrades.workflow import Action, Plan, State

DAY = 24 * 3600


@pytest.fixture(autouse=True)
def _deadline_settings(settings):
    settings.TEST_WINDOW_SECONDS = 5 * DAY
    settings.TEST_WINDOW_REMINDERS = [DAY, 3600]
    settings.TEST_WINDOW_EXTENSION_SECONDS = 2 * DAY
    settings.TEST_WINDOW_ON_END = "escalate"
    settings.EC_TEAM_EMAILS = ["olga@example.com"]


@pytest.fixture
def awaiting(cast, releases):
    """A test-first service of alice's, Step 1 done: it awaits the users' test."""
    request = file_request(cast["alice"])
    actions.apply_request_action(request=request, action=Action.APPROVE, actor=cast["olga"])
    return walk(request.services.get(), State.AWAITING_VERIFICATION)


def test_the_window_opens_when_step_1_completes_and_only_for_test_first(cast, releases, awaiting):
    left = (awaiting.test_window_ends_at - timezone.now()).total_seconds()
    assert 5 * DAY - 60 < left <= 5 * DAY
    request = file_request(
        cast["alice"],
        ["https://" + "1" * 8 + "-1111-4111-8111-" + "1" * 12 + ".run.aws-usw02-pr.ice.predix.io"],
        plan=Plan.BACK_TO_BACK,
    )
    service = request.services.get()
    assert (
        windows.clock_updates(service, State.STEP1_RUNNING, State.AWAITING_VERIFICATION, timezone.now()) == {}
    )


def test_the_clock_stands_still_outside_awaiting_verification_and_runs_on_from_where_it_stopped(awaiting):
    now = timezone.now()
    stopped = windows.clock_updates(
        awaiting, State.AWAITING_VERIFICATION, State.ROLLING_BACK, now + timedelta(days=2)
    )
    assert stopped["test_window_ends_at"] is None
    assert stopped["test_window_left"] == pytest.approx(3 * DAY, abs=60)
    awaiting.test_window_ends_at, awaiting.test_window_left = None, stopped["test_window_left"]
    later = now + timedelta(days=20)  # however long the EC team took
    assert windows.seconds_left(awaiting, later) == stopped["test_window_left"]
    resumed = windows.clock_updates(awaiting, State.STEP1_RUNNING, State.AWAITING_VERIFICATION, later)
    assert resumed["test_window_ends_at"] == later + timedelta(seconds=stopped["test_window_left"])


def test_reminders_go_once_per_offset_to_the_requester_and_contacts(awaiting, time_machine):
    assert deadlines.check_windows() == {"reminded": 0, "ended": 0}
    time_machine.move_to(awaiting.test_window_ends_at - timedelta(hours=23))
    assert deadlines.check_windows()["reminded"] == 1
    assert deadlines.check_windows()["reminded"] == 0, "never twice"
    time_machine.move_to(awaiting.test_window_ends_at - timedelta(minutes=30))
    assert deadlines.check_windows()["reminded"] == 1
    assert deadlines.check_windows()["reminded"] == 0
    reminders = Notification.objects.filter(milestone="window_reminder")
    assert reminders.count() == 2
    recipients = sorted(
        Delivery.objects.filter(notification__in=reminders).values_list("recipient", flat=True)
    )
    assert recipients == sorted(["alice@example.com", "carol@example.com"] * 2)
    assert set(WindowReminder.objects.values_list("offset_seconds", flat=True)) == {DAY, 3600}


def test_reminders_due_together_make_one_mail(awaiting, time_machine):
    time_machine.move_to(awaiting.test_window_ends_at - timedelta(minutes=10))
    assert deadlines.check_windows()["reminded"] == 1
    assert deadlines.check_windows()["reminded"] == 0
    assert Notification.objects.filter(milestone="window_reminder").count() == 1


def test_an_ended_window_escalates_to_the_ec_team_and_its_clock_stops(awaiting, time_machine, cast):
    time_machine.move_to(awaiting.test_window_ends_at + timedelta(seconds=1), tick=False)
    assert deadlines.check_windows() == {"reminded": 0, "ended": 1}
    assert deadlines.check_windows()["ended"] == 0, "told once"
    awaiting.refresh_from_db()
    assert awaiting.state == State.AWAITING_VERIFICATION and awaiting.test_window_ends_at is None
    told = Notification.objects.get(milestone="window_ended")
    assert list(told.deliveries.values_list("recipient", flat=True)) == ["olga@example.com"]
    assert Event.objects.filter(service=awaiting, message__contains="waiting for the EC team").exists()
    extended = deadlines.extend_window(service=awaiting, actor=cast["olga"])
    assert extended.test_window_ended_at is None and extended.test_window_round == 1
    assert extended.test_window_ends_at == timezone.now() + timedelta(days=2)


def test_an_ended_window_rolls_back_when_so_configured(awaiting, time_machine, settings):
    settings.TEST_WINDOW_ON_END = "rollback"
    time_machine.move_to(awaiting.test_window_ends_at + timedelta(seconds=1))
    assert deadlines.check_windows()["ended"] == 1
    awaiting.refresh_from_db()
    assert awaiting.state == State.ROLLING_BACK and awaiting.rollback_outcome == State.ROLLED_BACK
    assert not Notification.objects.filter(milestone="problem_reported").exists()


def test_only_the_ec_team_extends_and_only_while_the_users_test(awaiting, cast, api):
    with pytest.raises(workflow.NotAllowed):
        deadlines.extend_window(service=awaiting, actor=cast["alice"])
    url = f"/api/services/{awaiting.pk}/extend-window/"
    assert api(cast["alice"]).post(url, {}, format="json").status_code == 403
    assert api(cast["bob"]).post(url, {}, format="json").status_code == 404
    assert api(cast["olga"]).post(url, {"hours": "soon"}, format="json").status_code == 400
    before = awaiting.test_window_ends_at
    answer = api(cast["olga"]).post(url, {"hours": 12}, format="json")
    assert answer.status_code == 200, answer.content
    awaiting.refresh_from_db()
    assert awaiting.test_window_ends_at == before + timedelta(hours=12)
    actions.apply_service_action(service=awaiting, action=Action.CONFIRM, actor=cast["alice"])
    assert api(cast["olga"]).post(url, {}, format="json").status_code == 409


def test_the_request_page_shows_the_countdown_and_the_ec_team_extends_it_there(awaiting, cast, client):
    page = f"/requests/{awaiting.request_id}/"
    client.force_login(cast["alice"])
    shown = client.get(page).content.decode()
    assert "4 days 23 h" in shown and "Extend the test window" not in shown
    client.force_login(cast["olga"])
    assert "Extend the test window" in client.get(page).content.decode()
    answer = client.post(
        f"/requests/{awaiting.request_id}/services/{awaiting.pk}/extend-window/", follow=True
    )
    assert "test window extended" in answer.content.decode()
    assert "6 days 23 h" in answer.content.decode()


def test_restore_is_refused_once_the_old_app_is_gone(cast, releases, api):
    request = file_request(cast["alice"])
    actions.apply_request_action(request=request, action=Action.APPROVE, actor=cast["olga"])
    service = walk(request.services.get(), State.COMPLETED, actor=cast["alice"])
    assert (
        "restore"
        not in api(cast["olga"]).get(f"/api/requests/{request.pk}/").json()["services"][0]["allowed_actions"]
    )
    assert (
        api(cast["olga"]).post(f"/api/services/{service.pk}/restore/", {}, format="json").status_code == 409
    )
    assert (
        api(cast["alice"]).post(f"/api/services/{service.pk}/restore/", {}, format="json").status_code == 403
    )


def test_clean_up_is_for_the_ec_team_only(cast, client):
    client.force_login(cast["alice"])
    assert client.post("/leftovers/clean/").status_code == 403
    client.force_login(cast["olga"])
    assert client.get("/leftovers/clean/").status_code == 405


def test_a_failed_service_shows_where_cf_differs_from_what_the_step_expected(cast, releases):
    from upgrades.web import cf_compare

    request = file_request(cast["alice"])
    actions.apply_request_action(request=request, action=Action.APPROVE, actor=cast["olga"])
    service = walk(request.services.get(), State.STEP1_FAILED)
    assert cf_compare.rows(service) == [], "nothing to show before CF was read"
    service.step = "unmap_blue"
    service.cf_observed = {"serving": ["old"], "old": "STARTED", "new": "STARTED (1 of 2 running)"}
    rows = {row.label: row for row in cf_compare.rows(service)}
    assert (
        rows["Original route serves"].differs
        and rows["Original route serves"].expected == "the new app and the old app"
    )
    assert rows["New app"].differs and not rows["Old app"].differs
    assert not rows["Temporary route"].differs and rows["Temporary route"].expected == "—"


def test_restore_is_refused_once_a_later_upgrade_of_the_service_is_filed(cast, releases, api):
    request = file_request(cast["alice"])
    actions.apply_request_action(request=request, action=Action.APPROVE, actor=cast["olga"])
    service = walk(request.services.get(), State.COMPLETED, actor=cast["alice"])
    service.blue_app_guid, service.blue_retained_until = "blue-guid", timezone.now() + timedelta(hours=1)
    service.save(update_fields=["blue_app_guid", "blue_retained_until"])
    assert (
        "restore"
        in api(cast["olga"]).get(f"/api/requests/{request.pk}/").json()["services"][0]["allowed_actions"]
    )
    file_request(cast["alice"])  # the same service again
    answer = api(cast["olga"]).post(f"/api/services/{service.pk}/restore/", {}, format="json")
    assert answer.status_code == 409 and "later upgrade" in answer.json()["detail"]
    service.refresh_from_db()
    assert service.state == State.COMPLETED
