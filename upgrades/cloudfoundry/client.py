"""The Cloud Foundry v3 client the portal's steps call: one method per CF call of DESIGN §2.

Pure Python (no Django): configuration is passed in. Methods return the typed resources of
``types.py`` and raise the typed errors of ``errors.py``; HTTP, tokens, retries and pagination live
in ``transport.py``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from upgrades.cloudfoundry.errors import NotFound, UnexpectedResponse
from upgrades.cloudfoundry.transport import Transport
from upgrades.cloudfoundry.types import (
    App,
    Build,
    Destination,
    Domain,
    Droplet,
    Job,
    Package,
    Process,
    ProcessStats,
    Route,
    ServiceCredentialBinding,
    ServiceInstance,
)

# List calls over a whole foundation: GUIDs per filter (100 GUIDs make a 3.7 KB query) and the
# largest page CF serves.
BATCH = 100
LARGE_PAGE = 5000


def _csv(values) -> str:
    return ",".join(values)


def _metadata(labels: dict[str, str] | None, annotations: dict[str, str] | None = None) -> dict:
    return {"labels": dict(labels or {}), "annotations": dict(annotations or {})}


def _relationship(guid: str) -> dict:
    return {"data": {"guid": guid}}


def _filters(*, label_selector: str | None = None, order_by: str | None = None, **lists) -> dict[str, str]:
    """A list call's query: each non-empty list comma-separated, plus selector and order if given."""
    params = {key: _csv(values) for key, values in lists.items() if values}
    if label_selector:
        params["label_selector"] = label_selector
    if order_by:
        params["order_by"] = order_by
    return params


