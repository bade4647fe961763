"""Rendered pages kept until what they show changes.

A page is kept per user (their roles decide what it shows) and per path, together with the change
stamp it was rendered under: a request page under its request's stamp and the catalog's (releases,
users), every list under the portal-wide stamp. Writes call `changed(request_id)`: the request's
stamp and the portal-wide one get a new value at once and again when the transaction commits, so a
page rendered from what the database held before the commit is never served after it.

Model saves and deletes bump the stamps through signals (admin edits, `create()`); the service layer,
engine and mail sender call `changed` beside each queryset `update()` and `bulk_create()`, which send
no signals. Pages that show a running clock ("running for 42 s") are kept for a second at most. The
CSRF token in a kept page's forms is the reader's own: it is put in afresh on every read.

The cache is a help, never a dependency: when it cannot be reached the page is rendered as if nothing
had been kept, and a stamp that went missing counts as changed.
"""

import hashlib
import logging
import re
import uuid
from collections.abc import Callable, Iterable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.http import HttpResponse
from django.middleware.csrf import get_token

from upgrades.models import (
    CallLog,
    Contact,
    ContactLink,
    Delivery,
    Event,
    Notification,
    Release,
    ServiceUpgrade,
    UpgradeRequest,
)

log = logging.getLogger(__name__)

EVERYTHING = "stamp:all"
CATALOG = "stamp:catalog"
STAMP_SECONDS = 7 * 24 * 3600
# The hidden field `{% csrf_token %}` writes; user text cannot produce it (autoescape turns `"` into &quot;).
_CSRF_FIELD = re.compile(rb'(name="csrfmiddlewaretoken" value=")[^"]*(")')


def _request_stamp(request_id: int) -> str:
    return f"stamp:request:{request_id}"


def changed(*request_ids: int | None) -> None:
    """Mark the pages of these requests, and every list, out of date now and when the transaction
    commits."""
    _bump_now_and_on_commit([EVERYTHING, *(_request_stamp(pk) for pk in request_ids if pk is not None)])


def catalog_changed() -> None:
    """Releases or users changed: every page may name them, so every kept page is out of date."""
    _bump_now_and_on_commit([EVERYTHING, CATALOG])


def _bump_now_and_on_commit(keys: list[str]) -> None:
    if transaction.get_connection().in_atomic_block:
        _bump(keys)
    transaction.on_commit(lambda: _bump(keys))


def _bump(keys: Iterable[str]) -> None:
    stamp = uuid.uuid4().hex
    try:
        cache.set_many(dict.fromkeys(keys, stamp), STAMP_SECONDS)
    except Exception:  # the cache is down: its pages are unreachable too, and expire on their own
        log.warning("could not mark pages out of date (%s)", ", ".join(keys), exc_info=True)


def _user_key(user) -> str:
    """Who the page was rendered for, as far as a page shows it: identity, email (contact role),
    flags and team membership. `date_joined` tells a user apart from one who had the same id in an
    earlier database."""
    return "|".join(
        str(part)
        for part in (
            user.pk,
            user.date_joined.timestamp(),
            user.get_username(),
            (user.email or "").lower(),
            user.is_staff,
            user.is_superuser,
            user.has_perm("upgrades.operate"),
        )
    )


def serve(
    request,
    render: Callable[[], tuple[HttpResponse, bool]],
    *,
    request_id: int | None = None,
) -> HttpResponse:
    """The page for this GET, from the cache when it is still current, else `render()`ed and kept.

    `render` returns the response and whether it shows a running clock. `request_id` names the
    upgrade request a page shows (lists show them all)."""
    if not _cacheable(request):
        return render()[0]
    stamps = [_request_stamp(request_id), CATALOG] if request_id else [EVERYTHING]
    digest = hashlib.sha256(f"{_user_key(request.user)}|{request.get_full_path()}".encode())
    page_key = f"page:{digest.hexdigest()}"
    try:
        found = cache.get_many([*stamps, page_key])
    except Exception:
        log.warning("page cache unreachable; rendering", exc_info=True)
        return render()[0]
    current = [found.get(key) for key in stamps]
    kept = found.get(page_key)
    if kept and None not in current and kept["stamps"] == current:
        return _from_kept(request, kept)
    response, clock = render()
    if None in current:
        _start_stamps(stamps, current)
    elif response.status_code == 200:
        _keep(page_key, current, response, seconds=1 if clock else settings.PAGE_CACHE_SECONDS)
    return response


