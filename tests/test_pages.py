"""The pages: login, roles, buttons shown only where allowed, PRG actions, CSRF, the queue."""

from datetime import timedelta

import pytest
from django.db.models import F
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.html import strip_tags

from tests.conftest import NONPROD, PASSWORD, PROD, file_request
from upgrades import actions
from upgrades.models import Event, Preflight, ServiceUpgrade
from upgrades.workflow import Action, Plan, State


def test_anonymous_visitors_reach_only_the_login_page(client, filed):
    for path in ["/", "/requests/", "/requests/new/", f"/requests/{filed.pk}/", "/queue/"]:
        response = client.get(path)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/"), path
    login = client.get("/accounts/login/").content.decode()
    assert "Username" in login and "Password" in login and ">Log in</button>" in login


def test_login_and_logout(client, cast):
    response = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/"
    home = client.get("/").content.decode()
    assert "New upgrade request" in home and 'href="/requests/new/"' in home
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/").status_code == 302


def test_repeated_failures_pause_that_username_briefly_wherever_they_come_from(cast, settings, time_machine):
    settings.AXES_FAILURE_LIMIT = 3
    attacker = Client()
    for _ in range(3):
        attacker.post("/accounts/login/", {"username": "alice", "password": "wrong"}, REMOTE_ADDR="10.1.1.1")
    paused = Client().post(
        "/accounts/login/", {"username": "alice", "password": PASSWORD}, REMOTE_ADDR="10.2.2.2"
    )
    assert paused.status_code == 429 and "pauses for 30 seconds" in paused.content.decode()
    colleague = Client()
    ok = colleague.post("/accounts/login/", {"username": "bob", "password": PASSWORD}, REMOTE_ADDR="10.1.1.1")
    assert ok.status_code == 302, "another user behind the same address is not slowed down"
    time_machine.move_to(timezone.now() + timedelta(seconds=31))
    later = Client().post(
        "/accounts/login/", {"username": "alice", "password": PASSWORD}, REMOTE_ADDR="10.2.2.2"
    )
    assert later.status_code == 302, "a pause, never a long lockout"


def test_the_recorded_address_is_the_client_behind_the_trusted_proxies(cast, settings):
    from axes.models import AccessAttempt

    # A load balancer, then CF's router: each appends the address it saw; the client forged the first.
    settings.TRUSTED_PROXY_HOPS = 2
    Client().post(
        "/accounts/login/",
        {"username": "alice", "password": "wrong"},
        REMOTE_ADDR="10.0.0.9",
        HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.7, 10.0.0.2",
    )
    assert AccessAttempt.objects.get(username="alice").ip_address == "203.0.113.7"
    settings.TRUSTED_PROXY_HOPS = 0  # no proxy: X-Forwarded-For is the client's own word, ignored
    Client().post(
        "/accounts/login/", {"username": "bob", "password": "wrong"}, HTTP_X_FORWARDED_FOR="6.6.6.6"
    )
    assert AccessAttempt.objects.get(username="bob").ip_address == "127.0.0.1"


def _page(client, user, path) -> str:
    client.force_login(user)
    return client.get(path).content.decode()


def test_buttons_show_only_where_allowed(client, cast, filed):
    path = f"/requests/{filed.pk}/"
    olga = _page(client, cast["olga"], path)
    assert ">Approve</button>" in olga and ">Reject</button>" in olga and "Cancel" in olga
    alice = _page(client, cast["alice"], path)
    assert ">Approve</button>" not in alice and ">Reject</button>" not in alice and "<summary>Cancel" in alice
    carol = _page(client, cast["carol"], path)
    assert ">Approve</button>" not in carol and "<summary>Cancel" not in carol and "Submitted" in carol


def test_request_page_is_404_for_others(client, cast, filed):
    client.force_login(cast["bob"])
    assert client.get(f"/requests/{filed.pk}/").status_code == 404
    assert client.post(f"/requests/{filed.pk}/approve/").status_code == 404
    assert client.post(f"/requests/{filed.pk}/comment/", {"text": "hi"}).status_code == 404


