"""Cloud Controller behaviour of cfsim that the portal's steps rely on, through the client."""

from __future__ import annotations

import time

import pytest
import requests

from testkit.demo import (
    ACME_PROD_APP,
    ACME_PROD_ROUTE,
    ACME_UAA_INSTANCE,
    BROKEN,
    GLOBEX_PROD_APP,
    LOG_DRAIN_INSTANCE,
    OKINAWA,
    SPACE,
    WEST,
)
from upgrades.cloudfoundry import BadRequest, NotFound, Unprocessable
from upgrades.cloudfoundry.types import Job, ServiceCredentialBinding

LABEL = "ecportal.io/upgrade"


def test_label_selectors(client):
    blue = client.create_app("labelled-1", SPACE, labels={LABEL: "7", "ecportal.io/role": "green"})
    client.create_app("labelled-2", SPACE, labels={LABEL: "8"})
    names = lambda selector: sorted(a.name for a in client.list_apps(label_selector=selector))  # noqa: E731
    assert names(f"{LABEL}=7") == ["labelled-1"]
    assert names(f"{LABEL}") == ["labelled-1", "labelled-2"]
    assert names(f"{LABEL} in (7,8),ecportal.io/role") == ["labelled-1"]
    # As in Kubernetes, != and notin also match resources that lack the key.
    assert names(f"{LABEL},{LABEL} notin (7)") == ["labelled-2"]
    assert "ec-service-acme-prod" in names(f"{LABEL} notin (7)")
    assert len(client.list_apps(label_selector=f"!{LABEL}")) == 6  # the demo apps carry no portal labels
    assert names(f"{LABEL}!=7") == sorted(a.name for a in client.list_apps() if a.guid != blue.guid)


def test_bad_label_selector_is_400(client):
    with pytest.raises(BadRequest) as info:
        client.list_apps(label_selector="a in (b")
    assert info.value.status == 400 and info.value.title == "CF-BadQueryParameter"


def test_route_filters_and_labels(client):
    domain = client.get_domain_by_name(WEST.upper())  # domain names match case-insensitively
    temp = client.create_route("ec-upgrade-abc123", domain.guid, SPACE, labels={LABEL: "1"})
    assert client.find_route("ec-upgrade-abc123", domain.guid) == temp
    assert client.find_route("ec-upgrade-abc123", domain.guid, path="/other") is None
    assert [r.guid for r in client.list_routes(label_selector=f"{LABEL}=1")] == [temp.guid]
    assert temp.url == f"ec-upgrade-abc123.{WEST}" and temp.labels == {LABEL: "1"}


def test_destination_insert_is_idempotent_and_remove_twice_is_422(client):
    before = client.list_destinations(ACME_PROD_ROUTE)
    after = client.insert_destination(ACME_PROD_ROUTE, GLOBEX_PROD_APP)
    again = client.insert_destination(ACME_PROD_ROUTE, GLOBEX_PROD_APP)
    assert len(after) == len(before) + 1 and again == after
    green = client.list_destinations(ACME_PROD_ROUTE, app_guids=[GLOBEX_PROD_APP])
    assert [d.app_guid for d in green] == [GLOBEX_PROD_APP]
    client.remove_destination(ACME_PROD_ROUTE, green[0].guid)
    with pytest.raises(Unprocessable):
        client.remove_destination(ACME_PROD_ROUTE, green[0].guid)
    with pytest.raises(NotFound):
        client.remove_destination("00000000-0000-4000-8000-00000000dead", green[0].guid)


def test_replace_destinations_swaps_atomically(client, cfsim):
    token = requests.post(
        cfsim.api_url + "/uaa/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=("ecportal", "ecportal-sim-secret"),
    ).json()["access_token"]
    response = requests.patch(
        f"{cfsim.api_url}/v3/routes/{ACME_PROD_ROUTE}/destinations",
        json={"destinations": [{"app": {"guid": GLOBEX_PROD_APP}}]},
        headers={"Authorization": f"bearer {token}"},
    )
    assert response.status_code == 200
    assert [d["app"]["guid"] for d in response.json()["destinations"]] == [GLOBEX_PROD_APP]


