"""Conditional GETs for the request page and its live part.

The ETag stands for what the page would show this user: the request's fingerprint (its versions, its
latest event and CF call, its mail log), who asks and with which role, the CSRF secret its forms carry,
and the current second while a step runs (its clock moves). An unchanged poll is answered `304 Not
Modified` after one indexed query; a page with a message to show is always rendered.
"""

import hashlib
import time

from django.contrib import messages
from django.middleware.csrf import get_token

from upgrades import selectors
from upgrades.permissions import is_ec_team


def request_etag(request, request_id: int) -> str | None:
    """The ETag of `/requests/<id>/` (and its live part) for this user, or None to render anyway."""
    if not request.user.is_authenticated or len(messages.get_messages(request)):
        return None
    fingerprint = selectors.request_fingerprint(request.user, request_id)
    if fingerprint is None:
        return None  # not visible: the view answers 404
    get_token(request)  # makes sure the CSRF secret below is the one the page's forms will carry
    parts = (
        request.path,
        request.user.pk,
        is_ec_team(request.user),
        request.META.get("CSRF_COOKIE", ""),
        fingerprint,
        int(time.time()) if fingerprint[2] else 0,
    )
    return hashlib.blake2b(repr(parts).encode(), digest_size=16).hexdigest()
