"""Hostile and oversized input, field by field: always a clear 4xx or a message on the form, never a
500, never a silent truncation; the limits are the settings' and the form and the API say them."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from tests.conftest import PROD, file_request
from upgrades import contacts, intake
from upgrades.models import Contact, Delivery, Event, UpgradeRequest
from upgrades.notifications import links as contact_links

HOSTILE_TEXT = {
    "very long": "x" * 200_000,
    "NUL": "a\x00b",
    "control and CRLF": "a\r\nBcc: victim@example.com",
    "markup": '<script>alert("x")</script>',
    "unicode edge": "\u202e\ufeff\U0001f600\u0301",
}
HOSTILE_TOKENS = {
    "huge id": "9" * 40 + ":sig",
    "unicode digits": "\u00b2\u0663:sig",
    "NUL": "1\x00:sig",
    "negative": "-1:sig",
    "empty id": ":sig",
}


@pytest.mark.parametrize("token", HOSTILE_TOKENS.values(), ids=HOSTILE_TOKENS.keys())
def test_contact_links_with_hostile_tokens_are_404(client, filed, token):
    with pytest.raises(contact_links.LinkInvalid):
        contact_links.resolve(token)
    service = filed.services.first()
    for path in (f"/c/{token}/", f"/c/{token}/confirm/{service.pk}/", f"/c/{token}/report/{service.pk}/"):
        assert client.get(path).status_code == 404, path
        assert client.post(path, {"reason": "x"}).status_code == 404, path
    assert client.post(f"/c/{token}/unsubscribe/").status_code == 404


def _new_request_form(client, user, releases, **fields) -> str:
    client.force_login(user)
    form = {
        "service_urls": PROD,
        "plan": "test_first",
        "release": releases["okinawa"].pk,
        "contacts": "",
        **fields,
    }
    response = client.post("/requests/new/", form)
    assert response.status_code == 200, "refused input re-renders the form"
    return response.content.decode()


@pytest.mark.parametrize("text", HOSTILE_TEXT.values(), ids=HOSTILE_TEXT.keys())
def test_hostile_text_in_every_field_of_the_form_is_refused_or_kept_as_written(client, cast, releases, text):
    _new_request_form(client, cast["alice"], releases, service_urls=text)
    assert not UpgradeRequest.objects.exists()
    contacts_kept, problems = intake.parse_contacts(text)
    if not problems:  # printable text is kept as other contact info, as written, and shown escaped
        response = client.post(
            "/requests/new/",
            {"service_urls": PROD, "plan": "test_first", "release": releases["okinawa"].pk, "contacts": text},
        )
        created = UpgradeRequest.objects.get()
        assert [str(c) for c in created.contacts.all()] == contacts_kept == [text.strip()]
        assert text not in client.get(response["Location"]).content.decode()
        created.delete()
    else:
        _new_request_form(client, cast["alice"], releases, contacts=text)
        assert not UpgradeRequest.objects.exists()
    if len(text) <= 10_000 and "\x00" not in text:
        response = client.post(
            "/requests/new/",
            {"service_urls": PROD, "plan": "test_first", "release": releases["okinawa"].pk, "notes": text},
        )
        assert response.status_code == 302 and UpgradeRequest.objects.get().notes == text.strip()


def test_the_form_states_and_enforces_the_limits(client, cast, releases, settings):
    settings.MAX_CONTACTS_PER_REQUEST = 3
    page = _new_request_form(
        client, cast["alice"], releases, contacts="\n".join(f"c{n}@example.com" for n in range(4))
    )
    assert (
        "at most 3 points of contact; this one has 4" in page
        and "at most 3. An email address (name@example.com) gets every update" in page
    )
    page = _new_request_form(client, cast["alice"], releases, notes="n" * 10_001)
    assert "Notes may be at most 10,000 characters" in page and 'maxlength="10000"' in page
    page = _new_request_form(client, cast["alice"], releases, service_urls="https://" + "a" * 400)
    assert "too long for a service URL" in page


@pytest.mark.parametrize(
    "address",
    ['"<b>x</b>"@example.com', "a" * 250 + "@example.com", "a,b@example.com", "a\nb@example.com"],
    ids=["quoted markup", "longer than the column", "comma", "line break"],
)
def test_an_address_the_sender_would_refuse_is_refused_at_intake(client, api, cast, releases, address):
    if "\n" not in address:  # on the form a line break separates two contacts
        page = _new_request_form(client, cast["alice"], releases, contacts=address)
        assert "errorlist" in page and not UpgradeRequest.objects.exists()
    response = api(cast["alice"]).post(
        "/api/requests/", {"service_urls": [PROD], "contacts": [address]}, format="json"
    )
    assert response.status_code == 400 and "contacts" in response.json()


def test_the_api_refuses_oversized_input_with_field_messages(api, cast, releases, settings):
    alice = api(cast["alice"])
    too_many = [f"c{n}@example.com" for n in range(settings.MAX_CONTACTS_PER_REQUEST + 1)]
    for body, field in [
        ({"service_urls": [PROD], "contacts": too_many}, "contacts"),
        ({"service_urls": [PROD], "notes": "n" * (settings.MAX_NOTES_LENGTH + 1)}, "notes"),
        ({"service_urls": ["https://" + "a" * 400]}, "service_urls"),
    ]:
        response = alice.post("/api/requests/", body, format="json")
        assert response.status_code == 400 and field in response.json(), (field, response.content[:300])
    schema = alice.get("/api/schema/?format=json").json()
    create = schema["components"]["schemas"]["RequestCreate"]["properties"]
    assert create["contacts"]["maxItems"] == settings.MAX_CONTACTS_PER_REQUEST
    assert create["notes"]["maxLength"] == settings.MAX_NOTES_LENGTH


def test_reasons_and_start_times_are_bounded(api, cast, filed, settings):
    olga = api(cast["olga"])
    response = olga.post(
        f"/api/requests/{filed.pk}/reject/", {"reason": "r" * (settings.MAX_REASON_LENGTH + 1)}
    )
    assert response.status_code == 400 and "reason" in response.json()
    for when in (
        "0001-01-01T00:00:00Z",
        "1999-01-01T00:00:00Z",
        (timezone.now() + timedelta(days=400)).isoformat(),
    ):
        response = olga.post(f"/api/requests/{filed.pk}/approve/", {"trigger_at": when}, format="json")
        assert response.status_code == 400 and "trigger_at" in response.json(), (when, response.content)
    assert {s.state for s in filed.services.all()} == {"submitted"}, "nothing was approved"
    soon = (timezone.now() + timedelta(hours=1)).isoformat()
    assert (
        olga.post(f"/api/requests/{filed.pk}/approve/", {"trigger_at": soon}, format="json").status_code
        == 200
    )


def test_the_page_refuses_a_start_in_the_past(client, cast, filed):
    client.force_login(cast["olga"])
    page = client.post(
        f"/requests/{filed.pk}/approve/", {"trigger_at": "2001-01-01 06:00"}, follow=True
    ).content.decode()
    assert "The start time has passed" in page
    assert {s.state for s in filed.services.all()} == {"submitted"}


def test_comments_are_bounded_in_length_and_number(client, cast, filed, settings):
    settings.MAX_COMMENTS_PER_REQUEST = 2
    client.force_login(cast["alice"])
    url = f"/requests/{filed.pk}/comment/"
    page = client.post(url, {"text": "c" * (settings.MAX_COMMENT_LENGTH + 1)}, follow=True).content.decode()
    assert f"at most {settings.MAX_COMMENT_LENGTH:,} characters" in page
    for n in range(3):
        page = client.post(url, {"text": f"comment {n}"}, follow=True).content.decode()
    assert "has 2 comments, as many as it may" in page
    assert Event.objects.filter(request=filed, kind=Event.Kind.COMMENT).count() == 2


def test_contacts_added_later_are_bounded_too(cast, releases, settings):
    settings.MAX_CONTACTS_PER_REQUEST = 2
    request = file_request(cast["alice"], [PROD], contacts=("a@example.com", "b@example.com"))
    with pytest.raises(contacts.ContactRefused, match="as many as it may"):
        contacts.add_contact(request=request, user=cast["alice"], entry="c@example.com")
    assert Contact.objects.filter(request=request).count() == 2


def test_a_refused_address_is_shown_to_the_requester(client, cast, filed):
    refused = Delivery.objects.filter(notification__request=filed, recipient="carol@example.com").first()
    Delivery.objects.filter(pk=refused.pk).update(
        status=Delivery.Status.FAILED, last_error="550 no such user"
    )
    client.force_login(cast["alice"])
    page = client.get(f"/requests/{filed.pk}/").content.decode()
    assert "mail refused" in page and "the mail server refused this address" in page
    assert "550 no such user" not in page, "the server's words are for the EC team's mail log"
    assert Client().get(f"/requests/{filed.pk}/").status_code == 302


@pytest.mark.parametrize("text", HOSTILE_TEXT.values(), ids=HOSTILE_TEXT.keys())
def test_hostile_text_in_every_api_field_and_free_text_form_is_a_4xx_or_kept(client, api, cast, filed, text):
    alice, olga = api(cast["alice"]), api(cast["olga"])
    for field in ("service_urls", "contacts", "notes", "release", "plan"):
        value = [text] if field in ("service_urls", "contacts") else text
        response = alice.post("/api/requests/", {"service_urls": [PROD], field: value}, format="json")
        assert response.status_code in (201, 400), (field, response.status_code)
    for path, body in [
        (f"/api/requests/{filed.pk}/reject/", {"reason": text}),
        (f"/api/services/{filed.services.first().pk}/trigger/", {"reason": text}),
        ("/api/requests/?zone_id=" + text[:2000], None),
    ]:
        response = olga.post(path, body, format="json") if body is not None else olga.get(path)
        assert response.status_code < 500, (path, response.status_code)
    client.force_login(cast["alice"])
    for path, form in [
        (f"/requests/{filed.pk}/comment/", {"text": text}),
        (f"/c/manage/{filed.pk}/add/", {"contact": text}),
        (f"/requests/{filed.pk}/cancel/", {"reason": text}),
    ]:
        assert client.post(path, form).status_code in (302, 400, 403), path
    token = contact_links.token_for(filed.contacts.get(email="carol@example.com"))
    service = filed.services.first()
    assert client.post(f"/c/{token}/report/{service.pk}/", {"reason": text}).status_code in (200, 302)
