"""Step 1: stand up green beside blue, on a temporary route, until every instance runs.

Each sub-step observes before it acts and records each GUID before the next call, so running it
twice is harmless. Blue is only read here.
"""

import secrets
import string

from django.conf import settings
from django.template.defaultfilters import pluralize
from django.utils import timezone

from upgrades.cloudfoundry import CFClient, Uniqueness, Unprocessable
from upgrades.cloudfoundry.types import Job, ProcessStats
from upgrades.engine.context import Context, Done, Outcome, StepFailed, Wait, found
from upgrades.engine.inspect import Standing, inspect, running_instances, web_process
from upgrades.engine.plan import PlanChanged, Target, differences, fingerprint, survey

_HOST_ALPHABET = string.ascii_lowercase + string.digits


def preflight(ctx: Context) -> Outcome:
    """Inspect again just before acting (things may have changed since approval), and snapshot what
    green must copy from blue: processes (scale, health check) and service bindings. Environment
    variables are read again when green is created, never stored: they hold secrets.

    Before anything is created, the plan is surveyed again; one that differs from the approved plan
    raises PlanChanged (the service goes back for approval). Once green exists (a retry), the plan
    is no longer compared: Step 1 then copies blue as it stands."""
    s = ctx.service
    with ctx.cf.one_look():
        if s.approved_fingerprint and not s.green_app_guid:
            standing = Standing(**{name: getattr(s, name) for name in Standing.__dataclass_fields__})
            now = survey(ctx.cf, Target(s, ctx.foundation, standing))
            if fingerprint(now) != s.approved_fingerprint:
                raise PlanChanged(differences(s.change_plan, now), now)
        standing = inspect(ctx.cf, ctx.foundation, s.zone_id, s.domain)
        snapshot = _blue_snapshot(ctx.cf, standing.blue_app_guid)
    web = next((p for p in snapshot["processes"] if p["type"] == "web"), {"instances": 1})
    ctx.record(**{**standing.as_facts(), "blue_snapshot": snapshot, "instances_desired": web["instances"]})
    return Done()


def _blue_snapshot(cf: CFClient, blue: str) -> dict:
    processes = [
        {
            "type": p.type,
            "instances": p.instances,
            "memory_in_mb": p.memory_in_mb,
            "disk_in_mb": p.disk_in_mb,
            "health_check_type": p.health_check_type,
            "health_check_data": p.health_check_data,
        }
        for p in cf.list_app_processes(blue)
    ]
    bindings = [
        {"service_instance_guid": b.service_instance_guid, "name": b.name}
        for b in cf.list_credential_bindings(app_guids=[blue])
    ]
    return {"processes": processes, "bindings": bindings}


def _without_green() -> dict:
    """What the service forgets with a green CF no longer has: everything that went with it."""
    return {
        "green_app_guid": "",
        "green_app_name": "",
        "green_process_guid": "",
        "package_guid": "",
        "build_guid": "",
        "droplet_guid": "",
        "binding_guids": [],
        "job_guid": "",
    }


def create_green(ctx: Context) -> Outcome:
    """Green: the recorded one while CF still has it, else ours found by label, else a new one."""
    s = ctx.service
    if s.green_app_guid:
        if found(ctx.cf.get_app, s.green_app_guid):
            return Done()
        ctx.record(**_without_green())  # deleted by hand: its package, build and bindings went too
    ours = ctx.cf.list_apps(space_guids=[s.space_guid], label_selector=ctx.label_selector)
    if ours:
        ctx.record(green_app_guid=ours[0].guid, green_app_name=ours[0].name)
        return Done()
    name = f"{s.blue_app_name}-{s.request.release.name}"
    env = ctx.cf.get_env_vars(s.blue_app_guid)
    try:
        green = ctx.cf.create_app(
            name, s.space_guid, env=env, labels={**ctx.label, "ecportal.io/role": "green"}
        )
    except Uniqueness:
        raise StepFailed(
            f"An app named {name} already exists in the space and was not created by the portal."
        ) from None
    ctx.record(green_app_guid=green.guid, green_app_name=green.name)
    return Done()


