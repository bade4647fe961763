"""ID tokens from cfsim's UAA, checked the way the portal's sign-in checks them (PyJWT through
`upgrades.identity.verify_id_token`, with the keys cfsim publishes): genuine ones pass; tampered,
expired, foreign and misaddressed ones are refused."""

import base64
import hashlib
import json
from urllib.parse import parse_qsl, urlencode, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.exceptions import SuspiciousOperation

from testkit.uaa import log_in_at, public_keys, redeem, token_response
from upgrades.identity import is_team_by_claims, verify_id_token


def _key(sim):
    (key,) = public_keys(sim.api_url)["keys"]
    return jwt.PyJWK(key)


def _with_claims(token: str, **changes) -> str:
    """The token with its payload changed and its signature kept (as an attacker would try)."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))) | changes
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def test_a_genuine_id_token_verifies_with_the_published_key(provider):
    tokens = token_response(provider.api_url, "olga")
    claims = verify_id_token(tokens["id_token"], _key(provider))
    assert claims["user_name"] == "olga"
    assert claims["iss"] == f"{provider.api_url}/uaa/oauth/token"
    assert claims["aud"] == ["ecportal"]
    assert is_team_by_claims(claims)
    alice = verify_id_token(token_response(provider.api_url, "alice")["id_token"], _key(provider))
    assert not is_team_by_claims(alice)  # alice asked for ecportal.operate too, and is not in the group


def test_a_tampered_id_token_is_refused(provider):
    token = token_response(provider.api_url, "alice")["id_token"]
    forged = _with_claims(token, scope=["openid", "ecportal.operate"])
    with pytest.raises(SuspiciousOperation, match="Signature verification failed"):
        verify_id_token(forged, _key(provider))


def test_an_expired_id_token_is_refused(provider, settings):
    settings.OIDC_CLOCK_LEEWAY = 0
    provider.configure(token_lifetime=0)  # expires as it is issued
    token = token_response(provider.api_url, "alice")["id_token"]
    with pytest.raises(SuspiciousOperation, match="expired"):
        verify_id_token(token, _key(provider))


def test_a_token_signed_by_another_key_is_refused(provider):
    genuine = jwt.decode(
        token_response(provider.api_url, "alice")["id_token"], options={"verify_signature": False}
    )
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(genuine, other, algorithm="RS256", headers={"kid": _key(provider).key_id})
    with pytest.raises(SuspiciousOperation, match="Signature verification failed"):
        verify_id_token(forged, _key(provider))


def test_a_token_for_another_client_or_from_another_issuer_is_refused(provider, settings):
    token = token_response(provider.api_url, "alice")["id_token"]
    settings.OIDC_RP_CLIENT_ID = "some-other-portal"
    with pytest.raises(SuspiciousOperation, match="(?i)audience"):
        verify_id_token(token, _key(provider))
    settings.OIDC_RP_CLIENT_ID = "ecportal"
    settings.OIDC_OP_ISSUER = "https://uaa.elsewhere.example/oauth/token"
    with pytest.raises(SuspiciousOperation, match="(?i)issuer"):
        verify_id_token(token, _key(provider))


def test_unsigned_tokens_are_refused(provider):
    genuine = jwt.decode(
        token_response(provider.api_url, "alice")["id_token"], options={"verify_signature": False}
    )
    unsigned = jwt.encode(genuine, None, algorithm="none")
    with pytest.raises(SuspiciousOperation):
        verify_id_token(unsigned, _key(provider))


def test_the_code_is_redeemed_only_with_its_pkce_verifier_and_only_once(provider):
    verifier = "v" * 64
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = {
        "client_id": "ecportal",
        "response_type": "code",
        "redirect_uri": "http://127.0.0.1/callback",
        "scope": "openid",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }

    def new_code() -> str:
        _, location = log_in_at(f"{provider.api_url}/uaa/oauth/authorize?{urlencode(query)}", "alice")
        return dict(parse_qsl(urlsplit(location).query))["code"]

    code = new_code()
    wrong = redeem(provider.api_url, code, redirect_uri=query["redirect_uri"], verifier="x" * 64)
    assert (wrong["status"], wrong["error"]) == (400, "invalid_grant")
    spent = redeem(provider.api_url, code, redirect_uri=query["redirect_uri"], verifier=verifier)
    assert spent["error"] == "invalid_grant"  # a refused try spends the code, as UAA does
    code = new_code()
    assert "id_token" in redeem(provider.api_url, code, redirect_uri=query["redirect_uri"], verifier=verifier)
    again = redeem(provider.api_url, code, redirect_uri=query["redirect_uri"], verifier=verifier)
    assert again["error"] == "invalid_grant"
