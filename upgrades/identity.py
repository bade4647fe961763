"""Sign-in through the OpenID Connect provider (UAA): mozilla-django-oidc runs the authorization code
flow with PKCE; this module decides what a verified sign-in means for the portal.

- The ID token must carry the provider's signature (its published keys), this portal as audience, the
  configured issuer and an expiry still ahead; anything else refuses the sign-in.
- A provider's user is found by issuer and subject (`ProviderIdentity`), never by email alone, so the
  provider cannot sign someone in as a local (break-glass) account.
- The email address, which decides what a user sees (contacts are matched by email), is taken only
  when the provider says it has verified it (`email_verified`); otherwise the user's email is blank.
- At each sign-in the configured claim (`OIDC_EC_TEAM_CLAIM`, holding `OIDC_EC_TEAM_VALUE`) grants or
  removes EC team rights.
- The user's CF access token is kept for the ownership check at intake (`upgrades.ownership`) when
  `OIDC_STORE_ACCESS_TOKEN` is on: in the cache, never in the database (sessions are written to the
  database). The session holds only a random reference to it; the cached token expires with the
  token and is deleted at sign-out. Without the cache the token is simply missing, and the intake
  asks the user to sign in again.
"""

import logging
import secrets

import jwt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.exceptions import SuspiciousOperation
from django.db import transaction
from django.utils import timezone
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from upgrades.models import ProviderIdentity
from upgrades.permissions import PortalBackend, ec_team_group

logger = logging.getLogger(__name__)
SESSION_TOKEN_REFERENCE = "cf_access_token_ref"  # the session's key to its cached CF access token
LEGACY_SESSION_ACCESS_TOKEN = "oidc_access_token"  # where mozilla-django-oidc would keep the token itself
_CACHE_PREFIX = "cf-access-token:"
_DEFAULT_TOKEN_SECONDS = 3600  # when the provider does not say how long its token lasts


def keep_access_token(session, token: str, seconds: int) -> None:
    """Cache ``token`` for ``seconds`` (its lifetime) and put a fresh random reference to it in
    ``session``. A cache that does not answer leaves the session without a token."""
    forget_access_token(session)
    reference = secrets.token_urlsafe(32)
    try:
        cache.set(_CACHE_PREFIX + reference, token, max(1, seconds))
    except Exception:
        logger.warning("cache unreachable; the CF access token of this sign-in is not kept", exc_info=True)
        return
    session[SESSION_TOKEN_REFERENCE] = reference


def access_token(session) -> str:
    """The session's CF access token, or "" (none kept, expired, or the cache does not answer)."""
    # Sessions from before the token moved to the cache: drop it, so the saved session no longer has it.
    session.pop(LEGACY_SESSION_ACCESS_TOKEN, None)
    reference = session.get(SESSION_TOKEN_REFERENCE)
    if not reference:
        return ""
    try:
        return cache.get(_CACHE_PREFIX + reference) or ""
    except Exception:
        logger.warning("cache unreachable; no CF access token for this request", exc_info=True)
        return ""


def forget_access_token(session) -> None:
    """Delete the session's cached CF access token (at sign-out, or when a new one replaces it)."""
    reference = session.pop(SESSION_TOKEN_REFERENCE, None)
    if not reference:
        return
    try:
        cache.delete(_CACHE_PREFIX + reference)
    except Exception:
        logger.warning("cache unreachable; the CF access token expires on its own", exc_info=True)


def claim_values(claims: dict, name: str) -> set[str]:
    """A claim as a set of strings: a list, a space-separated string (OAuth's `scope`), or one value."""
    value = claims.get(name)
    if isinstance(value, list):
        return {str(item) for item in value}
    if isinstance(value, str):
        return set(value.split())
    return set() if value is None else {str(value)}


def verified_email(claims: dict) -> str:
    """The claims' email address if the provider vouches for it (`email_verified` is exactly true),
    else "": an address anyone could type into their UAA profile must not open others' requests."""
    if claims.get("email_verified") is True:
        return str(claims.get("email") or "")
    return ""


def is_team_by_claims(claims: dict) -> bool:
    return settings.OIDC_EC_TEAM_VALUE in claim_values(claims, settings.OIDC_EC_TEAM_CLAIM)


def verify_id_token(token: str, key) -> dict:
    """The ID token's claims once its signature, audience, issuer and expiry hold; else
    SuspiciousOperation saying which does not."""
    try:
        return jwt.decode(
            token,
            key,
            algorithms=[settings.OIDC_RP_SIGN_ALGO],
            audience=settings.OIDC_RP_CLIENT_ID,
            issuer=settings.OIDC_OP_ISSUER,
            options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            leeway=settings.OIDC_CLOCK_LEEWAY,
        )
    except jwt.PyJWTError as exc:
        raise SuspiciousOperation(f"ID token refused: {exc}") from exc


