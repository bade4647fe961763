"""What every sub-step shares: its context, its outcomes, and the CF client for its foundation."""

from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings

from upgrades import engine, foundations
from upgrades.cloudfoundry import CallRecord, CFClient
from upgrades.foundations import Foundation
from upgrades.models import ServiceUpgrade


class StepFailed(Exception):
    """The sub-step cannot succeed as things stand; the message says why in plain words.

    `resume_at` names an earlier sub-step a retry must start from (e.g. restart crashed instances).
    """

    def __init__(self, message: str, resume_at: str = ""):
        super().__init__(message)
        self.resume_at = resume_at


@dataclass(frozen=True)
class Done:
    """The sub-step's work is done (or was already done): go on to the next one."""


@dataclass(frozen=True)
class Wait:
    """CF is still working (a build, a job, instances starting): look again after `countdown` s."""

    progress: str
    countdown: float | None = None


Outcome = Done | Wait

_clients: dict[tuple[str, str, str], CFClient] = {}


def client_for(foundation: Foundation, on_call: Callable[[CallRecord], None] | None = None) -> CFClient:
    """One client per foundation per worker process, so discovery and the token are shared; the call
    hook is swapped per task (a prefork child runs one task at a time)."""
    key = (foundation.slug, foundation.api_url, foundation.client_id)
    client = _clients.get(key)
    if client is None:
        client = CFClient(
            foundation.api_url, client_id=foundation.client_id, client_secret=foundation.client_secret
        )
        _clients[key] = client
    client.on_call = on_call
    return client


@dataclass
class Context:
    service: ServiceUpgrade
    owner: str
    cf: CFClient
    foundation: Foundation

    def record(self, **facts) -> None:
        """Store CF facts before the next call (raises LeaseLost if another worker took over)."""
        engine.record(self.service, self.owner, **facts)

    @property
    def label(self) -> dict[str, str]:
        return {settings.ENGINE_LABEL: str(self.service.pk)}

    @property
    def label_selector(self) -> str:
        return f"{settings.ENGINE_LABEL}={self.service.pk}"

    def poll(self, progress: str) -> Wait:
        return Wait(progress, settings.ENGINE_POLL_SECONDS)

    def elapsed(self) -> float:
        from django.utils import timezone

        started = self.service.step_started_at or timezone.now()
        return (timezone.now() - started).total_seconds()


def foundation_of(service: ServiceUpgrade) -> Foundation:
    foundation = foundations.by_slug(service.foundation)
    if foundation is None:
        raise StepFailed(f"The foundation “{service.foundation}” is no longer configured.")
    return foundation
