"""The prober's writes: a run's tallies count every answer so far, the current second's included, so
the gates of Step 2 never wait for a second to end; each second's row is written once it is over. An
answer that opens or shuts a gate is written at once, and a newly opened run is adopted at once."""

import pytest
from django.utils import timezone

from tests.conftest import PROD, file_request
from upgrades import foundations
from upgrades.cloudfoundry.apps import AppAnswer
from upgrades.engine.prober import Prober, _Probing
from upgrades.models import ProbeRun, ProbeSecond, ServiceUpgrade
from upgrades.workflow import State

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
        run.pk, run.url, NEW, OLD, foundations.by_slug(service.foundation), new_since_failure=0,
        started_at=run.started_at,
    )  # fmt: skip
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


def test_an_answer_that_opens_or_shuts_a_gate_has_its_run_written_at_once(probing, settings):
    run, prober, active = probing
    settings.PROBE_NEW_ANSWERS, settings.PROBE_CLEAN_SECONDS = 2, 3600
    written = lambda: ProbeRun.objects.values_list("sent", "failed", "new_since_failure").get(pk=run.pk)  # noqa: E731

    assert active.note(AppAnswer(200, 12, build=OLD)), "the first answer opens 2.1's gate"
    prober.flush(urgent=True)
    assert written() == (1, 0, 0)
    assert not active.note(AppAnswer(200, 12, build=OLD))
    assert not active.note(AppAnswer(200, 12, build=NEW))
    prober.flush(urgent=True)
    assert written() == (1, 0, 0), "no answer since the last write opens or shuts a gate"
    assert active.note(AppAnswer(200, 12, build=NEW)), "the second answer from the new release opens 2.2's"
    prober.flush(urgent=True)
    assert written() == (4, 0, 2)

    settings.PROBE_CLEAN_SECONDS = 0
    assert active.note(AppAnswer(200, 12, build=NEW)), "this answer completes the clean window"
    assert not active.note(AppAnswer(200, 12, build=NEW)), "the window was complete already"
    assert active.note(AppAnswer(502, 30)), "a failure shuts every gate"
    prober.flush(urgent=True)
    assert written() == (7, 1, 0)


def test_a_run_opened_since_the_last_refresh_is_adopted_at_the_next_look(probing):
    run, prober, _ = probing
    ServiceUpgrade.objects.filter(pk=run.service_id).update(state=State.STEP2_RUNNING)
    prober.active.clear()
    prober.adopt()
    assert run.pk in prober.active
