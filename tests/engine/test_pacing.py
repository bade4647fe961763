"""When the engine looks at CF's work again: the plain schedule, and the schedule once a worker has
learnt how long such waits usually take."""

import pytest

from upgrades.engine import pacing
from upgrades.engine.context import poll_delay


@pytest.fixture(autouse=True)
def production_polling(settings):
    settings.ENGINE_POLL_FIRST_SECONDS = 0.25
    settings.ENGINE_POLL_SECONDS = 1.0


def looks(until: float, usual: pacing.Usual | None = None) -> list[float]:
    """The times (seconds since the wait began) of the looks until one at or after `until`."""
    times, waited = [], 0.0
    while waited < until:
        waited += poll_delay(waited, usual)
        times.append(round(waited, 3))
    return times


def test_the_plain_schedule_looks_soon_then_at_a_quarter_of_the_wait_at_most_every_second():
    times = looks(20)
    assert times[:4] == [0.25, 0.5, 0.75, 1.0]
    gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
    assert max(gaps) == pytest.approx(1.0) and min(gaps) == pytest.approx(0.25)
    assert len(times) == 27  # a 20 s staging: 27 looks, the last up to 1 s after it ended


def test_a_usual_wait_is_looked_at_less_often_before_it_usually_ends_and_often_around_it():
    usual = pacing.Usual(earliest=20.0, latest=20.5)
    times = looks(20.0, usual)
    assert times == [15.0, 18.75, 19.75, 20.0], "the last look falls when such waits end"
    # Every first delay until the latest of them ended, then the plain schedule again.
    assert [t for t in looks(23.0, usual) if t >= 20.0] == [20.0, 20.25, 20.5, 20.75, 21.75, 22.75, 23.75]


def test_a_wait_shorter_than_usual_is_found_by_three_quarters_of_the_usual_time():
    usual = pacing.Usual(earliest=20.0, latest=21.0)
    assert looks(3.0, usual) == [15.0]
    assert looks(15.0, usual) == [15.0]


def test_without_a_usual_time_the_plain_schedule_holds():
    assert looks(8.0, None) == looks(8.0)


def test_a_worker_relies_on_what_it_saw_only_after_a_few_waits_of_the_kind():
    foundation, step = "pacing-test", "stage"
    for seconds in (20.4, 20.1):
        pacing.learn(foundation, step, seconds)
    assert pacing.usual(foundation, step) is None
    pacing.learn(foundation, step, 20.9)
    assert pacing.usual(foundation, step) == pacing.Usual(20.1, 20.9)
    assert pacing.usual(foundation, "wait_running") is None
    assert pacing.usual("another-foundation", step) is None


def test_only_the_recent_waits_count():
    foundation, step = "pacing-test-recent", "wait_running"
    pacing.learn(foundation, step, 60.0)  # a slow one, long ago
    for _ in range(pacing.REMEMBERED):
        pacing.learn(foundation, step, 8.2)
    assert pacing.usual(foundation, step) == pacing.Usual(8.2, 8.2)
