"""Step 2: move the original route to green (2.1 map, 2.2 unmap), then finalize.

The safety rules of DESIGN §2 are checked here, against CF as it stands, before each risky call:
never unmap blue unless green is mapped and all its instances run; never stop or delete blue unless
the original route's only destination is a healthy green. A sub-step that waits for a probe gate
(`engine/probes.py`) looks at CF only once the gate has opened: a look while it waits reads one row
and asks CF nothing, and the checks are made just before the call they guard.
"""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from upgrades.cloudfoundry import NotFound, Unprocessable
from upgrades.engine import probes
from upgrades.engine.context import Context, Done, Outcome, StepFailed, Wait
from upgrades.engine.step1 import green_instances


def green_healthy(ctx: Context) -> bool:
    """Every desired instance of green is RUNNING."""
    running, _ = green_instances(ctx)
    return running >= max(ctx.service.instances_desired, 1)


def map_original(ctx: Context) -> Outcome:
    """2.1: green joins blue on the original route (additive: both serve)."""
    s = ctx.service
    if waiting := probes.before_map(ctx):
        return waiting
    if not green_healthy(ctx):
        raise StepFailed(
            "Not every instance of the new app is running, so the original route was left alone."
        )
    if not ctx.cf.list_destinations(s.original_route_guid, app_guids=[s.green_app_guid]):
        ctx.cf.insert_destination(s.original_route_guid, s.green_app_guid)
    return Done()


def unmap_blue(ctx: Context) -> Outcome:
    """2.2: blue leaves the original route, only once green serves there with every instance."""
    s = ctx.service
    if waiting := probes.before_unmap(ctx):
        return waiting
    if not ctx.cf.list_destinations(s.original_route_guid, app_guids=[s.green_app_guid]) or not green_healthy(
        ctx
    ):
        raise StepFailed("The new app is not serving on the original route, so the old app stays mapped.")
    for destination in ctx.cf.list_destinations(s.original_route_guid, app_guids=[s.blue_app_guid]):
        try:
            ctx.cf.remove_destination(s.original_route_guid, destination.guid)
        except Unprocessable:
            continue  # already removed: what we wanted
    return Done()


def delete_temp_route(ctx: Context) -> Outcome:
    s = ctx.service
    if s.job_guid:
        polled = ctx.poll_job("deleting the temporary route")
        if isinstance(polled, Wait):
            return polled
        if polled:
            ctx.record(temp_route_guid="")
            return Done()
    if not s.temp_route_guid:
        return Done()
    try:
        job = ctx.cf.delete_route(s.temp_route_guid)
    except NotFound:
        ctx.record(temp_route_guid="")
        return Done()
    ctx.record(job_guid=job.guid)
    return ctx.poll("deleting the temporary route")


def only_green_serves(ctx: Context) -> None:
    """Raise unless the original route's only destination is green and green is healthy."""
    s = ctx.service
    apps = {d.app_guid for d in ctx.cf.list_destinations(s.original_route_guid)}
    if apps != {s.green_app_guid} or not green_healthy(ctx):
        raise StepFailed(
            "The original route is not served by the new app alone, so the old app was left running."
        )


def stop_blue(ctx: Context) -> Outcome:
    if waiting := probes.before_stop(ctx):
        return waiting
    only_green_serves(ctx)
    try:
        if ctx.cf.get_app(ctx.service.blue_app_guid).state != "STOPPED":
            ctx.cf.stop_app(ctx.service.blue_app_guid)
    except NotFound:
        pass  # already gone
    ctx.record(blue_stopped=True)
    probes.end(ctx.service)
    return Done()


def aside_name(service) -> str:
    """The name blue carries while it is kept: deterministic, so a retried step finds it done."""
    return f"{service.blue_app_name}-previous-{service.pk}"


def delete_blue(ctx: Context) -> Outcome:
    """Blue stopped is set aside for RETENTION_SECONDS (`retire_blue`), or deleted at once when that
    is 0. Deleting is the point of no return: once the delete is sent, rollback is no longer offered."""
    if settings.RETENTION_SECONDS > 0 and not ctx.service.blue_deleted:
        return retire_blue(ctx)
    s = ctx.service
    if s.job_guid:
        polled = ctx.poll_job("deleting the old app")
        if isinstance(polled, Wait):
            return polled
        if polled:
            return Done()
    only_green_serves(ctx)
    ctx.record(blue_deleted=True)
    try:
        job = ctx.cf.delete_app(s.blue_app_guid)
    except NotFound:
        return Done()
    ctx.record(job_guid=job.guid)
    return ctx.poll("deleting the old app")


def retire_blue(ctx: Context) -> Outcome:
    """Blue, stopped, takes a name aside (freeing its own for green) and the portal's label, so the
    scheduled clean-up and the sweep know it as ours; it is kept until `blue_retained_until`."""
    s = ctx.service
    only_green_serves(ctx)
    try:
        blue = ctx.cf.get_app(s.blue_app_guid)
    except NotFound:
        raise StepFailed("The old app is gone, so there is nothing to keep for a restore.") from None
    earlier = blue.labels.get(settings.ENGINE_LABEL)
    if earlier != str(s.pk) and "label" not in s.blue_snapshot:
        # Blue may be the green of an earlier upgrade, labelled by it: a restore puts that back.
        ctx.record(blue_snapshot={**s.blue_snapshot, "label": earlier})
    if blue.name != aside_name(s) or earlier != str(s.pk):
        ctx.cf.update_app(s.blue_app_guid, name=aside_name(s), labels=ctx.label)
    if s.blue_retained_until is None:
        ctx.record(blue_retained_until=timezone.now() + timedelta(seconds=settings.RETENTION_SECONDS))
    return Done()


def rename_green(ctx: Context) -> Outcome:
    """Green takes blue's name, so anything that looks the app up by name finds it."""
    s = ctx.service
    if ctx.cf.get_app(s.green_app_guid).name != s.blue_app_name:
        ctx.cf.rename_app(s.green_app_guid, s.blue_app_name)
    ctx.record(green_app_name=s.blue_app_name)
    return Done()
