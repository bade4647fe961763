"""Unchanged polls and rendered pages against a trivial Django view, on one gunicorn in this run.

    .venv/bin/python bench/dashboard.py [--requests 10000] [--seconds 3] [--rounds 3] [--threads 4]
                                        [--latency-threads 2] [--page-seconds 600] [--reuse]

Seeds a fresh `ecportal_dashboard_bench` PostgreSQL database with `bulk_create` (`bench/portal_seed.py`:
10,000 requests, 20,000 services spread over the states, 200,000 timeline events, two contacts per
request and the CF call log of every service that ran a step; `--reuse` keeps the one an earlier run
seeded), signs in an EC-team user and a requester, and serves the portal with `gunicorn
ecportal.wsgi` (2 sync workers, one per core) on a free loopback port. Then, pages taking turns for
`--rounds` rounds so that all are measured under the same conditions:

1. Unchanged polls: `--threads` keep-alive `http.client` connections (sync workers close each after
   its response; the client then reconnects) ask for `/healthz/` (the trivial view: no login, no
   database), and for the live fragment (as the EC team and as its requester) and the request page
   of a request waiting for verification with `If-None-Match` set to the ETag their first answer
   carried, for `--seconds` each round. Prints requests/s, their ratio to `/healthz/`, and the SQL
   queries such a 304 makes. (While a step runs the ETag changes every second, as the page's clock
   does: those polls are rendered.)
2. Rendered pages: home, the queue, My requests (as the requester), and the request page and live
   fragment of a request running Step 1, without `If-None-Match`, `--requests` of each in all, on
   `--latency-threads` connections (one per worker, so no request queues behind another). Prints
   p50/p95 latency in ms as the client sees it, and the SQL queries of each page with 1 row (the
   portal holding one request, in a transaction rolled back) and with the full seed.

Queries are counted in-process through the test client. The last line says whether the goals are
met: a 304 poll at ≥ 0.5 × `/healthz/` requests/s, and every rendered page at p95 ≤ 30 ms. Loopback
only; every phase is bounded (`--seconds` × `--rounds` × 4 for the polls, `--page-seconds` per
rendered page, `--timeout` for the server to start).
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.portal_seed import call_rows, seed, service_row  # noqa: E402

DATABASE = "postgres://postgres@127.0.0.1:5432/ecportal_dashboard_bench"
CACHE = os.environ.get("BENCH_CACHE_URL") or os.environ.get("CACHE_URL") or "redis://127.0.0.1:6379/11"
SECRET_KEY = "dashboard-bench-only-" + "x" * 40
TRIVIAL = "/healthz/ (trivial view)"
POLL_GOAL = 0.5  # a 304 poll's requests/s, as a share of /healthz/'s
P95_GOAL_MS = 30.0  # every rendered page's p95 latency
# e.g. BENCH_WORKER_ARGS="--workers 2 --worker-class gthread --threads 4 --keep-alive 30" to compare.
WORKER_ARGS = os.environ.get("BENCH_WORKER_ARGS", "--workers 2 --worker-class sync").split()
# The states of the first two requests' services: the running one is rendered on every poll (its
# clock moves every second), the waiting one answers an unchanged poll with a 304.
MEASURED_STATES = [("step1_running", "awaiting_verification"), ("awaiting_verification", "verified")]


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
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    from django.contrib.auth.models import User

    return not User.objects.filter(username="olga").exists()


@dataclass(frozen=True)
class Seeded:
    users: dict  # "olga" (EC team) and "requester" (filed the waiting request and 49 others)
    running: int  # the request running Step 1
    waiting: int  # the request waiting for verification
    services: int


def seeded() -> Seeded:
    from django.contrib.auth.models import User

    from upgrades.models import ServiceUpgrade, UpgradeRequest

    running, waiting = UpgradeRequest.objects.order_by("id").values_list("id", flat=True)[:2]
    requester = UpgradeRequest.objects.get(pk=waiting).requester
    users = {"olga": User.objects.get(username="olga"), "requester": requester}
    return Seeded(users, running, waiting, ServiceUpgrade.objects.count())


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


def page_queries(users: dict, pages: dict, ids: dict) -> dict[str, tuple[int, int]]:
    """(1 row, full seed): the SQL queries each page makes when rendered, through the test client.

    `pages` maps a name to (user, path); a path names `{running}` or `{waiting}`. With 1 row the
    portal holds one request, filed by the requester, with one service running Step 1, one event and
    one CF call: the seed is set aside in a transaction that is rolled back.
    """
    from django.db import transaction

    clients = {who: _client(user) for who, user in users.items()}
    full = {name: len(_queries(clients[who], path.format(**ids))) for name, (who, path) in pages.items()}
    with transaction.atomic():
        one = _one_request(users["requester"])
        one_row = {
            name: len(_queries(clients[who], path.format(running=one, waiting=one)))
            for name, (who, path) in pages.items()
        }
        transaction.set_rollback(True)
    return {name: (one_row[name], full[name]) for name in pages}


def poll_queries(user, path: str) -> list[str]:
    """The SQL an unchanged poll of `path` makes: asked once, then again with the ETag it carried
    (a plain GET for a path without one)."""
    client = _client(user)
    etag = client.get(path).get("ETag")
    if etag is None:
        return _queries(client, path)
    return _queries(client, path, expect=304, HTTP_IF_NONE_MATCH=etag)


def _client(user):
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


def _queries(client, path: str, expect: int = 200, **headers) -> list[str]:
    """The SQL of one GET of `path`, after a first one that warms what a process keeps."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(path, **headers)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path, **headers)
    assert response.status_code == expect, (path, response.status_code)
    return [query["sql"] for query in captured.captured_queries]