def test_environment_variables_patch_merges_and_null_deletes(client, cfsim):
    token = requests.post(
        cfsim.api_url + "/uaa/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=("ecportal", "ecportal-sim-secret"),
    ).json()["access_token"]
    response = requests.patch(
        f"{cfsim.api_url}/v3/apps/{ACME_PROD_APP}/environment_variables",
        json={"var": {"NEW": "1", "EC_LOG_LEVEL": None}},
        headers={"Authorization": f"bearer {token}"},
    )
    assert response.status_code == 200
    env = client.get_env_vars(ACME_PROD_APP)
    assert env["NEW"] == "1" and "EC_LOG_LEVEL" not in env and env["ZONE"].startswith("ec000001")


def test_staging_takes_the_staging_delay_then_fails_for_a_broken_image(client, cfsim):
    cfsim.configure(staging_delay=0.8)
    app = client.create_app("stager", SPACE)
    build = client.create_build(client.create_docker_package(app.guid, OKINAWA).guid)
    assert build.state == "STAGING"
    assert client.get_build(build.guid).state == "STAGING"
    time.sleep(0.9)
    staged = client.get_build(build.guid)
    assert staged.state == "STAGED" and staged.droplet_guid
    broken = client.create_build(client.create_docker_package(app.guid, BROKEN).guid)
    time.sleep(0.9)
    failed = client.get_build(broken.guid)
    assert failed.state == "FAILED" and failed.error and failed.droplet_guid is None


def test_package_copy_becomes_ready(client):
    app = client.create_app("copy-target", SPACE)
    source = client.create_docker_package(app.guid, OKINAWA)
    copy = client.copy_package(source.guid, app.guid)
    assert copy.state == "COPYING" and copy.image == OKINAWA
    assert client.get_package(copy.guid).state == "READY"


def test_packages_and_builds_are_found_by_app_package_state_and_label(client):
    """What Step 1 looks for before it creates a package or a build, across pages and in order."""
    app = client.create_app("finder", SPACE)
    other = client.create_app("finder-other", SPACE)
    old = client.create_docker_package(app.guid, BROKEN)
    ours = client.create_docker_package(app.guid, OKINAWA, labels={LABEL: "5"})
    client.create_docker_package(other.guid, OKINAWA)
    assert ours.labels == {LABEL: "5"} and ours.app_guid == app.guid and ours.image == OKINAWA
    assert [p.guid for p in client.list_packages(app_guids=[app.guid])] == [old.guid, ours.guid]
    assert [p.guid for p in client.list_packages(app_guids=[app.guid], order_by="-created_at")] == [
        ours.guid,
        old.guid,
    ]
    assert [p.guid for p in client.list_packages(label_selector=f"{LABEL}=5")] == [ours.guid]
    assert client.list_packages(app_guids=[app.guid], types=["bits"]) == []
    assert len(client.list_packages(types=["docker"], states=["READY"])) >= 3
    # Pages are followed: one package per page.
    paged = list(client.paginate("/v3/packages", {"app_guids": app.guid, "per_page": 1}))
    assert [p["guid"] for p in paged] == [old.guid, ours.guid]

    first = client.create_build(ours.guid, labels={LABEL: "5"})
    second = client.create_build(old.guid)
    assert [b.guid for b in client.list_builds(package_guids=[ours.guid])] == [first.guid]
    assert [b.guid for b in client.list_builds(app_guids=[app.guid], order_by="-created_at")] == [
        second.guid,
        first.guid,
    ]
    found = client.list_builds(package_guids=[ours.guid], label_selector=f"{LABEL}=5")
    assert [(b.guid, b.package_guid, b.labels) for b in found] == [(first.guid, ours.guid, {LABEL: "5"})]
    assert client.list_builds(app_guids=[other.guid]) == []
    with pytest.raises(BadRequest):
        client.list_builds(order_by="name")


