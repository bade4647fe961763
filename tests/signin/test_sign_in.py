"""The whole sign-in through cfsim's UAA with Django's test client: the portal's side of the
authorization code flow, who the person becomes, EC team rights from the provider's group only, and
filing only for one's own services."""

import json

import pytest
from django.contrib.auth.models import User
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from rest_framework.test import APIClient

from cfsim.seeds import DEMO_SEED
from testkit import demo
from testkit.uaa import sign_in, token_response
from upgrades import intake, ownership, tokens
from upgrades.identity import SESSION_TOKEN_REFERENCE, access_token, forget_access_token
from upgrades.models import ProviderIdentity, Release, UpgradeRequest
from upgrades.permissions import PortalBackend, ec_team_group, is_ec_team
from upgrades.web.forms import UpgradeRequestForm

GLOBEX_PROD_URL = f"https://{demo.GLOBEX_PROD_ZONE}.{demo.WEST}"


def _user(client) -> User:
    """The signed-in user as each page loads them."""
    return PortalBackend().get_user(client.session["_auth_user_id"])


def test_the_login_page_offers_uaa_only_when_configured(client, db, settings, provider):
    assert "Sign in with UAA" in client.get("/accounts/login/").text
    settings.OIDC_ENABLED = False
    assert "Sign in with UAA" not in client.get("/accounts/login/").text
    assert client.get("/oidc/authenticate/").status_code == 404


def test_signing_in_makes_a_portal_user_with_the_cf_token_kept_server_side(client, db, provider, cast):
    answer = sign_in(client, "alice")
    assert answer.status_code == 302 and answer["Location"] == "/"
    user = _user(client)
    assert user.username == "alice.2"  # the local account alice keeps its name
    assert user.email == "alice@example.com" and not user.has_usable_password()
    assert ProviderIdentity.objects.get(user=user).subject == "a11ce000-0000-4000-8000-000000000001"
    token = access_token(client.session)
    assert token
    page = client.get("/")
    assert page.status_code == 200 and token not in page.text
    sign_in(client, "alice")  # again: the same person
    assert ProviderIdentity.objects.count() == 1


def test_an_email_the_provider_has_not_verified_is_not_taken(client, db, provider, cast):
    # Contacts are matched by email: an unverified address must not open dana's requests to bob.
    sign_in(client, "bob")
    assert _user(client).email == "bob@example.com"
    client.logout()
    seed = json.loads(DEMO_SEED.read_text())
    seed["uaa"]["users"]["bob"]["email"] = "dana@acme.example"
    seed["uaa"]["users"]["bob"]["email_verified"] = False
    provider.reset(seed)
    sign_in(client, "bob")
    assert _user(client).email == ""
    client.logout()
    seed["uaa"]["users"]["bob"]["email_verified"] = True  # once UAA has confirmed it, it counts
    provider.reset(seed)
    sign_in(client, "bob")
    assert _user(client).email == "dana@acme.example"


def test_the_cf_token_is_kept_out_of_the_database_and_deleted_at_sign_out(client, db, provider, cast):
    sign_in(client, "alice")
    token = access_token(client.session)
    assert token
    client.get("/")  # a page load saves the session once more
    rows = list(Session.objects.values_list("session_data", flat=True))
    assert rows
    for row in rows:
        assert token not in row and token not in json.dumps(SessionStore().decode(row))
    reference = client.session[SESSION_TOKEN_REFERENCE]
    client.post("/accounts/logout/")
    assert access_token({SESSION_TOKEN_REFERENCE: reference}) == ""


def test_ec_team_rights_come_from_the_providers_group(client, db, provider, cast):
    sign_in(client, "olga")
    olga = _user(client)
    assert is_ec_team(olga)
    assert client.get("/fleet/").status_code == 200
    # The provider drops olga from ecportal.operate: at her next sign-in she is EC team no more.
    seed = json.loads(DEMO_SEED.read_text())
    seed["uaa"]["users"]["olga"]["groups"].remove("ecportal.operate")
    provider.reset(seed)
    client.logout()
    sign_in(client, "olga")
    olga = _user(client)
    assert not is_ec_team(olga)
    assert client.get("/fleet/").status_code == 403


def test_a_group_checkbox_alone_makes_no_provider_user_ec_team(client, db, provider, cast):
    sign_in(client, "bob")
    bob = _user(client)
    bob.groups.add(ec_team_group())  # what ticking "EC team" in the admin does
    assert not is_ec_team(_user(client))
    assert not is_ec_team(User.objects.get(pk=bob.pk))
    assert client.get("/fleet/").status_code == 403
    assert is_ec_team(cast["olga"])  # local accounts keep their group


def test_a_refused_sign_in_says_so_on_the_login_page(client, db, settings, provider):
    settings.OIDC_RP_CLIENT_SECRET = "not-the-secret"  # the token endpoint refuses the code
    answer = sign_in(client, "alice")
    assert answer.status_code == 302 and answer["Location"] == "/accounts/login/?signin=failed"
    page = client.get(answer["Location"])
    assert "Signing in through UAA did not succeed" in page.text
    assert "_auth_user_id" not in client.session


