"""Apps, their environment variables, processes, scaling and instance stats."""

from __future__ import annotations

from cfsim import presenters as p
from cfsim.errors import ApiError, not_found, unprocessable
from cfsim.http_util import Request, Response, accepted_job, filter_by, filter_labels, ok, ordered, paginate
from cfsim.lookups import apply_metadata, get_or_404, relationship_guid
from cfsim.state import App, Process, Store, new_guid, now_iso


def list_apps(req: Request, store: Store) -> Response:
    apps = ordered(store.apps.values())
    if (names := req.csv("names")) is not None:
        apps = [a for a in apps if a.name in names]
    apps = filter_by(
        req,
        apps,
        {"guids": lambda a: a.guid, "space_guids": lambda a: a.space_guid, "states": lambda a: a.state},
    )
    apps = filter_labels(req, apps, lambda a: a.labels)
    return paginate(req, apps, lambda a: p.app(req.base, a))


def get_app(req: Request, store: Store, guid: str) -> Response:
    return ok(p.app(req.base, get_or_404(store.apps, guid, "App")))


def _check_name(store: Store, space_guid: str, name: object, exclude: str | None = None) -> str:
    if not isinstance(name, str) or not name:
        raise unprocessable("Name can't be blank")
    for other in store.apps.values():
        if other.space_guid == space_guid and other.guid != exclude and other.name.lower() == name.lower():
            raise ApiError("CF-UniquenessError", f"App with the name '{name}' already exists.")
    return name


def create_app(req: Request, store: Store) -> Response:
    body = req.json()
    space_guid = relationship_guid(body, "space") or ""
    if space_guid not in store.spaces:
        raise unprocessable("Invalid space. Ensure that the space exists and you have access to it.")
    name = _check_name(store, space_guid, body.get("name"))
    env = body.get("environment_variables") or {}
    if not isinstance(env, dict):
        raise unprocessable("Environment variables must be an object")
    lifecycle = (body.get("lifecycle") or {}).get("type", "buildpack")
    if lifecycle not in ("buildpack", "docker"):
        raise unprocessable(f"Lifecycle type must be one of buildpack, docker (got {lifecycle!r})")
    app = App(guid=new_guid(), name=name, space_guid=space_guid, lifecycle_type=lifecycle)
    app.env = {k: str(v) for k, v in env.items() if v is not None}
    apply_metadata(body, app.labels, app.annotations)
    store.apps[app.guid] = app
    # CF creates the web process at once; its GUID equals the app's.
    store.processes[app.guid] = Process(guid=app.guid, app_guid=app.guid)
    return ok(p.app(req.base, app), 201)


def update_app(req: Request, store: Store, guid: str) -> Response:
    app = get_or_404(store.apps, guid, "App")
    body = req.json()
    if "name" in body:
        app.name = _check_name(store, app.space_guid, body["name"], exclude=app.guid)
    apply_metadata(body, app.labels, app.annotations)
    app.updated_at = now_iso()
    return ok(p.app(req.base, app))


def _start(store: Store, app: App) -> None:
    if not app.droplet_guid:
        raise unprocessable("Assign a droplet before starting this app.")
    app.state = "STARTED"
    app.updated_at = now_iso()
    store.revise(app)
    for process in store.app_processes(app.guid):
        store.start_instances(process)


def _stop(store: Store, app: App) -> None:
    app.state = "STOPPED"
    app.updated_at = now_iso()
    for process in store.app_processes(app.guid):
        process.actual.clear()


def start_app(req: Request, store: Store, guid: str) -> Response:
    app = get_or_404(store.apps, guid, "App")
    if app.state != "STARTED":
        _start(store, app)
    return ok(p.app(req.base, app))


def stop_app(req: Request, store: Store, guid: str) -> Response:
    app = get_or_404(store.apps, guid, "App")
    _stop(store, app)
    return ok(p.app(req.base, app))


def restart_app(req: Request, store: Store, guid: str) -> Response:
    app = get_or_404(store.apps, guid, "App")
    if not app.droplet_guid:
        raise unprocessable("Assign a droplet before starting this app.")
    _stop(store, app)
    _start(store, app)
    return ok(p.app(req.base, app))


def delete_app(req: Request, store: Store, guid: str) -> Response:
    get_or_404(store.apps, guid, "App")
    job = store.new_job("app.delete", ("apps", guid))
    return accepted_job(req.base, job.guid)


def get_env_vars(req: Request, store: Store, guid: str) -> Response:
    return ok(p.environment_variables(req.base, get_or_404(store.apps, guid, "App")))


def update_env_vars(req: Request, store: Store, guid: str) -> Response:
    app = get_or_404(store.apps, guid, "App")
    changes = req.json().get("var")
    if not isinstance(changes, dict):
        raise unprocessable("Var must be an object")
    for key, value in changes.items():
        if value is None:
            app.env.pop(key, None)
        else:
            app.env[key] = str(value)
    return ok(p.environment_variables(req.base, app))


