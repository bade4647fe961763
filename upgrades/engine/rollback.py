"""Rollback: blue back as the only destination of the original route, then green and the temporary
route removed. Offered until blue is deleted; each sub-step is a no-op when there is nothing to undo."""

from django.conf import settings
from django.template.defaultfilters import pluralize
from django.utils import timezone

from upgrades.cloudfoundry import NotFound, Unprocessable
from upgrades.engine.context import Context, Done, Outcome, StepFailed, Wait
from upgrades.engine.inspect import running_instances
from upgrades.engine.step2 import aside_name, delete_temp_route


def rb_start_blue(ctx: Context) -> Outcome:
    """Blue must run before it takes traffic back (it was stopped if finalization had begun)."""
    s = ctx.service
    if not s.blue_app_guid:
        return Done()  # preflight never found blue: nothing was touched
    if s.blue_deleted:
        raise StepFailed("The old app is already deleted; this upgrade can no longer be rolled back.")
    if ctx.cf.get_app(s.blue_app_guid).state != "STARTED":
        ctx.cf.start_app(s.blue_app_guid)
        ctx.record(step_started_at=timezone.now())
    running, stats = running_instances(ctx.cf, s.blue_app_guid)
    if stats and running == len(stats):
        ctx.record(blue_stopped=False)
        return Done()
    return ctx.poll(
        f"starting the old app again: {running} of {len(stats)} instance{pluralize(len(stats))} running",
        deadline=settings.ENGINE_START_TIMEOUT,
        what="starting the old app again",
    )


def rb_map_blue(ctx: Context) -> Outcome:
    s = ctx.service
    if s.original_route_guid and s.blue_app_guid:
        if not ctx.cf.list_destinations(s.original_route_guid, app_guids=[s.blue_app_guid]):
            ctx.cf.insert_destination(s.original_route_guid, s.blue_app_guid)
    return Done()


def rb_unmap_green(ctx: Context) -> Outcome:
    """Only after blue is back on the original route does green leave it."""
    s = ctx.service
    if not (s.original_route_guid and s.green_app_guid):
        return Done()
    if s.blue_app_guid and not ctx.cf.list_destinations(s.original_route_guid, app_guids=[s.blue_app_guid]):
        raise StepFailed("The old app is not on the original route, so the new app stays mapped.")
    for destination in ctx.cf.list_destinations(s.original_route_guid, app_guids=[s.green_app_guid]):
        try:
            ctx.cf.remove_destination(s.original_route_guid, destination.guid)
        except Unprocessable:
            continue
    return Done()


def rb_delete_temp_route(ctx: Context) -> Outcome:
    s = ctx.service
    if not s.temp_route_guid and not s.job_guid:
        # A crash may have created the route before its GUID was recorded: find it by label.
        ours = ctx.cf.list_routes(label_selector=ctx.label_selector)
        if ours:
            ctx.record(temp_route_guid=ours[0].guid)
    return delete_temp_route(ctx)


def rb_delete_green(ctx: Context) -> Outcome:
    s = ctx.service
    if s.job_guid:
        polled = ctx.poll_job("deleting the new app")
        if isinstance(polled, Wait):
            return polled
        ctx.record(green_app_guid="", green_process_guid="")  # deleted, or its job forgotten: see below
    leftovers = ctx.cf.list_apps(label_selector=ctx.label_selector)
    for app in leftovers:
        if app.guid == s.blue_app_guid:
            continue  # never blue, whatever its labels say
        try:
            job = ctx.cf.delete_app(app.guid)
        except NotFound:
            continue
        ctx.record(job_guid=job.guid)
        return ctx.poll("deleting the new app")
    ctx.record(
        green_app_guid="",
        green_process_guid="",
        package_guid="",
        build_guid="",
        droplet_guid="",
        binding_guids=[],
    )
    return Done()


def rb_rename_blue(ctx: Context) -> Outcome:
    """Blue set aside after Step 2 (a restore, or a rollback once finalizing began) gets its own name
    back and loses the portal's label, as it was before the upgrade."""
    s = ctx.service
    if not s.blue_app_guid or not s.blue_app_name:
        return Done()
    blue = ctx.cf.get_app(s.blue_app_guid)
    if "label" not in s.blue_snapshot and blue.name != aside_name(s):
        # Never set aside (a Step 1 rollback): its name and any label (an earlier upgrade's) are its own.
        return Done()
    label = s.blue_snapshot.get("label")  # the label it had before, if any (None: none)
    if blue.name != s.blue_app_name or blue.labels.get(settings.ENGINE_LABEL) != label:
        ctx.cf.update_app(s.blue_app_guid, name=s.blue_app_name, labels={settings.ENGINE_LABEL: label})
    ctx.record(blue_retained_until=None)
    return Done()