def test_bindings_user_provided_201_managed_202_job(client, cfsim):
    cfsim.configure(job_delay=0.6)
    app = client.create_app("binder", SPACE)
    direct = client.create_credential_binding(app.guid, LOG_DRAIN_INSTANCE, name="log-drain")
    assert isinstance(direct, ServiceCredentialBinding) and direct.last_operation_state == "succeeded"
    job = client.create_credential_binding(app.guid, ACME_UAA_INSTANCE, name="uaa", labels={LABEL: "1"})
    assert isinstance(job, Job) and job.state == "PROCESSING" and job.operation == "service_bindings.create"
    pending = client.list_credential_bindings(
        app_guids=[app.guid], service_instance_guids=[ACME_UAA_INSTANCE]
    )
    assert [b.last_operation_state for b in pending] == ["in progress"]
    assert client.wait_for_job(job, interval=0.05).state == "COMPLETE"
    assert client.get_credential_binding(pending[0].guid).last_operation_state == "succeeded"
    with pytest.raises(Unprocessable):
        client.create_credential_binding(app.guid, ACME_UAA_INSTANCE)


def test_a_binding_counts_once_it_succeeded_and_a_failed_one_is_replaced(client, cfsim):
    """As CC: a second create while one is in progress is refused; a binding whose job failed stays
    with last_operation create/failed until the same binding is created again, which replaces it;
    an app's instances get in VCAP_SERVICES only the bindings that had succeeded when they started."""
    app = client.create_app("binder", SPACE)
    client.set_current_droplet(app.guid, _staged_droplet(client, app.guid))
    cfsim.configure(job_delay=30)
    pending = client.create_credential_binding(app.guid, ACME_UAA_INSTANCE)
    with pytest.raises(Unprocessable) as refusal:
        client.create_credential_binding(app.guid, ACME_UAA_INSTANCE)
    assert "in progress" in refusal.value.detail
    client.create_credential_binding(app.guid, LOG_DRAIN_INSTANCE)
    client.start_app(app.guid)
    started = next(a for a in cfsim.state()["apps"] if a["guid"] == app.guid)
    assert [i["services"] for i in started["actual"]] == [[LOG_DRAIN_INSTANCE]]

    assert client.get_job(pending.guid).state == "PROCESSING"

    cfsim.configure(job_delay=0)
    cfsim.control("POST", "jobs/fail", {"operation": "service_bindings.create", "count": 1})
    other = client.create_app("binder-2", SPACE)
    failed_job = client.wait_for_job(client.create_credential_binding(other.guid, ACME_UAA_INSTANCE))
    assert failed_job.failed
    [failed] = client.list_credential_bindings(app_guids=[other.guid])
    assert (failed.last_operation_type, failed.last_operation_state) == ("create", "failed")
    assert failed.create_failed and not failed.creating
    client.wait_for_job(client.create_credential_binding(other.guid, ACME_UAA_INSTANCE))
    [replaced] = client.list_credential_bindings(app_guids=[other.guid])
    assert replaced.guid != failed.guid and replaced.last_operation_state == "succeeded"


def _staged_droplet(client, app_guid: str) -> str:
    build = client.create_build(client.create_docker_package(app_guid, OKINAWA).guid)
    return client.get_build(build.guid).droplet_guid


def test_job_polling_processing_then_complete(client, cfsim):
    cfsim.configure(job_delay=0.6)
    job = client.delete_app(GLOBEX_PROD_APP)
    assert job.state == "PROCESSING" and job.operation == "app.delete"
    assert client.get_app(GLOBEX_PROD_APP).guid == GLOBEX_PROD_APP  # still there while the job runs
    done = client.wait_for_job(job, interval=0.1)
    assert done.state == "COMPLETE" and done.errors == ()
    with pytest.raises(NotFound):
        client.get_app(GLOBEX_PROD_APP)


