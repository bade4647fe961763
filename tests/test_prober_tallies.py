"""The prober's writes: a run's tallies count every answer so far, the current second's included, so
the gates of Step 2 never wait for a second to end; each second's row is written once it is over."""

import pytest
from django.utils import timezone

from tests.conftest import PROD, file_request
from upgrades import foundations
from upgrades.cloudfoundry.apps import AppAnswer
from upgrades.engine.prober import Prober, _Probing
from upgrades.models import ProbeRun, ProbeSecond

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("releases")]

NEW, OLD = "okinawa.130", "sendai.120"


@pytest.fixture
def probing(cast):
    service = file_request(cast["alice"], [PROD]).services.get()
    run = ProbeRun.objects.create(
        service=service, attempt_started_at=timezone.now(), url="https://x/v1/info/", new_release=NEW,
        old_release=OLD,
    )  # fmt: skip
    prober = Prober(rate=10, timeout=1)
    prober.active[run.pk] = _Probing(
        run.pk, run.url, NEW, OLD, foundations.by_slug(service.foundation), new_since_failure=0
    )
    yield run, prober, prober.active[run.pk]
    prober.pool.shutdown()


def test_the_tallies_count_the_answers_of_the_second_still_under_way(probing):
    run, prober, active = probing
    for _ in range(3):
        active.note(AppAnswer(200, 12, build=NEW))
    active.note(AppAnswer(502, 30))
    prober.flush()  # the second these answers arrived in is not over yet (or only just)
    run.refresh_from_db()
    assert (run.sent, run.failed, run.new_since_failure) == (4, 1, 0)
    assert run.last_failure_at is not None and run.last_probe_at >= run.last_failure_at

    active.note(AppAnswer(200, 11, build=NEW))
    prober.flush(final=True)  # every second over: the rows are written, and nothing is counted twice
    run.refresh_from_db()
    assert (run.sent, run.failed, run.new_since_failure) == (5, 1, 1)
    rows = ProbeSecond.objects.filter(run=run)
    assert (sum(r.sent for r in rows), sum(r.failed for r in rows), sum(r.new for r in rows)) == (5, 1, 4)
