"""Kept pages: served until what they show changes, per user, with the reader's own CSRF token, and
never a dependency (a cache that is down only means every page is rendered)."""

import re
import time

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.conftest import PASSWORD, make_user
from upgrades import engine, services
from upgrades.models import Release, ServiceUpgrade
from upgrades.workflow import Action, State

# One query for the signed-in user (and whether they are on the EC team); the session comes from
# the cache. A rendered request page makes ten.
KEPT_QUERIES = 1
DEAD_CACHE = {"default": {"BACKEND": "ecportal.cache.RedisCache", "LOCATION": "redis://127.0.0.1:9/0"}}


def served(client, path: str) -> tuple[str, int]:
    """The page's HTML and how many SQL queries serving it took."""
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return response.content.decode(), len(captured)


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _badge(html: str) -> str:
    return re.search(r'data-status="UR-\d+: ([^"]+)"', html)[1]


def test_a_kept_page_is_served_until_a_change_then_rendered_afresh(cast, filed):
    olga = signed_in(cast["olga"])
    path = f"/requests/{filed.pk}/"
    first, rendered = served(olga, path)
    again, kept = served(olga, path)
    assert kept == KEPT_QUERIES < rendered and _badge(again) == _badge(first) == "Submitted"
    services.apply_request_action(request=filed, action=Action.APPROVE, actor=cast["olga"])
    after, queries = served(olga, path)
    assert _badge(after) == "Approved" and queries == rendered
    queue, _ = served(olga, "/queue/")
    assert "Approved" in queue


def test_each_user_gets_their_own_page(cast, filed):
    path = f"/requests/{filed.pk}/"
    team_page, _ = served(signed_in(cast["olga"]), path)
    assert ">Approve</button>" in team_page and 'id="mail-log"' in team_page
    alice_page, _ = served(signed_in(cast["alice"]), path)
    assert ">Approve</button>" not in alice_page and 'id="mail-log"' not in alice_page
    assert "alice" in alice_page and ">olga" not in alice_page
    assert signed_in(cast["bob"]).get(path).status_code == 404


def test_signing_in_leaves_kept_pages_in_place(cast, filed):
    olga = signed_in(cast["olga"])
    path = f"/requests/{filed.pk}/"
    served(olga, path)
    signed_in(cast["alice"])  # updates alice's last_login
    assert served(olga, path)[1] == KEPT_QUERIES


def test_leaving_the_ec_team_takes_effect_on_the_next_page(cast, filed):
    olga = signed_in(cast["olga"])
    path = f"/requests/{filed.pk}/"
    assert ">Approve</button>" in served(olga, path)[0]
    cast["olga"].groups.clear()
    assert olga.get(path).status_code == 404
    assert olga.get("/queue/").status_code == 403


def test_a_deactivated_user_is_signed_out_at_once(cast, filed):
    olga = signed_in(cast["olga"])
    served(olga, "/queue/")
    type(cast["olga"]).objects.filter(pk=cast["olga"].pk).update(is_active=False)  # no signal
    assert olga.get("/queue/").status_code == 302


def test_a_kept_page_gets_a_fresh_csrf_token_that_posts(cast, filed):
    path = f"/requests/{filed.pk}/"
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(cast["olga"])
    rendered, _ = served(browser, path)
    kept, queries = served(browser, path)
    assert queries == KEPT_QUERIES
    tokens = re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', kept)
    assert len(set(tokens)) == 1 and tokens[0] not in rendered
    approve = browser.post(f"/requests/{filed.pk}/approve/", {"csrfmiddlewaretoken": tokens[0]})
    assert approve.status_code == 302
    assert ServiceUpgrade.objects.filter(request=filed, state=State.APPROVED).count() == 2


def test_pages_are_kept_per_browser_session(cast, filed):
    path = f"/requests/{filed.pk}/"
    first, second = signed_in(cast["olga"]), signed_in(cast["olga"])
    served(first, path)
    assert served(first, path)[1] == KEPT_QUERIES
    assert served(second, path)[1] > KEPT_QUERIES