def _file(client, url: str):
    return client.post(
        "/requests/new/",
        {"service_urls": url, "plan": "test_first", "release": _release(), "contacts": "", "notes": ""},
    )


def _release() -> int:
    return Release.objects.get(recommended=True).pk


def test_alice_files_for_acme_and_is_refused_for_globex(client, db, provider, releases):
    sign_in(client, "alice")
    refused = _file(client, GLOBEX_PROD_URL)
    assert refused.status_code == 200
    assert f"the service {demo.GLOBEX_PROD_ZONE} on Predix West / Basic is not yours" in refused.text
    assert "ask the people who manage its space in Cloud Foundry, or the EC team" in refused.text
    assert not UpgradeRequest.objects.exists()
    accepted = _file(client, demo.ACME_PROD_URL)
    assert accepted.status_code == 302
    request = UpgradeRequest.objects.get()
    # The space's manager, as CF names them, is offered as a point of contact.
    assert [c.email for c in request.contacts.all()] == ["dana@acme.example"]


def test_the_ec_team_files_for_anyone(client, db, provider, releases):
    sign_in(client, "olga")
    assert _file(client, GLOBEX_PROD_URL).status_code == 302


def test_without_a_cf_token_nothing_is_filed(client, db, provider, releases):
    sign_in(client, "alice")
    session = client.session
    forget_access_token(session)
    session.save()
    answer = _file(client, demo.ACME_PROD_URL)
    assert "sign out and sign in through UAA again" in answer.text
    assert not UpgradeRequest.objects.exists()


def _acme_prod() -> list:
    services, problems = intake.parse_service_urls(demo.ACME_PROD_URL)
    assert not problems
    return services


@pytest.mark.parametrize("token", ["", "not-a-token"])
def test_the_ownership_check_refuses_when_cf_does_not_know_the_token(db, provider, token):
    with pytest.raises(ownership.NotYours) as refused:
        ownership.confirm(services=_acme_prod(), contacts=[], owner_token=token)
    assert "sign" in str(refused.value)


def test_the_ownership_check_adds_the_space_managers_to_the_contacts_once(db, provider, settings):
    token = token_response(provider.api_url, "alice", scope="openid cloud_controller.read")["access_token"]
    confirmed = ownership.confirm(
        services=_acme_prod(), contacts=["me@example.com", "dana@acme.example"], owner_token=token
    )
    assert confirmed == ["me@example.com", "dana@acme.example"]
    assert ownership.confirm(services=_acme_prod(), contacts=[], owner_token=token) == ["dana@acme.example"]
    settings.MAX_CONTACTS_PER_REQUEST = 1
    assert ownership.confirm(services=_acme_prod(), contacts=["me@example.com"], owner_token=token) == [
        "me@example.com"
    ]
    # Anyone's services may be named (owner_token None): CF is not asked, the contacts stay.
    assert ownership.confirm(services=_acme_prod(), contacts=["x@example.com"], owner_token=None) == [
        "x@example.com"
    ]


def test_the_request_form_does_not_ask_cf(db, provider, releases):
    before = len(provider.calls())
    form = UpgradeRequestForm(
        {"service_urls": demo.ACME_PROD_URL, "plan": "test_first", "release": _release()}
    )
    assert form.is_valid(), form.errors
    assert len(provider.calls()) == before


def test_the_api_applies_the_same_rule(client, db, provider, releases):
    sign_in(client, "alice")
    refused = client.post(
        "/api/requests/", {"service_urls": [GLOBEX_PROD_URL]}, content_type="application/json"
    )
    assert refused.status_code == 400
    assert "is not yours" in json.dumps(refused.json())
    accepted = client.post(
        "/api/requests/", {"services": [{"url": demo.ACME_PROD_URL}]}, content_type="application/json"
    )
    assert accepted.status_code == 201, accepted.json()
    assert "dana@acme.example" in json.dumps(accepted.json()["contacts"])


def test_a_provider_user_calling_the_api_with_a_token_is_sent_to_the_browser_or_the_ec_team(
    client, db, provider, releases
):
    sign_in(client, "bob")
    by_token = APIClient()
    by_token.credentials(HTTP_AUTHORIZATION=f"Token {tokens.replace(_user(client))}")
    answer = by_token.post("/api/requests/", {"services": [{"url": GLOBEX_PROD_URL}]}, format="json")
    assert answer.status_code == 400
    (message,) = answer.json()["services"]
    assert "an API token carries no Cloud Foundry access" in message
    assert "Sign in through UAA in the browser and file the request there, or ask the EC team" in message
    assert "sign in through UAA again" not in message  # signing in again would not help the token
    assert not UpgradeRequest.objects.exists()
    # The same person through their browser session files for their own services.
    filed = client.post(
        "/api/requests/", {"services": [{"url": GLOBEX_PROD_URL}]}, content_type="application/json"
    )
    assert filed.status_code == 201, filed.json()
