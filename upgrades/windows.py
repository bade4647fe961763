"""The test window's clock, as field changes that go with a state change (no writes here).

The window of a test-first plan opens when Step 1 completes and runs only while the service awaits
the users' test. Whenever the service leaves that state (confirmed, rolled back, or waiting for the EC
team after a failed retry), the clock stops and keeps what is left; it runs on from there if the
service awaits the users again. So the clock never runs while the portal waits for the EC team.
"""

from datetime import datetime, timedelta

from django.conf import settings

from upgrades.models import ServiceUpgrade
from upgrades.workflow import Plan, State


def clock_updates(service: ServiceUpgrade, source: State, target: State, now: datetime) -> dict:
    """The window fields to write when `service` moves from `source` to `target` at `now`."""
    if service.plan != Plan.TEST_FIRST or source == target:
        return {}
    if target == State.AWAITING_VERIFICATION and service.test_window_ended_at is None:
        left = service.test_window_left
        left = settings.TEST_WINDOW_SECONDS if left is None else left
        return {"test_window_ends_at": now + timedelta(seconds=max(left, 0)), "test_window_left": left}
    if source == State.AWAITING_VERIFICATION and service.test_window_ends_at is not None:
        return {"test_window_ends_at": None, "test_window_left": seconds_left(service, now)}
    return {}


def seconds_left(service: ServiceUpgrade, now: datetime) -> float | None:
    """What is left of the window: counting down while it runs, as kept while it stands still, None
    when there is none."""
    if service.test_window_ends_at is not None:
        return max((service.test_window_ends_at - now).total_seconds(), 0.0)
    return service.test_window_left


def extended(service: ServiceUpgrade, now: datetime, seconds: float) -> dict:
    """The fields of a window extended by `seconds` from its end (or from now, once it has ended):
    a new round, so the reminders before the new end are sent again."""
    base = max(service.test_window_ends_at or now, now)
    return {
        "test_window_ends_at": base + timedelta(seconds=seconds),
        "test_window_left": (base - now).total_seconds() + seconds,
        "test_window_round": service.test_window_round + 1,
        "test_window_ended_at": None,
    }
