"""UAA as an OpenID Connect provider: discovery, the login page of ``/uaa/oauth/authorize``, the
``authorization_code`` grant (PKCE checked), RS256 ID tokens, ``/uaa/token_keys`` and ``/uaa/userinfo``.

The signing key is an RSA key made when cfsim starts: ID tokens from an earlier run no longer verify,
as after a real UAA rotates its key. The issuer is ``<base>/uaa/oauth/token``, as UAA names itself.
"""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
import time
from functools import cache
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from cfsim.http_util import Request, Response
from cfsim.people import Person
from cfsim.state import Store

KEY_ID = "cfsim-key-1"
CODE_LIFETIME = 300  # seconds an authorization code may wait for the token endpoint
CHALLENGE_METHODS = ("S256", "plain")


@cache
def signing_key() -> rsa.RSAPrivateKey:
    """This run's key (made on first use; the API server asks for it as it starts)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def issuer(req: Request) -> str:
    return f"{req.base}/uaa/oauth/token"


def discovery(req: Request) -> Response:
    uaa = f"{req.base}/uaa"
    return Response(
        200,
        {
            "issuer": issuer(req),
            "authorization_endpoint": f"{uaa}/oauth/authorize",
            "token_endpoint": f"{uaa}/oauth/token",
            "userinfo_endpoint": f"{uaa}/userinfo",
            "jwks_uri": f"{uaa}/token_keys",
            "end_session_endpoint": f"{uaa}/logout.do",
            "scopes_supported": ["openid", "profile", "email", "phone", "roles", "user_attributes"],
            "response_types_supported": ["code", "code id_token", "id_token", "token id_token"],
            "grant_types_supported": [
                "authorization_code", "password", "client_credentials", "refresh_token",
            ],  # fmt: skip
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": list(CHALLENGE_METHODS),
            "claims_supported": ["sub", "user_name", "origin", "iss", "auth_time", "amr", "acr", "client_id",
                                 "aud", "zid", "grant_type", "user_id", "azp", "scope", "exp", "iat", "jti",
                                 "rev_sig", "cid", "given_name", "family_name", "phone_number", "email"],
        },
    )  # fmt: skip


def token_keys() -> Response:
    """The JWK set, shaped as UAA's (``value`` holds the PEM of the public key)."""
    public = signing_key().public_key()
    jwk = jwt.algorithms.RSAAlgorithm.to_jwk(public, as_dict=True)
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return Response(
        200, {"keys": [jwk | {"kid": KEY_ID, "alg": "RS256", "use": "sig", "value": pem.decode()}]}
    )


def userinfo(store: Store, header: str | None) -> Response:
    token = _user_token(store, header)
    if token is None:
        return Response(
            401,
            {"error": "invalid_token", "error_description": "Invalid access token"},
            {"WWW-Authenticate": 'Bearer realm="UAA/oauth", error="invalid_token"'},
        )
    person = store.people[token.subject]
    return Response(
        200,
        {
            "user_id": person.guid,
            "sub": person.guid,
            "user_name": person.username,
            "given_name": person.given_name,
            "family_name": person.family_name,
            "name": f"{person.given_name} {person.family_name}".strip(),
            "email": person.email,
            "email_verified": person.email_verified,
            "previous_logon_time": None,
        },
    )


def _user_token(store: Store, header: str | None):
    scheme, _, value = (header or "").strip().partition(" ")
    token = store.tokens.get(value.strip()) if scheme.lower() == "bearer" else None
    if token is None or token.expires_at <= time.time() or token.subject not in store.people:
        return None
    return token


# -- /uaa/oauth/authorize ---------------------------------------------------------------------


def _form(raw: bytes) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(raw.decode(errors="replace"), keep_blank_values=True).items()}


def authorize(req: Request, store: Store) -> Response:
    """GET: the login page for a valid authorization request; POST: check the password, then send
    the browser back to ``redirect_uri`` with a code (or the login page again, saying why not)."""
    params = dict(req.query) if req.method == "GET" else _form(req.raw_body)
    problem = _bad_request(params, store)
    if problem:
        return _page(400, f"<p class=error>{html.escape(problem)}</p>")
    if params.get("response_type") != "code":
        return _back(params, {"error": "unsupported_response_type"})
    if params.get("code_challenge_method", "plain") not in CHALLENGE_METHODS:
        return _back(
            params, {"error": "invalid_request", "error_description": "Unsupported code challenge method"}
        )
    if req.method == "GET":
        return _page(200, _login_form(params, ""))
    username = params.get("username", "")
    if username not in store.people or store.users.get(username) != params.get("password"):
        return _page(401, _login_form(params, "Provided credentials are invalid. Please try again."))
    code = secrets.token_urlsafe(8)
    store.auth_codes[code] = {
        "client_id": params["client_id"],
        "username": username,
        "redirect_uri": params["redirect_uri"],
        "scope": params.get("scope", "openid"),
        "nonce": params.get("nonce"),
        "code_challenge": params.get("code_challenge"),
        "code_challenge_method": params.get("code_challenge_method", "plain"),
        "auth_time": int(time.time()),
        "expires_at": time.time() + CODE_LIFETIME,
    }
    return _back(params, {"code": code})


