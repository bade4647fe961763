"""Control endpoints under ``/_cfsim/`` (loopback only): knobs, faults, call log, reset, snapshot.

- ``GET /_cfsim/state``: snapshot of routes (with destinations), apps (state, image, labels,
  desired and actual instances, each with the service instances its VCAP_SERVICES got when it
  started), bindings, jobs, packages and builds.
- ``GET /_cfsim/config``; ``PATCH /_cfsim/config`` with any of ``staging_delay``, ``start_delay``,
  ``job_delay``, ``latency`` (seconds), ``token_lifetime`` (seconds), ``rate_limit_enabled``,
  ``rate_limit``, ``rate_limit_reset_seconds``, ``route_delay`` (seconds before the router applies a
  mapping or unmapping), ``failing_images``, ``crashing_images`` and ``erroring_images`` (lists of
  docker images; apps running an erroring image answer 502 through the router), ``warmup_errors``
  (seconds each instance answers 502 through the router after it started running), or ``profile``
  (``instant`` or ``realistic``: a set of the four delays, applied before any knob given beside it).
- ``GET /_cfsim/calls`` → ``{"calls": [{time, method, path, query, status, request_id}]}``, each
  logged as soon as it is handled (an answer an ``after`` fault holds back is already there, with
  the status CF produced); ``DELETE /_cfsim/calls`` clears it.
- ``GET /_cfsim/faults``; ``POST /_cfsim/faults`` ``{method, path (regex), status, title?, code?,
  detail?, body?, count?, probability?, delay?, after?}`` → 201; ``DELETE /_cfsim/faults[/<id>]``.
  ``status`` 0 only delays. ``after: true`` handles the request first and then holds its answer
  back ``delay`` s (replaced by ``status`` when set): CF acted, but the answer is late or lost.
- ``POST /_cfsim/apps/<guid>/crash`` ``{index?, details?}``: that instance (or all) CRASHED.
- ``POST /_cfsim/jobs/fail`` ``{operation, count}``: the next ``count`` jobs of that operation FAIL.
- ``DELETE /_cfsim/{builds|packages|droplets|jobs}/<guid>``: CF forgets the resource, as its clean-up
  jobs prune old builds and jobs and destroy expired packages: GETs answer 404, nothing else changes
  (a job's work still completes).
- ``POST /_cfsim/packages/<guid>/expire``: the package becomes EXPIRED, as CF expires all but an
  app's newest packages.
- ``POST /_cfsim/tokens/expire``: every issued access token becomes invalid.
- ``POST /_cfsim/reset`` ``{seed?: object, seed_file?: path}``: reload (default: the start seed and
  the command-line knobs); clears faults and the call log. With ``--state FILE``, the file holds the
  reloaded state before the answer.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from cfsim import presenters, uaa
from cfsim.faults import Fault, FaultTable
from cfsim.http_util import Request, Response
from cfsim.persistence import StateFile
from cfsim.seeds import load_seed, read_seed
from cfsim.state import Store, now_iso

_KNOBS = {
    "staging_delay": float,
    "start_delay": float,
    "job_delay": float,
    "latency": float,
    "token_lifetime": int,
    "rate_limit_enabled": bool,
    "rate_limit": int,
    "rate_limit_reset_seconds": int,
    "route_delay": float,
    "warmup_errors": float,
}
_IMAGE_SETS = ("failing_images", "crashing_images", "erroring_images")

# Delay profiles: `instant` for most tests; `realistic` as a real foundation feels (about 30 ms a
# call, staging 20 s, an instance starting 8 s, an async job 2 s).
PROFILES = {
    "instant": {"latency": 0.0, "staging_delay": 0.0, "start_delay": 0.0, "job_delay": 0.0},
    "realistic": {"latency": 0.03, "staging_delay": 20.0, "start_delay": 8.0, "job_delay": 2.0},
}


@dataclass
class ControlState:
    """What a reset goes back to: the start seed plus the knobs given on the command line; and the
    state file a reset rewrites, if any."""

    seed: dict
    overrides: dict = field(default_factory=dict)
    state_file: StateFile | None = None


def apply_config(store: Store, changes: dict) -> None:
    if "profile" in changes:
        if changes["profile"] not in PROFILES:
            raise ValueError(f"unknown profile {changes['profile']!r}; one of {', '.join(PROFILES)}")
        changes = PROFILES[changes["profile"]] | {k: v for k, v in changes.items() if k != "profile"}
    for key, value in changes.items():
        if key in _IMAGE_SETS:
            setattr(store.config, key, set(value))
        elif key in _KNOBS:
            setattr(store.config, key, _KNOBS[key](value))
        else:
            raise ValueError(f"unknown knob {key!r}")
    if "rate_limit_enabled" in changes or "rate_limit_reset_seconds" in changes:
        store.rate_windows.clear()


def config_json(store: Store) -> dict:
    data = asdict(store.config)
    for key in _IMAGE_SETS:
        data[key] = sorted(getattr(store.config, key))
    return data


def reset(store: Store, fault_table: FaultTable, state: ControlState, seed: dict | None = None) -> None:
    with store.lock:
        load_seed(store, seed if seed is not None else state.seed)
        apply_config(store, state.overrides)
        store.call_log.clear()
    fault_table.remove()
    if state.state_file:
        state.state_file.save()  # now, not soon: a restart right after a reset must not bring back the old


def snapshot(store: Store) -> dict:
    store.advance()
    routes = [
        {
            "guid": r.guid,
            "url": presenters.route_url(store, r),
            "labels": dict(r.labels),
            "destinations": [{"guid": d.guid, "app_guid": d.app_guid} for d in r.destinations],
        }
        for r in store.routes.values()
    ]
    apps = []
    for app in store.apps.values():
        droplet = store.droplets.get(app.droplet_guid or "")
        process = store.web_process(app.guid)
        apps.append(
            {
                "guid": app.guid,
                "name": app.name,
                "state": app.state,
                "image": droplet.image if droplet else None,
                "labels": dict(app.labels),
                "instances": process.instances if process else 0,
                "actual": [
                    {"index": i.index, "state": i.state, "services": list(i.services)}
                    for i in (process.actual if process else [])
                ],
            }
        )
    bindings = [
        {
            "guid": b.guid,
            "app_guid": b.app_guid,
            "service_instance_guid": b.service_instance_guid,
            "state": b.state,
        }
        for b in store.bindings.values()
    ]
    jobs = [{"guid": j.guid, "operation": j.operation, "state": j.state} for j in store.jobs.values()]
    packages = [
        {"guid": pk.guid, "app_guid": pk.app_guid, "type": pk.type, "image": pk.image, "state": pk.state}
        for pk in store.packages.values()
    ]
    builds = [
        {"guid": b.guid, "app_guid": b.app_guid, "package_guid": b.package_guid, "state": b.state}
        for b in store.builds.values()
    ]
    return {
        "routes": routes,
        "apps": apps,
        "bindings": bindings,
        "jobs": jobs,
        "packages": packages,
        "builds": builds,
    }


def _crash(store: Store, app_guid: str, body: dict) -> Response:
    process = store.web_process(app_guid)
    if process is None:
        return Response(404, {"error": "no such app"})
    index = body.get("index")
    for instance in process.actual:
        if index is None or instance.index == index:
            instance.state = "CRASHED"
            instance.details = body.get("details", "APP/PROC/WEB: Exited with status 1")
    return Response(200, {"crashed": [i.index for i in process.actual if i.state == "CRASHED"]})


def dispatch(req: Request, store: Store, fault_table: FaultTable, state: ControlState) -> Response:
    try:
        return _dispatch(req, store, fault_table, state)
    except (ValueError, TypeError, KeyError, re.error) as exc:
        return Response(400, {"error": f"{type(exc).__name__}: {exc}"})


def _dispatch(req: Request, store: Store, fault_table: FaultTable, state: ControlState) -> Response:
    path, method = req.path.rstrip("/"), req.method
    body = req.json() if req.raw_body else {}
    if path == "/_cfsim/state" and method == "GET":
        with store.lock:
            return Response(200, snapshot(store))
    if path == "/_cfsim/config":
        with store.lock:
            if method in ("PATCH", "POST", "PUT"):
                apply_config(store, body)
            return Response(200, config_json(store))
    if path == "/_cfsim/calls":
        with store.lock:
            if method == "DELETE":
                store.call_log.clear()
            return Response(200, {"calls": list(store.call_log)})
    if path == "/_cfsim/faults":
        if method == "POST":
            return Response(201, fault_table.add(Fault(**body)).as_json())
        if method == "DELETE":
            fault_table.remove()
        return Response(200, {"faults": fault_table.list()})
    if (match := re.fullmatch(r"/_cfsim/faults/(\d+)", path)) and method == "DELETE":
        fault_table.remove(int(match.group(1)))
        return Response(200, {"faults": fault_table.list()})
    if (match := re.fullmatch(r"/_cfsim/apps/([^/]+)/crash", path)) and method == "POST":
        with store.lock:
            store.advance()
            return _crash(store, match.group(1), body)
    if path == "/_cfsim/jobs/fail" and method == "POST":
        with store.lock:
            store.job_failures[body["operation"]] = int(body.get("count", 1))
            return Response(200, {"job_failures": dict(store.job_failures)})
    if (
        match := re.fullmatch(r"/_cfsim/(builds|packages|droplets|jobs)/([^/]+)", path)
    ) and method == "DELETE":
        with store.lock:
            store.advance()
            forgotten = getattr(store, match.group(1)).pop(match.group(2), None)
            return Response(200 if forgotten else 404, {"forgotten": bool(forgotten)})
    if (match := re.fullmatch(r"/_cfsim/packages/([^/]+)/expire", path)) and method == "POST":
        with store.lock:
            package = store.packages.get(match.group(1))
            if package is None:
                return Response(404, {"error": "no such package"})
            package.state, package.updated_at = "EXPIRED", now_iso()
            return Response(200, {"state": package.state})
    if path == "/_cfsim/tokens/expire" and method == "POST":
        with store.lock:
            return Response(200, {"expired": uaa.expire_all(store)})
    if path == "/_cfsim/reset" and method == "POST":
        seed = body.get("seed") or (read_seed(body["seed_file"]) if body.get("seed_file") else None)
        reset(store, fault_table, state, seed)
        return Response(200, {"reset": True})
    return Response(404, {"error": f"no control endpoint {method} {path}"})
