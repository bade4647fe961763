"""A real Celery worker (and beat) against the test database, cfsim and the Redis broker.

The worker is its own `celery … worker` process with the production pool (threads, the settings'
CELERY_WORKER_POOL), exactly as in production; tests see its effects only through the database and
cfsim. Tests that use it must be transactional (`django_db(transaction=True)`) so the worker sees
their rows.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ecportal.embedded import demo_foundations, demo_secrets

REPO_ROOT = Path(__file__).resolve().parents[1]
# Short leases, polls and backoff, so crash recovery and retries happen within a test's patience.
FAST_ENGINE = {
    "ENGINE_LEASE_SECONDS": "4",
    "ENGINE_RECONCILE_SECONDS": "1",
    "ENGINE_SILENCE_SECONDS": "3",
    "ENGINE_POLL_SECONDS": "0.2",
    "ENGINE_BACKOFF_BASE": "0.2",
    "ENGINE_BACKOFF_CAP": "1",
    "ENGINE_MAX_ATTEMPTS": "6",
    "ENGINE_START_TIMEOUT": "30",
    "ENGINE_JOB_TIMEOUT": "20",
    # The old app is deleted at once after Step 2, unless a test sets a retention window of its own.
    "RETENTION_SECONDS": "0",
    # Probes: a short clean window before the old app stops, and short deadlines for the router.
    "PROBE_CLEAN_SECONDS": "2",
    "PROBE_START_TIMEOUT": "20",
    "PROBE_SWITCH_TIMEOUT": "30",
    "PROBE_CHECK_TIMEOUT": "8",
    # A probe that a loaded test machine answers slowly is not a failing release.
    "PROBE_TIMEOUT": "5",
}

CELERY = ("-m", "celery", "-A", "ecportal")


def database_url(settings_dict: dict) -> str:
    user = settings_dict.get("USER") or "postgres"
    password = f":{settings_dict['PASSWORD']}" if settings_dict.get("PASSWORD") else ""
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{settings_dict['NAME']}"


def portal_environment(*, database: str, broker: str, api_url: str, router_url: str = "") -> dict[str, str]:
    """The variables that point a portal process at this database, broker and cfsim (and its router,
    which probes and checks go through; without it, probing and the automatic checks are off)."""
    return {
        "DATABASE_URL": database,
        "CELERY_BROKER_URL": broker,
        "FOUNDATIONS": json.dumps(demo_foundations(api_url, router_url)),
        **({} if router_url else {"PROBE_RATE": "0"}),
        **demo_secrets(),
    }


def children_of(pid: int) -> list[int]:
    """The ids of the live processes whose parent is `pid`, read from /proc (Linux)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # "pid (comm) state ppid …": comm may hold spaces and parentheses, so split after the last ")".
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue  # exited meanwhile
        if int(fields[1]) == pid and fields[0] != "Z":  # a zombie is dead already
            children.append(int(stat.parent.name))
    return children


class Stack:
    """Worker, beat and prober processes; `kill_worker` SIGKILLs the whole worker, as a crash would, and
    `kill_pool_processes` only its pool's children, as the kernel's OOM killer might."""

    def __init__(
        self, *, database: str, broker: str, api_url: str, log_dir: Path, extra_env=None, router_url: str = ""
    ):
        # A None in extra_env unsets a variable this process has (so the settings' default applies).
        env = {
            **os.environ,
            **portal_environment(database=database, broker=broker, api_url=api_url, router_url=router_url),
            "PYTHONUNBUFFERED": "1",
            **FAST_ENGINE,
            **(extra_env or {}),
        }
        self.env = {name: value for name, value in env.items() if value is not None}
        self.log_dir = log_dir
        self.worker: subprocess.Popen | None = None  # the latest started
        self.workers: list[subprocess.Popen] = []
        self.beat: subprocess.Popen | None = None
        self.prober: subprocess.Popen | None = None
        self._workers_started = 0

    def _spawn(self, name: str, args: list[str], program: tuple[str, ...] = CELERY) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "a")  # noqa: SIM115 (lives as long as the process)
        return subprocess.Popen(
            [sys.executable, *program, *args],
            cwd=REPO_ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def start_worker(self, concurrency: int | None = None, *extra: str, pool: str | None = None) -> None:
        """A worker with the settings' pool and concurrency unless `pool` or `concurrency` say otherwise;
        `extra` are more `celery worker` options."""
        self._workers_started += 1
        name = f"worker{self._workers_started}"
        shape = [*(("--pool", pool) if pool else ())]
        shape += ["--concurrency", str(concurrency)] if concurrency else []
        self.worker = self._spawn(
            name,
            ["worker", *shape, "--loglevel", "INFO",
             "--hostname", f"{name}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat",
             *extra],
        )  # fmt: skip
        self.workers.append(self.worker)
        self._wait_for_line(self.log_dir / f"{name}.log", "ready.")

    def start_beat(self) -> None:
        self.beat = self._spawn(
            "beat", ["beat", "--loglevel", "INFO", "--schedule", str(self.log_dir / "celerybeat-schedule")]
        )

    def start_prober(self) -> None:
        """The prober process (`manage.py run_prober`), as `make run` and compose start it."""
        self.prober = self._spawn("prober", ["run_prober"], program=("manage.py",))
        self._wait_for_line(self.log_dir / "prober.log", "prober ready")

    def kill_worker(self) -> None:
        """SIGKILL the worker's whole process group: no chance to ack, requeue or clean up."""
        if self.worker and self.worker.poll() is None:
            os.killpg(self.worker.pid, signal.SIGKILL)
            self.worker.wait(10)

    def kill_pool_processes(self) -> int:
        """SIGKILL the worker's pool processes (its children), leaving the main process to replace
        them; returns how many were killed."""
        assert self.worker and self.worker.poll() is None, "no worker running"
        killed = 0
        for pid in children_of(self.worker.pid):
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except ProcessLookupError:
                pass  # gone meanwhile
        return killed

    def _wait_for_line(self, path: Path, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if path.exists() and text in path.read_text(errors="replace"):
                return
            time.sleep(0.1)
        raise RuntimeError(f"{path.name} never said {text!r}:\n{path.read_text(errors='replace')[-3000:]}")

    def stop(self) -> None:
        for process in (*self.workers, self.beat, self.prober):
            if process and process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
