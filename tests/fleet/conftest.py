"""The fleet tests: one cfsim seeded with a generated fleet, the portal's foundations pointed at it."""

import pytest

from ecportal.embedded import demo_foundations, demo_secrets
from testkit.cfsim import CfSim
from upgrades import foundations

FLEET_SIZE, FLEET_SEED = 300, 11


@pytest.fixture(scope="package")
def fleet_sim():
    with CfSim(args=("--fleet", str(FLEET_SIZE), "--fleet-seed", str(FLEET_SEED))) as sim:
        yield sim


@pytest.fixture
def fleet(fleet_sim, monkeypatch, db, releases):
    """The fleet cfsim back at its seed, and every demo foundation served by it."""
    fleet_sim.reset()
    monkeypatch.setattr(
        foundations, "_configured", lambda: foundations.parse(demo_foundations(fleet_sim.api_url))
    )
    for name, value in demo_secrets().items():
        monkeypatch.setenv(name, value)
    return fleet_sim
