"""The typed resources parse the CF docs' own examples and tolerate missing fields."""

from __future__ import annotations

import dataclasses

import pytest

from tests.cf.test_cfsim_shapes import example
from upgrades.cloudfoundry import types
from upgrades.cloudfoundry.errors import (
    CFError,
    NotFound,
    RateLimited,
    Transient,
    Unauthorized,
    Uniqueness,
    Unprocessable,
    from_response,
)

ALL_TYPES = [
    types.Domain,
    types.Route,
    types.Destination,
    types.App,
    types.Process,
    types.ProcessStats,
    types.Package,
    types.Build,
    types.Droplet,
    types.Job,
    types.ServiceInstance,
    types.ServiceCredentialBinding,
]


@pytest.mark.parametrize("cls", ALL_TYPES)
def test_empty_body_parses_and_is_frozen(cls):
    parsed = cls.from_json({})
    with pytest.raises(dataclasses.FrozenInstanceError):
        parsed.guid = "x"  # type: ignore[misc]  # ProcessStats has no guid, but frozen refuses any set


def test_docs_examples_parse():
    app = types.App.from_json(example("app.json"))
    assert app.droplet_guid == "585bc3c1-3743-497d-88b0-403ad6b56d16" and app.state == "STOPPED"
    process = types.Process.from_json(example("process.json"))
    assert process.instances == 5 and process.health_check_type == "port"
    stats = [types.ProcessStats.from_json(r) for r in example("process-stats.json")["resources"]]
    assert [(s.state, s.instance_guid, s.is_running) for s in stats] == [
        ("RUNNING", "e49f448e-54d2-4c33-61a3-5335", True),
        ("STARTING", None, False),
    ]
    route = types.Route.from_json(example("routes-paginated.json")["resources"][0])
    assert route.app_guids() == {
        "0a6636b5-7fc4-44d8-8752-0db3e40b35a5",
        "f61e59fa-2121-4217-8c7b-15bfd75baf25",
    }
    job = types.Job.from_json(example("job-failed.json"))
    assert job.failed and job.is_done and job.errors[0]["code"] == 10008
    instance = types.ServiceInstance.from_json(example("service-instance-managed.json"))
    assert (
        instance.plan_guid == "5358d122-638e-11ea-afca-bf6e756684ac"
        and instance.last_operation_state == "succeeded"
    )


@pytest.mark.parametrize(
    ("status", "title", "cls"),
    [
        (404, "CF-ResourceNotFound", NotFound),
        (422, "CF-UniquenessError", Uniqueness),
        (422, "CF-UnprocessableEntity", Unprocessable),
        (429, "CF-RateLimitExceeded", RateLimited),
        (401, "CF-InvalidAuthToken", Unauthorized),
        (503, "CF-InstancesUnavailable", Transient),
        (500, "UnknownError", Transient),
        (409, "CF-Conflict", CFError),
    ],
)
def test_error_class_comes_from_status_and_title_not_detail(status, title, cls):
    body = {"errors": [{"code": 1, "title": title, "detail": "CF-UniquenessError NotFound"}]}
    error = from_response(status, body, "req-1")
    assert type(error) is cls
    assert (error.status, error.title, error.request_id) == (status, title, "req-1")


def test_non_cf_error_bodies_still_classify_by_status():
    assert type(from_response(502, None, None)) is Transient
    uaa = from_response(401, {"error": "unauthorized", "error_description": "Bad credentials"}, None)
    assert type(uaa) is Unauthorized and uaa.title == "unauthorized"
