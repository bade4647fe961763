"""The simulated foundation: every resource in memory, guarded by one lock.

Handlers take ``store.lock``, call ``store.advance()`` so time-driven transitions (staging, jobs,
instance start-up) are settled as of now, then read or change the collections. Nothing runs in the
background: a build is STAGED, a job COMPLETE or an instance RUNNING as soon as someone looks
after its delay has passed.

``store.changed`` is set after anything may have changed (every request but a GET, and every
settled transition); with ``--state`` a thread saves the store when it is set (cfsim/persistence.py).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cfsim.people import Person, Role

CRASH_DETAILS = "APP/PROC/WEB: Exited with status 1 (out of memory)"


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_guid() -> str:
    return str(uuid.uuid4())


@dataclass
class Config:
    """Knobs the control endpoints change at run time."""

    staging_delay: float = 2.0
    start_delay: float = 2.0
    job_delay: float = 1.0
    latency: float = 0.0
    token_lifetime: int = 1200
    rate_limit_enabled: bool = False
    rate_limit: int = 2000
    rate_limit_reset_seconds: int = 1800
    failing_images: set[str] = field(default_factory=set)
    # Images whose instances crash as they start (like a release that exits at boot).
    crashing_images: set[str] = field(default_factory=set)
    # Seconds before the router applies a route mapping or unmapping, as gorouter learns changes late.
    route_delay: float = 0.0
    # Images whose apps answer 502 through the router (a release that serves errors).
    erroring_images: set[str] = field(default_factory=set)
    # Seconds an instance answers 502 through the router once it runs (a release slow to warm up).
    warmup_errors: float = 0.0


@dataclass
class Organization:
    guid: str
    name: str
    created_at: str = field(default_factory=now_iso)


@dataclass
class Space:
    guid: str
    name: str
    organization_guid: str
    created_at: str = field(default_factory=now_iso)


@dataclass
class Domain:
    guid: str
    name: str
    internal: bool = False
    created_at: str = field(default_factory=now_iso)


@dataclass
class Destination:
    guid: str
    app_guid: str
    process_type: str = "web"
    port: int = 8080
    protocol: str = "http1"
    created_at: str = field(default_factory=now_iso)


@dataclass
class Route:
    guid: str
    host: str
    domain_guid: str
    space_guid: str
    path: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    destinations: list[Destination] = field(default_factory=list)
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)
    next_instance: int = 0  # the router's round-robin cursor


@dataclass
class Instance:
    index: int
    state: str  # STARTING | RUNNING | CRASHED
    ready_at: float
    started_at: float = field(default_factory=time.time)
    guid: str = field(default_factory=lambda: uuid.uuid4().hex[:28])
    details: str | None = None
    # The service instances in its VCAP_SERVICES: the app's bindings that had succeeded when it started.
    services: list[str] = field(default_factory=list)


@dataclass
class Process:
    guid: str
    app_guid: str
    type: str = "web"
    command: str | None = None
    instances: int = 1
    memory_in_mb: int = 1024
    disk_in_mb: int = 1024
    log_rate_limit: int = -1
    health_check: dict = field(default_factory=lambda: {"type": "port", "data": {"timeout": None}})
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    actual: list[Instance] = field(default_factory=list)
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)
    version: str = field(default_factory=new_guid)
    # As on a CF with revisions enabled: the app's revision this process runs, set once the app has
    # started, and the droplet that revision holds (a start with another droplet makes a new one).
    revision_guid: str | None = None
    revision_droplet_guid: str | None = None


@dataclass
class App:
    guid: str
    name: str
    space_guid: str
    state: str = "STOPPED"
    lifecycle_type: str = "docker"
    env: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    droplet_guid: str | None = None
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)


@dataclass
class Package:
    guid: str
    app_guid: str
    type: str = "docker"
    image: str | None = None
    state: str = "READY"
    ready_at: float = 0.0  # when a COPYING package becomes READY
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)


@dataclass
class Droplet:
    guid: str
    app_guid: str
    image: str | None
    state: str = "STAGED"
    created_at: str = field(default_factory=now_iso)


@dataclass
class Build:
    guid: str
    app_guid: str
    package_guid: str
    ready_at: float
    state: str = "STAGING"
    droplet_guid: str | None = None
    error: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)


@dataclass
class ServiceInstance:
    guid: str
    name: str
    space_guid: str
    type: str = "managed"
    offering: str = "enterprise-connect"
    plan: str = "Basic"
    plan_guid: str = field(default_factory=new_guid)
    offering_guid: str = field(default_factory=new_guid)
    labels: dict[str, str] = field(default_factory=dict)
    created_at: str = field(default_factory=now_iso)


@dataclass
class Binding:
    guid: str
    name: str | None
    app_guid: str
    service_instance_guid: str
    state: str = "succeeded"
    operation: str = "create"
    labels: dict[str, str] = field(default_factory=dict)
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)


@dataclass
class Job:
    guid: str
    operation: str
    ready_at: float
    resource: tuple[str, str] | None = None  # (collection, guid) for the job's links and its effect
    state: str = "PROCESSING"
    errors: list[dict] = field(default_factory=list)
    warnings: list[dict] = field(default_factory=list)
    fail_with: dict | None = None
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)


@dataclass
class Token:
    value: str
    subject: str  # user name or client id; the rate limiter counts per subject
    client_id: str
    expires_at: float
    scope: str = "cloud_controller.read cloud_controller.write openid"
    user: bool = False  # a user's token (password or authorization code grant), else a client's


class Store:
    """All simulated resources plus the knobs; ``lock`` guards every read and write."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.changed = threading.Event()
        self.config = Config()
        self.clear()
        self.call_log: deque[dict] = deque(maxlen=5000)

    def clear(self) -> None:
        self.organizations: dict[str, Organization] = {}
        self.spaces: dict[str, Space] = {}
        self.domains: dict[str, Domain] = {}
        self.routes: dict[str, Route] = {}
        self.apps: dict[str, App] = {}
        self.processes: dict[str, Process] = {}
        self.packages: dict[str, Package] = {}
        self.droplets: dict[str, Droplet] = {}
        self.builds: dict[str, Build] = {}
        self.service_instances: dict[str, ServiceInstance] = {}
        self.bindings: dict[str, Binding] = {}
        self.jobs: dict[str, Job] = {}
        self.tokens: dict[str, Token] = {}
        self.refresh_tokens: dict[str, tuple[str, str]] = {}  # refresh token -> (subject, client_id)
        self.users: dict[str, str] = {}
        self.clients: dict[str, str] = {}
        self.people: dict[str, Person] = {}  # user name -> the user's record
        self.roles: dict[str, Role] = {}
        # Authorization codes waiting for the token endpoint (never saved: they live a few minutes).
        self.auth_codes: dict[str, dict] = {}
        # Only unsettled builds/jobs are scanned on every request, so a long run stays fast.
        self.pending_builds: dict[str, Build] = {}
        self.pending_jobs: dict[str, Job] = {}
        self.job_failures: dict[str, int] = {}  # operation -> how many upcoming jobs fail
        self.rate_windows: dict[str, tuple[float, int]] = {}  # subject -> (window start, count)
        # The router's own view of routes whose destinations changed under `route_delay`: route guid
        # -> [(monotonic time it applies, destinations)], oldest first (not kept across restarts).
        self.router_table: dict[str, list[tuple[float, tuple[Destination, ...]]]] = {}

    # -- the router's view of routes ---------------------------------------------------------

    def destinations_changed(self, route: Route, before: list[Destination]) -> None:
        """Record a change of `route`'s destinations for the router, which applies it only after
        `route_delay` seconds (at once without a delay). Call with the lock held."""
        if self.config.route_delay <= 0 and route.guid not in self.router_table:
            return
        history = self.router_table.setdefault(route.guid, [(0.0, tuple(before))])
        history.append((time.monotonic() + self.config.route_delay, tuple(route.destinations)))

    def routed_destinations(self, route: Route) -> tuple[Destination, ...]:
        """The destinations the router sends `route`'s requests to now. Call with the lock held."""
        history = self.router_table.get(route.guid)
        if not history:
            return tuple(route.destinations)
        moment = time.monotonic()
        while len(history) > 1 and history[1][0] <= moment:
            history.pop(0)
        if len(history) == 1 and history[0][1] == tuple(route.destinations):
            del self.router_table[route.guid]  # caught up: follow the route again
        return history[0][1]

    # -- time-driven transitions -------------------------------------------------------------

    def advance(self) -> None:
        """Settle every transition whose delay has passed. Call with the lock held."""
        moment = time.monotonic()
        settled = False
        for package in self.packages.values():
            if package.state == "COPYING" and moment >= package.ready_at:
                package.state, settled = "READY", True
        for build in list(self.pending_builds.values()):
            if moment >= build.ready_at:
                del self.pending_builds[build.guid]
                settled = True
                if build.state == "STAGING" and build.guid in self.builds:  # not purged with its app
                    self._finish_build(build)
        for job in list(self.pending_jobs.values()):
            if moment >= job.ready_at:
                del self.pending_jobs[job.guid]
                settled = True
                self._finish_job(job)
        for process in self.processes.values():
            due = [i for i in process.actual if i.state == "STARTING" and moment >= i.ready_at]
            if not due:
                continue  # the common case, on every request: no image lookup
            crashing = self.runs_crashing_image(process)
            for instance in due:
                instance.state = "CRASHED" if crashing else "RUNNING"
                instance.details = "APP/PROC/WEB: Exited with status 1 (out of memory)" if crashing else None
                instance.started_at = time.time()
                settled = True
        if settled:
            self.changed.set()

    def _finish_build(self, build: Build) -> None:
        package = self.packages.get(build.package_guid)
        image = package.image if package else None
        build.updated_at = now_iso()
        if image in self.config.failing_images:
            build.state = "FAILED"
            build.error = "StagingError - Staging error: staging failed"
            return
        droplet = Droplet(guid=new_guid(), app_guid=build.app_guid, image=image)
        self.droplets[droplet.guid] = droplet
        build.droplet_guid = droplet.guid
        build.state = "STAGED"

    def _finish_job(self, job: Job) -> None:
        job.updated_at = now_iso()
        if job.fail_with:
            job.state = "FAILED"
            job.errors = [job.fail_with]
            self._fail(job)
            return
        self._complete(job)
        job.state = "COMPLETE"

    def _complete(self, job: Job) -> None:
        """What a job does when it completes, decided by its operation and resource alone, so that a
        job is plain data (it can be saved and loaded)."""
        guid = job.resource[1] if job.resource else ""
        if job.operation == "app.delete":
            self.purge_app(guid)
        elif job.operation == "route.delete":
            self.routes.pop(guid, None)
        elif job.operation == "service_bindings.delete":
            self.bindings.pop(guid, None)
        elif job.operation == "service_bindings.create" and (binding := self.bindings.get(guid)):
            binding.state, binding.updated_at = "succeeded", now_iso()

    def _fail(self, job: Job) -> None:
        """What a failed job leaves behind: a binding whose creation failed stays, failed (CF keeps it,
        and the next create replaces it)."""
        guid = job.resource[1] if job.resource else ""
        if job.operation == "service_bindings.create" and (binding := self.bindings.get(guid)):
            binding.state, binding.updated_at = "failed", now_iso()

    def purge_app(self, guid: str) -> None:
        """What the app.delete job does: the app and everything hanging off it, routes excepted."""
        self.apps.pop(guid, None)
        for collection in (self.processes, self.packages, self.droplets, self.builds, self.bindings):
            for key in [k for k, v in collection.items() if v.app_guid == guid]:
                del collection[key]
        for route in self.routes.values():
            route.destinations = [d for d in route.destinations if d.app_guid != guid]

    def new_job(self, operation: str, resource: tuple[str, str] | None) -> Job:
        """Queue an async job; the configured job failures for ``operation`` are spent here. The
        operations with an effect on completion are those ``_complete`` knows."""
        job = Job(
            guid=new_guid(),
            operation=operation,
            ready_at=time.monotonic() + self.config.job_delay,
            resource=resource,
        )
        if self.job_failures.get(operation, 0) > 0:
            self.job_failures[operation] -= 1
            job.fail_with = {
                "code": 10008,
                "title": "CF-UnprocessableEntity",
                "detail": f"{operation} failed (injected by cfsim)",
            }
        self.jobs[job.guid] = job
        self.pending_jobs[job.guid] = job
        return job

    def add_build(self, build: Build) -> None:
        self.builds[build.guid] = build
        self.pending_builds[build.guid] = build

    # -- instances ---------------------------------------------------------------------------

    def revise(self, app: App, processes: list[Process] | None = None) -> None:
        """A started app's processes run a revision of its current droplet: a new one when the
        droplet changed since the last start, as Cloud Controller records revisions."""
        for process in self.app_processes(app.guid) if processes is None else processes:
            if process.revision_droplet_guid != app.droplet_guid:
                process.revision_guid = new_guid()
                process.revision_droplet_guid = app.droplet_guid

    def start_instances(self, process: Process, *, delay: float | None = None) -> None:
        """Bring the actual instances in line with the desired count of a started app."""
        delay = self.config.start_delay if delay is None else delay
        ready_at = time.monotonic() + delay
        state = "RUNNING" if delay <= 0 else "STARTING"
        if self.runs_crashing_image(process):
            state = "STARTING"  # becomes CRASHED on the next settle
        services = self.active_services(process.app_guid)
        while len(process.actual) < process.instances:
            index = len(process.actual)
            process.actual.append(Instance(index=index, state=state, ready_at=ready_at, services=services))
        del process.actual[process.instances :]

    def active_services(self, app_guid: str) -> list[str]:
        """What VCAP_SERVICES holds for an app: its bindings whose creation succeeded (as CC's
        ``active_per_instance``), by service instance."""
        return sorted(
            {
                b.service_instance_guid
                for b in self.bindings.values()
                if b.app_guid == app_guid and b.operation == "create" and b.state == "succeeded"
            }
        )

    def runs_crashing_image(self, process: Process) -> bool:
        app = self.apps.get(process.app_guid)
        droplet = self.droplets.get(app.droplet_guid) if app and app.droplet_guid else None
        return bool(droplet and droplet.image in self.config.crashing_images)

    def web_process(self, app_guid: str) -> Process | None:
        return self.processes.get(app_guid)  # the web process shares the app's GUID

    def app_processes(self, app_guid: str) -> list[Process]:
        return [p for p in self.processes.values() if p.app_guid == app_guid]
