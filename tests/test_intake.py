"""Every intake rule, checked through the page form and through the API with one table."""

import html

import pytest
from django.urls import reverse

from tests.conftest import NONPROD, PROD, file_request
from upgrades.models import ServiceUpgrade, UpgradeRequest

ZONE = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"
WEST = "run.aws-usw02-pr.ice.predix.io"

# (what the user typed as service URLs, a phrase the error must contain)
URL_CASES = [
    ("not a url at all", "Line 1: not a URL"),
    ("ftp://x.example.com", "must start with https://"),
    (f"http://{ZONE}.{WEST}", "must start with https://"),
    (f"https://user:pw@{ZONE}.{WEST}", "user name or password"),
    (f"https://{ZONE}.{WEST}:8443", "must not contain a port"),
    (f"https://{ZONE}.{WEST}/health", "path, query or fragment"),
    (f"https://{ZONE}.{WEST}?a=1", "path, query or fragment"),
    (f"https://{ZONE}.{WEST}#top", "path, query or fragment"),
    (f"https://my-service.{WEST}", "must start with the zone ID"),
    (f"https://{ZONE}.run.example.com", "not a known Cloud Foundry domain. Known domains: " + WEST),
    ("https://10.0.0.1", "IP address"),
    ("https://[::1]", "IP address"),
    (f"{PROD}\n{PROD.upper().replace('HTTPS', 'https')}", "Line 2: duplicate of line 1"),
    (
        "\n".join(f"https://{i:08x}-4b5a-4968-8776-a5b4c3d2e1f0.{WEST}" for i in range(51)),
        "at most 50 services",
    ),
    ("", "at least one service URL"),
]

# (one contact entry as typed, the message it gets): each is refused, on the form and by the API alike.
CONTACT_CASES = [
    ("alice@", "Line 1: “alice@” is not a valid email address."),  # a typo, never a chat handle
    ("alice@acme", "Line 1: “alice@acme” is not a valid email address."),
    (
        "Dana <dana@acme.com>",
        "Line 1: “Dana <dana@acme.com>” has an email address inside other text; "
        "enter dana@acme.com on a line of its own to have it mailed.",
    ),
    ("x" * 201, "Line 1: contact info may be at most 200 characters; this is 201."),
    ("Slack: @alice\u200b", "Line 1: contact info may not contain invisible or control characters."),
    ("phone\t555 0100", "Line 1: line breaks and control characters are not allowed."),
]
# (what the user typed, the contacts kept): email addresses lower-cased, other contact info as given.
KEPT_CONTACTS = [
    ("@alice", "@alice"),
    ("alice at acme dot com", "alice at acme dot com"),
    ("Slack: @alice", "Slack: @alice"),
    ("+1 555 0100 (Dana, on call)", "+1 555 0100 (Dana, on call)"),
    ("Dana@Acme.com", "dana@acme.com"),
]


def page_errors(client, **fields) -> str:
    data = {"service_urls": PROD, "plan": "test_first", "contacts": "", "notes": ""}
    data.update(fields)
    from upgrades.models import Release

    data.setdefault("release", Release.objects.get(recommended=True).pk)
    response = client.post(reverse("request-new"), data)
    assert response.status_code == 200, "an invalid form re-renders with its errors, no redirect"
    return response.content.decode()


def api_errors(client, **fields) -> dict:
    body = {"service_urls": [PROD], "plan": "test_first", "contacts": []}
    body.update(fields)
    response = client.post("/api/requests/", body, format="json")
    assert response.status_code == 400, response.content
    return response.json()


@pytest.mark.parametrize(("typed", "phrase"), URL_CASES)
def test_bad_service_urls_are_refused_on_the_page(client, cast, releases, typed, phrase):
    client.force_login(cast["alice"])
    html = page_errors(client, service_urls=typed)
    assert phrase.replace("“", "&ldquo;").replace("”", "&rdquo;") in html or phrase in html
    assert UpgradeRequest.objects.count() == 0


@pytest.mark.parametrize(("typed", "phrase"), URL_CASES)
def test_bad_service_urls_are_refused_by_the_api(api, cast, releases, typed, phrase):
    body = api_errors(api(cast["alice"]), service_urls=typed.splitlines())
    assert any(phrase in message for message in body["service_urls"]), body
    assert UpgradeRequest.objects.count() == 0


@pytest.mark.parametrize(("typed", "message"), CONTACT_CASES)
def test_bad_contacts_are_refused(api, client, cast, releases, typed, message):
    client.force_login(cast["alice"])
    assert message in html.unescape(page_errors(client, contacts=typed))
    assert api_errors(api(cast["alice"]), contacts=[typed])["contacts"] == [message]


def test_a_line_of_addresses_splits_at_commas_other_text_keeps_them(api, client, cast, releases):
    client.force_login(cast["alice"])
    assert "Line 2: “broken@” is not a valid email address." in html.unescape(
        page_errors(client, contacts="+1 555 0100 (Dana, on call)\nok@example.com, broken@")
    )
    body = api_errors(api(cast["alice"]), contacts=["ok@example.com", ""])
    assert body["contacts"] == [
        "Line 2: empty; enter an email address or other contact info, or remove the line."
    ]


