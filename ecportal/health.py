"""`/readyz/`: whether this process can serve, for a load balancer or Kubernetes' readiness probe.

One JSON line per dependency: the database, the broker (Celery's), the cache, and each configured
foundation's UAA. 200 only when every required one answered, else 503. No login, never cached. The UAA
lines are informative unless READYZ_REQUIRE_UAA is set: one foundation's outage must not take every web
process out of its load balancer.
"""

import json
import secrets
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


def _line(name: str, check: Callable[[], None], required: bool) -> dict:
    started = time.monotonic()
    try:
        check()
        outcome = {"ok": True}
    except Exception as exc:  # any failure of a dependency means "not ready", with its reason
        outcome = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    return {"check": name, **outcome, "required": required, "ms": round((time.monotonic() - started) * 1000)}


@never_cache
@require_safe
def readyz(request):
    """200 when the database, broker and cache (and, if required, every UAA) answer; else 503."""
    lines = [
        _line("database", _database, True),
        _line("broker", _broker, True),
        _line("cache", _cache, True),
    ]
    configured = foundations.all_foundations()
    if configured:
        # The foundations are asked at once, so a slow one costs READYZ_TIMEOUT once, not per foundation.
        with ThreadPoolExecutor(max_workers=min(8, len(configured))) as pool:
            lines += pool.map(
                lambda f: _line(f"uaa:{f.slug}", _uaa(f), settings.READYZ_REQUIRE_UAA), configured
            )
    ready = all(line["ok"] for line in lines if line["required"])
    body = "".join(json.dumps(line) + "\n" for line in lines)
    return HttpResponse(body, status=200 if ready else 503, content_type="application/x-ndjson")
