"""The metrics the portal records where things happen, and the few calls that record them.

Recorded in the process where they happen (gunicorn and Celery processes alike, in prometheus-client's
multiprocess mode): CF calls by operation and status with their latency, sub-step durations, failures by
reason, reconciler revivals, probe failures. `ecportal.metrics` serves them at `/metrics`, beside what it
counts from the database at scrape time. Nothing here imports the rest of the portal, so any layer may
record.
"""

import hmac
import os
import re
import threading
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry, Counter, Histogram, make_wsgi_app, multiprocess
from prometheus_client.exposition import ThreadingWSGIServer

# The directory prometheus-client records into (the settings name it) must exist before the first value.
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)

CF_CALLS = Counter(
    "ecportal_cf_calls", "HTTP calls to Cloud Foundry (UAA included).", ["operation", "status"]
)
CF_CALL_SECONDS = Histogram(
    "ecportal_cf_call_seconds",
    "Time until Cloud Foundry answered a call.",
    ["operation"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
SUBSTEP_SECONDS = Histogram(
    "ecportal_substep_seconds",
    "Time one run of a sub-step took, by sub-step and outcome (done, wait, retry, failed).",
    ["step", "outcome"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
WAITED = Histogram(
    "ecportal_waited_on_people_seconds",
    "How long a service waited on people in a state before it moved on, by state and who had to act.",
    ["state", "party"],
    buckets=(60, 300, 900, 3600, 4 * 3600, 12 * 3600, 86400, 3 * 86400, 7 * 86400, 30 * 86400),
)
FAILURES = Counter("ecportal_upgrade_failures", "Sub-steps that failed a service, by reason.", ["reason"])
REVIVALS = Counter(
    "ecportal_reconciler_revivals", "Running services the reconciler queued again (silent or lease expired)."
)

_GUID = re.compile(r"/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?=/|$)")


def operation(method: str, path: str) -> str:
    """A call's operation, its resources' GUIDs and its query left out: `GET /v3/apps/{guid}/processes`."""
    return f"{method} {_GUID.sub('/{guid}', path.split('?', 1)[0])}"


def cf_call(method: str, path: str, status: int | None, seconds: float) -> None:
    """One HTTP exchange with CF; `status` None when no answer came."""
    name = operation(method, path)
    CF_CALLS.labels(name, str(status) if status is not None else "error").inc()
    CF_CALL_SECONDS.labels(name).observe(seconds)


def substep(step: str, outcome: str, seconds: float) -> None:
    SUBSTEP_SECONDS.labels(step, outcome).observe(seconds)


def waited(state: str, party: str, seconds: float) -> None:
    WAITED.labels(state, party).observe(seconds)


def failure(reason: str) -> None:
    FAILURES.labels(reason).inc()


def revived(count: int) -> None:
    REVIVALS.inc(count)


def refusal(authorization: str, expected: str) -> tuple[int, str] | None:
    """Why a scrape with this `Authorization` header is refused (401 without a bearer token, 403 with
    another), or None when no token is needed or it matches (compared in constant time)."""
    if not expected:
        return None
    scheme, _, given = authorization.partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return 401, "A bearer token is required."
    if not hmac.compare_digest(given.strip().encode(), expected.encode()):
        return 403, "Wrong token."
    return None


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args) -> None:  # scrapes every few seconds would flood the worker's log
        pass


def serve(port: int, token: str, directory: Path | str) -> None:
    """Serve what the processes recording into `directory` recorded, on `port` (all interfaces), from a
    thread of this process: for a Celery worker in a container of its own, where no web process shares
    its directory."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(directory))
    metrics_app = make_wsgi_app(registry)

    def guarded(environ, start_response):
        refused = refusal(environ.get("HTTP_AUTHORIZATION", ""), token)
        if refused is None:
            return metrics_app(environ, start_response)
        status, text = refused
        headers = [("Content-Type", "text/plain"), ("WWW-Authenticate", 'Bearer realm="metrics"')]
        start_response(f"{status} {'Unauthorized' if status == 401 else 'Forbidden'}", headers)
        return [text.encode() + b"\n"]

    # All interfaces: the worker's container port, which the platform's network rules guard.
    server = make_server("0.0.0.0", port, guarded, ThreadingWSGIServer, handler_class=_QuietHandler)  # noqa: S104
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
