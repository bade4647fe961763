"""Time from a state change to its mail landing in the SMTP catcher, through a real Celery worker.

    .venv/bin/python bench/mail_latency.py [--samples 30] [--spacing 0.2] [--timeout 180]

Uses PostgreSQL and Redis on loopback (a fresh `ecportal_mail_bench` database, Redis db 13; override
with BENCH_DATABASE_URL / BENCH_BROKER_URL), the project's SMTP catcher on a free loopback port, and a
`celery worker` subprocess. For each sample a request with one service in `step1_running` (and one
contact) moves to `awaiting_verification` through `actions.transition`; the clock stops at the
catcher's arrival stamp of each "Step 1 complete" mail (requester and contact). Run twice: with no
grouping window (the pipeline itself: commit, broker, worker, SMTP) and with NOTIFY_GROUP_SECONDS as
configured. Prints p50/p95/max per run.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DB_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ecportal_mail_bench")
BROKER = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/13")
DOMAIN = "run.aws-usw02-pr.ice.predix.io"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fresh_database() -> None:
    import psycopg

    parts = urlsplit(DB_URL)
    name = parts.path.lstrip("/")
    admin = psycopg.connect(
        host=parts.hostname, port=parts.port or 5432, user=parts.username, dbname="postgres"
    )
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cursor.execute(f'CREATE DATABASE "{name}"')
    admin.close()


def start_worker(env: dict, deadline: float) -> subprocess.Popen:
    """A prefork worker with two processes; returns once it reports ready."""
    worker = subprocess.Popen(
        [str(ROOT / ".venv/bin/celery"), "-A", "ecportal", "worker", "-P", "prefork", "-c", "2", "-l", "info"]
        + [
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-n",
            f"mailbench-{os.getpid()}@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    ready = threading.Event()

    def watch():
        for line in worker.stderr:
            if " ready." in line:
                ready.set()

    threading.Thread(target=watch, daemon=True).start()
    if not ready.wait(max(1.0, deadline - time.monotonic())):
        worker.kill()
        raise SystemExit("the Celery worker did not become ready in time")
    return worker


def arrivals(directory: Path) -> dict[str, list[float]]:
    """Subject → arrival times (epoch seconds) from the catcher's file names (UTC, microseconds)."""
    import email
    import email.policy

    found: dict[str, list[float]] = {}
    for path in directory.glob("*.eml"):
        stamp = datetime.strptime(path.name.split("-")[0], "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=UTC)
        subject = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)["Subject"]
        found.setdefault(subject, []).append(stamp.timestamp())
    return found


def prepare(count: int, requester) -> list:
    """Requests with one service each, put in `step1_running` directly (setup only: no engine runs)."""
    from django.db import transaction

    from upgrades import actions, intake
    from upgrades.models import Release, ServiceUpgrade
    from upgrades.workflow import Plan, State

    release = Release.objects.get_or_create(name="okinawa.130", defaults={"docker_image": "ec:okinawa.130"})[
        0
    ]
    prepared = []
    for _ in range(count):
        parsed, problems = intake.parse_service_urls([f"https://{uuid.uuid4()}.{DOMAIN}"])
        assert not problems, problems
        # One transaction: by the time preflight runs, the service is past `submitted` and it does nothing.
        with transaction.atomic():
            request = actions.submit_request(
                requester=requester,
                services=parsed,
                plan=Plan.TEST_FIRST,
                release=release,
                contacts=["contact@example.com"],
                notes="",
            )
            service = request.services.get()
            ServiceUpgrade.objects.filter(pk=service.pk).update(state=State.STEP1_RUNNING)
        service.refresh_from_db()
        prepared.append((request, service))
    return prepared


