"""cfsim under several clients at once, and cfsim started on a custom seed."""

from __future__ import annotations

import json
import threading

from testkit.cfsim import CfSim
from testkit.demo import SPACE
from tests.cf.conftest import PORTAL_CLIENT
from upgrades.cloudfoundry import CFClient, Uniqueness


def test_concurrent_creates_keep_names_unique(cfsim):
    outcomes: list[str] = []
    lock = threading.Lock()

    def worker(index: int) -> None:
        client = CFClient(cfsim.api_url, **PORTAL_CLIENT)
        for attempt in range(5):
            for name in (f"own-{index}-{attempt}", "contested"):
                try:
                    client.create_app(name, SPACE)
                    result = "created"
                except Uniqueness:
                    result = "taken"
                with lock:
                    outcomes.append(f"{name.startswith('own')}:{result}")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("True:created") == 40
    assert outcomes.count("False:created") == 1 and outcomes.count("False:taken") == 39
    names = [a["name"] for a in cfsim.state()["apps"]]
    assert len(names) == len(set(names)) == 6 + 41


def test_custom_seed_file(tmp_path):
    seed = {
        "uaa": {"clients": {"ecportal": "s3cret"}},
        "organizations": [{"guid": "0a000000-0000-4000-8000-0000000000aa", "name": "org"}],
        "spaces": [
            {
                "guid": "5ace0000-0000-4000-8000-0000000000aa",
                "name": "sp",
                "organization_guid": "0a000000-0000-4000-8000-0000000000aa",
            }
        ],
        "domains": [{"guid": "d0000000-0000-4000-8000-0000000000aa", "name": "apps.example.test"}],
        "apps": [
            {
                "guid": "a0000000-0000-4000-8000-0000000000aa",
                "name": "three",
                "space_guid": "5ace0000-0000-4000-8000-0000000000aa",
                "image": "ecsim/ec-service:okinawa.130",
                "instances": 3,
                "routes": [{"host": "three", "domain_guid": "d0000000-0000-4000-8000-0000000000aa"}],
            },
            {
                "guid": "a0000000-0000-4000-8000-0000000000bb",
                "name": "idle",
                "space_guid": "5ace0000-0000-4000-8000-0000000000aa",
                "image": "ecsim/ec-service:sendai.120",
                "state": "STOPPED",
            },
        ],
    }
    path = tmp_path / "seed.json"
    path.write_text(json.dumps(seed))
    with CfSim(seed=path) as sim:
        client = CFClient(sim.api_url, client_id="ecportal", client_secret="s3cret")
        assert [s.state for s in client.get_process_stats("a0000000-0000-4000-8000-0000000000aa")] == [
            "RUNNING"
        ] * 3
        assert [s.state for s in client.get_process_stats("a0000000-0000-4000-8000-0000000000bb")] == ["DOWN"]
        assert {sim.route("three.apps.example.test")[1]["instance_index"] for _ in range(3)} == {0, 1, 2}
        sim.reset({**seed, "apps": seed["apps"][1:]})
        assert [a.name for a in client.list_apps()] == ["idle"]
