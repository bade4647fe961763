"""A worker and beat with short deadlines: a test window of a few seconds that rolls back when it
ends, an hour's retention of the old app, and deadlines checked every second."""

import pytest
import redis
from django.conf import settings
from django.db import connection

from tests.engine.conftest import start_stack

WINDOW_SECONDS = 4
RETENTION_SECONDS = 3600


@pytest.fixture(scope="package")
def deadline_stack(django_db_setup, django_db_blocker, sim, tmp_path_factory):
    assert connection.vendor == "postgresql", "deadline tests run on PostgreSQL (make test sets DATABASE_URL)"
    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()
    running = start_stack(
        sim,
        tmp_path_factory.mktemp("celery"),
        TEST_WINDOW_SECONDS=str(WINDOW_SECONDS),
        TEST_WINDOW_ON_END="rollback",
        TEST_WINDOW_REMINDERS="2",
        RETENTION_SECONDS=str(RETENTION_SECONDS),
        DEADLINE_CHECK_SECONDS="1",
    )
    yield running
    running.stop()


@pytest.fixture(scope="package")
def sim():
    from testkit.cfsim import CfSim

    with CfSim() as running:
        yield running


@pytest.fixture
def engine(deadline_stack, sim, transactional_db, cast, releases):
    """A clean cfsim (the demo seed, no delays) and the running worker, for one test."""
    sim.reset()
    sim.configure(staging_delay=0, start_delay=0, job_delay=0)
    return deadline_stack
