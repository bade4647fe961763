"""The metrics the portal records where things happen, and the few calls that record them.

Recorded in the process where they happen (gunicorn and Celery processes alike, in prometheus-client's
multiprocess mode): CF calls by operation and status with their latency, sub-step durations, failures by
reason, reconciler revivals, probe failures. `ecportal.metrics` serves them at `/metrics`, beside what it
counts from the database at scrape time. Nothing here imports the rest of the portal, so any layer may
record.
"""

import re
from pathlib import Path

from prometheus_client import Counter, Histogram, multiprocess

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
PROBE_FAILURES = Counter(
    "ecportal_probe_failures", "Probe requests to a service that failed, by foundation.", ["foundation"]
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


def probe_failed(foundation: str) -> None:
    """For the Step 2 probe: one failed request through the router."""
    PROBE_FAILURES.labels(foundation).inc()


def wipe_directory(directory: Path | str) -> None:
    """Empty the multiprocess directory before the processes that share it start (the client's rule:
    files left by an earlier run would add to this run's figures)."""
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    for leftover in path.glob("*.db"):
        leftover.unlink(missing_ok=True)


def process_died(pid: int, directory: Path | str) -> None:
    """A process that recorded metrics has exited: its live gauges no longer count."""
    multiprocess.mark_process_dead(pid, str(directory))