def test_approve_is_a_post_redirect_get(client, cast, filed):
    client.force_login(cast["olga"])
    response = client.post(f"/requests/{filed.pk}/approve/")
    assert response.status_code == 302 and response["Location"] == f"/requests/{filed.pk}/"
    page = client.get(response["Location"]).content.decode()
    assert "Approved" in page and f"UR-{filed.pk}: approved." in page
    assert set(ServiceUpgrade.objects.values_list("state", flat=True)) == {"approved"}


def test_reject_without_reason_says_so_and_changes_nothing(client, cast, filed):
    client.force_login(cast["olga"])
    page = client.post(f"/requests/{filed.pk}/reject/", {"reason": ""}, follow=True).content.decode()
    assert "A reason is required to reject." in page
    assert set(ServiceUpgrade.objects.values_list("state", flat=True)) == {"submitted"}
    client.post(f"/requests/{filed.pk}/reject/", {"reason": "Wrong foundation"})
    page = client.get(f"/requests/{filed.pk}/").content.decode()
    assert "Rejected" in page and "Wrong foundation" in page


def test_requester_cannot_approve_own_request_by_posting(client, cast, filed):
    client.force_login(cast["alice"])
    assert client.post(f"/requests/{filed.pk}/approve/").status_code == 403
    assert not Event.objects.filter(to_state="approved").exists()


def test_wrong_state_is_a_message_not_an_error(client, cast, filed):
    client.force_login(cast["alice"])
    client.post(f"/requests/{filed.pk}/cancel/")
    page = client.post(f"/requests/{filed.pk}/cancel/", follow=True).content.decode()
    assert "Cannot cancel a service that is cancelled." in page


def test_csrf_is_enforced_on_state_changes(cast, filed):
    client = Client(enforce_csrf_checks=True)
    client.force_login(cast["olga"])
    assert client.post(f"/requests/{filed.pk}/approve/").status_code == 403
    assert client.post("/requests/new/", {"service_urls": PROD}).status_code == 403
    assert set(ServiceUpgrade.objects.values_list("state", flat=True)) == {"submitted"}


def test_comments_land_on_the_timeline(client, cast, filed):
    client.force_login(cast["carol"])
    client.post(f"/requests/{filed.pk}/comment/", {"text": "Gateways are ready <b>now</b>"})
    page = client.get(f"/requests/{filed.pk}/").content.decode()
    assert "carol</strong>\n    commented: Gateways are ready &lt;b&gt;now&lt;/b&gt;" in page


def test_queue_is_for_the_ec_team_and_filters(client, cast, releases):
    west = file_request(cast["alice"], [PROD])
    cf3 = file_request(cast["bob"], [NONPROD])
    client.force_login(cast["alice"])
    assert client.get("/queue/").status_code == 403
    client.force_login(cast["olga"])
    assert f"UR-{west.pk}" in client.get("/queue/").content.decode()
    only_cf3 = client.get("/queue/?foundation=cf3").content.decode()
    assert f"UR-{cf3.pk}<" in only_cf3 and f"UR-{west.pk}<" not in only_cf3
    by_requester = client.get("/queue/?q=bob").content.decode()
    assert f"UR-{cf3.pk}<" in by_requester and f"UR-{west.pk}<" not in by_requester
    by_zone = client.get("/queue/?q=0F1E2D3C").content.decode()
    assert f"UR-{west.pk}<" in by_zone and f"UR-{cf3.pk}<" not in by_zone


@pytest.mark.parametrize("rows", [1, 30])
def test_queue_uses_a_fixed_number_of_queries(client, cast, releases, django_assert_max_num_queries, rows):
    for n in range(rows):
        file_request(
            cast["alice"], [f"https://{n:08x}-0000-4000-8000-000000000000.run.aws-usw02-pr.ice.predix.io"]
        )
    client.force_login(cast["olga"])
    with django_assert_max_num_queries(12):
        assert client.get("/queue/").status_code == 200


