"""Conditional GETs for the request page and its live part.

The ETag stands for what the page would show this user: the request's fingerprint (its versions, its
events, CF calls and mail log), who asks and with which role, the CSRF secret its forms carry, the
deployed templates and code (a page from before a deploy is never revalidated), the current second
while a step runs (its clock moves), and the current minute while a test or retention window counts
down. An unchanged poll is answered `304 Not Modified` after one indexed query; a page with a message
to show is always rendered.
"""

import hashlib
import time
from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.middleware.csrf import get_token

from upgrades import selectors
from upgrades.permissions import is_ec_team


def _deployed() -> str:
    """A stamp of the templates and code this process serves, the same in every worker of a deploy."""
    code = Path(__file__).resolve().parents[1]
    files = [*(Path(settings.BASE_DIR) / "templates").rglob("*.*"), *code.rglob("*.py")]
    stamps = sorted((str(path), path.stat().st_mtime_ns) for path in files if path.is_file())
    return hashlib.blake2b(repr(stamps).encode(), digest_size=8).hexdigest()


DEPLOYED = _deployed()


def request_etag(request, request_id: int) -> str | None:
    """The ETag of `/requests/<id>/` (and its live part) for this user, or None to render anyway."""
    if not request.user.is_authenticated or len(messages.get_messages(request)):
        return None
    fingerprint = selectors.request_fingerprint(request.user, request_id)
    if fingerprint is None:
        return None  # not visible: the view answers 404
    get_token(request)  # makes sure the CSRF secret below is the one the page's forms will carry
    parts = (
        DEPLOYED,
        request.path,
        request.user.pk,
        is_ec_team(request.user),
        request.META.get("CSRF_COOKIE", ""),
        fingerprint,
        int(time.time()) if fingerprint[2] else 0,
        int(time.time() // 60) if fingerprint[-1] else 0,
    )
    return hashlib.blake2b(repr(parts).encode(), digest_size=16).hexdigest()
