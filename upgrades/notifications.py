"""Who is told what, written to the outbox in the same transaction as the change that causes it."""

from upgrades.models import Event, ServiceUpgrade, UpgradeRequest
from upgrades.workflow import State


def on_submitted(request: UpgradeRequest) -> None:
    """A request was filed: tell its requester and contacts, and the EC team."""


def on_transition(*, service: ServiceUpgrade, source: State, target: State, event: Event) -> None:
    """A service changed state: record the milestone notification it belongs to."""


def on_preflight_failed(service: ServiceUpgrade) -> None:
    """Preflight found a problem: tell the EC team."""
