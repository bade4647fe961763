"""Loading a seed file (JSON) into a Store.

Seed layout (every key optional)::

    {"uaa": {"users": {"admin": "admin",
                       "alice": {"password", "guid", "email", "groups": ["openid", ...]}},
             "clients": {"cf": "", "ecportal": "..."}, "token_lifetime": 1200},
     "roles": [{"type": "space_manager", "user": "alice", "space_guid"}],
     "delays": {"staging": 2, "start": 2, "job": 1},
     "failing_images": ["ecsim/ec-service:broken.1"],
     "organizations": [{"guid", "name"}], "spaces": [{"guid", "name", "organization_guid"}],
     "domains": [{"guid", "name"}],
     "service_instances": [{"guid", "name", "space_guid", "type", "offering", "plan"}],
     "apps": [{"guid", "name", "space_guid", "image", "instances", "memory_in_mb", "env", "labels",
               "health_check", "state",
               "routes": [{"guid", "host", "domain_guid", "path"}],
               "bindings": [{"guid", "service_instance_guid", "name"}]}],
     "routes": [{"guid", "host", "domain_guid", "space_guid", "path"}]}

A user given by its password alone is a foundation admin (group ``cloud_controller.admin``); a user
given as an object has exactly the groups it lists, and sees what its roles let it see.
Seeded apps with an image are staged and, unless ``state`` is "STOPPED", RUNNING at once.
"""

from __future__ import annotations

import json
from pathlib import Path

from cfsim.people import Person, Role
from cfsim.state import (
    App,
    Binding,
    Destination,
    Domain,
    Droplet,
    Organization,
    Package,
    Process,
    Route,
    ServiceInstance,
    Space,
    Store,
    new_guid,
)

DEMO_SEED = Path(__file__).parent / "seeds" / "demo.json"


def read_seed(path: str | Path | None) -> dict:
    return json.loads(Path(path or DEMO_SEED).read_text())


def load_seed(store: Store, seed: dict, *, keep_config: bool = False) -> None:
    """Replace everything in ``store`` with ``seed``. Call with the lock held."""
    store.clear()
    _load_config(store, seed, keep_config)
    for org in seed.get("organizations", []):
        store.organizations[org["guid"]] = Organization(guid=org["guid"], name=org["name"])
    for space in seed.get("spaces", []):
        store.spaces[space["guid"]] = Space(space["guid"], space["name"], space["organization_guid"])
    for domain in seed.get("domains", []):
        store.domains[domain["guid"]] = Domain(guid=domain["guid"], name=domain["name"])
    for si in seed.get("service_instances", []):
        store.service_instances[si["guid"]] = ServiceInstance(
            guid=si["guid"],
            name=si["name"],
            space_guid=si["space_guid"],
            type=si.get("type", "managed"),
            offering=si.get("offering", "enterprise-connect"),
            plan=si.get("plan", "Basic"),
        )
    for route in seed.get("routes", []):
        _add_route(store, route, route["space_guid"], app_guid=None)
    for role in seed.get("roles", []):
        person = store.people[role["user"]]
        guid = role.get("guid") or new_guid()
        store.roles[guid] = Role(
            guid=guid,
            type=role["type"],
            user_guid=person.guid,
            space_guid=role.get("space_guid"),
            organization_guid=role.get("organization_guid"),
        )
    for app in seed.get("apps", []):
        _load_app(store, app)


def _load_config(store: Store, seed: dict, keep_config: bool) -> None:
    uaa = seed.get("uaa", {})
    store.users, store.people = {}, {}
    for name, spec in uaa.get("users", {"admin": "admin"}).items():
        _add_person(store, name, spec if isinstance(spec, dict) else {"password": spec})
    store.clients = dict(uaa.get("clients", {"cf": ""}))
    if keep_config:
        return
    config = store.config
    config.token_lifetime = int(uaa.get("token_lifetime", config.token_lifetime))
    delays = seed.get("delays", {})
    config.staging_delay = float(delays.get("staging", config.staging_delay))
    config.start_delay = float(delays.get("start", config.start_delay))
    config.job_delay = float(delays.get("job", config.job_delay))
    config.failing_images = set(seed.get("failing_images", []))
    config.crashing_images = set(seed.get("crashing_images", []))


ADMIN_GROUPS = ["openid", "cloud_controller.read", "cloud_controller.write", "cloud_controller.admin"]


def _add_person(store: Store, name: str, spec: dict) -> None:
    store.users[name] = spec["password"]
    store.people[name] = Person(
        guid=spec.get("guid") or new_guid(),
        username=name,
        email=spec.get("email", f"{name}@example.com"),
        groups=list(spec.get("groups", ADMIN_GROUPS)),
        given_name=spec.get("given_name", name.capitalize()),
        family_name=spec.get("family_name", ""),
        email_verified=spec.get("email_verified", True),
    )


def _load_app(store: Store, spec: dict) -> None:
    app = App(
        guid=spec["guid"],
        name=spec["name"],
        space_guid=spec["space_guid"],
        env=dict(spec.get("env", {})),
        labels=dict(spec.get("labels", {})),
        annotations=dict(spec.get("annotations", {})),
    )
    store.apps[app.guid] = app
    process = Process(
        guid=app.guid,
        app_guid=app.guid,
        instances=int(spec.get("instances", 1)),
        memory_in_mb=int(spec.get("memory_in_mb", 1024)),
        disk_in_mb=int(spec.get("disk_in_mb", 1024)),
        command=spec.get("command"),
    )
    if "health_check" in spec:
        process.health_check = spec["health_check"]
    store.processes[process.guid] = process
    if image := spec.get("image"):
        package = Package(guid=new_guid(), app_guid=app.guid, image=image)
        droplet = Droplet(guid=new_guid(), app_guid=app.guid, image=image)
        store.packages[package.guid] = package
        store.droplets[droplet.guid] = droplet
        app.droplet_guid = droplet.guid
    for route in spec.get("routes", []):
        _add_route(store, route, app.space_guid, app_guid=app.guid)
    for binding in spec.get("bindings", []):
        guid = binding.get("guid") or new_guid()
        store.bindings[guid] = Binding(
            guid=guid,
            name=binding.get("name"),
            app_guid=app.guid,
            service_instance_guid=binding["service_instance_guid"],
        )
    if app.droplet_guid and spec.get("state", "STARTED") == "STARTED":
        app.state = "STARTED"  # after its bindings, which its instances' VCAP_SERVICES hold
        store.revise(app, [process])
        store.start_instances(process, delay=0)


def _add_route(store: Store, spec: dict, space_guid: str, app_guid: str | None) -> None:
    guid = spec.get("guid") or new_guid()
    route = store.routes.get(guid) or Route(
        guid=guid,
        host=spec["host"],
        domain_guid=spec["domain_guid"],
        space_guid=space_guid,
        path=spec.get("path", ""),
        labels=dict(spec.get("labels", {})),
    )
    store.routes[guid] = route
    if app_guid:
        route.destinations.append(Destination(guid=new_guid(), app_guid=app_guid))