def test_a_message_is_shown_once_by_a_rendered_page(cast, filed):
    olga = signed_in(cast["olga"])
    path = f"/requests/{filed.pk}/"
    served(olga, path)
    served(olga, path)
    response = olga.post(f"/requests/{filed.pk}/approve/", follow=True)
    assert f"{filed.reference}: approved." in response.content.decode()
    assert f"{filed.reference}: approved." not in served(olga, path)[0]


def test_a_page_with_a_running_clock_is_kept_for_a_second_at_most(cast, filed):
    services.apply_request_action(request=filed, action=Action.APPROVE, actor=cast["olga"])
    service = filed.services.first()
    services.apply_service_action(service=service, action=Action.TRIGGER, actor=cast["olga"])
    olga = signed_in(cast["olga"])
    path = f"/requests/{filed.pk}/live/"
    served(olga, path)
    _, kept = served(olga, path)
    assert kept == KEPT_QUERIES
    time.sleep(1.2)
    _, queries = served(olga, path)
    assert queries > KEPT_QUERIES


@pytest.mark.parametrize("write", ["record", "move_on", "wait", "retry_later", "record_calls"])
def test_every_engine_write_marks_the_page_out_of_date(cast, filed, write):
    from upgrades.cloudfoundry import CallRecord

    service = filed.services.first()
    ServiceUpgrade.objects.filter(pk=service.pk).update(state=State.STEP1_RUNNING, step="stage")
    claimed = engine.claim(service.pk, "stage", "test-owner")
    olga = signed_in(cast["olga"])
    path = f"/requests/{filed.pk}/"
    served(olga, path)
    served(olga, path)
    writes = {
        "record": lambda: engine.record(claimed, "test-owner", progress="staging: 40%"),
        "move_on": lambda: engine.move_on(claimed, "test-owner", "start_green"),
        "wait": lambda: engine.wait(claimed, "test-owner", 5, progress="staging: 40%"),
        "retry_later": lambda: engine.retry_later(claimed, "test-owner", "CF answered 502"),
        "record_calls": lambda: engine.record_calls(
            claimed, "stage", [CallRecord("GET", "/v3/builds/b", 200, 12, "vcap-1")]
        ),
    }
    writes[write]()
    _, queries = served(olga, path)
    assert queries > KEPT_QUERIES, f"{write} left the kept page in place"


def test_renaming_a_release_shows_on_every_request_page(cast, filed):
    olga = signed_in(cast["olga"])
    path = f"/requests/{filed.pk}/"
    served(olga, path)
    release = Release.objects.get(recommended=True)
    release.name = "okinawa.131"
    release.save()
    assert "okinawa.131" in served(olga, path)[0]


def test_with_the_cache_down_pages_sign_in_and_actions_still_work(cast, filed, settings):
    settings.CACHES = DEAD_CACHE
    browser = Client()
    signed = browser.post("/accounts/login/", {"username": "olga", "password": PASSWORD})
    assert signed.status_code == 302
    path = f"/requests/{filed.pk}/"
    assert _badge(served(browser, path)[0]) == "Submitted"
    assert browser.post(f"/requests/{filed.pk}/approve/").status_code == 302
    assert _badge(served(browser, path)[0]) == "Approved"
    assert browser.post("/accounts/logout/").status_code == 302
    assert browser.get(path).status_code == 302


def test_a_user_without_an_email_sees_their_pages(cast):
    nomail = make_user("nomail")
    type(nomail).objects.filter(pk=nomail.pk).update(email="")
    browser = signed_in(nomail)
    for path in ("/", "/requests/"):
        assert browser.get(path).status_code == 200, path


def test_the_audit_trail_cannot_be_deleted_in_the_admin(cast, filed):
    admin = signed_in(cast["root"])
    event = filed.events.first()
    assert admin.get(f"/admin/upgrades/event/{event.pk}/delete/").status_code == 403


def test_a_user_granted_the_permission_directly_is_on_the_ec_team(cast, filed):
    from django.contrib.auth.models import Permission

    dora = make_user("dora")
    assert signed_in(dora).get("/queue/").status_code == 403
    dora.user_permissions.add(Permission.objects.get(codename="operate"))
    assert signed_in(dora).get("/queue/").status_code == 200
    assert signed_in(cast["root"]).get("/queue/").status_code == 200
