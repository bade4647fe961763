"""Fixtures for CF client and cfsim tests: one cfsim per session, reset before every test."""

from __future__ import annotations

import pytest

from testkit.cfsim import CfSim
from upgrades.cloudfoundry import CallRecord, CFClient, forget_tokens

PORTAL_CLIENT = {"client_id": "ecportal", "client_secret": "ecportal-sim-secret"}


@pytest.fixture(scope="session")
def cfsim_session():
    with CfSim() as sim:
        yield sim


@pytest.fixture(autouse=True)
def no_cached_tokens():
    """Earlier tests expire or shorten tokens: every test starts with none cached."""
    forget_tokens()


@pytest.fixture
def cfsim(cfsim_session):
    """The session's cfsim, back at the demo seed with zero delays, no faults, an empty call log."""
    cfsim_session.reset()
    return cfsim_session


class CallLog(list):
    """The client's ``on_call`` records, with a helper to look at them as (method, path, status)."""

    def summary(self) -> list[tuple[str, str, int | None]]:
        return [(r.method, r.path.split("?")[0], r.status) for r in self]


@pytest.fixture
def calls() -> CallLog:
    return CallLog()


@pytest.fixture
def client(cfsim, calls) -> CFClient:
    """A portal client (client credentials) with fast backoff so retry tests stay quick."""

    def record(call: CallRecord) -> None:
        calls.append(call)

    return CFClient(
        cfsim.api_url, **PORTAL_CLIENT, on_call=record, backoff_base=0.01, backoff_cap=0.05, timeout=(2, 5)
    )