def create_package(ctx: Context) -> Outcome:
    """The release image as a package of green. Green is ours, so a ready package of that image on it
    is one we created (its answer may have been lost): adopt it rather than add a second."""
    s = ctx.service
    if s.package_guid:
        package = found(ctx.cf.get_package, s.package_guid)
        if package and package.state == "READY" and package.app_guid == s.green_app_guid:
            return Done()
        # Gone or EXPIRED (CF keeps an app's newest few): a new package, and a new build from it.
        ctx.record(package_guid="", build_guid="", droplet_guid="")
    image = s.request.release.docker_image
    ready = ctx.cf.list_packages(
        app_guids=[s.green_app_guid], types=["docker"], states=["READY"], order_by="-created_at"
    )
    package = next((p for p in ready if p.image == image), None)
    if package is None:
        package = ctx.cf.create_docker_package(s.green_app_guid, image, labels=ctx.label)
    ctx.record(package_guid=package.guid)
    return Done()


def stage(ctx: Context) -> Outcome:
    """Build the droplet from the release image; polled until STAGED (never waited for in a task).

    With none recorded, or one CF pruned since, look for our build of this package (its answer may
    have been lost) before building; a FAILED one is never adopted, so a retry builds afresh."""
    s = ctx.service
    build = found(ctx.cf.get_build, s.build_guid) if s.build_guid else None
    if build is None:
        ours = ctx.cf.list_builds(
            package_guids=[s.package_guid], label_selector=ctx.label_selector, order_by="-created_at"
        )
        build = next((b for b in ours if b.state != "FAILED"), None)
        if build is None:
            build = ctx.cf.create_build(s.package_guid, labels=ctx.label)
        ctx.record(build_guid=build.guid)
    if build.state == "FAILED":
        # A fresh build on retry: clear the failed one.
        ctx.record(build_guid="")
        raise StepFailed(f"Staging {s.request.release.name} failed: {build.error or 'no reason given'}.")
    if build.state != "STAGED":
        return ctx.poll("building the droplet", deadline=settings.ENGINE_STAGING_TIMEOUT, what="staging")
    ctx.record(droplet_guid=build.droplet_guid or "")
    return Done()


def set_droplet(ctx: Context) -> Outcome:
    ctx.cf.set_current_droplet(ctx.service.green_app_guid, ctx.service.droplet_guid)
    return Done()


def scale(ctx: Context) -> Outcome:
    """Give green blue's instances, memory, disk and health check, process type by process type."""
    s = ctx.service
    green_processes = {p.type: p for p in ctx.cf.list_app_processes(s.green_app_guid)}
    if "web" in green_processes:
        ctx.record(green_process_guid=green_processes["web"].guid)
    for wanted in s.blue_snapshot.get("processes", []):
        process = green_processes.get(wanted["type"])
        if process is None:
            continue
        ctx.cf.scale_process(
            process.guid,
            instances=wanted["instances"],
            memory_in_mb=wanted["memory_in_mb"],
            disk_in_mb=wanted["disk_in_mb"],
        )
        if wanted.get("health_check_type"):
            ctx.cf.update_health_check(
                process.guid, wanted["health_check_type"], wanted.get("health_check_data")
            )
    return Done()


def bind(ctx: Context) -> Outcome:
    """Bind green to every service instance blue is bound to; managed bindings are jobs, polled.

    Green's bindings are looked at first: one still being created (its job's answer may have been
    lost) is waited for, since green must not start before the broker's credentials are there; one
    whose creation failed counts as absent (CF replaces it when it is created again)."""
    s = ctx.service
    if s.job_guid:
        # A job CF no longer knows (it prunes old ones) is forgotten: the bindings say how it went.
        polled = ctx.poll_job("binding a service to the new app")
        if isinstance(polled, Wait):
            return polled
    bound = {
        b.service_instance_guid: b
        for b in ctx.cf.list_credential_bindings(app_guids=[s.green_app_guid])
        if not b.create_failed
    }
    if any(b.creating for b in bound.values()):
        return ctx.poll("binding services", what="binding a service to the new app")
    for wanted in s.blue_snapshot.get("bindings", []):
        instance = wanted["service_instance_guid"]
        if instance in bound:
            continue
        result = ctx.cf.create_credential_binding(
            s.green_app_guid, instance, name=wanted.get("name"), labels=ctx.label
        )
        if isinstance(result, Job):
            ctx.record(job_guid=result.guid)
            return ctx.poll("binding services")
        bound[instance] = result
    ctx.record(binding_guids=sorted(b.guid for b in bound.values()))
    return Done()


