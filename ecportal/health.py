"""`/readyz/`: whether this process can serve, for a load balancer or Kubernetes' readiness probe.

One JSON line per dependency: the database, the broker (Celery's), the cache, and each configured
foundation's UAA. 200 only when every required one answered, else 503. No login, never cached. The UAA
lines are informative unless READYZ_REQUIRE_UAA is set: one foundation's outage must not take every web
process out of its load balancer.

The endpoint is public, so a line is `{check, ok, required, ms}`: why a check failed (which names hosts,
users and URLs) is added only for a caller presenting METRICS_TOKEN as its bearer token, or, in embedded
mode, when no token is configured. A load balancer polls every second or so: each foundation's UAA answer
is reused for READYZ_UAA_REUSE_SECONDS in this process instead of asking UAA on every hit.
"""

import json
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import redis
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from ecportal.celery import app as celery_app
from upgrades import foundations
from upgrades import metrics as upgrade_metrics
from upgrades.cloudfoundry import CFClient
from upgrades.foundations import Foundation


def _database() -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    finally:
        connection.close_if_unusable_or_obsolete()


def _broker() -> None:
    limit = settings.READYZ_TIMEOUT
    url = settings.CELERY_BROKER_URL
    if url.startswith(("redis://", "rediss://")):
        client = redis.Redis.from_url(url, socket_timeout=limit, socket_connect_timeout=limit)
        try:
            client.ping()
        finally:
            client.close()
        return
    with celery_app.connection_for_write() as broker:  # the embedded broker in files
        broker.ensure_connection(max_retries=1, timeout=limit)


def _cache() -> None:
    value = secrets.token_hex(8)
    cache.set("readyz", value, timeout=30)
    if cache.get("readyz") != value:
        raise RuntimeError("the cache did not keep a value")


def _uaa(foundation: Foundation) -> Callable[[], None]:
    def check() -> None:
        limit = settings.READYZ_TIMEOUT
        client = CFClient(
            foundation.api_url,
            client_id=foundation.client_id,
            client_secret=foundation.client_secret,
            timeout=(limit, limit),
            max_retries=0,
            max_retry_after=0,
        )
        try:
            client.uaa_info()
        finally:
            client.close()

    return check


def _line(name: str, check: Callable[[], None]) -> dict:
    """`{check, ok, ms}` and, when it failed, `error` (the exception, for callers allowed to see it)."""
    started = time.monotonic()
    try:
        check()
        outcome = {"ok": True}
    except Exception as exc:  # any failure of a dependency means "not ready", with its reason
        outcome = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    return {"check": name, **outcome, "ms": round((time.monotonic() - started) * 1000)}


# Each foundation's latest UAA line in this process, by (slug, API URL): (when it was taken, the line).
_uaa_seen: dict[tuple[str, str], tuple[float, dict]] = {}
_uaa_seen_lock = threading.Lock()


def _uaa_line(foundation: Foundation) -> dict:
    """The foundation's UAA line, asked afresh only when the one kept is older than the reuse window."""
    key = (foundation.slug, foundation.api_url)
    with _uaa_seen_lock:
        kept = _uaa_seen.get(key)
    if kept is not None and time.monotonic() - kept[0] < settings.READYZ_UAA_REUSE_SECONDS:
        return kept[1]
    line = _line(f"uaa:{foundation.slug}", _uaa(foundation))
    with _uaa_seen_lock:
        _uaa_seen[key] = (time.monotonic(), line)
    return line


def forget_uaa_answers() -> None:
    """Drop the kept UAA lines (tests that point the foundations elsewhere)."""
    with _uaa_seen_lock:
        _uaa_seen.clear()


def _shows_errors(request) -> bool:
    """Whether this caller may read why a check failed: it holds METRICS_TOKEN, or none is configured in
    embedded mode (a production deployment without a token, behind a network rule, shows no one)."""
    if not settings.METRICS_TOKEN:
        return settings.EMBEDDED
    return upgrade_metrics.refusal(request.headers.get("Authorization", ""), settings.METRICS_TOKEN) is None


# What anyone may read of a line; `error` is for callers allowed to see it (`_shows_errors`).
_PUBLIC = ("check", "ok", "required", "ms")


@never_cache
@require_safe
def readyz(request):
    """200 when the database, broker and cache (and, if required, every UAA) answer; else 503."""
    lines = [
        {**_line("database", _database), "required": True},
        {**_line("broker", _broker), "required": True},
        {**_line("cache", _cache), "required": True},
    ]
    configured = foundations.all_foundations()
    if configured:
        # The foundations are asked at once, so a slow one costs READYZ_TIMEOUT once, not per foundation.
        with ThreadPoolExecutor(max_workers=min(8, len(configured))) as pool:
            lines += [
                {**line, "required": settings.READYZ_REQUIRE_UAA} for line in pool.map(_uaa_line, configured)
            ]
    ready = all(line["ok"] for line in lines if line["required"])
    fields = ("check", "ok", "error", "required", "ms") if _shows_errors(request) else _PUBLIC
    body = "".join(json.dumps({k: line[k] for k in fields if k in line}) + "\n" for line in lines)
    return HttpResponse(body, status=200 if ready else 503, content_type="application/x-ndjson")
