"""cfsim with ``--state``: the foundation survives a restart of the cfsim process, and a reset forgets it.

`make run` restarts cfsim when it dies; the portal's database remembers the GUIDs it created, so the
simulated foundation must still hold them afterwards.
"""

from __future__ import annotations

import time

import pytest

from testkit.cfsim import CfSim
from testkit.demo import ACME_PROD_APP, OKINAWA, SPACE
from upgrades.cloudfoundry import CFClient, NotFound

from .conftest import PORTAL_CLIENT


def portal_client(sim: CfSim) -> CFClient:
    """A new client for each start: the restarted cfsim listens on new ports."""
    return CFClient(sim.api_url, **PORTAL_CLIENT, backoff_base=0.01, backoff_cap=0.05, timeout=(2, 5))


@pytest.fixture
def sim(tmp_path):
    sim = CfSim(state=tmp_path / "cfsim-state.json")
    yield sim.start()
    sim.stop()


def test_an_app_survives_a_restart_and_a_reset_forgets_it(sim):
    app = portal_client(sim).create_app("kept-across-restarts", SPACE, labels={"ecportal.io/upgrade": "7"})
    sim.stop()
    sim.start()
    again = portal_client(sim).get_app(app.guid)
    assert (again.name, again.labels) == ("kept-across-restarts", {"ecportal.io/upgrade": "7"})
    assert portal_client(sim).get_app(ACME_PROD_APP).state == "STARTED"  # the seed's apps too

    sim.reset()
    sim.stop()
    sim.start()
    with pytest.raises(NotFound):
        portal_client(sim).get_app(app.guid)
    assert portal_client(sim).get_app(ACME_PROD_APP).state == "STARTED"


def test_a_crash_keeps_what_was_saved_in_the_background(sim):
    app = portal_client(sim).create_app("kept-after-a-crash", SPACE)
    deadline = time.monotonic() + 5
    while app.guid not in sim.state_path.read_text():  # saved soon after the change, not only on exit
        assert time.monotonic() < deadline, "the change was not saved"
        time.sleep(0.05)
    sim.kill()
    sim.start()
    assert portal_client(sim).get_app(app.guid).name == "kept-after-a-crash"


def test_staging_and_jobs_in_flight_carry_on_after_a_restart(tmp_path):
    sim = CfSim(state=tmp_path / "cfsim-state.json", delays={"staging_delay": 600, "job_delay": 1.5})
    try:
        client = portal_client(sim.start())
        green = client.create_app("green", SPACE)
        build = client.create_build(client.create_docker_package(green.guid, OKINAWA).guid)
        deletion = client.delete_app(ACME_PROD_APP)
        assert (build.state, deletion.state) == ("STAGING", "PROCESSING")
        sim.stop()
        sim.start()
        client = portal_client(sim)
        # Still staging (its delay is long, and not restarted from zero nor lost), and the delete job
        # completes, with its effect, after the restart.
        assert client.get_build(build.guid).state == "STAGING"
        assert client.wait_for_job(deletion, timeout=10, interval=0.1).state == "COMPLETE"
        with pytest.raises(NotFound):
            client.get_app(ACME_PROD_APP)
    finally:
        sim.stop()