def run(samples: int, spacing: float, window: float, catcher_dir: Path, deadline: float) -> list[float]:
    from django.conf import settings
    from django.contrib.auth.models import User

    from upgrades import actions
    from upgrades.workflow import State

    requester = User.objects.get_or_create(username="bench", defaults={"email": "bench@example.com"})[0]
    settings.NOTIFY_GROUP_SECONDS = 0
    prepared = prepare(samples, requester)
    # Let the "received" mails of the set-up go out first, so they do not compete with the timed ones.
    while (
        time.monotonic() < deadline
        and sum(
            len(times) for subject, times in arrivals(catcher_dir).items() if "Request received" in subject
        )
        < 2 * samples
    ):
        time.sleep(0.05)
    settings.NOTIFY_GROUP_SECONDS = window
    started: dict[str, float] = {}
    for request, service in prepared:
        subject = f"[ecportal] {request.reference}: Step 1 complete, please test on the temporary URL"
        started[subject] = time.time()
        actions.transition(
            service,
            target=State.AWAITING_VERIFICATION,
            actor=actions.SYSTEM,
            updates={"temp_host": f"{service.zone_id}-upgrade-bench1", "temp_route_guid": str(uuid.uuid4())},
        )
        time.sleep(spacing)
    while time.monotonic() < deadline:
        landed = arrivals(catcher_dir)
        if all(len(landed.get(subject, [])) >= 2 for subject in started):
            break
        time.sleep(0.05)
    landed = arrivals(catcher_dir)
    latencies = [t - t0 for subject, t0 in started.items() for t in landed.get(subject, [])]
    missing = 2 * len(started) - len(latencies)
    if missing:
        print(f"  {missing} mail(s) did not land before the deadline")
    return latencies


def report(title: str, latencies: list[float]) -> None:
    if not latencies:
        print(f"{title}: no mail landed")
        return
    ordered = sorted(latencies)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    print(
        f"{title}: {len(ordered)} mails, p50 {statistics.median(ordered) * 1000:.0f} ms, "
        f"p95 {p95 * 1000:.0f} ms, max {ordered[-1] * 1000:.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--spacing", type=float, default=0.2, help="seconds between state changes")
    parser.add_argument("--timeout", type=float, default=180.0, help="bound on the whole run")
    args = parser.parse_args()
    deadline = time.monotonic() + args.timeout

    port = free_port()
    var = Path(tempfile.mkdtemp(prefix="mailbench-"))
    env = {
        **os.environ,
        "DATABASE_URL": DB_URL,
        "CELERY_BROKER_URL": BROKER,
        "CACHE_URL": os.environ.get("BENCH_CACHE_URL", "redis://127.0.0.1:6379/10"),
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(port),
        "SITE_URL": "http://127.0.0.1:8000",
        "ECPORTAL_VAR_DIR": str(var),
        "DJANGO_SETTINGS_MODULE": "ecportal.settings",
        "LOG_LEVEL": "WARNING",
        # Preflight tasks of the bench's requests must not reach any Cloud Foundry (or another
        # engineer's simulator): point every foundation at a closed loopback port.
        "FOUNDATIONS": json.dumps(
            [
                {
                    "slug": "predix-west",
                    "name": "Predix West / Basic",
                    "domains": [DOMAIN],
                    "api_url": f"http://127.0.0.1:{free_port()}",
                    "client_id": "ecportal",
                    "secret_env": "CF_SECRET_PREDIX_WEST",
                }
            ]
        ),
    }
    os.environ.update(env)
    fresh_database()
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    subprocess.run(
        [str(ROOT / ".venv/bin/celery"), "-A", "ecportal", "purge", "-f"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )

    import django

    django.setup()
    from django.conf import settings

    from ecportal.mailcatcher import serve

    configured_window = settings.NOTIFY_GROUP_SECONDS
    controller = serve("127.0.0.1", port, var / "mail")
    worker = start_worker(env, deadline)
    try:
        print(f"worker ready; SMTP catcher on 127.0.0.1:{port}; {args.samples} state changes per run")
        half = deadline - (deadline - time.monotonic()) / 2
        latencies = run(args.samples, args.spacing, 0.0, var / "mail", half)
        report("no grouping window          ", latencies)
        for path in (var / "mail").glob("*.eml"):
            path.unlink()  # the next run counts its own "received" mails
        latencies = run(args.samples, args.spacing, configured_window, var / "mail", deadline)
        report(f"NOTIFY_GROUP_SECONDS={configured_window:<6g}", latencies)
    finally:
        worker.terminate()
        try:
            worker.wait(15)
        except subprocess.TimeoutExpired:
            worker.kill()
        controller.stop()


if __name__ == "__main__":
    main()