def test_failed_job_carries_errors(client, cfsim):
    cfsim.control("POST", "jobs/fail", {"operation": "route.delete", "count": 1})
    job = client.wait_for_job(client.delete_route(ACME_PROD_ROUTE), interval=0.05)
    assert job.failed and job.errors[0]["title"] == "CF-UnprocessableEntity"
    assert client.get_route(ACME_PROD_ROUTE).guid == ACME_PROD_ROUTE


def test_cf_can_forget_builds_and_jobs_and_expire_packages(client, cfsim):
    """What CF's clean-up does behind a client's back: pruned builds and jobs answer 404 (a job's work
    still completes), an expired package stays readable but can no longer be built."""
    app = client.create_app("forgetful", SPACE)
    package = client.create_docker_package(app.guid, OKINAWA)
    build = client.create_build(package.guid)
    cfsim.control("DELETE", f"builds/{build.guid}")
    with pytest.raises(NotFound):
        client.get_build(build.guid)
    cfsim.configure(job_delay=0.3)
    job = client.delete_app(GLOBEX_PROD_APP)
    cfsim.control("DELETE", f"jobs/{job.guid}")
    with pytest.raises(NotFound):
        client.get_job(job.guid)
    time.sleep(0.4)
    with pytest.raises(NotFound):
        client.get_app(GLOBEX_PROD_APP)
    cfsim.control("POST", f"packages/{package.guid}/expire")
    assert client.get_package(package.guid).state == "EXPIRED"
    assert client.list_packages(app_guids=[app.guid], states=["READY"]) == []
    with pytest.raises(Unprocessable):
        client.create_build(package.guid)


def test_control_endpoints_keep_a_call_log_and_reset(client, cfsim):
    client.get_app(ACME_PROD_APP)
    logged = cfsim.calls()
    assert {"method": "GET", "path": f"/v3/apps/{ACME_PROD_APP}", "status": 200}.items() <= logged[-1].items()
    client.rename_app(ACME_PROD_APP, "changed")
    cfsim.reset()
    assert cfsim.calls() == []
    assert client.get_app(ACME_PROD_APP).name == "ec-service-acme-prod"


def test_every_response_has_a_request_id(cfsim):
    for path in ("/", "/v3/info", "/v3/apps", "/v3/nothing-here"):
        assert requests.get(cfsim.api_url + path).headers["X-Vcap-Request-Id"]
    info = requests.get(cfsim.api_url + "/v3/info").json()
    assert set(info["rate_limits"]) == {"enabled", "general_limit", "reset_interval_in_minutes"}


def test_full_env_shows_bound_services(cfsim):
    token = requests.post(
        cfsim.api_url + "/uaa/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=("ecportal", "ecportal-sim-secret"),
    ).json()["access_token"]
    body = requests.get(
        f"{cfsim.api_url}/v3/apps/{ACME_PROD_APP}/env", headers={"Authorization": f"bearer {token}"}
    ).json()
    services = body["system_env_json"]["VCAP_SERVICES"]
    assert [s["name"] for s in services["predix-uaa"]] == ["acme-uaa"]
    assert [s["name"] for s in services["user-provided"]] == ["ec-log-drain"]
    assert body["environment_variables"]["ZONE"].startswith("ec000001")
    assert body["application_env_json"]["VCAP_APPLICATION"]["application_name"] == "ec-service-acme-prod"


def test_invalid_labels_hosts_and_health_checks_are_refused(client):
    with pytest.raises(Unprocessable):
        client.create_app("bad-label", SPACE, labels={"ecportal.io/upgrade": "not valid!"})
    domain = client.get_domain_by_name(WEST)
    with pytest.raises(Unprocessable):
        client.create_route("x" * 64, domain.guid, SPACE)
    with pytest.raises(Unprocessable):
        client.update_health_check(ACME_PROD_APP, "port", {"endpoint": "/health"})
    assert (
        client.update_health_check(ACME_PROD_APP, "process", {"timeout": 30}).health_check_data["timeout"]
        == 30
    )