def test_my_requests_lists_own_and_contact_requests(client, cast, filed):
    other = file_request(
        cast["bob"],
        [f"https://{'ab' * 4}-0000-4000-8000-000000000000.run.aws-usw02-pr.ice.predix.io"],
        contacts=["alice@example.com"],
    )
    page = _page(client, cast["alice"], reverse("my-requests"))
    assert f"UR-{filed.pk}<" in page and f"UR-{other.pk}<" in page
    assert f"UR-{filed.pk}<" not in _page(client, cast["bob"], reverse("my-requests"))


def test_security_headers_and_csp(client, cast):
    response = _page_response = client.get("/accounts/login/")
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert response["X-Frame-Options"] == "DENY" and response["X-Content-Type-Options"] == "nosniff"
    assert _page_response["Referrer-Policy"] == "same-origin"


# --- The request page: per-service actions, live fragment, pictures (issue 6) ---------------------


def _services(request):
    return list(request.services.order_by("id"))


def _set(service, **fields):
    """Put a service where a test needs it (the engine's own tests cover how it gets there), bumping
    its version as the engine's writes do."""
    ServiceUpgrade.objects.filter(pk=service.pk).update(**fields, version=F("version") + 1)


def _text(html: str) -> str:
    """The words of a page as a person reads them (a line break separates words)."""
    return " ".join(strip_tags(html.replace("<br>", " ")).split())


def _card(page: str, service) -> str:
    """The words of a service's card on the request page."""
    start = page.index(f'<article class="card service" id="service-{service.pk}"')
    return _text(page[start : page.index("</article>", start)])


def _named(request, name: str):
    """The request's first service as preflight left it once it learnt `name` on CF, the others as
    checked before the name was known."""
    first, *others = _services(request)
    actions.record_preflight(
        service_id=first.pk, outcome=Preflight.PASSED, message="ok", facts={"name": name}
    )
    for other in others:
        actions.record_preflight(service_id=other.pk, outcome=Preflight.PASSED, message="ok")
    return _services(request)


def test_the_request_page_shows_a_service_by_name_and_foundation_then_its_zone_id(client, cast, releases):
    filed = file_request(cast["alice"], [PROD, NONPROD], checked=False)
    prod, nonprod = _services(filed)
    unnamed = _card(_page(client, cast["alice"], f"/requests/{filed.pk}/"), prod)
    assert unnamed.startswith(f"{prod.zone_id} Submitted Predix West / Basic"), "the zone ID until preflight"
    prod, nonprod = _named(filed, "ec-acme-prod")
    actions.apply_request_action(request=filed, action=Action.APPROVE, actor=cast["olga"])
    page = _page(client, cast["olga"], f"/requests/{filed.pk}/")
    card = _card(page, prod)
    assert card.startswith(f"ec-acme-prod Approved Predix West / Basic · zone ID {prod.zone_id} Copy")
    assert f'<h3 id="svc-{prod.pk}"><span class="service-name">ec-acme-prod</span></h3>' in page
    assert f'data-copy="{prod.zone_id}"' in page, "the zone ID in full, to copy"
    assert _card(page, nonprod).startswith(f"{nonprod.zone_id} Approved CF3 https://"), "a foundation by name"
    assert "cf3" not in _card(page, nonprod), "never by its slug"
    assert "ec-acme-prod · Predix West / Basic: Submitted → Approved" in _text(page), "the timeline"
    assert f"{nonprod.zone_id} · CF3: Submitted → Approved" in _text(page)


