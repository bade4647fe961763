"""How long CF's work usually takes, so that the engine looks when it should be done.

Each worker process remembers, per foundation and sub-step, how long the recent waits lasted (from
the sub-step's start to the look that found CF done). A wait like those is then looked at seldom
before the shortest of them would have ended, and often from then until the longest would have:
fewer requests to CF, and a wave's slowest service is not held up by the gap between two looks.
Until a process has seen USUAL_AFTER waits of a kind, it polls by the plain schedule.
"""

import threading
from collections import deque
from dataclasses import dataclass

# How many recent waits of a kind are remembered, and how many it takes before they are relied on.
REMEMBERED = 16
USUAL_AFTER = 3

_recent: dict[tuple[str, str], deque[float]] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class Usual:
    """The shortest and the longest of the recent waits, in seconds since their sub-step began."""

    earliest: float
    latest: float


def learn(foundation: str, step: str, seconds: float) -> None:
    """A wait of sub-step `step` on `foundation` ended `seconds` after the sub-step began."""
    with _lock:
        _recent.setdefault((foundation, step), deque(maxlen=REMEMBERED)).append(seconds)


def usual(foundation: str, step: str) -> Usual | None:
    """How long waits of `step` on `foundation` took lately; None before USUAL_AFTER of them."""
    with _lock:
        seen = list(_recent.get((foundation, step), ()))
    if len(seen) < USUAL_AFTER:
        return None
    return Usual(min(seen), max(seen))
