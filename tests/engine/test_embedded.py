"""`make run`'s embedded stack (SQLite in WAL mode, kombu's filesystem broker, a prefork worker and
beat) survives crashes just like PostgreSQL + Redis does: a killed worker only delays an upgrade."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from testkit.stack import REPO_ROOT, Stack
from tests.engine.conftest import ACME_PROD, wait_for

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