def get_full_env(req: Request, store: Store, guid: str) -> Response:
    """``GET /v3/apps/:guid/env``: what the app sees, VCAP_SERVICES included (fake credentials)."""
    app = get_or_404(store.apps, guid, "App")
    services: dict[str, list] = {}
    active = set(store.active_services(guid))
    for binding in store.bindings.values():
        instance = store.service_instances.get(binding.service_instance_guid)
        if binding.app_guid != guid or instance is None or binding.service_instance_guid not in active:
            continue
        label = instance.offering if instance.type == "managed" else "user-provided"
        services.setdefault(label, []).append(
            {
                "name": instance.name,
                "instance_guid": instance.guid,
                "binding_guid": binding.guid,
                "binding_name": binding.name,
                "label": label,
                "plan": instance.plan if instance.type == "managed" else None,
                "credentials": {"uri": f"https://{instance.guid}.example.test", "secret": "cfsim-secret"},
            }
        )
    application = {"application_id": app.guid, "application_name": app.name, "space_id": app.space_guid}
    return ok(
        {
            "staging_env_json": {},
            "running_env_json": {},
            "environment_variables": dict(app.env),
            "system_env_json": {"VCAP_SERVICES": services},
            "application_env_json": {"VCAP_APPLICATION": application},
        }
    )


def list_processes(req: Request, store: Store) -> Response:
    procs = filter_by(
        req,
        ordered(store.processes.values()),
        {"guids": lambda pr: pr.guid, "types": lambda pr: pr.type, "app_guids": lambda pr: pr.app_guid},
    )
    return paginate(req, procs, lambda pr: p.process(req.base, store, pr))


def list_app_processes(req: Request, store: Store, guid: str) -> Response:
    get_or_404(store.apps, guid, "App")
    procs = filter_by(
        req, store.app_processes(guid), {"types": lambda pr: pr.type, "guids": lambda pr: pr.guid}
    )
    return paginate(req, procs, lambda pr: p.process(req.base, store, pr))


def _app_process(store: Store, guid: str, process_type: str) -> Process:
    get_or_404(store.apps, guid, "App")
    for process in store.app_processes(guid):
        if process.type == process_type:
            return process
    raise not_found("Process")


def get_app_process(req: Request, store: Store, guid: str, process_type: str) -> Response:
    return ok(p.process(req.base, store, _app_process(store, guid, process_type)))


def get_process(req: Request, store: Store, guid: str) -> Response:
    return ok(p.process(req.base, store, get_or_404(store.processes, guid, "Process")))


def update_process(req: Request, store: Store, guid: str) -> Response:
    process = get_or_404(store.processes, guid, "Process")
    body = req.json()
    if "command" in body:
        process.command = body["command"]
    if (check := body.get("health_check")) is not None:
        if not isinstance(check, dict) or check.get("type", "port") not in ("port", "process", "http"):
            raise unprocessable("Health check type must be one of 'port', 'process', 'http'")
        kind = check.get("type", process.health_check["type"])
        data = {**process.health_check.get("data", {}), **(check.get("data") or {})}
        if kind != "http":
            if (check.get("data") or {}).get("endpoint"):
                raise unprocessable('Health check type must be "http" to set a health check HTTP endpoint')
            data.pop("endpoint", None)
        process.health_check = {"type": kind, "data": data}
    apply_metadata(body, process.labels, process.annotations)
    process.updated_at = now_iso()
    return ok(p.process(req.base, store, process))


def _positive(body: dict, key: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise unprocessable(f"{key.capitalize()} must be greater than or equal to 0")
    return value


def scale_process(req: Request, store: Store, guid: str) -> Response:
    process = get_or_404(store.processes, guid, "Process")
    body = req.json()
    if (instances := _positive(body, "instances")) is not None:
        process.instances = instances
    if (memory := _positive(body, "memory_in_mb")) is not None:
        process.memory_in_mb = memory
    if (disk := _positive(body, "disk_in_mb")) is not None:
        process.disk_in_mb = disk
    process.updated_at = now_iso()
    app = store.apps.get(process.app_guid)
    if app and app.state == "STARTED":
        store.start_instances(process)
    return ok(p.process(req.base, store, process), 202)


def process_stats(req: Request, store: Store, guid: str) -> Response:
    return ok(p.process_stats(store, get_or_404(store.processes, guid, "Process")))


def app_process_stats(req: Request, store: Store, guid: str, process_type: str) -> Response:
    return ok(p.process_stats(store, _app_process(store, guid, process_type)))


ROUTES = [
    ("GET", r"/v3/apps", list_apps),
    ("POST", r"/v3/apps", create_app),
    ("GET", r"/v3/apps/([^/]+)", get_app),
    ("PATCH", r"/v3/apps/([^/]+)", update_app),
    ("DELETE", r"/v3/apps/([^/]+)", delete_app),
    ("POST", r"/v3/apps/([^/]+)/actions/start", start_app),
    ("POST", r"/v3/apps/([^/]+)/actions/stop", stop_app),
    ("POST", r"/v3/apps/([^/]+)/actions/restart", restart_app),
    ("GET", r"/v3/apps/([^/]+)/environment_variables", get_env_vars),
    ("PATCH", r"/v3/apps/([^/]+)/environment_variables", update_env_vars),
    ("GET", r"/v3/apps/([^/]+)/env", get_full_env),
    ("GET", r"/v3/apps/([^/]+)/processes", list_app_processes),
    ("GET", r"/v3/apps/([^/]+)/processes/([^/]+)", get_app_process),
    ("GET", r"/v3/apps/([^/]+)/processes/([^/]+)/stats", app_process_stats),
    ("GET", r"/v3/processes", list_processes),
    ("GET", r"/v3/processes/([^/]+)", get_process),
    ("PATCH", r"/v3/processes/([^/]+)", update_process),
    ("POST", r"/v3/processes/([^/]+)/actions/scale", scale_process),
    ("GET", r"/v3/processes/([^/]+)/stats", process_stats),
]
