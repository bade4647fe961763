"""Keeping the simulated foundation in a file across restarts (``--state FILE``).

The file is JSON: every resource, the knobs, the users and clients, and the issued tokens, so that
a portal that remembers GUIDs and tokens finds them again after cfsim restarts. Faults, the call log
and rate-limit windows are run-time test aids and are not kept.

A monotonic clock does not survive a restart, so the ``ready_at`` of packages, builds, jobs and
instances is written as wall-clock time and read back as monotonic: a build that was staging when
cfsim stopped is staged once its delay has passed in real time. ``started_at`` and token expiry are
wall-clock already.

Saving happens off the request path: a change sets ``store.changed``; a background thread then
takes a snapshot under the lock, writes it to a temporary file and renames it over the old one, at
most a few times a second. ``close()`` saves a last time.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

from cfsim.people import Person, Role
from cfsim.state import (
    App,
    Binding,
    Build,
    Config,
    Destination,
    Domain,
    Droplet,
    Instance,
    Job,
    Organization,
    Package,
    Process,
    Route,
    ServiceInstance,
    Space,
    Store,
    Token,
)

FORMAT = 1
# Collections keyed by GUID, with the class of their records.
COLLECTIONS = {
    "organizations": Organization,
    "spaces": Space,
    "domains": Domain,
    "routes": Route,
    "apps": App,
    "processes": Process,
    "packages": Package,
    "droplets": Droplet,
    "builds": Build,
    "service_instances": ServiceInstance,
    "bindings": Binding,
    "jobs": Job,
    "roles": Role,
}
TIMED = ("packages", "builds", "jobs")  # records with a monotonic ``ready_at`` (and instances)


class _Clock:
    """Converts between this process's monotonic clock and wall-clock time, at one moment."""

    def __init__(self) -> None:
        self.offset = time.time() - time.monotonic()

    def to_wall(self, monotonic: float) -> float:
        return monotonic + self.offset

    def to_monotonic(self, wall: float) -> float:
        return wall - self.offset


def dumps(store: Store) -> str:
    """Everything worth keeping, as JSON text. Call with the lock held.

    Records are encoded as they are met (no copy of the store first), which keeps the lock short."""
    clock = _Clock()

    def encode(record) -> dict:
        fields = dict(vars(record))  # a dataclass: Route's destinations and Process's instances too
        if "ready_at" in fields:
            fields["ready_at"] = clock.to_wall(fields["ready_at"])
        return fields

    config = vars(store.config) | {
        "failing_images": sorted(store.config.failing_images),
        "crashing_images": sorted(store.config.crashing_images),
        "erroring_images": sorted(store.config.erroring_images),
    }
    data = {name: list(getattr(store, name).values()) for name in COLLECTIONS} | {
        "format": FORMAT,
        "config": config,
        "users": store.users,
        "people": list(store.people.values()),
        "clients": store.clients,
        "tokens": list(store.tokens.values()),
        "refresh_tokens": store.refresh_tokens,
        "job_failures": store.job_failures,
    }
    return json.dumps(data, default=encode)


def load(store: Store, data: dict) -> None:
    """Replace everything in ``store`` with what ``dumps`` wrote, parsed. Call with the lock held.

    Raises ``ValueError`` (or ``KeyError``/``TypeError`` for a malformed file) and then leaves the
    store cleared."""
    if data.get("format") != FORMAT:
        raise ValueError(f"unknown state format {data.get('format')!r}")
    clock = _Clock()
    store.clear()
    for name, record_class in COLLECTIONS.items():
        collection = getattr(store, name)
        for fields in data.get(name, []):  # files from before a collection existed lack it
            record = record_class(**fields)
            collection[record.guid] = record
    for name in TIMED:
        for record in getattr(store, name).values():
            record.ready_at = clock.to_monotonic(record.ready_at)
    for route in store.routes.values():
        route.destinations = [Destination(**fields) for fields in route.destinations]
    for process in store.processes.values():
        process.actual = [Instance(**fields) for fields in process.actual]
        for instance in process.actual:
            instance.ready_at = clock.to_monotonic(instance.ready_at)
    for job in store.jobs.values():
        job.resource = tuple(job.resource) if job.resource else None
    store.pending_builds = {guid: b for guid, b in store.builds.items() if b.state == "STAGING"}
    store.pending_jobs = {guid: j for guid, j in store.jobs.items() if j.state == "PROCESSING"}
    config = data["config"]
    store.config = Config(
        **config
        | {
            "failing_images": set(config["failing_images"]),
            "crashing_images": set(config["crashing_images"]),
            "erroring_images": set(config.get("erroring_images", ())),
        }
    )
    store.users, store.clients = dict(data["users"]), dict(data["clients"])
    store.people = {fields["username"]: Person(**fields) for fields in data.get("people", [])}
    store.tokens = {fields["value"]: Token(**fields) for fields in data["tokens"]}
    store.refresh_tokens = {
        key: (subject, client) for key, (subject, client) in data["refresh_tokens"].items()
    }
    store.job_failures = {operation: int(count) for operation, count in data["job_failures"].items()}


class StateFile:
    """The file a cfsim keeps its state in, and the thread that saves it after changes."""

    def __init__(self, path: str | Path, store: Store, *, min_interval: float = 0.2) -> None:
        self.path = Path(path)
        self.store = store
        self.min_interval = min_interval
        self._write_lock = threading.Lock()  # one snapshot-and-write at a time, in order
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None

    def load(self) -> bool:
        """Load the file into the store if there is one; False if there is none.

        A file that cannot be read is moved aside (``<name>.unreadable``) with a message on stderr,
        and False is returned, so cfsim starts from its seed rather than not at all."""
        try:
            data = json.loads(self.path.read_text())
            with self.store.lock:
                load(self.store, data)
            return True
        except FileNotFoundError:
            return False
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            aside = self.path.with_name(self.path.name + ".unreadable")
            print(
                f"cfsim: cannot read {self.path} ({exc}); moved to {aside}, starting from the seed",
                file=sys.stderr,
            )
            self.path.replace(aside)
            return False

    def save(self) -> None:
        """Write the store's current state: a temporary file beside the target, then a rename."""
        with self._write_lock:
            with self.store.lock:
                text = dumps(self.store)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_name(f".{self.path.name}.tmp")
            temporary.write_text(text)
            os.replace(temporary, self.path)

    def start(self) -> None:
        """Save in the background after every change, at most once per ``min_interval``."""
        self._thread = threading.Thread(target=self._run, name="cfsim-state", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            self.store.changed.wait()
            if self._closing.is_set():
                return
            self.store.changed.clear()  # before the snapshot: a change during it triggers another save
            try:
                self.save()
            except OSError as exc:
                print(f"cfsim: cannot save {self.path}: {exc}", file=sys.stderr)
            self._closing.wait(self.min_interval)

    def close(self) -> None:
        """Stop the thread and save a last time."""
        self._closing.set()
        self.store.changed.set()  # wakes the thread so it sees the closing flag
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.save()
