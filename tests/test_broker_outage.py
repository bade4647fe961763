"""With the broker down, a change people make still commits and says so; the reconciler sends the work
once the broker is back. A real redis-server on a loopback port of its own is stopped and started."""

import json
import socket
import subprocess
import time

import pytest
import redis
from celery import current_app

from tests.conftest import PROD
from upgrades import dispatch
from upgrades.engine import reconciler
from upgrades.models import Preflight, ServiceUpgrade, UpgradeRequest
from upgrades.workflow import State

# Committed for real, so on-commit sends run inside the request as in production.
pytestmark = pytest.mark.django_db(transaction=True)


class Broker:
    """A throwaway redis-server: `stop()` is the outage, `start()` the recovery (same port)."""

    def __init__(self):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None

    def start(self):
        command = [
            "redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.1)

    def stop(self):
        self.process.terminate()
        self.process.wait(10)

    def task_names(self) -> list[str]:
        queued = redis.Redis.from_url(self.url).lrange("celery", 0, -1)
        return [json.loads(message)["headers"]["task"] for message in queued]


def use_broker(url):
    """Point this process's publishing at `url` (the pool and producers were built for the old one)."""
    current_app.conf.broker_write_url = url
    current_app._pool = None
    current_app.amqp._producer_pool = None


@pytest.fixture
def broker():
    """Point this process's Celery app at a broker of the test's own, and back afterwards."""
    own = Broker()
    own.start()
    saved = current_app.conf.broker_write_url
    use_broker(own.url)
    yield own
    use_broker(saved)
    if own.process.poll() is None:
        own.stop()


def test_submitting_and_starting_step_1_succeed_while_the_broker_is_down(
    client, cast, releases, broker, settings
):
    broker.stop()
    client.force_login(cast["alice"])
    form = {"service_urls": PROD, "plan": "test_first", "release": releases["okinawa"].pk, "contacts": ""}
    response = client.post("/requests/new/", form, follow=True)
    request = UpgradeRequest.objects.get()
    assert (
        response.status_code == 200 and f"Request {request.reference} submitted." in response.content.decode()
    )
    service = request.services.get()
    ServiceUpgrade.objects.filter(pk=service.pk).update(preflight=Preflight.PASSED)
    client.force_login(cast["olga"])
    assert client.post(f"/requests/{request.pk}/approve/").status_code == 302
    response = client.post(f"/requests/{request.pk}/services/{service.pk}/trigger/", follow=True)
    assert response.status_code == 200 and f"{service.zone_id}: started." in response.content.decode()
    assert ServiceUpgrade.objects.get(pk=service.pk).state == State.STEP1_RUNNING

    broker.start()
    settings.ENGINE_SILENCE_SECONDS = 0  # what the reconciler waits before it calls a sub-step lost
    assert reconciler.reconcile()["revived"] == 1
    assert broker.task_names() == ["upgrades.tasks.advance"]


def test_a_broker_that_accepts_and_never_answers_costs_seconds(broker):
    """A partition or a failover: the connection opens, no answer ever comes."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        use_broker(f"redis://127.0.0.1:{silent.getsockname()[1]}/0")
        started = time.monotonic()
        assert dispatch.send("upgrades.tasks.advance", 1, "stage") is False
        waited = time.monotonic() - started
    assert waited < 30, "bounded by the broker's socket timeouts, not the OS's TCP timeout"
