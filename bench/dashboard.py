"""Dashboard pages against a trivial Django view, served by gunicorn in this run.

    .venv/bin/python bench/dashboard.py [--seconds 3] [--rounds 3] [--threads 4] [--requests 10000]
                                        [--reuse]

Seeds a fresh `ecportal_dashboard_bench` PostgreSQL database with `bulk_create` (10,000 requests,
20,000 services spread over the states, 200,000 timeline events, two contacts per request and the CF
call log of every service that ran a step; `--reuse` keeps the one an earlier run seeded), logs an
EC-team user in, and serves the portal twice with `gunicorn ecportal.wsgi` (2 sync workers each, one
per core) on free loopback ports: once as configured, keeping rendered pages in Redis until what they
show changes (`upgrades/page_cache.py`), once with `PAGE_CACHE_SECONDS=0`, rendering every page.
Then each page is loaded by `--threads` keep-alive `http.client` connections for `--seconds` (sync
workers close each connection after its response; the client then reconnects), pages and servers
taking turns for `--rounds` rounds so that all are measured under the same conditions. Prints
requests/s per page on each server, their ratio to `/healthz/` on the same server (the trivial view:
no login, no database), and the SQL queries each page makes when rendered, with 1 row and with
10,000, and when served as kept (counted in-process through the test client). Loopback only; every
phase is bounded (`--seconds` × `--rounds` × pages × 2 of load, `--timeout` for a server to start).
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATABASE = "postgres://postgres@127.0.0.1:5432/ecportal_dashboard_bench"
CACHE = os.environ.get("BENCH_CACHE_URL", "redis://127.0.0.1:6379/11")
SECRET_KEY = "dashboard-bench-only-" + "x" * 40
EVENTS_PER_REQUEST = 20
TRIVIAL = "/healthz/ (trivial view)"
# e.g. BENCH_WORKER_ARGS="--workers 2 --worker-class gthread --threads 4 --keep-alive 30" to compare.
WORKER_ARGS = os.environ.get("BENCH_WORKER_ARGS", "--workers 2 --worker-class sync").split()
CALLS_PER_STEP = {"step1": 24, "step2": 9, "rollback": 7}
FOUNDATIONS = [
    ("predix-west", "run.aws-usw02-pr.ice.predix.io"),
    ("predix-east", "run.asv-pr.ice.predix.io"),
    ("cf3", "run.aws-usw02.dev.ice.predix.io"),
]

# Where services stand, as on a portal that has run for a while: mostly done, some work under way.
STATE_WEIGHTS = {
    "completed": 46,
    "rolled_back": 5,
    "cancelled": 4,
    "rejected": 3,
    "submitted": 9,
    "approved": 6,
    "step1_running": 3,
    "step1_failed": 2,
    "awaiting_verification": 9,
    "verified": 3,
    "step2_running": 3,
    "step2_failed": 2,
    "rolling_back": 2,
    "rollback_failed": 1,
}
# The states a service went through to reach each state (the timeline's transitions).
PATHS = {
    "submitted": [],
    "rejected": ["rejected"],
    "approved": ["approved"],
    "cancelled": ["approved", "cancelled"],
    "step1_running": ["approved", "step1_running"],
    "step1_failed": ["approved", "step1_running", "step1_failed"],
    "awaiting_verification": ["approved", "step1_running", "awaiting_verification"],
    "verified": ["approved", "step1_running", "awaiting_verification", "verified"],
    "step2_running": ["approved", "step1_running", "awaiting_verification", "verified", "step2_running"],
    "step2_failed": ["approved", "step1_running", "awaiting_verification", "verified", "step2_running",
                     "step2_failed"],
    "completed": ["approved", "step1_running", "awaiting_verification", "verified", "step2_running",
                  "completed"],
    "rolling_back": ["approved", "step1_running", "awaiting_verification", "rolling_back"],
    "rollback_failed": ["approved", "step1_running", "awaiting_verification", "rolling_back",
                        "rollback_failed"],
    "rolled_back": ["approved", "step1_running", "awaiting_verification", "rolling_back", "rolled_back"],
}  # fmt: skip
# The sub-step a service in a running or failed state stands at.
CURRENT_STEP = {
    "step1_running": "stage",
    "step1_failed": "start_green",
    "step2_running": "unmap_blue",
    "step2_failed": "delete_temp_route",
    "rolling_back": "rb_unmap_green",
    "rollback_failed": "rb_delete_green",
}


def prepare_database(*, reuse: bool) -> bool:
    """The bench database, migrated, with Django set up on it in this process; True if it needs
    seeding (fresh, or `reuse` asked but nothing seeded yet)."""
    os.environ.update(
        DATABASE_URL=DATABASE,
        CACHE_URL=CACHE,
        SECRET_KEY=SECRET_KEY,
        ALLOWED_HOSTS="127.0.0.1,testserver",
        DJANGO_SETTINGS_MODULE="ecportal.settings",
    )
    # Logins through the test client would log a line each; the figures are what this prints.
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import psycopg

    admin = psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = 'ecportal_dashboard_bench'")
        if not (reuse and cursor.fetchone()):
            cursor.execute("DROP DATABASE IF EXISTS ecportal_dashboard_bench")
            cursor.execute("CREATE DATABASE ecportal_dashboard_bench")
    admin.close()
    import django
    from django.core.cache import cache
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    cache.clear()  # pages and stamps of an earlier run
    from django.contrib.auth.models import User

    return not User.objects.filter(username="olga").exists()


def _service(rng: random.Random, n: int, state: str):
    from upgrades.models import Preflight, ServiceUpgrade

    foundation, domain = FOUNDATIONS[n % len(FOUNDATIONS)]
    zone = f"{n:08x}-{rng.randrange(16**4):04x}-4{rng.randrange(16**3):03x}-8000-{rng.randrange(16**12):012x}"
    path = PATHS[state]
    ran_step1 = "step1_running" in path
    service = ServiceUpgrade(
        url=f"https://{zone}.{domain}",
        zone_id=zone,
        domain=domain,
        foundation=foundation,
        state=state,
        step=CURRENT_STEP.get(state, ""),
        preflight=Preflight.PASSED if state != "submitted" or n % 5 else Preflight.FAILED,
        preflight_message="The service stands on its foundation as an upgrade needs it.",
        instances_desired=2,
        instances_running=2 if ran_step1 else 0,
    )
    if state.endswith("_failed"):
        service.error = "Cloud Foundry answered 502 Bad Gateway three times; retry once CF is back."
    if ran_step1:
        name = f"ec-service-{zone[:8]}"
        service.space_guid = "5ace0000-0000-4000-8000-000000000001"
        service.original_route_guid = f"7{n:07x}-0000-4000-8000-000000000000"
        service.blue_app_guid, service.blue_app_name = f"b{n:07x}-0000-4000-8000-000000000000", name
        service.blue_release = "sendai.120"
        service.green_app_guid = f"9{n:07x}-0000-4000-8000-000000000000"
        service.green_app_name = f"{name}-okinawa.130"
        service.temp_host = f"{zone}-upgrade-{n:06x}"
        service.temp_route_guid = f"e{n:07x}-0000-4000-8000-000000000000"
        service.blue_stopped = service.blue_deleted = state == "completed"
    return service


@contextmanager
def stamps_as_given():
    """Let bulk_create keep the timestamps the seed sets (auto_now/auto_now_add would stamp "now")."""
    from upgrades.models import Event, ServiceUpgrade, UpgradeRequest

    fields = [
        UpgradeRequest._meta.get_field("created_at"),
        Event._meta.get_field("created_at"),
        ServiceUpgrade._meta.get_field("updated_at"),
    ]
    saved = [(f.auto_now, f.auto_now_add) for f in fields]
    for f in fields:
        f.auto_now = f.auto_now_add = False
    try:
        yield
    finally:
        for f, (auto_now, auto_now_add) in zip(fields, saved, strict=True):
            f.auto_now, f.auto_now_add = auto_now, auto_now_add


def _events(request, services: list, rng: random.Random) -> list:
    """The request's timeline: submitted, each service's transitions, then comments up to 20 events."""
    from upgrades.models import Event

    at = request.created_at
    events = [
        Event(request=request, kind="submitted", actor_id=request.requester_id, actor_label="requester",
              to_state="submitted", created_at=at)
    ]  # fmt: skip
    for service in services:
        before = "submitted"
        for state in PATHS[service.state]:
            at += timedelta(minutes=rng.randrange(1, 90))
            actor = (
                "system"
                if state.endswith(("_running", "_failed")) or state == "awaiting_verification"
                else "olga"
            )
            events.append(
                Event(request=request, service=service, kind="transition", actor_label=actor,
                      from_state=before, to_state=state, created_at=at)
            )  # fmt: skip
            before = state
    while len(events) < EVENTS_PER_REQUEST:
        at += timedelta(minutes=rng.randrange(1, 30))
        events.append(
            Event(request=request, kind="comment", actor_label="olga", created_at=at,
                  message="Checked with the gateway owners; they test this afternoon.")
        )  # fmt: skip
    return events


def _calls(service) -> list:
    """The CF calls a service's steps made, as the engine logs them."""
    from upgrades.models import CallLog

    path = PATHS[service.state]
    count = CALLS_PER_STEP["step1"] * ("step1_running" in path)
    count += CALLS_PER_STEP["step2"] * ("step2_running" in path)
    count += CALLS_PER_STEP["rollback"] * ("rolling_back" in path)
    return [
        CallLog(service=service, step="stage", method="GET", path=f"/v3/apps/{service.green_app_guid}",
                status=200, duration_ms=12 + n % 40, request_id=f"vcap-{service.zone_id[:8]}-{n}")
        for n in range(count)
    ]  # fmt: skip


