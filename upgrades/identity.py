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
- The user's CF access token stays in the server-side session (`OIDC_STORE_ACCESS_TOKEN`), for the
  ownership check at intake (`upgrades.ownership`).
"""

import logging

import jwt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import SuspiciousOperation
from django.db import transaction
from django.utils import timezone
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from upgrades.models import ProviderIdentity
from upgrades.permissions import PortalBackend, ec_team_group

logger = logging.getLogger(__name__)
SESSION_ACCESS_TOKEN = "oidc_access_token"  # where mozilla-django-oidc keeps it (OIDC_STORE_ACCESS_TOKEN)


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
    return True, session.get(SESSION_ACCESS_TOKEN, "")