def _one_request(requester) -> int:
    """Leaves the portal holding one request (the caller's transaction rolls this back); its id."""
    from django.db import connection

    from upgrades.models import CallLog, Event, Release, UpgradeRequest

    with connection.cursor() as cursor:
        # Requests and every row that points at them (services, events, calls, contacts, mail).
        cursor.execute("TRUNCATE upgrades_upgraderequest CASCADE")
    request = UpgradeRequest.objects.create(
        requester=requester, release=Release.objects.get(recommended=True)
    )
    service = service_row(random.Random(7), 900_000, "step1_running")
    service.request = request
    service.save()
    Event.objects.create(
        request=request, service=service, kind="submitted", actor=requester, actor_label="requester",
        to_state="submitted",
    )  # fmt: skip
    CallLog.objects.bulk_create(call_rows(service)[:1])
    return request.pk


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def gunicorn(port: int, log: Path, timeout: float):
    """`gunicorn ecportal.wsgi` on the bench database, until the block ends.

    Sync workers by default: the kernel hands each new connection to an idle worker, where gthread
    workers keep a keep-alive connection on the one that accepted it and left a core idle here.
    """
    env = {**os.environ, "SECRET_KEY": SECRET_KEY, "ALLOWED_HOSTS": "127.0.0.1"}
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


