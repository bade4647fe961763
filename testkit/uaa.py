"""Signing in through cfsim's UAA from tests: its login form answered as a browser would, without one.

settings.update(oidc_settings(sim.api_url))    # the portal's OIDC_* settings for that cfsim
sign_in(django_client, "alice")                 # the whole authorization code flow, PKCE included
tokens = token_response(sim.api_url, "alice")   # a code redeemed by hand: access and ID token
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import urllib.error
import urllib.request
from urllib.parse import parse_qsl, urlencode, urlsplit

from ecportal.embedded import CFSIM_CLIENT_SECRET

DEMO_PASSWORD = "ecportal-demo"  # cfsim's seed users' password
CLIENT_ID = "ecportal"


def oidc_settings(api_url: str) -> dict:
    """The portal's OpenID Connect settings for the cfsim at ``api_url``."""
    uaa = f"{api_url}/uaa"
    return {
        "OIDC_ENABLED": True,
        "OIDC_RP_CLIENT_ID": CLIENT_ID,
        "OIDC_RP_CLIENT_SECRET": CFSIM_CLIENT_SECRET,
        "OIDC_OP_AUTHORIZATION_ENDPOINT": f"{uaa}/oauth/authorize",
        "OIDC_OP_TOKEN_ENDPOINT": f"{uaa}/oauth/token",
        "OIDC_OP_USER_ENDPOINT": f"{uaa}/userinfo",
        "OIDC_OP_JWKS_ENDPOINT": f"{uaa}/token_keys",
        "OIDC_OP_ISSUER": f"{uaa}/oauth/token",
    }


class _Stay(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # the redirect back to the portal is read, not followed


def log_in_at(authorize_url: str, username: str, password: str = DEMO_PASSWORD) -> tuple[int, str]:
    """Answer UAA's login form for an authorization request: (status, where it sends the browser)."""
    parts = urlsplit(authorize_url)
    form = dict(parse_qsl(parts.query)) | {"username": username, "password": password}
    request = urllib.request.Request(
        f"{parts.scheme}://{parts.netloc}{parts.path}", data=urlencode(form).encode(), method="POST"
    )
    try:
        with urllib.request.build_opener(_Stay).open(request, timeout=10) as answer:
            return answer.status, answer.headers.get("Location", "")
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Location", "")


def sign_in(client, username: str, password: str = DEMO_PASSWORD):
    """Sign ``client`` (Django's test client) in through cfsim's UAA; the portal's last answer."""
    start = client.get("/oidc/authenticate/")
    assert start.status_code == 302, start
    status, location = log_in_at(start["Location"], username, password)
    assert status == 302, f"UAA answered {status}"
    back = urlsplit(location)
    return client.get(f"{back.path}?{back.query}")


def token_response(api_url: str, username: str, *, scope: str = "openid email ecportal.operate") -> dict:
    """An authorization code for ``username``, redeemed with its PKCE verifier: UAA's token answer."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    redirect_uri = "http://127.0.0.1/callback"
    query = {
        "client_id": CLIENT_ID,
        "response_type": "code",
        "redirect_uri": redirect_uri,
        "scope": scope,
        "state": "s",
        "nonce": "n",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    status, location = log_in_at(f"{api_url}/uaa/oauth/authorize?{urlencode(query)}", username)
    assert status == 302, f"UAA answered {status}"
    code = dict(parse_qsl(urlsplit(location).query))["code"]
    return redeem(api_url, code, redirect_uri=redirect_uri, verifier=verifier)


def redeem(api_url: str, code: str, *, redirect_uri: str, verifier: str) -> dict:
    """POST the code to the token endpoint; its JSON answer (an error's too)."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
    }
    basic = base64.b64encode(f"{CLIENT_ID}:{CFSIM_CLIENT_SECRET}".encode()).decode()
    request = urllib.request.Request(
        f"{api_url}/uaa/oauth/token",
        data=urlencode(form).encode(),
        headers={"Authorization": f"Basic {basic}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return json.loads(error.read()) | {"status": error.code}


def public_keys(api_url: str) -> dict:
    with urllib.request.urlopen(f"{api_url}/uaa/token_keys", timeout=10) as answer:
        return json.loads(answer.read())