def test_lists_show_services_by_name_and_foundation_then_zone_id(client, cast, releases):
    filed = file_request(cast["alice"], [PROD, NONPROD], checked=False)
    prod, nonprod = _named(filed, "ec-acme-prod")
    named = f"ec-acme-prod · Predix West / Basic · {prod.zone_id}"
    for who, path in [("olga", "/queue/"), ("alice", "/requests/"), ("olga", "/queue/?q=ACME-prod")]:
        row = _text(_page(client, cast[who], path))
        assert f"{named} {nonprod.zone_id} · CF3" in row, (who, path)
    assert f"UR-{filed.pk}<" not in _page(client, cast["olga"], "/queue/?q=globex")
    olga = _text(_page(client, cast["olga"], "/"))
    assert f"UR-{filed.pk} by alice · okinawa.130 · ec-acme-prod, {nonprod.zone_id}" in olga, (
        "awaiting approval"
    )
    actions.apply_request_action(request=filed, action=Action.APPROVE, actor=cast["olga"])
    olga = _text(_page(client, cast["olga"], "/"))
    assert f"UR-{filed.pk} Approved {named} okinawa.130 · alice" in olga, "steps to start"


def test_approve_waits_for_preflight_and_says_so(client, cast, releases):
    unchecked = file_request(cast["alice"], [PROD], checked=False)
    page = _page(client, cast["olga"], f"/requests/{unchecked.pk}/")
    assert ">Approve</button>" not in page and "Approval waits for preflight" in page
    assert "Preflight: Checking" in page


def test_approve_with_a_start_time_and_step2_on_confirmation(client, cast, filed):
    client.force_login(cast["olga"])
    when = (timezone.now() + timedelta(days=30)).replace(second=0, microsecond=0)
    response = client.post(
        f"/requests/{filed.pk}/approve/",
        {"trigger_at": when.strftime("%Y-%m-%dT%H:%M"), "start_step2_on_confirmation": "on"},
    )
    assert response.status_code == 302
    for service in _services(filed):
        assert service.state == "approved" and service.start_step2_on_confirmation
        assert service.trigger_at == when
    page = client.get(f"/requests/{filed.pk}/").content.decode()
    assert "Step 1 is scheduled for" in page and when.strftime("%Y-%m-%d %H:%M UTC") in page


def test_bad_start_time_changes_nothing(client, cast, filed):
    client.force_login(cast["olga"])
    page = client.post(f"/requests/{filed.pk}/approve/", {"trigger_at": "soon"}, follow=True).content.decode()
    assert "Enter the start time as a date and time" in page
    assert set(ServiceUpgrade.objects.values_list("state", flat=True)) == {"submitted"}


def test_start_step_buttons_per_service_and_their_post(client, cast, filed):
    prod, nonprod = _services(filed)
    _set(prod, state="approved")
    _set(nonprod, state="verified")
    page = _page(client, cast["olga"], f"/requests/{filed.pk}/")
    assert page.count(">Start Step 1</button>") == 1 and page.count(">Start Step 2</button>") == 1
    assert ">Start Step" not in _page(client, cast["alice"], f"/requests/{filed.pk}/")
    client.force_login(cast["olga"])
    response = client.post(f"/requests/{filed.pk}/services/{prod.pk}/trigger/")
    assert response.status_code == 302 and response["Location"] == f"/requests/{filed.pk}/#service-{prod.pk}"
    prod.refresh_from_db()
    assert prod.state == "step1_running" and prod.step == "preflight"


