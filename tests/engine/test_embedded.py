"""`make run`'s embedded stack (SQLite in WAL mode, kombu's filesystem broker, a prefork worker and
beat) survives a worker killed mid-sub-step just like PostgreSQL + Redis does."""

import json
import os
import subprocess
import sys
import time

import pytest

from testkit.stack import REPO_ROOT, Stack
from tests.engine.conftest import ACME_PROD, wait_for

pytestmark = pytest.mark.slow


def test_embedded_mode_resumes_after_a_worker_dies_mid_sub_step(sim, tmp_path):
    sim.reset()
    sim.configure(staging_delay=0, start_delay=0, job_delay=0)
    env_overrides = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "CELERY_BROKER_URL": "filesystem://",
        "ECPORTAL_VAR_DIR": str(tmp_path),
        # As `make run`: kept pages and their stamps in files, shared by web, worker and beat.
        "CACHE_URL": f"filecache://{tmp_path / 'cache'}",
    }
    stack = Stack(database=env_overrides["DATABASE_URL"], broker="filesystem://", api_url=sim.api_url,
                  log_dir=tmp_path, extra_env=env_overrides)  # fmt: skip

    def driver(*args) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "testkit.embedded", *args],
            cwd=REPO_ROOT, env=stack.env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""

    def show(service_id: str) -> dict:
        return json.loads(driver("show", service_id))

    assert os.path.basename(stack.env["DATABASE_URL"]) == "db.sqlite3"
    driver("setup")
    stack.start_worker()
    stack.start_beat()
    try:
        # Creating green takes 3 s in CF: the worker dies while it is under way.
        sim.add_fault(method="POST", path=r"^/v3/apps$", status=0, delay=3, count=1)
        service_id = driver("file", ACME_PROD)
        wait_for(
            lambda: (s := show(service_id))["step"] == "create_green" and s["lease_owner"], 60, "create_green"
        )
        time.sleep(0.5)
        killed_at = time.monotonic()
        stack.kill_worker()
        stack.start_worker()
        assert driver("queue", service_id) == "Step 1 running"
        assert driver("queue", service_id) == "Step 1 running"  # kept, until the worker's next write
        wait_for(lambda: show(service_id)["state"] == "completed", 120, "completion in embedded mode")
        assert driver("queue", service_id) == "Completed"
        assert time.monotonic() - killed_at < 120
    finally:
        stack.stop()
    state = sim.state()
    family = [a for a in state["apps"] if a["name"].startswith("ec-service-acme-prod")]
    assert [(a["name"], a["image"]) for a in family] == [
        ("ec-service-acme-prod", "ecsim/ec-service:okinawa.130")
    ]
    assert sum(1 for c in sim.calls() if c["method"] == "POST" and c["path"] == "/v3/apps") == 1
    assert show(service_id)["blue_deleted"] is True
