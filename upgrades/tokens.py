"""A user's own API token (DRF's authtoken): at most one per user, replaced or revoked by its owner.

The portal shows a new key once, right after it is made; afterwards it says only that a token exists.
"""

from datetime import datetime

from django.db import transaction
from rest_framework.authtoken.models import Token


def created_at(user) -> datetime | None:
    """When the user's token was made, or None when they have none."""
    return Token.objects.filter(user=user).values_list("created", flat=True).first()


def replace(user) -> str:
    """A new key for `user`; a token they had stops working at once."""
    with transaction.atomic():
        Token.objects.filter(user=user).delete()
        return Token.objects.create(user=user).key


def revoke(user) -> bool:
    """Delete the user's token; False when there was none."""
    deleted, _ = Token.objects.filter(user=user).delete()
    return bool(deleted)
