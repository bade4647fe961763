"""cfsim's bodies compared field by field (key sets and value types) with the CF docs' examples.

The examples are copied from the Cloud Controller v3 docs into ``capi_examples/`` (see its README
for their quirks). Free-form maps (labels, annotations, env) that are empty in an example are not
compared; ``None`` on either side matches any type, since CF nulls optional fields.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from testkit.demo import ACME_PROD_APP, ACME_PROD_ROUTE, ACME_PROD_ZONE, SPACE

EXAMPLES = Path(__file__).parent / "capi_examples"


def example(name: str) -> dict:
    return json.loads((EXAMPLES / name).read_text())


def assert_shape(
    expected, actual, path: str = "$", *, skip: frozenset[str] = frozenset(), extra_ok=frozenset()
):
    """Same keys at every level and the same JSON type for every non-null value."""
    if path in skip or expected is None or actual is None:
        return
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{path}: expected an object, got {actual!r}"
        if not expected:
            return
        missing = set(expected) - set(actual)
        extra = {k for k in set(actual) - set(expected) if f"{path}.{k}" not in extra_ok}
        assert not missing, f"{path}: missing keys {sorted(missing)}"
        assert not extra, f"{path}: unexpected keys {sorted(extra)}"
        for key, value in expected.items():
            assert_shape(value, actual[key], f"{path}.{key}", skip=skip, extra_ok=extra_ok)
    elif isinstance(expected, list):
        assert isinstance(actual, list), f"{path}: expected an array, got {actual!r}"
        if expected:
            for item in actual:
                assert_shape(expected[0], item, f"{path}[]", skip=skip, extra_ok=extra_ok)
    elif isinstance(expected, bool) or isinstance(actual, bool):
        assert type(expected) is type(actual), f"{path}: {actual!r} is not like {expected!r}"
    elif isinstance(expected, int | float):
        assert isinstance(actual, int | float), f"{path}: {actual!r} is not a number"
    else:
        assert type(actual) is type(expected), f"{path}: {actual!r} is not like {expected!r}"


@pytest.fixture
def api(cfsim):
    token = requests.post(
        cfsim.api_url + "/uaa/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=("ecportal", "ecportal-sim-secret"),
    ).json()["access_token"]
    session = requests.Session()
    session.headers["Authorization"] = f"bearer {token}"

    def call(method: str, path: str, **kwargs) -> requests.Response:
        return session.request(method, cfsim.api_url + path, **kwargs)

    return call


def test_app_matches_docs(api):
    body = api("GET", f"/v3/apps/{ACME_PROD_APP}").json()
    # The example is a buildpack app; EC apps are docker apps whose lifecycle data is {}.
    assert_shape(example("app.json"), body, skip=frozenset({"$.lifecycle.data"}))
    assert body["lifecycle"] == {"type": "docker", "data": {}}
    assert body["links"]["self"]["href"].startswith("http://127.0.0.1:")


def test_created_app_matches_docs(api):
    response = api(
        "POST",
        "/v3/apps",
        json={
            "name": "green",
            "relationships": {"space": {"data": {"guid": SPACE}}},
            "lifecycle": {"type": "docker", "data": {}},
        },
    )
    assert response.status_code == 201
    assert_shape(example("app.json"), response.json(), skip=frozenset({"$.lifecycle.data"}))
    assert response.json()["state"] == "STOPPED"
    assert response.json()["relationships"]["current_droplet"]["data"] is None


def test_process_matches_docs(api):
    body = api("GET", f"/v3/processes/{ACME_PROD_APP}").json()
    # health_check.data holds the keys of its type: the example is "port", the EC apps use "http".
    assert_shape(example("process.json"), body, skip=frozenset({"$.health_check.data"}))
    assert body["guid"] == ACME_PROD_APP and body["type"] == "web" and body["instances"] == 2


def test_process_stats_match_docs(api):
    body = api("GET", f"/v3/processes/{ACME_PROD_APP}/stats").json()
    docs = example("process-stats.json")
    assert set(body) == {"resources"}
    for instance in body["resources"]:
        assert_shape(docs["resources"][0], instance)
    assert [i["state"] for i in body["resources"]] == ["RUNNING", "RUNNING"]


def test_route_matches_docs(api):
    body = api("GET", f"/v3/routes/{ACME_PROD_ROUTE}").json()
    assert_shape(example("route.json"), body)
    assert body["protocol"] == "http" and body["port"] is None and body["path"] == ""
    assert body["destinations"][0]["protocol"] == "http1"


def test_paginated_routes_match_docs(api):
    body = api("GET", "/v3/routes?per_page=2").json()
    # Real HTTP routes carry "port": null; the docs' list example leaves it out.
    assert_shape(example("routes-paginated.json"), body, extra_ok=frozenset({"$.resources[].port"}))
    assert body["pagination"]["total_results"] == 6 and body["pagination"]["total_pages"] == 3
    assert body["pagination"]["next"]["href"].endswith("/v3/routes?page=2&per_page=2")


def test_destinations_match_docs(api):
    body = api("GET", f"/v3/routes/{ACME_PROD_ROUTE}/destinations").json()
    assert_shape(example("route-destinations.json"), body)
    assert [d["app"]["guid"] for d in body["destinations"]] == [ACME_PROD_APP]


def test_failed_job_matches_docs(api, cfsim):
    cfsim.control("POST", "jobs/fail", {"operation": "app.delete", "count": 1})
    response = api("DELETE", f"/v3/apps/{ACME_PROD_APP}")
    assert response.status_code == 202
    location = response.headers["Location"]
    assert location.startswith("http://127.0.0.1:") and "/v3/jobs/" in location
    body = api("GET", urlsplit(location).path).json()
    assert_shape(example("job-failed.json"), body)
    assert body["state"] == "FAILED" and body["errors"][0]["title"] == "CF-UnprocessableEntity"


def test_docker_packages_and_their_list_match_docs(api):
    body = {
        "type": "docker",
        "relationships": {"app": {"data": {"guid": ACME_PROD_APP}}},
        "data": {"image": "ecsim/ec-service:okinawa.130"},
        "metadata": {"labels": {"ecportal.io/upgrade": "1"}},
    }
    created = api("POST", "/v3/packages", json=body)
    assert created.status_code == 201
    assert_shape(example("package-docker.json"), created.json())
    listed = api("GET", f"/v3/packages?app_guids={ACME_PROD_APP}&types=docker&per_page=1").json()
    assert set(listed) == {"pagination", "resources"}
    assert_shape(example("builds-paginated.json")["pagination"], listed["pagination"])
    for package in listed["resources"]:
        assert_shape(example("package-docker.json"), package)
    assert listed["pagination"]["next"]["href"].endswith(
        f"/v3/packages?app_guids={ACME_PROD_APP}&types=docker&page=2&per_page=1"
    )


def test_builds_list_matches_docs(api):
    package = api(
        "POST",
        "/v3/packages",
        json={
            "type": "docker",
            "relationships": {"app": {"data": {"guid": ACME_PROD_APP}}},
            "data": {"image": "ecsim/ec-service:okinawa.130"},
        },
    ).json()
    assert api("POST", "/v3/builds", json={"package": {"guid": package["guid"]}}).status_code == 201
    body = api("GET", f"/v3/builds?package_guids={package['guid']}").json()
    # The example is a buildpack build still staging; a docker build's lifecycle data is {}, and a
    # staged build links its droplet.
    assert_shape(
        example("builds-paginated.json"),
        body,
        skip=frozenset({"$.resources[].lifecycle.data"}),
        extra_ok=frozenset({"$.resources[].links.droplet"}),
    )
    assert [b["package"]["guid"] for b in body["resources"]] == [package["guid"]]


def test_managed_service_instance_matches_docs(api):
    body = api("GET", f"/v3/service_instances/{ACME_PROD_ZONE}").json()
    # The broker's metadata is free-form: its keys depend on the broker.
    assert_shape(
        example("service-instance-managed.json"), body, skip=frozenset({"$.broker_provided_metadata"})
    )
    assert body["type"] == "managed" and body["last_operation"]["state"] == "succeeded"


def test_error_body_matches_docs(api):
    response = api(
        "POST",
        f"/v3/routes/{ACME_PROD_ROUTE}/destinations",
        json={"destinations": [{"app": {"guid": "nope"}}]},
    )
    assert response.status_code == 422
    assert_shape(example("error.json"), response.json())
    assert response.headers["X-Vcap-Request-Id"]