def _bad_request(params: dict[str, str], store: Store) -> str:
    """What makes the request unfit to redirect anywhere (UAA then shows an error page)."""
    if params.get("client_id") not in store.clients:
        return "No client with requested id"
    redirect = urlsplit(params.get("redirect_uri", ""))
    if redirect.scheme not in ("http", "https") or not redirect.netloc:
        return "Invalid redirect: a redirect_uri is required"
    return ""


def _back(params: dict[str, str], answer: dict[str, str]) -> Response:
    if "state" in params:
        answer = answer | {"state": params["state"]}
    target = params["redirect_uri"]
    separator = "&" if urlsplit(target).query else "?"
    return Response(302, b"", {"Location": f"{target}{separator}{urlencode(answer)}"})


def _login_form(params: dict[str, str], error: str) -> str:
    keep = ("client_id", "response_type", "redirect_uri", "scope", "state", "nonce", "code_challenge",
            "code_challenge_method")  # fmt: skip
    hidden = "".join(
        f'<input type=hidden name="{name}" value="{html.escape(params[name])}">'
        for name in keep
        if name in params
    )
    message = f"<p class=error>{html.escape(error)}</p>" if error else ""
    return (
        f"<h1>Cloud Foundry sign in</h1>{message}<form method=post action=/uaa/oauth/authorize>{hidden}"
        "<label>Username <input name=username autocomplete=username autofocus></label>"
        "<label>Password <input name=password type=password autocomplete=current-password></label>"
        "<button type=submit>Sign in</button></form>"
    )


def _page(status: int, body: str) -> Response:
    document = f"<!doctype html><html><head><title>cfsim UAA</title></head><body>{body}</body></html>"
    return Response(status, document.encode(), {"Content-Type": "text/html; charset=utf-8"})


# -- the authorization_code grant -----------------------------------------------------------------


def redeem_code(form: dict[str, str], client_id: str, store: Store) -> tuple[dict | None, str]:
    """The code's grant, spent; or None and why it is refused (``invalid_grant``'s description)."""
    grant = store.auth_codes.pop(form.get("code", ""), None)
    if grant is None or grant["expires_at"] <= time.time():
        return None, f"Invalid authorization code: {form.get('code', '')}"
    if grant["client_id"] != client_id:
        return None, "Invalid authorization code: issued to another client"
    if grant["redirect_uri"] != form.get("redirect_uri"):
        return None, "Redirect mismatch"
    challenge = grant["code_challenge"]
    if challenge is not None and not _verifier_matches(form.get("code_verifier", ""), challenge, grant):
        return None, "Invalid code verifier"
    return grant, ""


def _verifier_matches(verifier: str, challenge: str, grant: dict) -> bool:
    if not 43 <= len(verifier) <= 128:
        return False
    if grant["code_challenge_method"] == "S256":
        digest = hashlib.sha256(verifier.encode("ascii", errors="replace")).digest()
        verifier = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return secrets.compare_digest(verifier, challenge)


def granted_scopes(person: Person, requested: str) -> list[str]:
    """What UAA grants a user: the requested scopes the user's groups hold."""
    return [scope for scope in requested.split() if scope in person.groups]


def id_token(
    req: Request, person: Person, client_id: str, grant: dict, scopes: list[str], lifetime: int
) -> str:
    now = int(time.time())
    claims = {
        "iss": issuer(req),
        "sub": person.guid,
        "aud": [client_id],
        "azp": client_id,
        "client_id": client_id,
        "cid": client_id,
        "user_id": person.guid,
        "user_name": person.username,
        "origin": "uaa",
        "zid": "uaa",
        "email": person.email,
        "given_name": person.given_name,
        "family_name": person.family_name,
        "scope": scopes,
        "amr": ["pwd"],
        "grant_type": "authorization_code",
        "auth_time": grant["auth_time"],
        "iat": now,
        "exp": now + lifetime,
        "jti": secrets.token_hex(16),
    }
    if grant.get("nonce"):
        claims["nonce"] = grant["nonce"]
    return jwt.encode(claims, signing_key(), algorithm="RS256", headers={"kid": KEY_ID})