class ProviderBackend(OIDCAuthenticationBackend):
    """mozilla-django-oidc's backend with the rules of the module docstring. It grants no
    permissions itself: those come from `PortalBackend`, which knows `ProviderIdentity.ec_team`."""

    token_seconds = _DEFAULT_TOKEN_SECONDS  # the access token's lifetime, from the token answer

    def get_payload_data(self, token, key):
        return verify_id_token(token, key)

    def authenticate(self, request, **kwargs):
        if not settings.OIDC_ENABLED or "nonce" not in kwargs:
            return None  # not the provider's callback (a local sign-in, say): not for this backend
        try:
            return super().authenticate(request, **kwargs)
        except (SuspiciousOperation, jwt.PyJWTError, OSError, ValueError, KeyError) as exc:
            # A refused token, a provider that did not answer or answered nonsense: no sign-in.
            logger.warning("Sign-in through the OpenID Connect provider refused: %s", exc)
            return None

    def get_token(self, payload):
        answer = super().get_token(payload)
        self.token_seconds = _seconds_left(answer)
        return answer

    def store_tokens(self, access_token, id_token):
        """Not in the session as mozilla-django-oidc would: in the cache (module docstring)."""
        if settings.OIDC_STORE_ACCESS_TOKEN and access_token:
            keep_access_token(self.request.session, access_token, self.token_seconds)

    def get_or_create_user(self, access_token, id_token, payload):
        self.id_claims = payload
        return super().get_or_create_user(access_token, id_token, payload)

    def verify_claims(self, claims):
        """The userinfo must be about the ID token's subject (OIDC Core 5.3.2)."""
        return bool(claims.get("sub")) and claims.get("sub") == self.id_claims.get("sub")

    def filter_users_by_claims(self, claims):
        return get_user_model().objects.filter(
            provider_identity__issuer=settings.OIDC_OP_ISSUER, provider_identity__subject=claims["sub"]
        )

    def create_user(self, claims):
        with transaction.atomic():
            user = get_user_model().objects.create_user(_free_username(claims), email=verified_email(claims))
            user.set_unusable_password()
            user.save(update_fields=["password"])
            ProviderIdentity.objects.create(
                user=user,
                issuer=settings.OIDC_OP_ISSUER,
                subject=claims["sub"],
                signed_in_at=timezone.now(),
            )
            _sync_team(user, is_team_by_claims(self.id_claims))
        return user

    def update_user(self, user, claims):
        with transaction.atomic():
            email = verified_email(claims)
            if email != user.email:
                user.email = email
                user.save(update_fields=["email"])
            _sync_team(user, is_team_by_claims(self.id_claims))
        return user

    def get_user(self, user_id):
        return PortalBackend().get_user(user_id)

    def has_perm(self, user_obj, perm, obj=None):
        return False

    def has_module_perms(self, user_obj, app_label):
        return False

    def get_all_permissions(self, user_obj, obj=None):
        return set()


def _seconds_left(token_answer: dict) -> int:
    """How long the token endpoint's access token lasts (its `expires_in`)."""
    try:
        return int(token_answer.get("expires_in") or _DEFAULT_TOKEN_SECONDS)
    except (TypeError, ValueError):
        return _DEFAULT_TOKEN_SECONDS


def _free_username(claims: dict) -> str:
    """The provider's user name (else the email), made unique: a local account of that name keeps it."""
    base = (claims.get("user_name") or claims.get("email") or claims["sub"])[:140]
    taken = get_user_model().objects.filter(username__startswith=base).values_list("username", flat=True)
    taken = set(taken)
    if base not in taken:
        return base
    number = 2
    while f"{base}.{number}" in taken:
        number += 1
    return f"{base}.{number}"


def _sync_team(user, team: bool) -> None:
    """EC team exactly while the provider says so: the flag, and the group that shows it in the admin."""
    ProviderIdentity.objects.filter(user=user).update(ec_team=team, signed_in_at=timezone.now())
    if team:
        user.groups.add(ec_team_group())
    else:
        user.groups.remove(ec_team_group())


def provider_access(user, session) -> tuple[bool, str]:
    """(whether the user signed in through the provider and must own what they file, their CF access
    token or ""). EC team members file for anyone; local accounts are not checked."""
    if not user.is_authenticated or not ProviderIdentity.objects.filter(user_id=user.pk).exists():
        return False, ""
    if user.has_perm("upgrades.operate"):
        return False, ""
    return True, access_token(session)