def test_verification_buttons_and_confirm_all(client, cast, filed):
    prod, nonprod = _services(filed)
    _set(
        prod, state="awaiting_verification", temp_host=f"{prod.zone_id}-upgrade-abc123", temp_route_guid="r1"
    )
    page = _page(client, cast["alice"], f"/requests/{filed.pk}/")
    assert ">It works</button>" in page and "<summary>Report a problem</summary>" in page
    assert "Confirm all services" not in page, "one service awaiting: its own button says it"
    temporary = f"https://{prod.zone_id}-upgrade-abc123.{prod.domain}"
    assert f'<a href="{temporary}" class="temp-url">{temporary}</a>' in page
    assert f"<code>-zon {prod.zone_id} -sst https://{prod.zone_id}.{prod.domain}</code>" in page
    assert f"<code>-zon {prod.zone_id} -sst {temporary}</code>" in page
    assert f'data-copy="-zon {prod.zone_id} -sst {temporary}"' in page
    _set(nonprod, state="awaiting_verification")
    page = _page(client, cast["carol"], f"/requests/{filed.pk}/")
    assert ">Confirm all services</button>" in page
    assert ">It works</button>" not in _page(client, cast["olga"], f"/requests/{filed.pk}/")
    client.force_login(cast["carol"])
    client.post(f"/requests/{filed.pk}/confirm/")
    assert set(ServiceUpgrade.objects.values_list("state", flat=True)) == {"verified"}


def test_report_a_problem_needs_a_reason(client, cast, filed):
    prod, _ = _services(filed)
    _set(prod, state="awaiting_verification")
    client.force_login(cast["alice"])
    page = client.post(f"/requests/{filed.pk}/services/{prod.pk}/report-problem/", follow=True)
    assert "A reason is required to report problem." in page.content.decode()
    client.post(f"/requests/{filed.pk}/services/{prod.pk}/report-problem/", {"reason": "Gateway 502s"})
    prod.refresh_from_db()
    assert prod.state == "rolling_back"
    assert Event.objects.filter(service=prod, to_state="rolling_back", message="Gateway 502s").exists()


def test_roll_back_and_cancel_ask_first_and_blue_deleted_says_so(client, cast, filed):
    prod, nonprod = _services(filed)
    _set(prod, state="step2_failed", step="unmap_blue", error="The new app is not serving.")
    _set(nonprod, state="step2_running", step="rename_green", blue_deleted=True)
    page = _page(client, cast["olga"], f"/requests/{filed.pk}/")
    assert "<summary>Roll back</summary>" in page and ">Yes, roll back</button>" in page
    assert ">Retry</button>" in page
    assert "Stopped at Step 2 · 2.2 · unmapping the old app." in page
    assert "Rollback is no longer possible: blue (the old app) is deleted." in page
    assert page.count("<summary>Roll back</summary>") == 1


def test_progress_of_the_running_step(client, cast, filed):
    prod, _ = _services(filed)
    _set(prod, state="approved")
    client.force_login(cast["olga"])
    client.post(f"/requests/{filed.pk}/services/{prod.pk}/trigger/")
    _set(prod, step="stage", progress="staging: 40%")
    page = client.get(f"/requests/{filed.pk}/").content.decode()
    assert "<strong>Step 1</strong> · building the droplet · 4 of 12" in page
    assert '<progress max="12" value="4"' in page and "staging: 40% · running for 0 s" in page


def test_live_fragment_polls_by_state_and_stops_when_terminal(client, cast, filed):
    client.force_login(cast["alice"])
    live = client.get(f"/requests/{filed.pk}/live/")
    assert live.status_code == 200 and 'hx-trigger="every 10s"' in live.content.decode()
    assert "<html" not in live.content.decode()
    prod, nonprod = _services(filed)
    _set(prod, state="step1_running", step="stage")
    assert 'hx-trigger="every 2s"' in client.get(f"/requests/{filed.pk}/live/").content.decode()
    ServiceUpgrade.objects.update(state="rejected", version=F("version") + 1)
    done = client.get(f"/requests/{filed.pk}/live/").content.decode()
    assert "hx-get" not in done and "hx-trigger" not in done
    page = client.get(f"/requests/{filed.pk}/").content.decode()
    assert "hx-trigger" not in page and 'id="live"' in page


def test_live_fragment_is_404_for_others_and_asks_anonymous_to_log_in(client, cast, filed):
    client.force_login(cast["bob"])
    assert client.get(f"/requests/{filed.pk}/live/").status_code == 404
    assert client.post(f"/requests/{filed.pk}/services/{_services(filed)[0].pk}/trigger/").status_code == 404
    client.logout()
    anonymous = client.get(f"/requests/{filed.pk}/live/")
    assert anonymous.status_code == 401
    assert anonymous["HX-Redirect"] == f"/accounts/login/?next=/requests/{filed.pk}/"


