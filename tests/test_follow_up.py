"""The EC team's view of endings that are not success: their colours and words, following them up,
filing again in one press, a readable CF calls panel; and the small things seen on the way."""

import pytest
from django.conf import settings as configured
from django.contrib.auth.hashers import make_password
from django.db.models import F
from django.test import Client
from django.utils.html import strip_tags

from tests.conftest import NONPROD, PASSWORD, PROD, file_request
from upgrades.models import CallLog, Event, ServiceUpgrade
from upgrades.web.pages import CALLS_SHOWN
from upgrades.workflow import Plan

# The hashers the portal is configured with (the shared fixtures swap in a fast one for other tests).
PORTAL_HASHERS = list(configured.PASSWORD_HASHERS)


def _set(service, **fields):
    ServiceUpgrade.objects.filter(pk=service.pk).update(**fields, version=F("version") + 1)


def _page(client, user, path) -> str:
    client.force_login(user)
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return response.content.decode()


def _text(html: str) -> str:
    return " ".join(strip_tags(html.replace("<br>", " ")).split())


def _section(page: str, heading_id: str) -> str:
    """The words of the home page's card whose heading has `heading_id`."""
    start = page.index(f'id="{heading_id}"')
    return _text(page[start : page.index("</section>", start)])


def _css_rule(selector: str) -> str:
    css = (configured.BASE_DIR / "static" / "css" / "portal.css").read_text()
    start = css.index(selector)
    return css[start : css.index("}", start)]


# --- Endings that are not success ------------------------------------------------------------------


def test_endings_without_the_new_release_have_their_own_colours_and_words(client, cast, filed):
    prod, nonprod = filed.services.order_by("id")
    _set(prod, state="rolled_back")
    _set(nonprod, state="completed")
    page = _text(_page(client, cast["alice"], f"/requests/{filed.pk}/"))
    assert (
        "Rolled back Rolled back: the previous release serves the original URL; the new one was removed."
        in (page)
    )
    assert "Completed Completed: the new release serves the original URL." in page
    # Each badge's colours are its own: rolled back is not completed's green, nor a failure's red.
    completed, rolled_back = _css_rule(".s-completed {"), _css_rule(".s-rolled_back {")
    failed, cancelled = _css_rule(".s-step1_failed,"), _css_rule(".s-cancelled,")
    backgrounds = {
        rule.split("background: ")[1].split(";")[0] for rule in (completed, rolled_back, failed, cancelled)
    }
    assert len(backgrounds) == 4
    assert ".s-rejected" in _css_rule(".s-cancelled,"), "rejected is read like cancelled"


def test_home_lists_failed_and_rolled_back_services_to_follow_up_until_filed_again(client, cast, releases):
    older = file_request(cast["alice"], [PROD])
    newer = file_request(cast["bob"], [NONPROD])
    _set(older.services.get(), state="rolled_back")
    _set(newer.services.get(), state="step1_failed", step="stage", error="Staging failed: image not found.")
    follow_up = _section(_page(client, cast["olga"], "/"), "fail-h")
    assert follow_up.index(f"UR-{newer.pk} Step 1 failed") < follow_up.index(f"UR-{older.pk} Rolled back"), (
        "newest first"
    )
    assert "Rolled back: the previous release serves the original URL" in follow_up
    assert "Staging failed: image not found." in follow_up
    assert "fail-h" not in _page(client, cast["alice"], "/"), "for the EC team"

    # Filed again (here cancelled at once): the rolled-back service needs no more following up.
    again = file_request(cast["alice"], [PROD])
    follow_up = _section(_page(client, cast["olga"], "/"), "fail-h")
    assert f"UR-{older.pk}" not in follow_up and f"UR-{newer.pk}" in follow_up
    _set(again.services.get(), state="cancelled")
    assert f"UR-{older.pk}" not in _section(_page(client, cast["olga"], "/"), "fail-h")


# --- File again ------------------------------------------------------------------------------------


