"""Fixtures for sign-in through cfsim's UAA: one cfsim for the package, reset before each test, and the
portal's OIDC and foundation settings pointing at it."""

import pytest

from ecportal.embedded import demo_foundations, demo_secrets
from testkit.cfsim import CfSim
from testkit.uaa import oidc_settings
from upgrades import foundations


@pytest.fixture(scope="package")
def uaa_sim():
    with CfSim() as running:
        yield running


@pytest.fixture
def provider(uaa_sim, settings, monkeypatch):
    """cfsim back at its demo seed, the portal signing in through its UAA and filing on its foundations."""
    uaa_sim.reset()
    for name, value in oidc_settings(uaa_sim.api_url).items():
        setattr(settings, name, value)
    monkeypatch.setattr(
        foundations, "_configured", lambda: foundations.parse(demo_foundations(uaa_sim.api_url))
    )
    for name, value in demo_secrets().items():
        monkeypatch.setenv(name, value)
    return uaa_sim
