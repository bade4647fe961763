"""CF clients per foundation: one client per foundation in each worker thread, and a short,
single-try client for the few lookups a web request makes."""

import threading
from collections.abc import Callable

from django.conf import settings

from upgrades.cloudfoundry.client import CFClient
from upgrades.cloudfoundry.transport import CallRecord
from upgrades.foundations import Foundation

# Each thread of a worker's pool runs one task at a time: its own clients, so the per-task hooks (the
# task's call log and lease check) never reach another task's calls. The token is shared by the process.
_local = threading.local()


def client_for(
    foundation: Foundation,
    on_call: Callable[[CallRecord], None] | None = None,
    before_call: Callable[[], None] | None = None,
) -> CFClient:
    """One client per foundation per worker thread, so discovery and connections are reused; the
    hooks are swapped per task (a thread runs one task at a time)."""
    key = (foundation.slug, foundation.api_url, foundation.client_id)
    clients = _local.__dict__.setdefault("clients", {})
    client = clients.get(key)
    if client is None:
        client = CFClient(
            foundation.api_url,
            client_id=foundation.client_id,
            client_secret=foundation.client_secret,
            timeout=(settings.CF_CONNECT_TIMEOUT, settings.CF_READ_TIMEOUT),
        )
        clients[key] = client
    client.on_call = on_call
    client.before_call = before_call
    return client


def quick_client_for(foundation: Foundation, access_token: str | None = None) -> CFClient:
    """A client for a web request: every call bounded by CF_WEB_TIMEOUT seconds, never retried, so a
    slow foundation costs a user a few seconds and a clear message, never a timed-out page. With
    ``access_token`` it calls CF as the signed-in person, seeing only what their roles let them see."""
    limit = settings.CF_WEB_TIMEOUT
    return CFClient(
        foundation.api_url,
        client_id=foundation.client_id,
        client_secret=foundation.client_secret,
        timeout=(min(limit, settings.CF_CONNECT_TIMEOUT), limit),
        max_retries=0,
        max_retry_after=0,
        access_token=access_token,
    )