def test_file_again_opens_the_form_prefilled_and_submits_a_new_request(client, cast, releases):
    filed = file_request(
        cast["alice"], [PROD], plan=Plan.BACK_TO_BACK, contacts=["carol@example.com", "dan@example.com"]
    )
    service = filed.services.get()
    _set(service, state="rolled_back", plan=Plan.BACK_TO_BACK)
    link = f'href="/requests/new/?again={service.pk}"'
    assert link in _page(client, cast["alice"], f"/requests/{filed.pk}/"), "the requester"
    assert link in _page(client, cast["olga"], f"/requests/{filed.pk}/"), "the EC team"
    assert link not in _page(client, cast["carol"], f"/requests/{filed.pk}/"), "not a contact"

    form = _page(client, cast["alice"], f"/requests/new/?again={service.pk}")
    assert f"\n{PROD}</textarea>" in form
    assert "carol@example.com\ndan@example.com</textarea>" in form
    radio = form[form.rindex("<input", 0, form.index('value="back_to_back"')) :]
    assert " checked" in radio[: radio.index(">")], "the plan it had"
    assert f"Filed again after UR-{filed.pk} (rolled back).</textarea>" in form
    response = client.post(
        "/requests/new/",
        {
            "service_urls": PROD,
            "plan": "back_to_back",
            "release": releases["okinawa"].pk,
            "contacts": "carol@example.com\ndan@example.com",
            "notes": "",
        },
    )
    assert response.status_code == 302
    new = ServiceUpgrade.objects.exclude(request=filed).get(zone_id=service.zone_id)
    assert new.state == "submitted" and new.request.plan == "back_to_back"


def test_file_again_goes_through_visibility_and_refuses_nonsense(client, cast, releases):
    filed = file_request(cast["alice"], [PROD])
    service = filed.services.get()
    _set(service, state="cancelled")
    client.force_login(cast["bob"])
    assert client.get(f"/requests/new/?again={service.pk}").status_code == 404, "not visible to bob"
    assert client.get("/requests/new/?again=abc").status_code == 404
    submitted = file_request(cast["alice"], [NONPROD])
    assert "File again" not in _page(client, cast["alice"], f"/requests/{submitted.pk}/"), "only once ended"


# --- The CF calls panel -----------------------------------------------------------------------------


def _calls(service, n: int, path: str = "/v3/apps"):
    CallLog.objects.bulk_create(
        [
            CallLog(service=service, step="stage", method="GET", path=f"{path}?n={i}", status=200)
            for i in range(n)
        ]
    )


def test_the_cf_calls_panel_is_a_table_under_the_cards_newest_first_the_latest_50(client, cast, filed):
    prod, nonprod = filed.services.order_by("id")
    _calls(prod, 60)
    long_path = "/v3/routes/" + "x" * 300
    CallLog.objects.create(
        service=nonprod, step="map_original", method="POST", path=long_path, status=201, request_id="vcap-9"
    )
    page = _page(client, cast["olga"], f"/requests/{filed.pk}/")
    panel = page[page.index('<section class="calls-panel card" id="calls"') :]
    panel = panel[: panel.index("</section>")]
    assert page.index('id="calls"') > page.rindex('<article class="card service"'), "under the cards"
    assert panel.count("<tr>") == CALLS_SHOWN + 1, "the latest 50, and the header row"
    assert '<th scope="col">Time (UTC)</th>' in panel and '<th scope="col">CF request id</th>' in panel
    first_row = panel[panel.index("<tbody>") : panel.index("</tr>", panel.index("<tbody>"))]
    assert long_path in first_row and f'title="{long_path}"' in first_row, (
        "newest first, full path in its title"
    )
    assert "vcap-9" in first_row
    assert f'href="/requests/{filed.pk}/calls/"' in panel and "The latest 50" in panel
    assert "calls-scroll" in panel and "max-height" in _css_rule(".calls-scroll {"), (
        "never thousands of pixels tall"
    )
    assert "calls-panel" not in _page(client, cast["alice"], f"/requests/{filed.pk}/")


