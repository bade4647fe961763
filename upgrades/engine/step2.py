"""Step 2: move the original route to green (2.1 map, 2.2 unmap), then finalize.

The safety rules of DESIGN §2 are checked here, against CF as it stands, before each risky call:
never unmap blue unless green is mapped and all its instances run; never stop or delete blue unless
the original route's only destination is a healthy green.
"""

from upgrades.cloudfoundry import NotFound, Unprocessable
from upgrades.engine import probes
from upgrades.engine.context import Context, Done, Outcome, StepFailed, Wait
from upgrades.engine.inspect import running_instances


def green_healthy(ctx: Context) -> bool:
    """Every desired instance of green is RUNNING."""
    running, _ = running_instances(ctx.cf, ctx.service.green_app_guid)
    return running >= max(ctx.service.instances_desired, 1)


def map_original(ctx: Context) -> Outcome:
    """2.1: green joins blue on the original route (additive: both serve)."""
    s = ctx.service
    if not green_healthy(ctx):
        raise StepFailed(
            "Not every instance of the new app is running, so the original route was left alone."
        )
    if waiting := probes.before_map(ctx):
        return waiting
    if not ctx.cf.list_destinations(s.original_route_guid, app_guids=[s.green_app_guid]):
        ctx.cf.insert_destination(s.original_route_guid, s.green_app_guid)
    return Done()


def unmap_blue(ctx: Context) -> Outcome:
    """2.2: blue leaves the original route, only once green serves there with every instance."""
    s = ctx.service
    if not ctx.cf.list_destinations(s.original_route_guid, app_guids=[s.green_app_guid]) or not green_healthy(
        ctx
    ):
        raise StepFailed("The new app is not serving on the original route, so the old app stays mapped.")
    if waiting := probes.before_unmap(ctx):
        return waiting
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
    only_green_serves(ctx)
    if waiting := probes.before_stop(ctx):
        return waiting
    try:
        if ctx.cf.get_app(ctx.service.blue_app_guid).state != "STOPPED":
            ctx.cf.stop_app(ctx.service.blue_app_guid)
    except NotFound:
        pass  # already gone
    ctx.record(blue_stopped=True)
    probes.end(ctx.service)
    return Done()


def delete_blue(ctx: Context) -> Outcome:
    """The point of no return: once the delete is sent, rollback is no longer offered."""
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


def rename_green(ctx: Context) -> Outcome:
    """Green takes blue's name, so anything that looks the app up by name finds it."""
    s = ctx.service
    if ctx.cf.get_app(s.green_app_guid).name != s.blue_app_name:
        ctx.cf.rename_app(s.green_app_guid, s.blue_app_name)
    ctx.record(green_app_name=s.blue_app_name)
    return Done()
