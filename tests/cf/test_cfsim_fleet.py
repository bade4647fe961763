"""cfsim as a fleet (`--fleet N`), its delay profiles, its root document and process revisions."""

from __future__ import annotations

import collections
import json
import subprocess
import sys

import pytest
import requests

from cfsim.fleet import fleet_seed
from testkit.cfsim import CfSim
from testkit.demo import ACME_PROD_APP, SPACE
from tests.cf.conftest import PORTAL_CLIENT
from upgrades.intake import ZONE_ID_RE

DEMO_DOMAINS = {
    "run.aws-usw02-pr.ice.predix.io",
    "run.asv-pr.ice.predix.io",
    "run.aws-usw02.dev.ice.predix.io",
}


def ec_services(seed: dict) -> list[dict]:
    return [s for s in seed["service_instances"] if s.get("offering") == "enterprise-connect"]


def test_a_fleet_seed_is_the_same_for_the_same_seed_and_mixed_like_a_real_fleet():
    fleet = fleet_seed(300, 7)
    assert fleet == fleet_seed(300, 7)
    assert fleet != fleet_seed(300, 8)

    services = ec_services(fleet)
    assert len(services) == len(fleet["apps"]) == 300
    names = [s["name"] for s in fleet["service_instances"]]
    assert len(names) == len(set(names))
    zone_ids = {s["guid"] for s in services}
    assert all(ZONE_ID_RE.match(zone) for zone in zone_ids)

    domains = {d["guid"]: d["name"] for d in fleet["domains"]}
    per_domain = collections.Counter(domains[a["routes"][0]["domain_guid"]] for a in fleet["apps"])
    assert set(per_domain) == DEMO_DOMAINS and min(per_domain.values()) >= 30
    assert {a["routes"][0]["host"] for a in fleet["apps"]} == zone_ids
    releases = collections.Counter(a["image"].rsplit(":", 1)[1] for a in fleet["apps"])
    assert len(releases) >= 3 and max(releases.values()) < 300
    assert {a["instances"] for a in fleet["apps"]} >= {1, 2, 3}
    assert {len(a["bindings"]) for a in fleet["apps"]} >= {0, 1, 2}


def test_the_fleet_seed_prints_as_a_seed_file(tmp_path):
    printed = subprocess.run(
        [sys.executable, "-m", "cfsim.fleet", "20", "--fleet-seed", "3"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert json.loads(printed) == fleet_seed(20, 3)


def test_cfsim_serves_a_fleet_through_the_api_and_the_router():
    fleet = fleet_seed(120, 5)
    with CfSim(args=("--fleet", "120", "--fleet-seed", "5")) as sim:
        client = CloudController(sim.api_url)
        routes = client.get("/v3/routes", params={"per_page": 5000})
        assert routes["pagination"]["total_results"] == 120
        apps = {a["guid"]: a for a in fleet["apps"]}
        domains = {d["guid"]: d["name"] for d in fleet["domains"]}
        for route in routes["resources"][:10]:
            (destination,) = route["destinations"]
            app = apps[destination["app"]["guid"]]
            assert route["host"] == app["env"]["ZONE"]
            domain = domains[route["relationships"]["domain"]["data"]["guid"]]
            assert app["env"]["EC_SERVICE_URL"] == f"https://{route['host']}.{domain}"
            status, _, _ = sim.route(f"{route['host']}.{domain}")
            assert status == 200
        ec = client.get("/v3/service_instances", params={"per_page": 5000})
        names = {s["name"] for s in ec["resources"]}
        assert {s["name"] for s in ec_services(fleet)} <= names


def test_profiles_set_the_delays_and_single_knobs_win():
    with CfSim(delays={}, args=("--profile", "realistic", "--job-delay", "0.5")) as sim:
        config = sim.control("GET", "config")
        assert (config["latency"], config["staging_delay"], config["start_delay"]) == (0.03, 20.0, 8.0)
        assert config["job_delay"] == 0.5
        config = sim.configure(profile="instant")
        assert (config["latency"], config["staging_delay"], config["job_delay"]) == (0.0, 0.0, 0.0)
        response = requests.patch(sim.api_url + "/_cfsim/config", json={"profile": "sluggish"}, timeout=5)
        assert response.status_code == 400 and "sluggish" in response.text


def test_the_root_document_gives_every_link_cf_gives_as_an_object(cfsim):
    links = requests.get(cfsim.api_url + "/", timeout=5).json()["links"]
    unset = {name for name, link in links.items() if link is None}
    assert unset == {"bits_service", "credhub"}
    for name, link in links.items():
        if link is not None:
            assert isinstance(link["href"], str) and link["href"], name
    assert links["cloud_controller_v2"]["meta"]["version"].startswith("2.")
    assert links["network_policy_v1"]["href"] == cfsim.api_url + "/networking/v1/external"
    assert links["logging"]["href"].startswith("ws://")
    assert set(links["app_ssh"]["meta"]) == {"host_key_fingerprint", "oauth_client"}


def test_a_process_carries_a_revision_once_its_app_started(client, cfsim):
    seeded = client.get(f"/v3/processes/{ACME_PROD_APP}")["relationships"]["revision"]["data"]
    assert seeded is not None and seeded["guid"]
    client.post(f"/v3/apps/{ACME_PROD_APP}/actions/restart")
    again = client.get(f"/v3/processes/{ACME_PROD_APP}")["relationships"]["revision"]["data"]
    assert again == seeded  # the same droplet: the same revision

    created = client.post(
        "/v3/apps",
        json={"name": "green-revision", "relationships": {"space": {"data": {"guid": SPACE}}}},
    )
    process = client.get(f"/v3/processes/{created['guid']}")
    assert process["relationships"]["revision"]["data"] is None


class CloudController:
    """Plain JSON calls to cfsim's Cloud Controller as the portal's UAA client."""

    def __init__(self, api_url: str):
        self.api_url = api_url
        token = requests.post(
            api_url + "/uaa/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(PORTAL_CLIENT["client_id"], PORTAL_CLIENT["client_secret"]),
            timeout=10,
        ).json()["access_token"]
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"bearer {token}"

    def get(self, path: str, **kwargs) -> dict:
        return self._call("GET", path, **kwargs)

    def post(self, path: str, **kwargs) -> dict:
        return self._call("POST", path, **kwargs)

    def _call(self, method: str, path: str, **kwargs) -> dict:
        response = self.session.request(method, self.api_url + path, timeout=10, **kwargs)
        assert response.status_code < 300, response.text
        return response.json()


@pytest.fixture
def client(cfsim):
    return CloudController(cfsim.api_url)
