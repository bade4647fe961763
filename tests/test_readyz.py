"""`/readyz/` of a real portal process (gunicorn): ready while its Redis answers, not ready (503, the
broker and cache lines failing) while it is stopped, and ready again once it is back. The Redis is this
test's own, on a free port. (The same gunicorn wipes its metrics directory as it starts.)"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.db import connection

from testkit.stack import database_url

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_redis(port: int, directory: Path) -> subprocess.Popen:
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(directory)],
        stdout=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return process
        except OSError:
            time.sleep(0.05)
    raise AssertionError("redis-server did not start")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(15)


def readyz(port: int) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz/", timeout=10) as reply:
            status, body = reply.status, reply.read()
    except urllib.error.HTTPError as refusal:
        status, body = refusal.code, refusal.read()
    except OSError:
        return 0, {}
    return status, {line["check"]: line for line in map(json.loads, body.decode().splitlines())}


def wait_for_status(port: int, wanted: int, seconds: float = 30) -> dict:
    deadline = time.monotonic() + seconds
    seen = None
    while time.monotonic() < deadline:
        status, lines = readyz(port)
        if status == wanted:
            return lines
        seen = (status, lines)
        time.sleep(0.2)
    raise AssertionError(f"/readyz/ never answered {wanted}; last {seen}")


class OwnRedis:
    """A redis-server of this test's own on a free port, which the test stops and starts again."""

    def __init__(self, directory: Path):
        self.port, self.directory = free_port(), directory
        self.process = start_redis(self.port, directory)

    def shut_down(self) -> None:
        subprocess.run(
            ["redis-cli", "-p", str(self.port), "shutdown", "nosave"], capture_output=True, timeout=10
        )
        self.process.wait(15)

    def start_again(self) -> None:
        self.process = start_redis(self.port, self.directory)


@pytest.fixture
def own_redis(tmp_path):
    redis = OwnRedis(tmp_path)
    yield redis
    stop(redis.process)


def test_readyz_follows_redis_going_away_and_coming_back(django_db_setup, own_redis, tmp_path):
    web_port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url(connection.settings_dict),
        "CELERY_BROKER_URL": f"redis://127.0.0.1:{own_redis.port}/0",
        "CACHE_URL": f"redis://127.0.0.1:{own_redis.port}/1",
        "FOUNDATIONS": "[]",
        "ECPORTAL_VAR_DIR": str(tmp_path / "var"),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        "METRICS_WIPE_ON_START": "true",
    }
    # Left by an earlier run of the container: gunicorn.conf.py wipes it when the master starts.
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "counter_1.db").write_bytes(b"\0" * 16)
    log = open(tmp_path / "web.log", "w")  # noqa: SIM115
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "ecportal.wsgi", "--bind", f"127.0.0.1:{web_port}",
         "--workers", "1", "--threads", "2", "--no-control-socket"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        lines = wait_for_status(web_port, 200)
        assert {"database", "broker", "cache"} <= set(lines) and all(lines[n]["ok"] for n in lines)
        assert not (tmp_path / "metrics" / "counter_1.db").exists()

        own_redis.shut_down()
        lines = wait_for_status(web_port, 503)
        assert not lines["broker"]["ok"] and not lines["cache"]["ok"] and lines["database"]["ok"]
        assert lines["broker"]["error"] and lines["broker"]["required"]

        own_redis.start_again()
        lines = wait_for_status(web_port, 200)
        assert lines["broker"]["ok"] and lines["cache"]["ok"]
    finally:
        stop(web)
        log.close()
