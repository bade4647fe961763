"""The gates of Step 2 on the probes of the original URL (the prober process sends them).

- 2.1 opens the Step 2 attempt's probe run and maps green only once the prober answers for it, with
  no failed probe: the old release still serves as it should.
- 2.2 unmaps blue only once the new release has answered the original URL `PROBE_NEW_ANSWERS` times
  with no failed probe since: the router (which applies route changes late) really sends it traffic.
- The old app is stopped only after `PROBE_CLEAN_SECONDS` of probes all answered by the new release.

Any failed probe stops the step before the point of no return, saying how many failed: the EC team
then rolls back or retries (a retried Step 2 opens a new run). Every wait has a deadline, and waits
by re-enqueueing, never in a worker. `PROBE_RATE` 0 turns probing and its gates off.
"""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from upgrades import actions
from upgrades.cloudfoundry.apps import health_url
from upgrades.engine.context import Context, StepFailed, Wait
from upgrades.models import ProbeRun, ServiceUpgrade


def probing_on() -> bool:
    return settings.PROBE_RATE > 0


def latest_run(service: ServiceUpgrade) -> ProbeRun | None:
    return ProbeRun.objects.filter(service_id=service.pk).order_by("-id").first()


def before_map(ctx: Context) -> Wait | None:
    """Open this Step 2 attempt's run (once) and wait for the prober's first good answers."""
    if not probing_on():
        return None
    s = ctx.service
    run, _ = ProbeRun.objects.get_or_create(
        service_id=s.pk,
        attempt_started_at=s.step_started_at,
        defaults={
            "url": health_url(ctx.foundation, f"{s.zone_id}.{s.domain}"),
            "new_release": s.request.release.name,
            "old_release": s.blue_release,
        },
    )
    # An earlier attempt's run the prober has not closed yet stops now: this attempt has its own.
    ProbeRun.objects.filter(service_id=s.pk, ended_at__isnull=True).exclude(pk=run.pk).update(
        ended_at=timezone.now()
    )
    _no_failures(run, "before 2.1, so the original route was left alone")
    if run.sent == 0:
        return ctx.poll(
            "2.1 · waiting for the first probes of the original URL",
            deadline=settings.PROBE_START_TIMEOUT,
            what="probing the original URL (is the prober process running?)",
        )
    return None


def before_unmap(ctx: Context) -> Wait | None:
    """Wait until the new release answers the original URL, then say on the timeline how long it took."""
    run = _checked_run(ctx.service, "after 2.1, so the old app stays mapped")
    if run is None:
        return None
    wanted = settings.PROBE_NEW_ANSWERS
    if run.new_since_failure < wanted:
        return _wait_for_router(
            ctx,
            f"2.2 · waiting for the original URL to answer with {run.new_release} "
            f"({run.new_since_failure} of {wanted} answers)",
            f"the router sending the original URL to {run.new_release}",
        )
    waited = ctx.elapsed()
    # Once per run, however often this sub-step runs: the conditional UPDATE lets one writer through.
    if ProbeRun.objects.filter(pk=run.pk, unmap_waited_ms__isnull=True).update(unmap_waited_ms=waited * 1000):
        actions.note_progress(
            ctx.service,
            f"2.2 waited {waited:.1f} s until the original URL answered with {run.new_release} "
            f"({run.new_since_failure} answers, no failed probe) before unmapping the old app.",
        )
    return None


def before_stop(ctx: Context) -> Wait | None:
    """Wait for a clean window: `PROBE_CLEAN_SECONDS` of probes answered by the new release alone."""
    run = _checked_run(ctx.service, "so the old app was left running")
    if run is None:
        return None
    clean = settings.PROBE_CLEAN_SECONDS
    last = run.last_probe_at
    since = run.last_not_new_at or run.started_at
    fresh = last is not None and timezone.now() - last < timedelta(seconds=clean + settings.PROBE_TIMEOUT + 2)
    if not fresh or (last - since).total_seconds() < clean:
        return _wait_for_router(
            ctx,
            f"finalizing · waiting for {clean:g} s of probes answered by {run.new_release} alone",
            f"a clean window of {clean:g} s on the original URL",
        )
    return None


def end(service: ServiceUpgrade) -> None:
    """The old app is stopped: probing ends."""
    ProbeRun.objects.filter(service_id=service.pk, ended_at__isnull=True).update(ended_at=timezone.now())


def _checked_run(service: ServiceUpgrade, consequence: str) -> ProbeRun | None:
    """The open run of this Step 2 attempt (None when probing is off or has ended), once it is known
    that no probe failed (raises StepFailed saying the `consequence` otherwise)."""
    run = latest_run(service) if probing_on() else None
    if run is None or run.ended_at is not None:
        return None
    _no_failures(run, consequence)
    return run


def _wait_for_router(ctx: Context, progress: str, what: str) -> Wait:
    return ctx.poll(progress, deadline=settings.PROBE_SWITCH_TIMEOUT, what=what)


def _no_failures(run: ProbeRun, consequence: str) -> None:
    if run.failed:
        raise StepFailed(
            f"{run.failed} of {run.sent} probes of the original URL failed {consequence}. "
            "Roll back, or retry once the new release answers."
        )