def seed(requests: int, rng: random.Random) -> None:
    """`requests` requests of two services each, with timeline, contacts and CF calls (bulk inserts).

    The first request is the one the request page is measured on: one service running Step 1, one
    awaiting verification, so the page shows progress, a temporary URL and polls itself.
    """
    from django.contrib.auth.models import User
    from django.db import connection
    from django.utils import timezone

    from upgrades.models import CallLog, Contact, Event, Release, ServiceUpgrade, UpgradeRequest
    from upgrades.permissions import ec_team_group

    olga = User.objects.create_user("olga", "olga@example.com", None)
    olga.groups.add(ec_team_group())
    requesters = User.objects.bulk_create(
        User(username=f"user{n:03d}", email=f"user{n:03d}@example.com") for n in range(200)
    )
    releases = Release.objects.bulk_create(
        [
            Release(name="sendai.120", docker_image="ecsim/ec-service:sendai.120"),
            Release(name="okinawa.130", docker_image="ecsim/ec-service:okinawa.130", recommended=True),
        ]
    )
    now = timezone.now()
    states, weights = list(STATE_WEIGHTS), list(STATE_WEIGHTS.values())
    with stamps_as_given():
        made = UpgradeRequest.objects.bulk_create(
            (
                UpgradeRequest(
                    requester=requesters[n % len(requesters)],
                    plan="test_first" if n % 3 else "back_to_back",
                    release=releases[1] if n % 4 else releases[0],
                    notes="Upgrade in the maintenance window, please." if n % 7 == 0 else "",
                    created_at=now - timedelta(minutes=10 * n + 600),
                )
                for n in range(requests)
            ),
            batch_size=2000,
        )
        services = []
        for n, request in enumerate(made):
            for k in range(2):
                state = (
                    ("step1_running", "awaiting_verification")[k]
                    if n == 0
                    else rng.choices(states, weights)[0]
                )
                service = _service(rng, 2 * n + k, state)
                service.request, service.updated_at = request, request.created_at + timedelta(hours=1)
                services.append(service)
        services = ServiceUpgrade.objects.bulk_create(services, batch_size=2000)
        Contact.objects.bulk_create(
            (Contact(request=r, email=f"ops{k}.{r.pk}@example.com") for r in made for k in range(2)),
            batch_size=5000,
        )
        Event.objects.bulk_create(
            (e for n, r in enumerate(made) for e in _events(r, services[2 * n : 2 * n + 2], rng)),
            batch_size=5000,
        )
    CallLog.objects.bulk_create((c for s in services for c in _calls(s)), batch_size=5000)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