def test_service_of_another_request_is_404(client, cast, filed, releases):
    other = file_request(
        cast["alice"], [f"https://{'cd' * 4}-0000-4000-8000-000000000000.run.aws-usw02-pr.ice.predix.io"]
    )
    client.force_login(cast["olga"])
    foreign = _services(other)[0]
    assert client.post(f"/requests/{filed.pk}/services/{foreign.pk}/trigger/").status_code == 404


def test_call_log_is_for_the_ec_team(client, cast, filed):
    from upgrades.models import CallLog

    prod, _ = _services(filed)
    CallLog.objects.create(
        service=prod, step="stage", method="POST", path="/v3/builds", status=201, duration_ms=37,
        request_id="vcap-42",
    )  # fmt: skip
    team = _page(client, cast["olga"], f"/requests/{filed.pk}/")
    assert "Cloud Foundry calls" in team and '<code title="/v3/builds">/v3/builds</code>' in team
    assert '<code title="vcap-42">vcap-42</code>' in team
    assert "Cloud Foundry calls" not in _page(client, cast["alice"], f"/requests/{filed.pk}/")


def test_topology_picture_on_the_request_page(client, cast, filed):
    page = _page(client, cast["alice"], f"/requests/{filed.pk}/")
    assert page.count('<svg class="topology" role="img"') == 2
    assert 'aria-label="Stage 1 of 5: one app, one route"' in page
    assert f"The original route https://{_services(filed)[0].zone_id}." in page


def test_how_upgrades_work_shows_five_stages(client, cast):
    page = _page(client, cast["alice"], "/how-upgrades-work/")
    assert page.count('<svg class="topology" role="img"') == 5
    for title in ["one app, one route", "two apps, two routes", "the original route on both apps"]:
        assert title in page
    assert "Test after Step 1" in page and "Steps 1 and 2 back to back" in page
    assert 'href="/how-upgrades-work/"' in page


def test_home_shows_what_needs_each_role(client, cast, filed):
    prod, nonprod = _services(filed)
    _set(prod, state="awaiting_verification")
    _set(nonprod, state="step1_failed", step="stage", error="Staging failed: image not found.")
    alice = _page(client, cast["alice"], "/")
    assert "Awaiting your verification" in alice and prod.zone_id in alice
    assert "Failures" not in alice and "Awaiting approval" not in alice
    olga = _page(client, cast["olga"], "/")
    assert "Awaiting approval" in olga and "Steps to start" in olga and "Failures" in olga
    assert "Staging failed: image not found." in olga
    assert 'href="/queue/?state=step1_failed"' in olga


def _many(cast, rows):
    made = []
    for n in range(rows):
        made.append(
            file_request(
                cast["alice"], [f"https://{n:08x}-0000-4000-8000-000000000000.run.aws-usw02-pr.ice.predix.io"]
            )
        )
    return made


@pytest.mark.parametrize("rows", [1, 30])
@pytest.mark.parametrize(
    "who, path", [("olga", "/"), ("alice", "/"), ("alice", "/requests/"), ("olga", "/queue/?sort=activity")]
)
def test_lists_use_a_fixed_number_of_queries(
    client, cast, releases, django_assert_max_num_queries, rows, who, path
):
    made = _many(cast, rows)
    ServiceUpgrade.objects.filter(request__in=made[::2]).update(state="awaiting_verification")
    client.force_login(cast[who])
    with django_assert_max_num_queries(16):
        assert client.get(path).status_code == 200


