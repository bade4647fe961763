"""Resources rendered in the Cloud Controller v3 JSON shapes (see the CF v3 API docs).

Every function takes the absolute base URL of the request (``http://host:port``) because CF
answers with absolute ``href`` links.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from cfsim.state import (
    App,
    Binding,
    Destination,
    Domain,
    Job,
    Organization,
    Process,
    Route,
    ServiceInstance,
    Space,
    Store,
)


def link(base: str, path: str, method: str | None = None) -> dict:
    link = {"href": f"{base}{path}"}
    if method:
        link["method"] = method
    return link


def meta(labels: dict, annotations: dict | None = None) -> dict:
    return {"labels": dict(labels), "annotations": dict(annotations or {})}


def rel(guid: str | None) -> dict:
    return {"data": {"guid": guid} if guid else None}


def organization(base: str, org: Organization) -> dict:
    return {
        "guid": org.guid,
        "created_at": org.created_at,
        "updated_at": org.created_at,
        "name": org.name,
        "suspended": False,
        "relationships": {"quota": rel(None)},
        "metadata": meta({}),
        "links": {"self": link(base, f"/v3/organizations/{org.guid}")},
    }


def space(base: str, sp: Space) -> dict:
    return {
        "guid": sp.guid,
        "created_at": sp.created_at,
        "updated_at": sp.created_at,
        "name": sp.name,
        "relationships": {"organization": rel(sp.organization_guid), "quota": rel(None)},
        "metadata": meta({}),
        "links": {
            "self": link(base, f"/v3/spaces/{sp.guid}"),
            "organization": link(base, f"/v3/organizations/{sp.organization_guid}"),
        },
    }


def domain(base: str, dom: Domain) -> dict:
    return {
        "guid": dom.guid,
        "created_at": dom.created_at,
        "updated_at": dom.created_at,
        "name": dom.name,
        "internal": dom.internal,
        "router_group": None,
        "supported_protocols": ["http"],
        "metadata": meta({}),
        "relationships": {"organization": rel(None), "shared_organizations": {"data": []}},
        "links": {
            "self": link(base, f"/v3/domains/{dom.guid}"),
            "route_reservations": link(base, f"/v3/domains/{dom.guid}/route_reservations"),
        },
    }


def destination(dest: Destination) -> dict:
    return {
        "guid": dest.guid,
        "app": {"guid": dest.app_guid, "process": {"type": dest.process_type}},
        "weight": None,
        "port": dest.port,
        "protocol": dest.protocol,
        "created_at": dest.created_at,
        "updated_at": dest.created_at,
    }


def route_url(store: Store, rt: Route) -> str:
    dom = store.domains.get(rt.domain_guid)
    name = dom.name if dom else ""
    return f"{rt.host}.{name}{rt.path}" if rt.host else f"{name}{rt.path}"


def route(base: str, store: Store, rt: Route) -> dict:
    return {
        "guid": rt.guid,
        "protocol": "http",
        "port": None,
        "created_at": rt.created_at,
        "updated_at": rt.updated_at,
        "host": rt.host,
        "path": rt.path,
        "url": route_url(store, rt),
        "destinations": [destination(d) for d in rt.destinations],
        "options": {"loadbalancing": "round-robin"},
        "metadata": meta(rt.labels, rt.annotations),
        "relationships": {"space": rel(rt.space_guid), "domain": rel(rt.domain_guid)},
        "links": {
            "self": link(base, f"/v3/routes/{rt.guid}"),
            "space": link(base, f"/v3/spaces/{rt.space_guid}"),
            "domain": link(base, f"/v3/domains/{rt.domain_guid}"),
            "destinations": link(base, f"/v3/routes/{rt.guid}/destinations"),
        },
    }


def destinations(base: str, rt: Route, dests: list[Destination]) -> dict:
    return {
        "destinations": [destination(d) for d in dests],
        "links": {
            "self": link(base, f"/v3/routes/{rt.guid}/destinations"),
            "route": link(base, f"/v3/routes/{rt.guid}"),
        },
    }


def app(base: str, ap: App) -> dict:
    a = f"/v3/apps/{ap.guid}"
    lifecycle = {"type": "docker", "data": {}}
    if ap.lifecycle_type == "buildpack":
        lifecycle = {"type": "buildpack", "data": {"buildpacks": [], "stack": "cflinuxfs4"}}
    return {
        "guid": ap.guid,
        "name": ap.name,
        "state": ap.state,
        "created_at": ap.created_at,
        "updated_at": ap.updated_at,
        "lifecycle": lifecycle,
        "relationships": {"space": rel(ap.space_guid), "current_droplet": rel(ap.droplet_guid)},
        "links": {
            "self": link(base, a),
            "space": link(base, f"/v3/spaces/{ap.space_guid}"),
            "processes": link(base, f"{a}/processes"),
            "packages": link(base, f"{a}/packages"),
            "environment_variables": link(base, f"{a}/environment_variables"),
            "current_droplet": link(base, f"{a}/droplets/current"),
            "droplets": link(base, f"{a}/droplets"),
            "tasks": link(base, f"{a}/tasks"),
            "start": link(base, f"{a}/actions/start", "POST"),
            "stop": link(base, f"{a}/actions/stop", "POST"),
            "revisions": link(base, f"{a}/revisions"),
            "deployed_revisions": link(base, f"{a}/revisions/deployed"),
            "features": link(base, f"{a}/features"),
        },
        "metadata": meta(ap.labels, ap.annotations),
    }


def environment_variables(base: str, ap: App) -> dict:
    return {
        "var": dict(ap.env),
        "links": {
            "self": link(base, f"/v3/apps/{ap.guid}/environment_variables"),
            "app": link(base, f"/v3/apps/{ap.guid}"),
        },
    }


def process(base: str, store: Store, proc: Process) -> dict:
    p = f"/v3/processes/{proc.guid}"
    app_obj = store.apps.get(proc.app_guid)
    space_guid = app_obj.space_guid if app_obj else ""
    return {
        "guid": proc.guid,
        "type": proc.type,
        "command": proc.command,
        "user": "vcap",
        "instances": proc.instances,
        "memory_in_mb": proc.memory_in_mb,
        "disk_in_mb": proc.disk_in_mb,
        "log_rate_limit_in_bytes_per_second": proc.log_rate_limit,
        "health_check": proc.health_check,
        "readiness_health_check": {"type": "process", "data": {"invocation_timeout": None}},
        "relationships": {"app": rel(proc.app_guid), "revision": rel(proc.revision_guid)},
        "metadata": meta(proc.labels, proc.annotations),
        "created_at": proc.created_at,
        "updated_at": proc.updated_at,
        "version": proc.version,
        "links": {
            "self": link(base, p),
            "scale": link(base, f"{p}/actions/scale", "POST"),
            "app": link(base, f"/v3/apps/{proc.app_guid}"),
            "space": link(base, f"/v3/spaces/{space_guid}"),
            "stats": link(base, f"{p}/stats"),
            "process_instances": link(base, f"{p}/process_instances"),
        },
    }


def process_stats(store: Store, proc: Process) -> dict:
    """Per-instance stats; a stopped app shows DOWN placeholders, as CF does."""
    app_obj = store.apps.get(proc.app_guid)
    if not app_obj or app_obj.state != "STARTED" or not proc.actual:
        return {"resources": [_down_stat(proc, i) for i in range(proc.instances)]}
    return {"resources": [_instance_stat(proc, inst) for inst in proc.actual]}


def _usage(running: bool) -> dict:
    stamp = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    return {
        "time": stamp,
        "cpu": 0.0012 if running else 0,
        "cpu_entitlement": 0.01 if running else 0,
        "mem": 19177472 if running else 0,
        "disk": 69705728 if running else 0,
        "log_rate": 0,
    }


def _instance_stat(proc: Process, inst) -> dict:
    running = inst.state == "RUNNING"
    return {
        "type": proc.type,
        "index": inst.index,
        "instance_guid": inst.guid,
        "state": inst.state,
        "routable": running,
        "usage": _usage(running),
        "host": "10.244.16.10" if running else "",
        "instance_internal_ip": f"10.255.93.{100 + inst.index}" if running else "",
        "instance_ports": [_ports(inst.index)] if running else None,
        "uptime": int(time.time() - inst.started_at) if running else 0,
        "mem_quota": proc.memory_in_mb * 1024 * 1024,
        "disk_quota": proc.disk_in_mb * 1024 * 1024,
        "fds_quota": 16384,
        "isolation_segment": None,
        "log_rate_limit": None,
        "details": inst.details,
    }


def _ports(index: int) -> dict:
    return {
        "external": 61000 + index,
        "internal": 8080,
        "external_tls_proxy_port": 62000 + index,
        "internal_tls_proxy_port": 61001,
    }


def _down_stat(proc: Process, index: int) -> dict:
    return {
        "type": proc.type,
        "index": index,
        "state": "DOWN",
        "routable": None,
        "uptime": 0,
        "details": None,
    }


def service_instance(base: str, si: ServiceInstance) -> dict:
    s = f"/v3/service_instances/{si.guid}"
    body = {
        "guid": si.guid,
        "created_at": si.created_at,
        "updated_at": si.created_at,
        "name": si.name,
        "tags": [],
        "type": si.type,
        "last_operation": {
            "type": "create",
            "state": "succeeded",
            "description": "Operation succeeded",
            "updated_at": si.created_at,
            "created_at": si.created_at,
        },
        "relationships": {"space": rel(si.space_guid)},
        "metadata": meta(si.labels),
        "links": {
            "self": link(base, s),
            "space": link(base, f"/v3/spaces/{si.space_guid}"),
            "service_credential_bindings": link(
                base, f"/v3/service_credential_bindings?service_instance_guids={si.guid}"
            ),
            "service_route_bindings": link(
                base, f"/v3/service_route_bindings?service_instance_guids={si.guid}"
            ),
        },
    }
    if si.type == "managed":
        body.update(
            maintenance_info={"version": "1.0.0"},
            upgrade_available=False,
            dashboard_url=None,
            broker_provided_metadata={"labels": {}, "attributes": {}},
        )
        body["relationships"]["service_plan"] = rel(si.plan_guid)
        body["links"]["service_plan"] = link(base, f"/v3/service_plans/{si.plan_guid}")
        body["links"]["parameters"] = link(base, f"{s}/parameters")
        body["links"]["shared_spaces"] = link(base, f"{s}/relationships/shared_spaces")
    else:
        body.update(syslog_drain_url=None, route_service_url=None)
        body["links"]["credentials"] = link(base, f"{s}/credentials")
    return body


def binding(base: str, bnd: Binding) -> dict:
    b = f"/v3/service_credential_bindings/{bnd.guid}"
    return {
        "guid": bnd.guid,
        "created_at": bnd.created_at,
        "updated_at": bnd.updated_at,
        "name": bnd.name,
        "type": "app",
        "last_operation": {
            "type": bnd.operation,
            "state": bnd.state,
            "description": None,
            "created_at": bnd.created_at,
            "updated_at": bnd.updated_at,
        },
        "metadata": meta(bnd.labels),
        "relationships": {"app": rel(bnd.app_guid), "service_instance": rel(bnd.service_instance_guid)},
        "links": {
            "self": link(base, b),
            "details": link(base, f"{b}/details"),
            "parameters": link(base, f"{b}/parameters"),
            "service_instance": link(base, f"/v3/service_instances/{bnd.service_instance_guid}"),
            "app": link(base, f"/v3/apps/{bnd.app_guid}"),
        },
    }


def job(base: str, jb: Job) -> dict:
    links = {"self": link(base, f"/v3/jobs/{jb.guid}")}
    if jb.resource:
        collection, guid = jb.resource
        links[collection.rstrip("s")] = link(base, f"/v3/{collection}/{guid}")
    return {
        "guid": jb.guid,
        "created_at": jb.created_at,
        "updated_at": jb.updated_at,
        "operation": jb.operation,
        "state": jb.state,
        "links": links,
        "errors": list(jb.errors),
        "warnings": list(jb.warnings),
    }