def seeded() -> tuple:
    """(the EC-team user, the request the request page is measured on, how many services there are)."""
    from django.contrib.auth.models import User

    from upgrades.models import ServiceUpgrade, UpgradeRequest

    first = UpgradeRequest.objects.order_by("id").values_list("id", flat=True).first()
    return User.objects.get(username="olga"), first, ServiceUpgrade.objects.count()


def browser_cookies(user) -> str:
    """A `Cookie` header as a browser of a logged-in `user` sends it: the session (the real login flow,
    via the test client) and the CSRF cookie its first page set."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    assert client.get("/").status_code == 200
    names = (settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME)
    return "; ".join(f"{name}={client.cookies[name].value}" for name in names)


def count_queries(olga, pages: dict[str, tuple[str, str, str]]) -> dict[str, tuple[int, int, int]]:
    """SQL queries of each page rendered with 1 row and with 10,000, and served as kept (in-process,
    test client).

    The 10,000-row side of the request page is a request with 50 services and 10,000 timeline events,
    added inside a transaction that is rolled back so the load test's data stays as seeded. The kept
    side is the path under load, asked for twice: the second answer is the kept page.
    """
    from django.db import connection, transaction
    from django.test import Client, override_settings
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.force_login(olga)

    def queries(path: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        return len(captured)

    rendered = {}
    with override_settings(PAGE_CACHE_SECONDS=0), transaction.atomic():
        small, big = _query_subjects(olga)
        for name, (_, one, many) in pages.items():
            rendered[name] = (queries(one.format(**small)), queries(many.format(**big)))
        transaction.set_rollback(True)
    counts = {}
    for name, (path, _, _) in pages.items():
        queries(path)  # gives the page's stamps a value where they had none
        queries(path)  # renders and keeps the page
        counts[name] = (*rendered[name], queries(path))
    return counts


def _query_subjects(olga) -> tuple[dict, dict]:
    """Ids for the pages' 1-row and 10,000-row sides: a one-service request with one event, and a
    50-service request with 10,000 events."""
    from upgrades.models import Event, Release, ServiceUpgrade, UpgradeRequest

    release = Release.objects.get(recommended=True)
    rng = random.Random(7)
    small = UpgradeRequest.objects.create(requester=olga, release=release)
    service = _service(rng, 900_000, "awaiting_verification")
    service.request = small
    service.save()
    Event.objects.create(
        request=small, kind="submitted", actor=olga, actor_label="olga", to_state="submitted"
    )
    big = UpgradeRequest.objects.create(requester=olga, release=release)
    services = [_service(rng, 900_001 + n, "step1_running") for n in range(50)]
    for each in services:
        each.request = big
    services = ServiceUpgrade.objects.bulk_create(services)
    Event.objects.bulk_create(
        Event(request=big, service=services[n % 50], kind="comment", actor_label="olga", message="note")
        for n in range(10_000)
    )
    return {"id": small.pk, "zone": service.zone_id}, {"id": big.pk, "zone": ""}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def gunicorn(port: int, log: Path, timeout: float, env: dict):
    """`gunicorn ecportal.wsgi` on the bench database (and `env`), until the block ends.

    Sync workers by default: the kernel hands each new connection to an idle worker, where gthread
    workers keep a keep-alive connection on the one that accepted it and left a core idle here.
    """
    env = {**os.environ, "SECRET_KEY": SECRET_KEY, "ALLOWED_HOSTS": "127.0.0.1", **env}
    command = [
        sys.executable, "-m", "gunicorn", "ecportal.wsgi", "--bind", f"127.0.0.1:{port}",
        "--no-control-socket",  # the default path is in the home directory, shared by every checkout
        *WORKER_ARGS,
    ]  # fmt: skip
    with log.open("wb") as output:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if get(port, "/healthz/", {})[0] == 200:
                    break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"gunicorn did not come up:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield server
    finally:
        server.terminate()
        server.wait(timeout=30)


def get(port: int, path: str, headers: dict) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def load(port: int, path: str, headers: dict, threads: int, seconds: float) -> tuple[int, int, float]:
    """(responses, failures, elapsed) of `threads` keep-alive connections asking for `path` for `seconds`."""
    done, failed = [0] * threads, [0] * threads
    stop_at = time.monotonic() + seconds

    def worker(index: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.monotonic() < stop_at:
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            response.read()
            done[index] += 1
            failed[index] += response.status != 200
            if response.will_close:
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.close()

    started = time.monotonic()
    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return sum(done), sum(failed), time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=60, help="for gunicorn to start")
    parser.add_argument("--reuse", action="store_true", help="keep the database an earlier run seeded")
    args = parser.parse_args()

    started = time.monotonic()
    if prepare_database(reuse=args.reuse):
        seed(args.requests, random.Random(6))
    seed_seconds = time.monotonic() - started
    olga, request_id, services = seeded()
    # name → (path under load, 1-row path, 10,000-row path); the rows' paths take small/big ids.
    pages = {
        TRIVIAL: ("/healthz/", "/healthz/", "/healthz/"),
        "/queue/": ("/queue/", "/queue/?q={zone}", "/queue/"),
        "/queue/ filtered, sorted": (
            "/queue/?state=awaiting_verification&foundation=predix-west&sort=activity",
            "/queue/?q={zone}&state=awaiting_verification&sort=activity",
            "/queue/?sort=activity",
        ),
        "/queue/ searched": ("/queue/?q=user042", "/queue/?q={zone}", "/queue/?q=example.com"),
        "/ (home, EC team)": ("/", "/", "/"),
        "/requests/<id>/": (f"/requests/{request_id}/", "/requests/{id}/", "/requests/{id}/"),
        "/requests/<id>/live/": (
            f"/requests/{request_id}/live/", "/requests/{id}/live/", "/requests/{id}/live/"
        ),
    }  # fmt: skip
    queries = count_queries(olga, pages)
    headers = {"Cookie": browser_cookies(olga)}
    servers = {"kept": {"CACHE_URL": CACHE}, "rendered": {"CACHE_URL": CACHE, "PAGE_CACHE_SECONDS": "0"}}

    totals = {(server, name): [0, 0, 0.0] for server in servers for name in pages}
    with tempfile.TemporaryDirectory() as scratch, ExitStack() as running:
        ports = {}
        for server, env in servers.items():
            ports[server] = free_port()
            log = Path(scratch) / f"gunicorn-{server}.log"
            env = {"DATABASE_URL": DATABASE, **env}
            running.enter_context(gunicorn(ports[server], log, args.timeout, env))
        for port in ports.values():
            for path, *_ in pages.values():
                load(port, path, headers, args.threads, 0.5)  # warm-up: connections, templates, caches
        for _ in range(args.rounds):
            for name, (path, *_) in pages.items():
                for server, port in ports.items():
                    done, failed, elapsed = load(port, path, headers, args.threads, args.seconds)
                    total = totals[server, name]
                    total[0] += done
                    total[1] += failed
                    total[2] += elapsed

    print(
        f"{args.requests} requests, {services} services seeded in {seed_seconds:.0f} s; "
        f"gunicorn {' '.join(WORKER_ARGS)}, {args.threads} client threads, "
        f"{args.rounds} rounds × {args.seconds:g} s per page and server"
    )
    rates = {key: done / elapsed for key, (done, _, elapsed) in totals.items()}
    heading = (
        f"{'kept req/s':>11} {'÷ healthz':>10} {'rendered':>9} {'÷ healthz':>10} "
        f"{'queries rendered 1 row':>23} {'10,000 rows':>12} {'kept':>5} {'failed':>7}"
    )
    print(f"  {'page':28} {heading}")
    for name in pages:
        kept, rendered = rates["kept", name], rates["rendered", name]
        failed = totals["kept", name][1] + totals["rendered", name][1]
        one, many, hit = queries[name]
        print(
            f"  {name:28} {kept:11.0f} {kept / rates['kept', TRIVIAL]:10.2f} {rendered:9.0f} "
            f"{rendered / rates['rendered', TRIVIAL]:10.2f} {one:23d} {many:12d} {hit:5d} {failed:7d}"
        )


if __name__ == "__main__":
    main()
