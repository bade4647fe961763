"""`/metrics` after a real upgrade: the counts recorded in the worker's processes (CF calls, sub-steps)
show up on the web's scrape beside those counted from the database, so the processes share their figures
(prometheus-client's multiprocess mode)."""

import socket
import urllib.error
import urllib.request

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client, override_settings
from prometheus_client.parser import text_string_to_metric_families

from testkit.stack import Stack, database_url
from tests.engine.conftest import ACME_PROD, NEW, approve_and_trigger, filed_and_checked, wait_state
from upgrades.workflow import Plan, State

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
TOKEN = "scrape-me-" + "x" * 30


def scrape() -> dict[tuple[str, tuple], float]:
    """Every sample of `/metrics`, by name and sorted labels."""
    response = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    return samples(response.content.decode())


def samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def total(samples: dict, name: str, **labels) -> float:
    """The sum of `name`'s samples whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(value for (n, found), value in samples.items() if n == name and wanted <= set(found))


@override_settings(METRICS_TOKEN=TOKEN)
def test_a_scrape_after_an_upgrade_shows_the_worker_s_counts_and_the_database_s(engine, cast):
    before = scrape()
    request = filed_and_checked(cast["alice"], [ACME_PROD], plan=Plan.BACK_TO_BACK)
    approve_and_trigger(request, cast["olga"])
    wait_state(request.services.get().pk, State.COMPLETED)
    after = scrape()

    assert total(after, "ecportal_upgrades", state="completed") == 1
    assert total(after, "ecportal_upgrades", state="submitted") == 0
    # Recorded by the worker's pool processes, read by this one.
    created = total(after, "ecportal_cf_calls_total", operation="POST /v3/apps", status="201")
    assert created - total(before, "ecportal_cf_calls_total", operation="POST /v3/apps", status="201") == 1
    calls = total(after, "ecportal_cf_call_seconds_count") - total(before, "ecportal_cf_call_seconds_count")
    assert calls >= 10, "every CF call of the upgrade is timed"
    for step in ("create_green", "stage", "map_original", "delete_blue", "rename_green"):
        runs = total(after, "ecportal_substep_seconds_count", step=step, outcome="done")
        assert runs - total(before, "ecportal_substep_seconds_count", step=step, outcome="done") == 1, step
    assert total(after, "ecportal_upgrade_failures_total") == total(before, "ecportal_upgrade_failures_total")
    # The EC team's waits (to approve, then to start Step 1), each counted once it ended.
    for state in ("submitted", "approved"):
        name, labels = "ecportal_waited_on_people_seconds_count", {"state": state, "party": "ec_team"}
        assert total(after, name, **labels) - total(before, name, **labels) == 1, state


@override_settings(METRICS_TOKEN=TOKEN)
def test_a_failed_staging_counts_as_a_failure_by_its_reason(engine, sim, cast):
    before = scrape()
    request = filed_and_checked(cast["alice"], [ACME_PROD])
    sim.configure(failing_images=[NEW])
    approve_and_trigger(request, cast["olga"])
    wait_state(request.services.get().pk, State.STEP1_FAILED)
    sim.configure(failing_images=[])
    after = scrape()
    name = "ecportal_upgrade_failures_total"
    assert total(after, name, reason="step_failed") - total(before, name, reason="step_failed") == 1
    failed = "ecportal_substep_seconds_count"
    assert (
        total(after, failed, step="stage", outcome="step_failed")
        - total(before, failed, step="stage", outcome="step_failed")
        == 1
    )
    assert total(after, "ecportal_upgrades", state="step1_failed") == 1


def test_a_worker_in_a_container_of_its_own_serves_its_figures_behind_the_token(engine, sim, cast, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    worker = Stack(
        database=database_url(connection.settings_dict),
        broker=settings.CELERY_BROKER_URL,
        api_url=sim.api_url,
        log_dir=tmp_path,
        extra_env={"WORKER_METRICS_PORT": str(port), "METRICS_TOKEN": TOKEN},
    )
    worker.start_worker(1)
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url, timeout=10)
        assert refused.value.code == 401

        def worker_scrape() -> dict:
            request = urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN}"})
            with urllib.request.urlopen(request, timeout=10) as reply:
                return samples(reply.read().decode())

        before = worker_scrape()
        filed_and_checked(cast["alice"], [ACME_PROD])  # preflight: CF calls by a worker's pool process
        after = worker_scrape()
        calls = "ecportal_cf_calls_total"
        assert total(after, calls) > total(before, calls)
    finally:
        worker.stop()