def _cacheable(request) -> bool:
    # Pending messages ("Request submitted.") are shown once, by a render.
    return (
        settings.PAGE_CACHE_SECONDS > 0
        and request.method == "GET"
        and request.user.is_authenticated
        and not len(messages.get_messages(request))
    )


def _start_stamps(stamps: list[str], current: list) -> None:
    """Give missing stamps a value, so that the next render can be kept (this one was read without)."""
    try:
        for key, value in zip(stamps, current, strict=True):
            if value is None:
                cache.add(key, uuid.uuid4().hex, STAMP_SECONDS)
    except Exception:
        log.warning("page cache unreachable; not keeping the page", exc_info=True)


def _keep(page_key: str, stamps: list, response: HttpResponse, *, seconds: int) -> None:
    kept = {"stamps": stamps, "content": response.content, "content_type": response["Content-Type"]}
    try:
        cache.set(page_key, kept, seconds)
    except Exception:
        log.warning("page cache unreachable; not keeping the page", exc_info=True)


def _from_kept(request, kept: dict) -> HttpResponse:
    token = get_token(request).encode()
    content = _CSRF_FIELD.sub(lambda match: match[1] + token + match[2], kept["content"])
    return HttpResponse(content, content_type=kept["content_type"])


def _request_of(model, pk: int) -> int | None:
    return model.objects.filter(pk=pk).values_list("request_id", flat=True).first()


# Which request a saved or deleted row belongs to (signals fire on save() and delete() only).
_REQUEST_OF = {
    UpgradeRequest: lambda row: row.pk,
    ServiceUpgrade: lambda row: row.request_id,
    Event: lambda row: row.request_id,
    Contact: lambda row: row.request_id,
    Notification: lambda row: row.request_id,
    CallLog: lambda row: _request_of(ServiceUpgrade, row.service_id),
    Delivery: lambda row: _request_of(Notification, row.notification_id),
    ContactLink: lambda row: _request_of(Contact, row.contact_id),
}


def _row_changed(sender, instance, **kwargs) -> None:
    changed(_REQUEST_OF[sender](instance))


def _catalog_row_changed(sender, update_fields=None, **kwargs) -> None:
    # Signing in stamps `last_login`, which no page shows.
    if update_fields is None or set(update_fields) != {"last_login"}:
        catalog_changed()


# Rows deleted on their own; the rest go only with their request, whose deletion bumps its stamp
# (and a delete signal on them would cost Django's fast cascade).
_DELETED_ALONE = (UpgradeRequest, ServiceUpgrade, Contact)


def connect() -> None:
    """Bump stamps on every save and delete of what pages show (called once, from the app config)."""
    for model in _REQUEST_OF:
        post_save.connect(_row_changed, sender=model, dispatch_uid=f"page_cache.{model.__name__}.save")
    for model in _DELETED_ALONE:
        post_delete.connect(_row_changed, sender=model, dispatch_uid=f"page_cache.{model.__name__}.delete")
    user = get_user_model()
    for model in (Release, user):
        post_save.connect(_catalog_row_changed, sender=model, dispatch_uid=f"page_cache.{model.__name__}.s")
        post_delete.connect(_catalog_row_changed, sender=model, dispatch_uid=f"page_cache.{model.__name__}.d")
    m2m_changed.connect(_catalog_row_changed, sender=user.groups.through, dispatch_uid="page_cache.groups")
