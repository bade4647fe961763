"""Service instances, service credential bindings and jobs."""

from __future__ import annotations

from cfsim import presenters as p
from cfsim.errors import not_found, unprocessable
from cfsim.http_util import (
    Request,
    Response,
    accepted_job,
    filter_by,
    filter_labels,
    no_content,
    ok,
    ordered,
    paginate,
)
from cfsim.lookups import apply_metadata, get_or_404, relationship_guid
from cfsim.state import Binding, ServiceInstance, Store, new_guid


def _included(req: Request, store: Store, instances: list[ServiceInstance]) -> dict:
    """The ``included`` block for ``fields[...]`` requests (offering, space, organization names)."""
    included: dict[str, list] = {}
    if "fields[service_plan.service_offering]" in req.query or "fields[service_plan]" in req.query:
        plans = {si.plan_guid: si for si in instances if si.type == "managed"}
        included["service_plans"] = [
            {
                "guid": g,
                "name": si.plan,
                "relationships": {"service_offering": {"data": {"guid": si.offering_guid}}},
            }
            for g, si in plans.items()
        ]
        included["service_offerings"] = [
            {"guid": si.offering_guid, "name": si.offering} for si in plans.values()
        ]
    if "fields[space]" in req.query or "fields[space.organization]" in req.query:
        spaces = [store.spaces[g] for g in {si.space_guid for si in instances} if g in store.spaces]
        included["spaces"] = [
            {
                "guid": s.guid,
                "name": s.name,
                "relationships": {"organization": {"data": {"guid": s.organization_guid}}},
            }
            for s in spaces
        ]
        orgs = [
            store.organizations[g] for g in {s.organization_guid for s in spaces} if g in store.organizations
        ]
        included["organizations"] = [{"guid": o.guid, "name": o.name} for o in orgs]
    return included


def list_service_instances(req: Request, store: Store) -> Response:
    instances = filter_by(
        req,
        ordered(store.service_instances.values()),
        {
            "guids": lambda si: si.guid,
            "names": lambda si: si.name,
            "space_guids": lambda si: si.space_guid,
            "type": lambda si: si.type,
        },
    )
    instances = filter_labels(req, instances, lambda si: si.labels)
    response = paginate(req, instances, lambda si: p.service_instance(req.base, si))
    if included := _included(req, store, instances):
        response.body["included"] = included
    return response


def get_service_instance(req: Request, store: Store, guid: str) -> Response:
    instance = get_or_404(store.service_instances, guid, "Service instance")
    if not req.sees(instance):
        raise not_found("Service instance")
    body = p.service_instance(req.base, instance)
    if included := _included(req, store, [instance]):
        body["included"] = included
    return ok(body)


def list_bindings(req: Request, store: Store) -> Response:
    bindings = filter_by(
        req,
        ordered(store.bindings.values()),
        {
            "guids": lambda b: b.guid,
            "names": lambda b: b.name,
            "app_guids": lambda b: b.app_guid,
            "service_instance_guids": lambda b: b.service_instance_guid,
            "type": lambda b: "app",
        },
    )
    bindings = filter_labels(req, bindings, lambda b: b.labels)
    response = paginate(req, bindings, lambda b: p.binding(req.base, b))
    if "service_instance" in (req.csv("include") or []):
        guids = {b.service_instance_guid for b in bindings}
        response.body["included"] = {
            "service_instances": [
                p.service_instance(req.base, si)
                for si in store.service_instances.values()
                if si.guid in guids
            ]
        }
    return response


def get_binding(req: Request, store: Store, guid: str) -> Response:
    return ok(p.binding(req.base, get_or_404(store.bindings, guid, "Service credential binding")))


def create_binding(req: Request, store: Store) -> Response:
    body = req.json()
    if body.get("type") != "app":
        raise unprocessable("Type must be 'app' (service keys are not simulated)")
    instance = store.service_instances.get(relationship_guid(body, "service_instance") or "")
    if instance is None:
        raise unprocessable("The service instance could not be found.")
    app = store.apps.get(relationship_guid(body, "app") or "")
    if app is None:
        raise unprocessable("The app could not be found.")
    pairs = [
        b
        for b in store.bindings.values()
        if (b.app_guid, b.service_instance_guid) == (app.guid, instance.guid)
    ]
    for existing in pairs:
        if existing.operation == "create" and existing.state == "failed":
            del store.bindings[existing.guid]  # CC replaces a binding whose creation failed
        elif existing.state == "in progress":
            raise unprocessable(
                "There is already a binding in progress for this service instance and app "
                f"(binding guid: {existing.guid})"
            )
        else:
            raise unprocessable(f"The app is already bound to the service instance {instance.name}.")
    binding = Binding(
        guid=new_guid(), name=body.get("name"), app_guid=app.guid, service_instance_guid=instance.guid
    )
    apply_metadata(body, binding.labels, {})
    store.bindings[binding.guid] = binding
    if instance.type == "user-provided":
        return ok(p.binding(req.base, binding), 201)
    # A managed binding waits for the broker: "in progress" until its job completes.
    binding.state = "in progress"
    job = store.new_job("service_bindings.create", ("service_credential_bindings", binding.guid))
    return accepted_job(req.base, job.guid)


def delete_binding(req: Request, store: Store, guid: str) -> Response:
    binding = get_or_404(store.bindings, guid, "Service credential binding")
    instance = store.service_instances.get(binding.service_instance_guid)
    if instance is None or instance.type == "user-provided":
        store.bindings.pop(guid, None)
        return no_content()
    binding.operation, binding.state = "delete", "in progress"
    job = store.new_job("service_bindings.delete", ("service_credential_bindings", guid))
    return accepted_job(req.base, job.guid)


def get_job(req: Request, store: Store, guid: str) -> Response:
    return ok(p.job(req.base, get_or_404(store.jobs, guid, "Job")))


ROUTES = [
    ("GET", r"/v3/service_instances", list_service_instances),
    ("GET", r"/v3/service_instances/([^/]+)", get_service_instance),
    ("GET", r"/v3/service_credential_bindings", list_bindings),
    ("POST", r"/v3/service_credential_bindings", create_binding),
    ("GET", r"/v3/service_credential_bindings/([^/]+)", get_binding),
    ("DELETE", r"/v3/service_credential_bindings/([^/]+)", delete_binding),
    ("GET", r"/v3/jobs/([^/]+)", get_job),
]
