"""The settings page: a user makes, replaces and revokes their own API token, and the API agrees."""

import re

from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

SETTINGS = "/settings/"


def new_key(page: str) -> str:
    match = re.search(r'<code id="new-token">([0-9a-f]{40})</code>', page)
    assert match, "the new key is shown in full"
    return match.group(1)


def call_api(key: str) -> int:
    return APIClient().get("/api/requests/", HTTP_AUTHORIZATION=f"Token {key}").status_code


def test_a_user_creates_a_token_sees_it_once_uses_it_and_revokes_it(client, cast, releases):
    client.force_login(cast["alice"])
    page = client.get(SETTINGS)
    assert page["Cache-Control"] and "no-store" in page["Cache-Control"]
    assert "You have no API token." in page.content.decode()
    assert client.get("/").content.decode().count(f'href="{SETTINGS}"') == 1, "linked from the header"

    created = client.post(reverse("settings-token-create"))
    assert created.status_code == 302 and created["Location"] == SETTINGS
    shown = client.get(SETTINGS)
    page = shown.content.decode()
    key = new_key(page)
    assert "no-store" in shown["Cache-Control"], "a page with a secret is never stored"
    assert f"Authorization: Token {key}" in page and "API token created." in page
    assert "You have an API token, created on" in page
    assert key not in client.get(SETTINGS).content.decode(), "shown once only"
    assert call_api(key) == 200

    client.post(reverse("settings-token-create"))
    page = client.get(SETTINGS).content.decode()
    replacement = new_key(page)
    assert replacement != key and "the old one no longer works" in page
    assert call_api(key) == 401 and call_api(replacement) == 200

    assert client.post(reverse("settings-token-revoke")).status_code == 302
    page = client.get(SETTINGS).content.decode()
    assert "API token revoked" in page and "You have no API token." in page
    assert call_api(replacement) == 401
    assert not Token.objects.exists()


def test_each_user_manages_only_their_own_token(client, cast):
    olga_key = Token.objects.create(user=cast["olga"]).key
    client.force_login(cast["alice"])
    client.post(reverse("settings-token-revoke"))
    assert "You had no API token." in client.get(SETTINGS).content.decode()
    assert call_api(olga_key) == 200, "alice's revoke never touches olga's token"
    client.post(reverse("settings-token-create"))
    assert Token.objects.filter(user=cast["olga"], key=olga_key).exists()


def test_changes_are_posts_with_csrf_and_the_page_needs_a_login(cast):
    anonymous = Client()
    assert anonymous.get(SETTINGS)["Location"].startswith("/accounts/login/")
    assert anonymous.post(reverse("settings-token-create")).status_code == 302
    assert not Token.objects.exists()
    checked = Client(enforce_csrf_checks=True)
    checked.force_login(cast["alice"])
    assert checked.post(reverse("settings-token-create")).status_code == 403
    assert checked.get(reverse("settings-token-create")).status_code == 405
    assert checked.get(reverse("settings-token-revoke")).status_code == 405
    assert not Token.objects.exists()
