"""Races decided by the database: two submissions for one zone ID, two approvals of one request."""

import threading

import pytest
from django.db import connection

from tests.conftest import PROD, file_request
from upgrades import actions, intake, workflow
from upgrades.models import Release, ServiceUpgrade
from upgrades.workflow import Action, Plan


def race(*callables):
    """Run each callable in its own thread (its own DB connection), released together."""
    barrier = threading.Barrier(len(callables))
    outcomes: list = [None] * len(callables)

    def run(index, fn):
        try:
            barrier.wait()
            outcomes[index] = fn()
        except Exception as error:  # the outcome under test, whatever it is
            outcomes[index] = error
        finally:
            from django.db import connection as thread_connection

            thread_connection.close()

    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(callables)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return outcomes


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_submissions_for_one_zone_id_leave_exactly_one_active(cast, releases):
    assert connection.vendor == "postgresql", "this race is about PostgreSQL's unique index"
    parsed, problems = intake.parse_service_urls([PROD])
    assert not problems

    def submit(user):
        return lambda: actions.submit_request(
            requester=user,
            services=parsed,
            plan=Plan.TEST_FIRST,
            release=Release.objects.get(recommended=True),
            contacts=[],
            notes="",
        )

    for _ in range(5):
        ServiceUpgrade.objects.all().delete()
        outcomes = race(submit(cast["alice"]), submit(cast["bob"]))
        rejected = [o for o in outcomes if isinstance(o, actions.IntakeRejected)]
        assert len(rejected) == 1, outcomes
        assert "already active" in str(rejected[0].problems["service_urls"][0])
        assert ServiceUpgrade.objects.filter(zone_id=parsed[0].zone_id).count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_racing_approvals_change_the_state_once(cast, releases):
    filed = file_request(cast["alice"], [PROD])

    def approve(user):
        from upgrades.models import UpgradeRequest

        return lambda: actions.apply_request_action(
            request=UpgradeRequest.objects.get(pk=filed.pk), action=Action.APPROVE, actor=user
        )

    outcomes = race(approve(cast["olga"]), approve(cast["oscar"]))
    failures = [o for o in outcomes if isinstance(o, workflow.InvalidTransition | actions.StaleState)]
    assert len(failures) == 1, outcomes
    assert filed.events.filter(to_state="approved").count() == 1
