"""UAA's token endpoint: ``POST /uaa/oauth/token`` (authorization_code, password, client_credentials,
refresh_token), and its public ``GET /uaa/info``. The OpenID Connect side of UAA is in ``cfsim/oidc.py``.

Access tokens look like JWTs (their payload carries ``exp``) so clients that read the expiry from
the token work; cfsim itself only trusts its own table of issued tokens.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time
from urllib.parse import parse_qs

from cfsim import oidc
from cfsim.http_util import Request, Response
from cfsim.state import Store, Token

CLIENT_SCOPE = "cloud_controller.read cloud_controller.write cloud_controller.admin uaa.resource"


def _oauth_error(status: int, error: str, description: str) -> Response:
    return Response(status, {"error": error, "error_description": description})


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _client_credentials(req: Request, form: dict[str, str]) -> tuple[str | None, str]:
    """Client id and secret from HTTP Basic, else from the form body (both are allowed)."""
    header = req.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:].strip()).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None, ""
        client_id, _, secret = decoded.partition(":")
        return client_id, secret
    return form.get("client_id"), form.get("client_secret", "")


def issue(
    store: Store, subject: str, client_id: str, *, with_refresh: bool, scope: str | None = None
) -> dict:
    """Mint an access token (and optionally a refresh token) for a user (``subject`` one of
    ``store.people``, with the groups it holds as scopes unless ``scope`` narrows them) or for a
    client. Call with the lock held."""
    person = store.people.get(subject) if subject != client_id else None
    if scope is None:
        scope = " ".join(person.groups) if person else CLIENT_SCOPE
    lifetime = store.config.token_lifetime
    now = int(time.time())
    claims = {
        "sub": subject,
        "client_id": client_id,
        "iat": now,
        "exp": now + lifetime,
        "jti": secrets.token_hex(8),
    }
    value = f"{_b64({'alg': 'RS256', 'typ': 'JWT'})}.{_b64(claims)}.{secrets.token_urlsafe(16)}"
    token = Token(
        value=value,
        subject=subject,
        client_id=client_id,
        expires_at=time.time() + lifetime,
        scope=scope,
        user=person is not None,
    )
    store.tokens[value] = token
    body = {
        "access_token": value,
        "token_type": "bearer",
        "expires_in": lifetime,
        "scope": token.scope,
        "jti": claims["jti"],
    }
    if with_refresh:
        refresh = secrets.token_urlsafe(24)
        store.refresh_tokens[refresh] = (subject, client_id)
        body["refresh_token"] = refresh
    return body


def token_endpoint(req: Request, store: Store) -> Response:
    form = {
        k: v[-1] for k, v in parse_qs(req.raw_body.decode(errors="replace"), keep_blank_values=True).items()
    }
    client_id, secret = _client_credentials(req, form)
    if client_id is None or store.clients.get(client_id) != secret:
        return _oauth_error(401, "unauthorized", "Bad credentials")
    grant = form.get("grant_type")
    if grant == "authorization_code":
        return _authorization_code(req, store, form, client_id)
    if grant == "password":
        username = form.get("username", "")
        if username not in store.users or store.users[username] != form.get("password"):
            return _oauth_error(401, "unauthorized", "Bad credentials")
        return Response(200, issue(store, username, client_id, with_refresh=True))
    if grant == "client_credentials":
        return Response(200, issue(store, client_id, client_id, with_refresh=False))
    if grant == "refresh_token":
        owner = store.refresh_tokens.get(form.get("refresh_token", ""))
        if owner is None or owner[1] != client_id:
            return _oauth_error(401, "invalid_token", "Invalid refresh token (expired or revoked)")
        return Response(
            200,
            issue(store, owner[0], client_id, with_refresh=False) | {"refresh_token": form["refresh_token"]},
        )
    if not grant:
        return _oauth_error(400, "invalid_request", "Missing grant type")
    return _oauth_error(400, "unsupported_grant_type", f"Unsupported grant type: {grant}")


def _authorization_code(req: Request, store: Store, form: dict[str, str], client_id: str) -> Response:
    grant, problem = oidc.redeem_code(form, client_id, store)
    if grant is None:
        return _oauth_error(400, "invalid_grant", problem)
    person = store.people[grant["username"]]
    scopes = oidc.granted_scopes(person, grant["scope"])
    body = issue(store, person.username, client_id, with_refresh=True, scope=" ".join(scopes))
    lifetime = store.config.token_lifetime
    return Response(200, body | {"id_token": oidc.id_token(req, person, client_id, grant, scopes, lifetime)})


def token_of(store: Store, header: str | None) -> Token | None:
    """The token an ``Authorization: bearer ...`` header carries, if cfsim issued it."""
    scheme, _, value = (header or "").strip().partition(" ")
    return store.tokens.get(value.strip()) if scheme.lower() == "bearer" else None


def info(req: Request) -> Response:
    """What a real UAA's ``GET /info`` answers without a token: version, links, zone, login prompts."""
    base = f"{req.base}/uaa"
    return Response(
        200,
        {
            "app": {"version": "78.0.0"},
            "links": {
                "uaa": base,
                "passwd": "/forgot_password",
                "login": base,
                "register": "/create_account",
            },
            "zone_name": "uaa",
            "entityID": "cloudfoundry-saml-login",
            "commit_id": "cfsim",
            "idpDefinitions": {},
            "prompts": {"username": ["text", "Email"], "password": ["password", "Password"]},
            "timestamp": "2026-01-01T00:00:00+0000",
        },
    )


def authenticate(store: Store, header: str | None) -> tuple[str | None, str | None]:
    """(subject, error title) for an ``Authorization`` header; ``bearer`` matches in any case."""
    if not header:
        return None, "CF-NotAuthenticated"
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None, "CF-InvalidAuthToken"
    token = store.tokens.get(value.strip())
    if token is None or token.expires_at <= time.time():
        return None, "CF-InvalidAuthToken"
    return token.subject, None


def expire_all(store: Store) -> int:
    """Make every issued access token invalid at once (refresh tokens stay valid)."""
    for token in store.tokens.values():
        token.expires_at = 0
    return len(store.tokens)
