"""Typed views of Cloud Controller v3 resources.

Each ``from_json`` accepts the resource body CF returns and tolerates missing or null fields (older
foundations and the docs' own examples omit some), so parsing never raises ``KeyError``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _rel(body: dict, name: str) -> str | None:
    """``relationships.<name>.data.guid`` or None."""
    return _dict(_dict(_dict(body.get("relationships")).get(name)).get("data")).get("guid")


def _labels(body: dict) -> dict[str, str]:
    return dict(_dict(_dict(body.get("metadata")).get("labels")))


def _annotations(body: dict) -> dict[str, str]:
    return dict(_dict(_dict(body.get("metadata")).get("annotations")))


@dataclass(frozen=True)
class Domain:
    guid: str
    name: str

    @classmethod
    def from_json(cls, body: dict) -> Domain:
        return cls(guid=body.get("guid", ""), name=body.get("name", ""))


@dataclass(frozen=True)
class Destination:
    guid: str
    app_guid: str
    process_type: str = "web"
    port: int | None = None
    protocol: str | None = None

    @classmethod
    def from_json(cls, body: dict) -> Destination:
        app = _dict(body.get("app"))
        return cls(
            guid=body.get("guid", ""),
            app_guid=app.get("guid", ""),
            process_type=_dict(app.get("process")).get("type", "web"),
            port=body.get("port"),
            protocol=body.get("protocol"),
        )


@dataclass(frozen=True)
class Route:
    guid: str
    host: str
    path: str
    url: str
    domain_guid: str | None
    space_guid: str | None
    destinations: tuple[Destination, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, body: dict) -> Route:
        return cls(
            guid=body.get("guid", ""),
            host=body.get("host") or "",
            path=body.get("path") or "",
            url=body.get("url") or "",
            domain_guid=_rel(body, "domain"),
            space_guid=_rel(body, "space"),
            destinations=tuple(Destination.from_json(d) for d in body.get("destinations") or []),
            labels=_labels(body),
        )

    def app_guids(self) -> set[str]:
        return {d.app_guid for d in self.destinations}


@dataclass(frozen=True)
class App:
    guid: str
    name: str
    state: str
    space_guid: str | None = None
    droplet_guid: str | None = None
    lifecycle_type: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    created_at: str | None = None

    @classmethod
    def from_json(cls, body: dict) -> App:
        return cls(
            guid=body.get("guid", ""),
            name=body.get("name", ""),
            state=body.get("state", ""),
            space_guid=_rel(body, "space"),
            droplet_guid=_rel(body, "current_droplet"),
            lifecycle_type=_dict(body.get("lifecycle")).get("type"),
            labels=_labels(body),
            annotations=_annotations(body),
            created_at=body.get("created_at"),
        )


@dataclass(frozen=True)
class Process:
    guid: str
    type: str
    app_guid: str | None
    instances: int
    memory_in_mb: int | None = None
    disk_in_mb: int | None = None
    log_rate_limit_in_bytes_per_second: int | None = None
    command: str | None = None
    health_check_type: str | None = None
    health_check_data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, body: dict) -> Process:
        check = _dict(body.get("health_check"))
        return cls(
            guid=body.get("guid", ""),
            type=body.get("type", "web"),
            app_guid=_rel(body, "app"),
            instances=int(body.get("instances") or 0),
            memory_in_mb=body.get("memory_in_mb"),
            disk_in_mb=body.get("disk_in_mb"),
            log_rate_limit_in_bytes_per_second=body.get("log_rate_limit_in_bytes_per_second"),
            command=body.get("command"),
            health_check_type=check.get("type"),
            health_check_data=dict(_dict(check.get("data"))),
        )


@dataclass(frozen=True)
class ProcessStats:
    """One instance of a process as CF sees it (``GET /v3/processes/:guid/stats``)."""

    index: int
    state: str  # RUNNING | STARTING | CRASHED | STOPPING | DOWN
    type: str = "web"
    instance_guid: str | None = None
    routable: bool | None = None
    uptime: int | None = None
    details: str | None = None

    @classmethod
    def from_json(cls, body: dict) -> ProcessStats:
        return cls(
            index=int(body.get("index") or 0),
            state=body.get("state", "DOWN"),
            type=body.get("type", "web"),
            instance_guid=body.get("instance_guid") or None,
            routable=body.get("routable"),
            uptime=body.get("uptime"),
            details=body.get("details"),
        )

    @property
    def is_running(self) -> bool:
        return self.state == "RUNNING" and self.routable is not False


@dataclass(frozen=True)
class Package:
    guid: str
    type: str
    state: str  # READY | FAILED | COPYING | EXPIRED (docker); bits also AWAITING_/PROCESSING_UPLOAD
    app_guid: str | None = None
    image: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    created_at: str | None = None

    @classmethod
    def from_json(cls, body: dict) -> Package:
        return cls(
            guid=body.get("guid", ""),
            type=body.get("type", ""),
            state=body.get("state", ""),
            app_guid=_rel(body, "app"),
            image=_dict(body.get("data")).get("image"),
            labels=_labels(body),
            created_at=body.get("created_at"),
        )


@dataclass(frozen=True)
class Build:
    guid: str
    state: str  # STAGING | STAGED | FAILED
    app_guid: str | None = None
    package_guid: str | None = None
    droplet_guid: str | None = None
    error: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    created_at: str | None = None

    @classmethod
    def from_json(cls, body: dict) -> Build:
        return cls(
            guid=body.get("guid", ""),
            state=body.get("state", ""),
            app_guid=_rel(body, "app"),
            package_guid=_dict(body.get("package")).get("guid"),
            droplet_guid=_dict(body.get("droplet")).get("guid"),
            error=body.get("error"),
            labels=_labels(body),
            created_at=body.get("created_at"),
        )


@dataclass(frozen=True)
class Droplet:
    guid: str
    state: str
    app_guid: str | None = None
    image: str | None = None

    @classmethod
    def from_json(cls, body: dict) -> Droplet:
        return cls(
            guid=body.get("guid", ""),
            state=body.get("state", ""),
            app_guid=_rel(body, "app"),
            image=body.get("image"),
        )


@dataclass(frozen=True)
class Job:
    guid: str
    state: str  # PROCESSING | POLLING | COMPLETE | FAILED
    operation: str | None = None
    errors: tuple[dict[str, Any], ...] = ()
    warnings: tuple[dict[str, Any], ...] = ()

    @classmethod
    def from_json(cls, body: dict) -> Job:
        return cls(
            guid=body.get("guid", ""),
            state=body.get("state", ""),
            operation=body.get("operation"),
            errors=tuple(e for e in body.get("errors") or [] if isinstance(e, dict)),
            warnings=tuple(w for w in body.get("warnings") or [] if isinstance(w, dict)),
        )

    @property
    def is_done(self) -> bool:
        return self.state in ("COMPLETE", "FAILED")

    @property
    def failed(self) -> bool:
        return self.state == "FAILED"


@dataclass(frozen=True)
class ServiceInstance:
    guid: str
    name: str
    type: str  # managed | user-provided
    space_guid: str | None = None
    plan_guid: str | None = None
    last_operation_type: str | None = None
    last_operation_state: str | None = None
    labels: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, body: dict) -> ServiceInstance:
        operation = _dict(body.get("last_operation"))
        return cls(
            guid=body.get("guid", ""),
            name=body.get("name", ""),
            type=body.get("type", ""),
            space_guid=_rel(body, "space"),
            plan_guid=_rel(body, "service_plan"),
            last_operation_type=operation.get("type"),
            last_operation_state=operation.get("state"),
            labels=_labels(body),
        )


@dataclass(frozen=True)
class ServiceCredentialBinding:
    guid: str
    name: str | None
    type: str
    app_guid: str | None
    service_instance_guid: str | None
    last_operation_state: str | None = None  # in progress | succeeded | failed
    labels: dict[str, str] = field(default_factory=dict)
    last_operation_type: str | None = None  # create | update | delete

    @classmethod
    def from_json(cls, body: dict) -> ServiceCredentialBinding:
        operation = _dict(body.get("last_operation"))
        return cls(
            guid=body.get("guid", ""),
            name=body.get("name"),
            type=body.get("type", "app"),
            app_guid=_rel(body, "app"),
            service_instance_guid=_rel(body, "service_instance"),
            last_operation_state=operation.get("state"),
            labels=_labels(body),
            last_operation_type=operation.get("type"),
        )

    @property
    def creating(self) -> bool:
        """The broker is still creating it: its credentials reach an app only once that succeeded."""
        return self.last_operation_type == "create" and self.last_operation_state == "in progress"

    @property
    def create_failed(self) -> bool:
        """Its creation failed: CF replaces it when the same binding is created again."""
        return self.last_operation_type == "create" and self.last_operation_state == "failed"
