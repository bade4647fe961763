"""`make run`'s embedded stack (SQLite in WAL mode, the broker in files of ecportal/broker.py, a prefork
worker and beat) survives crashes just like PostgreSQL + Redis does: a killed worker, or killed pool
processes, only delay an upgrade."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kombu import Connection, Consumer, Producer, Queue

from testkit.stack import REPO_ROOT, Stack
from tests.engine.conftest import ACME_NONPROD, ACME_PROD, wait_for

pytestmark = pytest.mark.slow


class Embedded:
    """The portal as `make run` sets it up, on files under `var_dir`: a worker and beat (`stack`), and
    `driver` to file requests and read services through testkit.embedded."""

    def __init__(self, sim, var_dir: Path, settings: dict[str, str]):
        self.stack = Stack(
            database=f"sqlite:///{var_dir / 'db.sqlite3'}",
            broker="filesystem://",  # the settings' default: `make run`'s broker
            api_url=sim.api_url,
            log_dir=var_dir,
            # `make run` sets no CACHE_URL: the settings' default (files under var/) applies.
            extra_env={"ECPORTAL_VAR_DIR": str(var_dir), "CACHE_URL": None, **settings},
        )

    def driver(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "testkit.embedded", *args],
            cwd=REPO_ROOT, env=self.stack.env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""

    def show(self, service_id: str) -> dict:
        return json.loads(self.driver("show", service_id))

    def wait_state(self, service_id: str, states: tuple[str, ...], timeout: float) -> None:
        try:
            wait_for(lambda: self.show(service_id)["state"] in states, timeout, f"{states}")
        except AssertionError:
            raise AssertionError(f"not {states} in {timeout:.0f} s: {self.show(service_id)}") from None


@pytest.fixture
def start_embedded(sim, tmp_path):
    """Starts the embedded stack in tmp_path, with settings (engine timings…) given by keyword."""
    sim.reset()
    sim.configure(staging_delay=0, start_delay=0, job_delay=0, latency=0)
    started = []

    def start(**settings: str) -> Embedded:
        embedded = Embedded(sim, tmp_path, settings)
        started.append(embedded)
        embedded.driver("setup")
        embedded.stack.start_worker()
        embedded.stack.start_beat()
        return embedded

    yield start
    for embedded in started:
        embedded.stack.stop()


def post_apps(sim) -> int:
    return sum(1 for call in sim.calls() if call["method"] == "POST" and call["path"] == "/v3/apps")


def test_embedded_mode_resumes_after_a_worker_dies_mid_sub_step(start_embedded, sim):
    # Creating green takes 10 s in CF: the worker dies while it is under way. A sub-step's lease
    # outlasts any CF call, as in production (60 s against the client's 30 s read timeout), so the
    # next worker takes over after CF has created green, finds it, and does not create it again.
    embedded = start_embedded(ENGINE_LEASE_SECONDS="20")
    sim.add_fault(method="POST", path=r"^/v3/apps$", status=0, delay=10, count=1)
    service_id = embedded.driver("file", ACME_PROD)
    wait_for(
        lambda: (s := embedded.show(service_id))["step"] == "create_green" and s["lease_owner"],
        60,
        "create_green",
    )
    time.sleep(0.5)  # so the POST is in flight when the worker dies
    killed_at = time.monotonic()
    embedded.stack.kill_worker()
    embedded.stack.start_worker()
    # DESIGN §3: a worker that dies mid-sub-step is resumed within 2 minutes.
    embedded.wait_state(service_id, ("completed",), 120 - (time.monotonic() - killed_at))
    assert embedded.driver("queue", service_id) == "Completed"
    state = sim.state()
    family = [a for a in state["apps"] if a["name"].startswith("ec-service-acme-prod")]
    assert [(a["name"], a["image"]) for a in family] == [
        ("ec-service-acme-prod", "ecsim/ec-service:okinawa.130")
    ]
    assert post_apps(sim) == 1
    assert embedded.show(service_id)["blue_deleted"] is True


def test_embedded_mode_completes_every_upgrade_once_after_pool_processes_are_killed(start_embedded, sim):
    embedded = start_embedded()

    def position(service_id: str) -> tuple[str, str]:
        shown = embedded.show(service_id)
        return shown["state"], shown["step"]

    # The demo seed's delays, as under `make run`, so Step 1 is still running while the pool dies, and
    # slow answers from CF, so that most kills land on a sub-step under way.
    sim.configure(staging_delay=2, start_delay=2, job_delay=1, latency=0.3)
    service_ids = [embedded.driver("file", url) for url in (ACME_PROD, ACME_NONPROD)]
    # Every 2 s, 8 times, the pool processes die; the worker's main process forks new ones each time.
    for _ in range(8):
        wait_for(embedded.stack.kill_pool_processes, 60, "pool processes to kill")
        time.sleep(2)
    # The worker that lived on goes on taking messages: each service moves on from where it was ...
    left_at = {service_id: position(service_id) for service_id in service_ids}
    for service_id in service_ids:
        wait_for(
            lambda: (now := position(service_id)) != left_at[service_id] or now[0] == "completed",
            180,
            f"{service_id} to move on from {left_at[service_id]}",
        )
    # ... and once the whole worker dies as well, likely mid-upgrade, the next one finishes them.
    embedded.stack.kill_worker()
    embedded.stack.start_worker()
    for service_id in service_ids:
        embedded.wait_state(service_id, ("completed",), 180)
    # Exactly once: each service's green was created once, and only green (renamed) is left.
    assert post_apps(sim) == 2
    apps = sim.state()["apps"]
    for name in ("ec-service-acme-prod", "ec-service-acme-nonprod"):
        family = [(a["name"], a["image"]) for a in apps if a["name"].partition("-okinawa")[0] == name]
        assert family == [(name, "ecsim/ec-service:okinawa.130")]


def test_a_message_its_publisher_died_writing_is_never_read(tmp_path):
    # kombu's filesystem transport named a message's file before writing it, so a worker could read
    # it empty (and stop): here publishing fails right after the file is opened, as a kill would.
    folders = {name: str(tmp_path) for name in ("data_folder_in", "data_folder_out", "control_folder")}
    transport = "ecportal.broker:Transport"
    with Connection("filesystem://", transport=transport, transport_options=folders) as connection:
        queue = Queue("celery", routing_key="celery")
        producer = Producer(connection)
        with pytest.raises(TypeError):
            producer.publish({"n": 1}, routing_key="celery", headers={"h": object()}, declare=[queue])
        producer.publish({"n": 2}, routing_key="celery", declare=[queue])
        received = []
        with Consumer(connection, [queue], callbacks=[lambda body, message: received.append(body)]):
            connection.drain_events(timeout=5)
            with pytest.raises(TimeoutError):
                connection.drain_events(timeout=1)
    assert received == [{"n": 2}]