def test_all_calls_of_a_request_page_by_page_for_the_ec_team_only(client, cast, filed):
    prod, _ = filed.services.order_by("id")
    _calls(prod, 130)
    path = f"/requests/{filed.pk}/calls/"
    first = _page(client, cast["olga"], path)
    assert "131 calls" not in first and "130 calls, newest first." in first
    assert first.count("<tr>") == 101 and "/v3/apps?n=129<" in first and "Page 1 of 2" in first
    second = client.get(path + "?page=2").content.decode()
    assert "/v3/apps?n=0<" in second and second.count("<tr>") == 31
    client.force_login(cast["alice"])
    assert client.get(path).status_code == 403, "the requester sees the request, not its CF calls"
    client.force_login(cast["bob"])
    assert client.get(path).status_code == 404, "not visible"


def test_all_calls_page_uses_a_fixed_number_of_queries(client, cast, filed, django_assert_max_num_queries):
    for service in filed.services.all():
        _calls(service, 80)
    client.force_login(cast["olga"])
    with django_assert_max_num_queries(10):
        assert client.get(f"/requests/{filed.pk}/calls/").status_code == 200


# --- Small things -----------------------------------------------------------------------------------


def test_a_success_message_shows_once_and_the_next_refresh_of_the_live_part_clears_it(client, cast, filed):
    client.force_login(cast["olga"])
    client.post(f"/requests/{filed.pk}/approve/")
    page = client.get(f"/requests/{filed.pk}/").content.decode()
    assert f"UR-{filed.pk}: approved." in page and page.count('id="messages"') == 1
    live = client.get(f"/requests/{filed.pk}/live/").content.decode()
    assert '<div id="messages" hx-swap-oob="true"></div>' in live, "the refresh empties the messages"
    assert "approved." not in live.split('id="messages"')[1]


def test_milestones_read_as_such_on_the_timeline(client, cast, filed):
    prod, _ = filed.services.order_by("id")
    Event.objects.create(
        request=filed, service=prod, kind=Event.Kind.MILESTONE, actor_label="system", message="2.1 done: …"
    )
    page = _text(_page(client, cast["alice"], f"/requests/{filed.pk}/"))
    assert f"system {prod.zone_id} · Predix West / Basic: Milestone 2.1 done: …" in page


def test_the_api_step_is_empty_while_no_sub_step_runs_or_failed(api, cast, filed):
    prod, nonprod = filed.services.order_by("id")
    _set(prod, state="awaiting_verification", step="wait_running")  # a leftover, as after Step 1
    _set(nonprod, state="step1_failed", step="stage")
    services = api(cast["alice"]).get(f"/api/requests/{filed.pk}/").json()["services"]
    assert [s["step"] for s in services] == ["", "stage"]


def test_every_page_has_a_favicon_and_the_api_docs_lead_back(client, cast):
    login = client.get("/accounts/login/").content.decode()
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in login
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon["Content-Type"] == "image/x-icon"
    assert b"".join(icon.streaming_content)[:4] == b"\x00\x00\x01\x00"
    assert client.get("/static/favicon.svg").status_code == 200
    docs = _page(client, cast["alice"], "/api/docs/")
    assert '<a href="/">← Back to ecportal</a>' in docs and '<link rel="icon" href="/favicon.ico">' in docs


@pytest.mark.django_db
def test_signing_in_upgrades_an_older_hash_to_argon2(settings, cast):
    """Sign-in cost is the hasher's: Argon2id at OWASP's cost (bench/login.py prints it beside PBKDF2)."""
    settings.PASSWORD_HASHERS = PORTAL_HASHERS
    alice = cast["alice"]
    alice.password = make_password(PASSWORD, hasher="pbkdf2_sha256")  # as made before Argon2
    alice.save()
    for _ in range(2):
        response = Client().post("/accounts/login/", {"username": "alice", "password": PASSWORD})
        assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.password.startswith("argon2$argon2id$v=19$m=19456,t=2,p=1$"), "rehashed at sign-in"