def get(port: int, path: str, headers: dict) -> tuple[int, str]:
    """(status, ETag) of one GET."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status, response.getheader("ETag", "")
    finally:
        connection.close()


def _in_threads(worker, threads: int) -> float:
    """Runs `worker(index)` in `threads` threads; the seconds until all are done."""
    started = time.monotonic()
    pool = [threading.Thread(target=worker, args=(index,)) for index in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return time.monotonic() - started


def load(port: int, target: tuple, threads: int, seconds: float) -> tuple[int, int, float]:
    """(responses, failures, elapsed) of `threads` keep-alive connections asking for `target`
    ((path, headers, expected status)) for `seconds`."""
    path, headers, expect = target
    done, failed = [0] * threads, [0] * threads
    stop_at = time.monotonic() + seconds

    def worker(index: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.monotonic() < stop_at:
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            response.read()
            done[index] += 1
            failed[index] += response.status != expect
            if response.will_close:
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.close()

    elapsed = _in_threads(worker, threads)
    return sum(done), sum(failed), elapsed


def timed(port: int, target: tuple, threads: int, count: int, seconds: float) -> tuple[list[float], int]:
    """(latencies in ms, failures) of `count` requests for `target` ((path, headers)) on `threads`
    keep-alive connections, stopping early after `seconds`. A latency includes reconnecting when the
    server closed the connection, as a browser's would."""
    path, headers = target
    latencies: list[float] = []
    failed = [0] * threads
    tickets = itertools.count()
    stop_at = time.monotonic() + seconds

    def worker(index: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while next(tickets) < count and time.monotonic() < stop_at:
            started = time.perf_counter()
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            response.read()
            latencies.append((time.perf_counter() - started) * 1000)
            failed[index] += response.status != 200
            if response.will_close:
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.close()

    _in_threads(worker, threads)
    return latencies, sum(failed)


def measure_polls(port: int, targets: dict, args) -> dict[str, tuple[float, int]]:
    """name → (requests/s, failures) of each target, loaded in turn for `args.rounds` rounds."""
    totals = {name: [0, 0, 0.0] for name in targets}
    for _ in range(args.rounds):
        for name, target in targets.items():
            done, failed, elapsed = load(port, target, args.threads, args.seconds)
            total = totals[name]
            total[0] += done
            total[1] += failed
            total[2] += elapsed
    return {name: (done / elapsed, failed) for name, (done, failed, elapsed) in totals.items()}


def measure_rendered(port: int, targets: dict, args) -> dict[str, tuple[list[float], int]]:
    """name → (latencies in ms, failures): `args.requests` of each target, in `args.rounds` turns."""
    found: dict[str, tuple[list[float], int]] = {name: ([], 0) for name in targets}
    per_round = -(-args.requests // args.rounds)
    for round_ in range(args.rounds):
        count = min(per_round, args.requests - round_ * per_round)
        for name, target in targets.items():
            latencies, failed = timed(
                port, target, args.latency_threads, count, args.page_seconds / args.rounds
            )
            found[name][0].extend(latencies)
            found[name] = (found[name][0], found[name][1] + failed)
    return found


def percentiles(latencies: list[float]) -> tuple[float, float]:
    """(p50, p95) in ms."""
    cuts = statistics.quantiles(latencies, n=100)
    return cuts[49], cuts[94]


def report_polls(polls: dict, queries: dict[str, list[str]]) -> list[float]:
    """Prints the unchanged polls' table; the 304s' ratios to /healthz/."""
    trivial = polls[TRIVIAL][0]
    print(
        f"  {'unchanged poll (If-None-Match)':40} {'req/s':>7} {'÷ healthz':>10} {'queries':>8} {'failed':>7}"
    )
    for name, (rate, failed) in polls.items():
        print(f"  {name:40} {rate:7.0f} {rate / trivial:10.2f} {len(queries[name]):8d} {failed:7d}")
    return [rate / trivial for name, (rate, _) in polls.items() if name != TRIVIAL]


def report_rendered(rendered: dict, queries: dict[str, tuple[int, int]]) -> list[tuple[str, float]]:
    """Prints the rendered pages' table; (name, p95) of each page but the trivial view."""
    heading = (
        f"{'requests':>9} {'p50 ms':>7} {'p95 ms':>7} {'queries 1 row':>14} {'full seed':>10} {'failed':>7}"
    )
    print(f"  {'page rendered':40} {heading}")
    p95s = []
    for name, (latencies, failed) in rendered.items():
        p50, p95 = percentiles(latencies)
        one, full = queries[name]
        print(f"  {name:40} {len(latencies):9d} {p50:7.1f} {p95:7.1f} {one:14d} {full:10d} {failed:7d}")
        if name != TRIVIAL:
            p95s.append((name, p95))
    return p95s


def verdict(ratios: list[float], p95s: list[tuple[str, float]], failures: int) -> str:
    poll = min(ratios)
    slowest, p95 = max(p95s, key=lambda pair: pair[1])
    return (
        f"Goals: 304 poll ≥ {POLL_GOAL} × /healthz/ req/s: {'met' if poll >= POLL_GOAL else 'MISSED'}"
        f" (lowest {poll:.2f}); rendered p95 ≤ {P95_GOAL_MS:g} ms:"
        f" {'met' if p95 <= P95_GOAL_MS else 'MISSED'} (slowest {slowest}, {p95:.1f} ms)"
        + (f"; {failures} responses failed" if failures else "")
    )


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000, help="rendered, per page")
    parser.add_argument("--seconds", type=float, default=3, help="per poll and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=4, help="connections for the polls")
    parser.add_argument("--latency-threads", type=int, default=2, help="connections for rendered pages")
    parser.add_argument("--page-seconds", type=float, default=600, help="at most, per rendered page")
    parser.add_argument("--timeout", type=float, default=60, help="for gunicorn to start")
    parser.add_argument("--reuse", action="store_true", help="keep the database an earlier run seeded")
    return parser.parse_args()


def main() -> None:
    args = arguments()
    started = time.monotonic()
    seeding = "reused"
    if prepare_database(reuse=args.reuse):
        seed(10_000, random.Random(6), MEASURED_STATES)
        seeding = f"seeded in {time.monotonic() - started:.0f} s"
    bench = seeded()
    ids = {"running": bench.running, "waiting": bench.waiting}
    # name → (who asks, path); `{running}` and `{waiting}` are the measured requests' ids.
    pages = {
        TRIVIAL: ("olga", "/healthz/"),
        "/ (home, EC team)": ("olga", "/"),
        "/queue/": ("olga", "/queue/"),
        "/requests/ (My requests)": ("requester", "/requests/"),
        "/requests/<id>/": ("olga", "/requests/{running}/"),
        "/requests/<id>/live/": ("olga", "/requests/{running}/live/"),
    }
    polled = {
        TRIVIAL: ("olga", "/healthz/"),
        "/requests/<id>/live/ → 304, EC team": ("olga", "/requests/{waiting}/live/"),
        "/requests/<id>/live/ → 304, requester": ("requester", "/requests/{waiting}/live/"),
        "/requests/<id>/ → 304, EC team": ("olga", "/requests/{waiting}/"),
    }
    rendered_queries = page_queries(bench.users, pages, ids)
    poll_sql = {
        name: poll_queries(bench.users[who], path.format(**ids)) for name, (who, path) in polled.items()
    }
    cookies = {who: {"Cookie": browser_cookies(user)} for who, user in bench.users.items()}

    with tempfile.TemporaryDirectory() as scratch:
        port = free_port()
        with gunicorn(port, Path(scratch) / "gunicorn.log", args.timeout):
            polls, rendered = _measure(port, args, pages, polled, ids, cookies)

    print(
        f"{bench.services} services {seeding}; gunicorn {' '.join(WORKER_ARGS)}; "
        f"polls: {args.threads} client threads, {args.rounds} rounds × {args.seconds:g} s; "
        f"rendered: {args.latency_threads} client threads, {args.rounds} rounds"
    )
    ratios = report_polls(polls, poll_sql)
    labels = sorted({_label(sql) for name in polled if name != TRIVIAL for sql in poll_sql[name]})
    print(f"  (a 304's queries: {', '.join(labels)})")
    p95s = report_rendered(rendered, rendered_queries)
    failures = sum(failed for _, failed in polls.values()) + sum(failed for _, failed in rendered.values())
    print(verdict(ratios, p95s, failures))


def _measure(port: int, args, pages: dict, polled: dict, ids: dict, cookies: dict) -> tuple[dict, dict]:
    """Both phases on the running server: the unchanged polls (with the ETags it gives), then the
    rendered pages."""
    poll_targets = {}
    for name, (who, path) in polled.items():
        path = path.format(**ids)
        status, etag = get(port, path, cookies[who])
        assert status == 200, (path, status)
        headers, expect = ({**cookies[who], "If-None-Match": etag}, 304) if etag else (cookies[who], 200)
        poll_targets[name] = (path, headers, expect)
    page_targets = {name: (path.format(**ids), cookies[who]) for name, (who, path) in pages.items()}
    for path, headers in page_targets.values():  # warm-up: connections, templates, prepared statements
        load(port, (path, headers, 200), args.threads, 0.5)
    return measure_polls(port, poll_targets, args), measure_rendered(port, page_targets, args)


def _label(sql: str) -> str:
    if "upgrades_" in sql:
        return "the request's fingerprint"
    return "the signed-in user" if "auth_user" in sql else sql[:60]


if __name__ == "__main__":
    main()