def test_email_addresses_are_mailed_contacts_anything_else_is_kept_as_other_info(api, client, cast, releases):
    client.force_login(cast["alice"])
    typed = "\n".join(text for text, _ in KEPT_CONTACTS) + "\nDANA@acme.com\nslack:  @ALICE"
    response = client.post(
        reverse("request-new"),
        {"service_urls": PROD, "plan": "test_first", "release": releases["sendai"].pk, "contacts": typed},
    )
    created = UpgradeRequest.objects.get()
    assert response.status_code == 302, "duplicates (any case, any spacing) are dropped, not refused"
    assert [(c.email, c.other) for c in created.contacts.all()] == [
        ("", "@alice"),
        ("", "alice at acme dot com"),
        ("", "Slack: @alice"),
        ("", "+1 555 0100 (Dana, on call)"),
        ("dana@acme.com", ""),
    ]
    created.delete()
    response = api(cast["alice"]).post(
        "/api/requests/",
        {"service_urls": [PROD], "contacts": [text for text, _ in KEPT_CONTACTS]},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["contacts"] == [kept for _, kept in KEPT_CONTACTS]


def test_the_contacts_field_says_which_entries_are_mailed(client, cast, releases):
    client.force_login(cast["alice"])
    page = html.unescape(client.get(reverse("request-new")).content.decode())
    assert "An email address (name@example.com) gets every update by mail" in page
    assert "is shown to the EC team and never mailed" in page


def test_header_injection_in_a_contact_is_refused(api, cast, releases):
    body = api_errors(api(cast["alice"]), contacts=["ok@example.com\r\nBcc: victim@example.com"])
    assert body["contacts"] == ["Line 1: line breaks and control characters are not allowed."]


def test_notes_over_ten_thousand_characters_are_refused(api, client, cast, releases):
    client.force_login(cast["alice"])
    assert "Notes may be at most 10,000 characters" in page_errors(client, notes="x" * 10_001)
    assert "Notes may be at most" in api_errors(api(cast["alice"]), notes="x" * 10_001)["notes"][0]


def test_an_active_upgrade_of_the_same_service_is_refused_with_a_link(api, client, cast, releases):
    existing = file_request(cast["bob"], [PROD])
    client.force_login(cast["alice"])
    html = page_errors(client, service_urls=f"{NONPROD}\n{PROD}")
    assert f"Line 2: an upgrade of this service is already active (UR-{existing.pk})" in html
    assert f'href="/requests/{existing.pk}/"' in html
    body = api_errors(api(cast["alice"]), service_urls=[PROD])
    assert body["service_urls"] == [
        f"Line 1: an upgrade of this service is already active (UR-{existing.pk}). (/requests/{existing.pk}/)"
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"service_urls": PROD}, "service_urls"),  # a string where a list belongs
        ({"service_urls": [PROD], "contacts": "carol@example.com"}, "contacts"),
        ({"service_urls": [PROD], "plan": "yolo"}, "plan"),
        ({"service_urls": [PROD], "release": "nagoya.999"}, "release"),
        ({"plan": "test_first"}, "service_urls"),
        ({"service_urls": [PROD], "notes": ["x"]}, "notes"),
        ({"service_urls": [{"url": PROD}]}, "service_urls"),
    ],
)
def test_wrong_types_and_missing_fields_get_field_messages(api, cast, releases, body, field):
    response = api(cast["alice"]).post("/api/requests/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()


def test_malformed_json_is_a_400(api, cast, releases):
    response = api(cast["alice"]).post("/api/requests/", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert "detail" in response.json()


def test_a_json_list_body_is_a_400(api, cast, releases):
    response = api(cast["alice"]).post("/api/requests/", [PROD], format="json")
    assert response.status_code == 400


def test_a_valid_form_files_the_request_and_redirects(client, cast, releases):
    client.force_login(cast["alice"])
    response = client.post(
        reverse("request-new"),
        {
            "service_urls": f"{PROD.upper().replace('HTTPS://', 'https://')}/, {NONPROD}",
            "plan": "back_to_back",
            "release": releases["sendai"].pk,
            "contacts": "Carol@Example.com\ncarol@example.com\ndave@example.com",
            "notes": "Prod first, please.",
        },
    )
    created = UpgradeRequest.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/requests/{created.pk}/"
    assert created.plan == "back_to_back" and created.release == releases["sendai"]
    assert [c.email for c in created.contacts.all()] == ["carol@example.com", "dave@example.com"]
    zone_ids = list(created.services.values_list("zone_id", "url", "foundation"))
    assert zone_ids == [
        (ZONE, f"https://{ZONE}.{WEST}", "predix-west"),
        ("1a2b3c4d-5e6f-4a0b-9c1d-2e3f4a5b6c7d", NONPROD, "cf3"),
    ]
    assert set(ServiceUpgrade.objects.values_list("state", flat=True)) == {"submitted"}
    page = client.get(response["Location"]).content.decode()
    assert "Submitted" in page and "Prod first, please." in page


def test_the_form_has_the_promised_labels_and_defaults(client, cast, releases):
    client.force_login(cast["alice"])
    html = client.get(reverse("request-new")).content.decode()
    for label in [
        "Service URLs",
        "Plan",
        "Test after Step 1",
        "Steps 1 and 2 back to back",
        "Release",
        "Points of contact",
        "Notes",
        "Submit request",
    ]:
        assert label in html, label
    assert (
        'value="test_first"' in html
        and 'value="test_first" id="id_plan_0" checked' in html.replace("required ", "")
        or "checked" in html.split('value="test_first"')[1][:80]
    )
    assert f'<option value="{releases["okinawa"].pk}" selected>okinawa.130</option>' in html
    assert "alice@example.com</textarea>" in html
