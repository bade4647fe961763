"""Rendered pages kept until what they show changes.

A page is kept per browser session and path, for the user it was rendered for (their roles decide
what it shows), with the change stamps it was rendered under: a request page under its request's
stamp and the catalog's (releases, users), every list under the portal-wide stamp. Writes call
`changed(request_id)`: the request's stamp and the portal-wide one get a new value at once and again
when the transaction commits, so a page rendered from what the database held before the commit is
never served after it.

Model saves and deletes bump the stamps through signals (admin edits, `create()`); the service layer,
engine and mail sender call `changed` beside each queryset `update()` and `bulk_create()`, which send
no signals. Pages that show a running clock ("running for 42 s") are kept for a second at most. The
CSRF token in a kept page's forms is put in afresh on every read, as a render would.

The cache is a help, never a dependency: when it cannot be reached the page is rendered as if nothing
had been kept, and a stamp that went missing counts as changed.
"""

import hashlib
import logging
import re
import uuid
from collections.abc import Iterable
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
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
    stamps = dict.fromkeys(keys, uuid.uuid4().hex)
    for attempt in (1, 2):  # once more after a blip; beyond that, kept pages expire on their own
        try:
            cache.set_many(stamps, STAMP_SECONDS)
            return
        except Exception:
            log.warning("could not mark pages out of date (attempt %d: %s)", attempt, ", ".join(stamps))


def _user_key(user) -> str:
    """Who the page was rendered for, as far as a page shows it: identity, email (contact role),
    flags and team membership."""
    return "|".join(
        str(part)
        for part in (
            user.pk,
            user.get_username(),
            (user.email or "").lower(),
            user.is_staff,
            user.is_superuser,
            user.has_perm("upgrades.operate"),
        )
    )


def kept(*, request_kwarg: str = "", login: bool = True):
    """Serve the decorated view's page from the cache while it is current, else call the view and keep
    what it renders.

    The view returns its response and whether the page shows a running clock. `request_kwarg` names
    the view argument holding the upgrade request the page shows (lists show them all). `login`
    wraps the view in `login_required`; a view that answers anonymous visitors itself passes False.

    A page is kept per browser session and path and served only to the user it was rendered for.
    Its stamps and the session are read from the cache in one round trip, before the user is
    loaded (`login_required` would otherwise read the session on its own)."""

    def decorate(view):
        @wraps(view)
        def serving(request, *args, **kwargs):
            found = getattr(request, "_kept_page", None)
            if found is None or not request.user.is_authenticated or len(messages.get_messages(request)):
                return view(request, *args, **kwargs)[0]
            stamps, page_key, values = found
            current = [values.get(key) for key in stamps]
            page, user = values.get(page_key), _user_key(request.user)
            if page and None not in current and page["stamps"] == current and page["user"] == user:
                return _from_kept(request, page)
            response, clock = view(request, *args, **kwargs)
            if None in current:
                _start_stamps(stamps, current)
            elif response.status_code == 200:
                page = {"stamps": current, "user": user, "content": response.content}
                _keep(page_key, page, response, seconds=1 if clock else settings.PAGE_CACHE_SECONDS)
            return response

        checked = login_required(serving) if login else serving

        @wraps(view)
        def wrapper(request, *args, **kwargs):
            request._kept_page = _read_ahead(request, kwargs.get(request_kwarg))
            return checked(request, *args, **kwargs)

        return wrapper

    return decorate


def _read_ahead(request, request_id: int | None):
    """(stamps, page key, what the cache holds) for this GET, the session's copy passed on to the
    session; None when no page is kept for it (not a GET, no session, kept pages turned off)."""
    session = request.session
    if settings.PAGE_CACHE_SECONDS <= 0 or request.method != "GET" or not session.session_key:
        return None
    stamps = [_request_stamp(request_id), CATALOG] if request_id else [EVERYTHING]
    digest = hashlib.sha256(f"{session.session_key}|{request.get_full_path()}".encode())
    page_key = f"page:{digest.hexdigest()}"
    try:
        values = cache.get_many([session.cache_key, *stamps, page_key])
    except Exception:
        log.warning("page cache unreachable; rendering", exc_info=True)
        return None
    session.read_ahead(values.get(session.cache_key))
    return stamps, page_key, values


def _start_stamps(stamps: list[str], current: list) -> None:
    """Give missing stamps a value, so that the next render can be kept (this one was read without)."""
    try:
        for key, value in zip(stamps, current, strict=True):
            if value is None:
                cache.add(key, uuid.uuid4().hex, STAMP_SECONDS)
    except Exception:
        log.warning("page cache unreachable; not keeping the page", exc_info=True)


def _keep(page_key: str, page: dict, response: HttpResponse, *, seconds: int) -> None:
    page["content_type"] = response["Content-Type"]
    try:
        cache.set(page_key, page, seconds)
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


# Rows deleted on their own (deliveries from the admin's outbox); the rest go only with their request,
# whose deletion bumps its stamp, and a delete signal on them would cost Django's fast cascade.
_DELETED_ALONE = (UpgradeRequest, ServiceUpgrade, Contact, Delivery)


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