def create_temp_route(ctx: Context) -> Outcome:
    """A fresh, labelled, unpredictable host, so nobody can claim it first and catch test traffic."""
    s = ctx.service
    if s.temp_route_guid:
        if found(ctx.cf.get_route, s.temp_route_guid):
            return Done()
        ctx.record(temp_route_guid="")  # deleted by hand: look for ours, else make it again
    ours = ctx.cf.list_routes(label_selector=ctx.label_selector, space_guids=[s.space_guid])
    if ours:
        ctx.record(temp_route_guid=ours[0].guid, temp_host=ours[0].host)
        return Done()
    if not s.temp_host:
        suffix = "".join(secrets.choice(_HOST_ALPHABET) for _ in range(6))
        ctx.record(temp_host=f"{s.zone_id}-upgrade-{suffix}")
    try:
        route = ctx.cf.create_route(
            s.temp_host,
            s.domain_guid,
            s.space_guid,
            labels={**ctx.label, "ecportal.io/role": "temporary-route"},
        )
    except Unprocessable as refusal:
        if ctx.cf.find_route(s.temp_host, s.domain_guid) is None:
            # Not a taken host: a quota, the domain, the space. Waiting would not change that.
            raise StepFailed(f"Cloud Foundry refused the temporary route: {refusal.detail}") from None
        # Taken by someone else (ours would have been found by label): pick another host next time.
        ctx.record(temp_host="")
        return ctx.poll("choosing a temporary route", what="finding a free temporary route")
    ctx.record(temp_route_guid=route.guid)
    return Done()


def map_temp_route(ctx: Context) -> Outcome:
    s = ctx.service
    if not ctx.cf.list_destinations(s.temp_route_guid, app_guids=[s.green_app_guid]):
        ctx.cf.insert_destination(s.temp_route_guid, s.green_app_guid)
    return Done()


def start_green(ctx: Context) -> Outcome:
    """Start green; a green whose instances crashed (a retry after a failure) is restarted."""
    green = ctx.service.green_app_guid
    if ctx.cf.get_app(green).state == "STARTED":
        _, stats = green_instances(ctx)
        if not any(i.state == "CRASHED" for i in stats):
            return Done()
        ctx.cf.stop_app(green)
    ctx.cf.start_app(green)
    ctx.record(step_started_at=timezone.now())
    return Done()


def green_instances(ctx: Context) -> tuple[int, list[ProcessStats]]:
    """Green's running instances, and all of them, from its web process: the one `scale` recorded,
    else looked up and recorded."""
    s = ctx.service
    if not s.green_process_guid:
        ctx.record(green_process_guid=web_process(ctx.cf, s.green_app_guid).guid)
    return running_instances(ctx.cf, s.green_app_guid, s.green_process_guid)


def wait_running(ctx: Context) -> Outcome:
    """Done only when every desired instance is RUNNING (stricter than the CLI's "any")."""
    s = ctx.service
    running, stats = green_instances(ctx)
    desired = max(s.instances_desired, 1)
    crashed = [i for i in stats if i.state == "CRASHED"]
    if crashed:
        details = "; ".join(f"instance {i.index}: {i.details or 'crashed'}" for i in crashed)
        raise StepFailed(f"The new app's instances crashed ({details}).")
    if running != s.instances_running:
        ctx.record(instances_running=running)
    progress = f"{running} of {desired} instance{pluralize(desired)} running"
    if running >= desired and len(stats) >= desired:
        return Done()
    if ctx.elapsed() > settings.ENGINE_START_TIMEOUT:
        raise StepFailed(
            f"Only {running} of {desired} instance{pluralize(desired)} running "
            f"after {settings.ENGINE_START_TIMEOUT:g} s."
        )
    return ctx.poll(progress, deadline=settings.ENGINE_START_TIMEOUT)
