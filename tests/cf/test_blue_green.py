"""A whole blue-green upgrade of one EC service, as raw client calls against cfsim (DESIGN §2)."""

from __future__ import annotations

import secrets
import string
import time
from collections.abc import Callable

from testkit.demo import ACME_PROD_APP, ACME_PROD_ZONE, OKINAWA, WEST
from upgrades.cloudfoundry import CFClient
from upgrades.cloudfoundry.types import Job

LABELS = {"ecportal.io/upgrade": "42"}


def poll[T](read: Callable[[], T], done: Callable[[T], bool], timeout: float = 10) -> T:
    deadline = time.monotonic() + timeout
    while not done(value := read()):
        assert time.monotonic() < deadline, f"still not done: {value!r}"
        time.sleep(0.05)
    return value


def inspect(client: CFClient, zone_id: str, domain_name: str):
    domain = client.get_domain_by_name(domain_name)
    route = client.find_route(zone_id, domain.guid)
    assert route is not None
    instance = client.get_service_instance(zone_id)
    assert instance.type == "managed"
    (blue,) = client.list_apps(guids=sorted(route.app_guids()))
    assert blue.state == "STARTED"
    return domain, route, blue


def stand_up_green(client: CFClient, domain, route, blue):
    """Step 1: a green app on a temporary route, all instances RUNNING."""
    env = client.get_env_vars(blue.guid)
    (web,) = client.list_app_processes(blue.guid)
    bindings = client.list_credential_bindings(app_guids=[blue.guid])
    suffix = "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(6))
    green = client.create_app(f"{blue.name}-upgrade-{suffix}", blue.space_guid, env=env, labels=LABELS)
    package = client.create_docker_package(green.guid, OKINAWA)
    build = client.create_build(package.guid, labels=LABELS)
    build = poll(lambda: client.get_build(build.guid), lambda b: b.state != "STAGING")
    assert build.state == "STAGED"
    client.set_current_droplet(green.guid, build.droplet_guid)
    client.scale_process(
        green.guid, instances=web.instances, memory_in_mb=web.memory_in_mb, disk_in_mb=web.disk_in_mb
    )
    client.update_health_check(green.guid, web.health_check_type, web.health_check_data)
    for binding in bindings:
        result = client.create_credential_binding(
            green.guid, binding.service_instance_guid, binding.name, LABELS
        )
        if isinstance(result, Job):
            assert client.wait_for_job(result, interval=0.05).state == "COMPLETE"
    temp = client.create_route(f"{route.host}-upgrade-{suffix}", domain.guid, blue.space_guid, labels=LABELS)
    client.insert_destination(temp.guid, green.guid)
    client.start_app(green.guid)
    stats = poll(lambda: client.get_process_stats(green.guid), lambda s: s and all(i.is_running for i in s))
    assert len(stats) == web.instances
    return green, temp


def test_full_blue_green_upgrade(client, cfsim):
    cfsim.configure(staging_delay=0.2, start_delay=0.2, job_delay=0.1)
    domain, route, blue = inspect(client, ACME_PROD_ZONE, WEST)
    original_host = f"{ACME_PROD_ZONE}.{WEST}"
    assert cfsim.route(original_host)[1]["version"] == "sendai.120"

    green, temp = stand_up_green(client, domain, route, blue)
    assert client.get_app(green.guid).labels == LABELS
    assert client.get_env_vars(green.guid) == client.get_env_vars(blue.guid)
    assert len(client.list_credential_bindings(app_guids=[green.guid])) == 2
    assert cfsim.route(temp.url)[1] == {
        "app_guid": green.guid,
        "app_name": green.name,
        "instance_index": 0,
        "version": "okinawa.130",
    }

    # Step 2.1: green joins blue on the original route; both serve.
    client.insert_destination(route.guid, green.guid)
    versions = {cfsim.route(original_host)[1]["version"] for _ in range(6)}
    assert versions == {"sendai.120", "okinawa.130"}

    # Step 2.2: blue leaves the original route.
    (blue_destination,) = client.list_destinations(route.guid, app_guids=[blue.guid])
    client.remove_destination(route.guid, blue_destination.guid)
    assert {cfsim.route(original_host)[1]["version"] for _ in range(4)} == {"okinawa.130"}

    # Finalize: temporary route and blue go away, green takes blue's name.
    assert client.wait_for_job(client.delete_route(temp.guid), interval=0.05).state == "COMPLETE"
    assert client.stop_app(blue.guid).state == "STOPPED"
    assert client.wait_for_job(client.delete_app(blue.guid), interval=0.05).state == "COMPLETE"
    assert client.rename_app(green.guid, blue.name).name == blue.name

    assert cfsim.route(temp.url)[0] == 404
    final = client.get_route(route.guid)
    assert [d.app_guid for d in final.destinations] == [green.guid]
    assert [a.guid for a in client.list_apps(names=[blue.name])] == [green.guid]
    assert client.get_current_droplet(green.guid).image == OKINAWA
    snapshot = cfsim.state()
    assert ACME_PROD_APP not in {a["guid"] for a in snapshot["apps"]}
    assert all(b["app_guid"] != ACME_PROD_APP for b in snapshot["bindings"])