class CFClient(Transport):
    """A client for one foundation (see ``Transport`` for the keyword arguments)."""

    # -- domains and routes ------------------------------------------------------------------

    def get_domain_by_name(self, name: str) -> Domain:
        """The domain called ``name`` (CF matches case-insensitively); NotFound if none."""
        for body in self.paginate("/v3/domains", {"names": name}):
            return Domain.from_json(body)
        raise NotFound(404, 10010, "CF-ResourceNotFound", f"Domain {name} not found")

    def find_route(self, host: str, domain_guid: str, path: str = "") -> Route | None:
        """The HTTP route host.domain[path], or None. ``paths=`` is always sent so that a
        path-based route never matches a request for the bare host."""
        params = {"hosts": host, "domain_guids": domain_guid, "paths": path}
        for body in self.paginate("/v3/routes", params):
            return Route.from_json(body)
        return None

    def list_routes(
        self, *, label_selector: str | None = None, space_guids=None, app_guids=None, domain_guids=None
    ) -> list[Route]:
        params = _filters(
            label_selector=label_selector,
            space_guids=space_guids,
            app_guids=app_guids,
            domain_guids=domain_guids,
        )
        if domain_guids:
            params["per_page"] = str(LARGE_PAGE)  # a whole foundation's EC routes in a page or two
        return [Route.from_json(b) for b in self.paginate("/v3/routes", params)]

    def get_route(self, route_guid: str) -> Route:
        return Route.from_json(self.get_json(f"/v3/routes/{route_guid}"))

    def create_route(
        self,
        host: str,
        domain_guid: str,
        space_guid: str,
        labels: dict[str, str] | None = None,
        path: str = "",
    ) -> Route:
        body = {
            "host": host,
            "relationships": {"domain": _relationship(domain_guid), "space": _relationship(space_guid)},
            "metadata": _metadata(labels),
        }
        if path:
            body["path"] = path
        return Route.from_json(self._json(self.request("POST", "/v3/routes", json=body)))

    def delete_route(self, route_guid: str) -> Job:
        return self._job_from(self.request("DELETE", f"/v3/routes/{route_guid}"))

    def list_destinations(self, route_guid: str, app_guids=None) -> list[Destination]:
        params = {"app_guids": _csv(app_guids)} if app_guids else None
        body = self.get_json(f"/v3/routes/{route_guid}/destinations", params)
        return [Destination.from_json(d) for d in body.get("destinations") or []]

    def insert_destination(
        self, route_guid: str, app_guid: str, process_type: str = "web"
    ) -> list[Destination]:
        """Map the app to the route (additive; CF ignores a mapping that already exists)."""
        body = {"destinations": [{"app": {"guid": app_guid, "process": {"type": process_type}}}]}
        response = self._json(self.request("POST", f"/v3/routes/{route_guid}/destinations", json=body))
        return [Destination.from_json(d) for d in response.get("destinations") or []]

    def remove_destination(self, route_guid: str, destination_guid: str) -> None:
        """Unmap one destination. Unprocessable when it is not (or no longer) on the route."""
        self.request("DELETE", f"/v3/routes/{route_guid}/destinations/{destination_guid}")

    # -- service instances -------------------------------------------------------------------

    def get_service_instance(self, guid: str) -> ServiceInstance:
        return ServiceInstance.from_json(self.get_json(f"/v3/service_instances/{guid}"))

    def space_manager_names(self, space_guid: str) -> list[str]:
        """The user names of the space's managers, as far as the caller may see them."""
        params = {"types": "space_manager", "space_guids": space_guid, "include": "user"}
        body = self.get_json("/v3/roles", params=params)
        users = (body.get("included") or {}).get("users") or []
        return sorted({user.get("username") or "" for user in users if isinstance(user, dict)} - {""})

    def list_service_instances(self, guids) -> list[ServiceInstance]:
        """The service instances of these GUIDs (those that exist), a batch of GUIDs per call."""
        return [ServiceInstance.from_json(b) for b in self._batched("/v3/service_instances", "guids", guids)]

    # -- apps --------------------------------------------------------------------------------

    def list_apps(
        self, *, guids=None, names=None, space_guids=None, label_selector: str | None = None
    ) -> list[App]:
        params: dict[str, str] = {}
        for key, values in (("guids", guids), ("names", names), ("space_guids", space_guids)):
            if values:
                params[key] = _csv(values)
        if label_selector:
            params["label_selector"] = label_selector
        return [App.from_json(b) for b in self.paginate("/v3/apps", params)]

    def list_apps_by_guid(self, guids) -> list[App]:
        return [App.from_json(b) for b in self._batched("/v3/apps", "guids", guids)]

    def list_web_processes(self, app_guids) -> list[Process]:
        return [
            Process.from_json(b) for b in self._batched("/v3/processes", "app_guids", app_guids, types="web")
        ]

    def list_droplets(self, guids) -> list[Droplet]:
        return [Droplet.from_json(b) for b in self._batched("/v3/droplets", "guids", guids)]

    def _batched(self, path: str, key: str, values, **params) -> Iterator[dict]:
        """A list filtered by many values, BATCH of them a call (a URL stays well under the 8 KiB
        routers allow), each call asking for a large page."""
        values = sorted(set(values))
        for start in range(0, len(values), BATCH):
            batch = values[start : start + BATCH]
            yield from self.paginate(path, {key: _csv(batch), "per_page": str(LARGE_PAGE), **params})

    def get_app(self, app_guid: str) -> App:
        return App.from_json(self.get_json(f"/v3/apps/{app_guid}"))

    def create_app(
        self,
        name: str,
        space_guid: str,
        *,
        env: dict[str, str] | None = None,
        labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None,
        lifecycle: str = "docker",
    ) -> App:
        """Create a STOPPED app (its ``web`` process shares its GUID). Uniqueness if the name is taken."""
        body = {
            "name": name,
            "relationships": {"space": _relationship(space_guid)},
            "environment_variables": dict(env or {}),
            "lifecycle": {"type": lifecycle, "data": {}},
            "metadata": _metadata(labels, annotations),
        }
        return App.from_json(self._json(self.request("POST", "/v3/apps", json=body)))

    def rename_app(self, app_guid: str, name: str) -> App:
        return App.from_json(self._json(self.request("PATCH", f"/v3/apps/{app_guid}", json={"name": name})))

    def update_app(self, app_guid: str, *, name: str, labels: dict[str, str | None]) -> App:
        """Rename an app and set its labels in one call (a None value removes that label)."""
        body = {"name": name, "metadata": {"labels": labels}}
        return App.from_json(self._json(self.request("PATCH", f"/v3/apps/{app_guid}", json=body)))

    def start_app(self, app_guid: str) -> App:
        return App.from_json(self._json(self.request("POST", f"/v3/apps/{app_guid}/actions/start")))

    def stop_app(self, app_guid: str) -> App:
        return App.from_json(self._json(self.request("POST", f"/v3/apps/{app_guid}/actions/stop")))

    def delete_app(self, app_guid: str) -> Job:
        return self._job_from(self.request("DELETE", f"/v3/apps/{app_guid}"))

    def get_env_vars(self, app_guid: str) -> dict[str, str]:
        """The app's own environment variables (secrets possible: never log the result)."""
        return dict(self.get_json(f"/v3/apps/{app_guid}/environment_variables").get("var") or {})

    # -- processes ---------------------------------------------------------------------------

    def list_app_processes(self, app_guid: str) -> list[Process]:
        return [Process.from_json(b) for b in self.paginate(f"/v3/apps/{app_guid}/processes")]

    def scale_process(
        self,
        process_guid: str,
        *,
        instances: int | None = None,
        memory_in_mb: int | None = None,
        disk_in_mb: int | None = None,
    ) -> Process:
        body = {
            k: v
            for k, v in (("instances", instances), ("memory_in_mb", memory_in_mb), ("disk_in_mb", disk_in_mb))
            if v is not None
        }
        response = self.request("POST", f"/v3/processes/{process_guid}/actions/scale", json=body)
        return Process.from_json(self._json(response))

    def update_health_check(
        self, process_guid: str, check_type: str, data: dict[str, Any] | None = None
    ) -> Process:
        body = {"health_check": {"type": check_type, "data": dict(data or {})}}
        return Process.from_json(
            self._json(self.request("PATCH", f"/v3/processes/{process_guid}", json=body))
        )

    def get_process_stats(self, process_guid: str) -> list[ProcessStats]:
        body = self.get_json(f"/v3/processes/{process_guid}/stats")
        return [ProcessStats.from_json(r) for r in body.get("resources") or []]

    # -- packages, builds, droplets ----------------------------------------------------------

    def create_docker_package(
        self, app_guid: str, image: str, labels: dict[str, str] | None = None
    ) -> Package:
        body = {
            "type": "docker",
            "relationships": {"app": _relationship(app_guid)},
            "data": {"image": image},
            "metadata": _metadata(labels),
        }
        return Package.from_json(self._json(self.request("POST", "/v3/packages", json=body)))

    def list_packages(
        self,
        *,
        app_guids=None,
        types=None,
        states=None,
        label_selector: str | None = None,
        order_by: str | None = None,
    ) -> list[Package]:
        """``GET /v3/packages`` filtered; ``order_by`` is ``created_at`` or ``updated_at``, ``-`` first
        for newest first."""
        params = _filters(
            app_guids=app_guids, types=types, states=states, label_selector=label_selector, order_by=order_by
        )
        return [Package.from_json(b) for b in self.paginate("/v3/packages", params)]

    def copy_package(self, source_package_guid: str, app_guid: str) -> Package:
        body = {"relationships": {"app": _relationship(app_guid)}}
        response = self.request(
            "POST", "/v3/packages", params={"source_guid": source_package_guid}, json=body
        )
        return Package.from_json(self._json(response))

    def get_package(self, package_guid: str) -> Package:
        return Package.from_json(self.get_json(f"/v3/packages/{package_guid}"))

    def create_build(self, package_guid: str, labels: dict[str, str] | None = None) -> Build:
        body = {"package": {"guid": package_guid}, "metadata": _metadata(labels)}
        return Build.from_json(self._json(self.request("POST", "/v3/builds", json=body)))

    def get_build(self, build_guid: str) -> Build:
        return Build.from_json(self.get_json(f"/v3/builds/{build_guid}"))

    def list_builds(
        self,
        *,
        app_guids=None,
        package_guids=None,
        states=None,
        label_selector: str | None = None,
        order_by: str | None = None,
    ) -> list[Build]:
        """``GET /v3/builds`` filtered; ordered as ``list_packages``."""
        params = _filters(
            app_guids=app_guids,
            package_guids=package_guids,
            states=states,
            label_selector=label_selector,
            order_by=order_by,
        )
        return [Build.from_json(b) for b in self.paginate("/v3/builds", params)]

    def set_current_droplet(self, app_guid: str, droplet_guid: str) -> None:
        body = {"data": {"guid": droplet_guid}}
        self.request("PATCH", f"/v3/apps/{app_guid}/relationships/current_droplet", json=body)

    def get_current_droplet(self, app_guid: str) -> Droplet:
        return Droplet.from_json(self.get_json(f"/v3/apps/{app_guid}/droplets/current"))

    # -- service credential bindings ---------------------------------------------------------

    def list_credential_bindings(
        self, app_guids=None, service_instance_guids=None
    ) -> list[ServiceCredentialBinding]:
        params = {"type": "app"}
        if app_guids:
            params["app_guids"] = _csv(app_guids)
        if service_instance_guids:
            params["service_instance_guids"] = _csv(service_instance_guids)
        return [
            ServiceCredentialBinding.from_json(b)
            for b in self.paginate("/v3/service_credential_bindings", params)
        ]

    def create_credential_binding(
        self,
        app_guid: str,
        service_instance_guid: str,
        name: str | None = None,
        labels: dict[str, str] | None = None,
    ) -> ServiceCredentialBinding | Job:
        """Bind: a binding (201, user-provided instance) or the Job to poll (202, managed)."""
        body = {
            "type": "app",
            "relationships": {
                "app": _relationship(app_guid),
                "service_instance": _relationship(service_instance_guid),
            },
            "metadata": _metadata(labels),
        }
        if name:
            body["name"] = name
        response = self.request("POST", "/v3/service_credential_bindings", json=body)
        if response.status_code == 202:
            return self._job_from(response)
        return ServiceCredentialBinding.from_json(self._json(response))

    def get_credential_binding(self, binding_guid: str) -> ServiceCredentialBinding:
        return ServiceCredentialBinding.from_json(
            self.get_json(f"/v3/service_credential_bindings/{binding_guid}")
        )

    # -- jobs --------------------------------------------------------------------------------

    def get_job(self, job_guid: str) -> Job:
        return Job.from_json(self.get_json(f"/v3/jobs/{job_guid}"))

    def wait_for_job(
        self, job: Job, *, timeout: float = 60, interval: float = 0.5, max_interval: float = 5
    ) -> Job:
        """Poll a job until COMPLETE or FAILED (for scripts and tests; workers re-enqueue instead)."""
        deadline = time.monotonic() + timeout
        while not job.is_done:
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job.guid} still {job.state} after {timeout} s")
            time.sleep(interval)
            interval = min(max_interval, interval * 2)
            job = self.get_job(job.guid)
        return job

    def _job_from(self, response) -> Job:
        """The Job named by a 202's ``Location`` header, as it stands now."""
        location = response.headers.get("Location", "")
        if "/v3/jobs/" not in location:
            raise UnexpectedResponse(
                response.status_code, None, "UnexpectedResponse", "202 without a job Location",
                response.headers.get("X-Vcap-Request-Id"),
            )  # fmt: skip
        return Job.from_json(self._json(self.request("GET", location)))