@pytest.mark.parametrize("services_count", [1, 30])
def test_request_page_uses_a_fixed_number_of_queries(
    client, cast, releases, django_assert_max_num_queries, services_count
):
    from upgrades.models import CallLog

    urls = [
        f"https://{n:08x}-0000-4000-8000-000000000000.run.aws-usw02-pr.ice.predix.io"
        for n in range(services_count)
    ]
    filed = file_request(cast["alice"], urls)
    for service in filed.services.all():
        CallLog.objects.create(service=service, method="GET", path="/v3/apps", status=200)
    client.force_login(cast["olga"])
    with django_assert_max_num_queries(20):
        assert client.get(f"/requests/{filed.pk}/").status_code == 200
    with django_assert_max_num_queries(14):
        assert client.get(f"/requests/{filed.pk}/live/").status_code == 200


def test_queue_sorts_and_keeps_filters_across_pages(client, cast, releases):
    made = _many(cast, 27)
    client.force_login(cast["olga"])
    newest = client.get("/queue/").content.decode()
    assert newest.index(f"UR-{made[-1].pk}<") < newest.index(f"UR-{made[-2].pk}<")
    oldest = client.get("/queue/?sort=oldest&q=alice").content.decode()
    assert oldest.index(f"UR-{made[0].pk}<") < oldest.index(f"UR-{made[1].pk}<")
    assert 'href="?sort=oldest&amp;q=alice&amp;page=2"' in oldest and "Page 1 of 2" in oldest


def test_queue_filters_show_what_was_chosen(client, cast, filed):
    client.force_login(cast["olga"])
    chosen = client.get("/queue/?state=submitted&foundation=predix-west&sort=activity").content.decode()
    for option in [
        '<option value="submitted" selected>Submitted</option>',
        '<option value="predix-west" selected>',
        '<option value="activity" selected>Latest activity</option>',
    ]:
        assert option in chosen, option
    assert chosen.count(" selected>") == 3
    fresh = client.get("/queue/").content.decode()
    assert '<select name="state" id="id_state">' in fresh
    assert '<option value="" selected>Any state</option>' in fresh


def test_only_the_requester_and_the_ec_team_may_run_preflight_again(client, cast, releases):
    from upgrades.models import Preflight

    failed = file_request(cast["alice"], [PROD], checked=False)
    service = failed.services.get()
    actions.record_preflight(service_id=service.pk, outcome=Preflight.FAILED, message="Route not found.")
    path = f"/requests/{failed.pk}/services/{service.pk}/recheck/"
    client.force_login(cast["carol"])
    assert "Check again" not in client.get(f"/requests/{failed.pk}/").content.decode()
    assert client.post(path).status_code == 403
    assert ServiceUpgrade.objects.get(pk=service.pk).preflight == Preflight.FAILED
    client.force_login(cast["alice"])
    assert "Check again" in client.get(f"/requests/{failed.pk}/").content.decode()
    assert client.post(path).status_code == 302
    assert ServiceUpgrade.objects.get(pk=service.pk).preflight == Preflight.PENDING


def test_the_request_page_answers_304_until_something_it_shows_changes(client, cast, filed):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(cast["alice"])
    for url in (f"/requests/{filed.pk}/", f"/requests/{filed.pk}/live/"):
        first = client.get(url)
        etag = first["ETag"]
        assert (
            first.status_code == 200
            and "private" in first["Cache-Control"]
            and "no-cache" in first["Cache-Control"]
        )
        with CaptureQueriesContext(connection) as queries:
            unchanged = client.get(url, HTTP_IF_NONE_MATCH=etag)
        assert unchanged.status_code == 304 and unchanged["ETag"] == etag
        # The signed-in user's query reads the provider identity table too; it is not the page's.
        portal_queries = [
            q["sql"]
            for q in queries.captured_queries
            if "upgrades_" in q["sql"] and "AS operates" not in q["sql"]
        ]
        assert len(portal_queries) == 1, portal_queries  # the fingerprint; the rest is the signed-in user

    url = f"/requests/{filed.pk}/live/"
    etag = client.get(url)["ETag"]
    service = filed.services.order_by("id").first()
    # Each kind of change shows on the next poll: a service's own row, the timeline, another viewer.
    actions.recheck_preflight(service=service, actor=cast["alice"])
    after_write = client.get(url, HTTP_IF_NONE_MATCH=etag)
    assert after_write.status_code == 200 and after_write["ETag"] != etag
    assert "Preflight: Checking" in after_write.content.decode()
    etag = after_write["ETag"]
    actions.add_comment(request=filed, actor=cast["olga"], text="Looks fine from here.")
    assert client.get(f"/requests/{filed.pk}/", HTTP_IF_NONE_MATCH=etag).status_code == 200
    etag = client.get(url)["ETag"]
    client.force_login(cast["olga"])
    other = client.get(url, HTTP_IF_NONE_MATCH=etag)
    assert other.status_code == 200 and other["ETag"] != etag, "an ETag is never shared between users"


