"""What every sub-step shares: its context, its outcomes, and the foundation it runs on."""

from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from upgrades import foundations
from upgrades.cloudfoundry import CFClient, NotFound
from upgrades.engine import leases, pacing
from upgrades.foundations import Foundation
from upgrades.models import ServiceUpgrade


class StepFailed(Exception):
    """The sub-step cannot succeed as things stand; the message says why in plain words."""


@dataclass(frozen=True)
class Done:
    """The sub-step's work is done (or was already done): go on to the next one."""


@dataclass(frozen=True)
class Wait:
    """CF is still working (a build, a job, instances starting): look again after `countdown` s."""

    progress: str
    countdown: float | None = None


@dataclass(frozen=True)
class Hold:
    """The phase's work is done, but an automatic check failed: stop for people (`reason` says why)
    instead of going on by the plan."""

    reason: str


Outcome = Done | Wait | Hold


@dataclass
class Context:
    service: ServiceUpgrade
    owner: str
    cf: CFClient
    foundation: Foundation

    def record(self, **facts) -> None:
        """Store CF facts before the next call (raises LeaseLost if another worker took over)."""
        leases.record(self.service, self.owner, **facts)

    @property
    def label(self) -> dict[str, str]:
        return {settings.ENGINE_LABEL: str(self.service.pk)}

    @property
    def label_selector(self) -> str:
        return f"{settings.ENGINE_LABEL}={self.service.pk}"

    def poll(self, progress: str, *, deadline: float | None = None, what: str = "") -> Wait:
        """Look again shortly, unless this sub-step has waited longer than `deadline` seconds (default
        ENGINE_JOB_TIMEOUT): every wait ends, and then the step fails saying what did not finish."""
        limit = deadline if deadline is not None else settings.ENGINE_JOB_TIMEOUT
        if self.elapsed() > limit:
            raise StepFailed(f"{(what or progress).capitalize()} did not finish within {limit:g} s.")
        usual = pacing.usual(self.foundation.slug, self.service.step)
        return Wait(progress, poll_delay(self.elapsed(), usual))

    def poll_job(self, what: str) -> Wait | bool:
        """The CF job this sub-step waits for (`service.job_guid`): a Wait while it runs; once it
        ended it is forgotten, and the answer is True when it completed, False when CF no longer knows
        it (CF prunes old jobs: the caller then looks at the resource itself). A failed job raises
        StepFailed saying what could not finish."""
        job = found(self.cf.get_job, self.service.job_guid)
        if job and not job.is_done:
            return self.poll(what)
        self.record(job_guid="")
        if job and job.failed:
            detail = "; ".join(e.get("detail", "") for e in job.errors) or "no reason given"
            raise StepFailed(f"Cloud Foundry could not finish {what}: {detail}")
        return job is not None

    def elapsed(self) -> float:
        return since_step_began(self.service)


def since_step_began(service: ServiceUpgrade) -> float:
    """Seconds since the service's current sub-step began (a retry begins it again)."""
    started = service.step_started_at or timezone.now()
    return (timezone.now() - started).total_seconds()


def poll_delay(waited: float, usual: pacing.Usual | None = None) -> float:
    """Seconds until the next look at CF's work, `waited` seconds after it began: soon at first,
    then a quarter of the time waited so far, between ENGINE_POLL_FIRST_SECONDS and
    ENGINE_POLL_SECONDS (a poll interval below the first delay wins).

    When such waits `usual`ly take a while: three quarters of the time left until the earliest of
    them would have ended (never less than that schedule), landing on it; then every
    ENGINE_POLL_FIRST_SECONDS until the latest of them would have ended; then the schedule again.
    A wait that ends sooner than usual is found by three quarters of the usual time at the latest;
    looks before then are few, because each costs CF a request and the worker a task."""
    first = min(settings.ENGINE_POLL_FIRST_SECONDS, settings.ENGINE_POLL_SECONDS)
    delay = min(settings.ENGINE_POLL_SECONDS, max(first, waited / 4))
    if usual is None:
        return delay
    if waited < usual.earliest:
        left = usual.earliest - waited
        return min(left, max(delay, left * 3 / 4))
    if waited < usual.latest + first:
        return first
    return delay


def foundation_of(service: ServiceUpgrade) -> Foundation:
    foundation = foundations.by_slug(service.foundation)
    if foundation is None:
        raise StepFailed(f"The foundation “{service.foundation}” is no longer configured.")
    return foundation


def found[T](fetch: Callable[[str], T], guid: str) -> T | None:
    """`fetch(guid)`, or None once CF no longer has it (404): pruned, expired or deleted by hand.

    A sub-step checks what it recorded this way before it trusts it: a retry may come days later."""
    try:
        return fetch(guid)
    except NotFound:
        return None