def test_a_cf_call_and_each_step_of_a_mail_show_on_the_next_poll(client, cast, filed):
    from upgrades.models import CallLog, Delivery

    client.force_login(cast["olga"])
    url = f"/requests/{filed.pk}/"  # its mail log shows each delivery's status and attempts
    mail = Delivery.objects.filter(notification__request=filed).order_by("id")[:1]
    assert mail.exists(), "filing queued mails"

    def rendered_after(write) -> bool:
        etag = client.get(url)["ETag"]
        write()
        return client.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 200

    assert not rendered_after(lambda: None)
    service = filed.services.order_by("id").first()
    assert rendered_after(lambda: CallLog.objects.create(service=service, method="GET", path="/v3/apps"))
    assert rendered_after(lambda: Delivery.objects.filter(pk__in=mail).update(attempts=F("attempts") + 1))
    assert rendered_after(lambda: Delivery.objects.filter(pk__in=mail).update(status=Delivery.Status.SENT))


def test_a_mail_queued_beside_the_others_shows_on_the_next_poll(client, cast, filed):
    from upgrades.models import Delivery

    client.force_login(cast["olga"])
    url = f"/requests/{filed.pk}/"
    etag = client.get(url)["ETag"]
    # Pending, no attempt yet, due no later than the mails already queued: only its row is new.
    earlier = Delivery.objects.filter(notification__request=filed).order_by("next_attempt_at").first()
    Delivery.objects.create(
        notification=earlier.notification,
        recipient="dave@example.com",
        next_attempt_at=earlier.next_attempt_at,
    )
    page = client.get(url, HTTP_IF_NONE_MATCH=etag)
    assert page.status_code == 200 and "dave@example.com" in page.content.decode()


def test_a_page_with_a_message_to_show_is_rendered_even_if_unchanged(client, cast, filed):
    client.force_login(cast["olga"])
    url = f"/requests/{filed.pk}/"
    # Approving twice: the second is refused and changes nothing, but its message must be seen.
    client.post(f"/requests/{filed.pk}/approve/")
    assert "approved" in client.get(url).content.decode(), "the first answer shows the message"
    etag = client.get(url)["ETag"]
    client.post(f"/requests/{filed.pk}/approve/")
    refused = client.get(url, HTTP_IF_NONE_MATCH=etag)
    assert (
        refused.status_code == 200 and "Cannot approve a service that is approved" in refused.content.decode()
    )


@pytest.mark.parametrize(("plan", "shown"), [(Plan.TEST_FIRST, True), (Plan.BACK_TO_BACK, False)])
def test_only_a_plan_that_gave_out_the_temporary_url_asks_to_point_gateways_back(
    client, cast, releases, plan, shown
):
    request = file_request(cast["alice"], plan=plan)
    request.services.update(state=State.COMPLETED, temp_host="ec-tmp", temp_route_guid="r-1")
    client.force_login(cast["alice"])
    page = client.get(f"/requests/{request.pk}/").content.decode()
    assert ("Gateways you pointed at the temporary URL go back to" in page) is shown
