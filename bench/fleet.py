"""The fleet inventory at scale: CF calls per service of a sync, and the Fleet page's render time.

    .venv/bin/python bench/fleet.py [--services 5000] [--sample 300] [--renders 200]

Starts cfsim on a generated fleet (`--fleet N`, about a third of it per foundation) with the
realistic profile's 30 ms a call, and a fresh `ecportal_fleet_bench` database. Then, side by side
in this run:

1. Sync: the portal's batched sync of every foundation (large pages, 100 GUIDs a call): CF calls,
   calls per service and seconds; against reading `--sample` services one by one as a per-service
   job would (the route, its app, the app's web process, its current droplet and the service
   instance: five GETs each), extrapolated per service. Prints both and their ratio.
2. The Fleet page with the whole fleet synced, as the EC team (Django's test client in this
   process, `--renders` times, first page and a filtered page): p50/p95 ms and SQL queries, beside
   `/healthz/` measured the same way; and the queries with a tenth of the fleet, to show they stay
   the same in number.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ecportal.embedded import demo_foundations, demo_secrets  # noqa: E402
from testkit.cfsim import CfSim  # noqa: E402

DATABASE = "postgres://postgres@127.0.0.1:5432/ecportal_fleet_bench"
CACHE = os.environ.get("BENCH_CACHE_URL") or "redis://127.0.0.1:6379/11"
PER_CALL_LATENCY = 0.03  # cfsim's realistic profile


def prepare(api_url: str) -> None:
    import json

    os.environ.update(
        DATABASE_URL=DATABASE,
        CACHE_URL=CACHE,
        SECRET_KEY="fleet-bench-only-" + "x" * 40,
        ALLOWED_HOSTS="127.0.0.1,testserver",
        DJANGO_SETTINGS_MODULE="ecportal.settings",
        FOUNDATIONS=json.dumps(demo_foundations(api_url)),
        LOG_LEVEL="WARNING",
        **demo_secrets(),
    )
    import psycopg

    admin = psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("DROP DATABASE IF EXISTS ecportal_fleet_bench")
        cursor.execute("CREATE DATABASE ecportal_fleet_bench")
    admin.close()
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    call_command("seed_demo", verbosity=0)


def batched_sync() -> tuple[int, int, float]:
    from upgrades import inventory

    started = time.perf_counter()
    syncs = inventory.sync_all()
    took = time.perf_counter() - started
    failed = [s.error for s in syncs if s.error]
    if failed:
        raise SystemExit(f"a sync failed: {failed}")
    return sum(s.services for s in syncs), sum(s.cf_calls for s in syncs), took


def one_by_one(sample: int) -> tuple[int, int, float]:
    """Five GETs a service, as a job reading each service on its own would make."""
    from upgrades import foundations
    from upgrades.cloudfoundry.factory import client_for
    from upgrades.models import FleetService

    calls = 0

    def count(_call) -> None:
        nonlocal calls
        calls += 1

    services = list(FleetService.objects.order_by("?")[:sample])
    started = time.perf_counter()
    for service in services:
        client = client_for(foundations.by_slug(service.foundation), on_call=count)
        domain = client.get_domain_by_name(service.domain)
        route = client.find_route(service.zone_id, domain.guid)
        app = client.get_app(route.destinations[0].app_guid)
        client.list_app_processes(app.guid)
        client.get_current_droplet(app.guid)
        client.get_service_instance(service.zone_id)
    took = time.perf_counter() - started
    return len(services), calls, took


def render_times(path: str, renders: int) -> tuple[float, float, int]:
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.force_login(User.objects.get(username="olga"))
    times = []
    for _ in range(renders):
        started = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    with CaptureQueriesContext(connection) as queries:
        client.get(path)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1], len(queries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", type=int, default=5000)
    parser.add_argument("--sample", type=int, default=300)
    parser.add_argument("--renders", type=int, default=200)
    args = parser.parse_args()

    delays = {"latency": PER_CALL_LATENCY, "staging_delay": 0, "start_delay": 0, "job_delay": 0}
    with CfSim(delays=delays, args=("--fleet", str(args.services)), timeout=120) as sim:
        prepare(sim.api_url)
        services, calls, took = batched_sync()
        sampled, sample_calls, sample_took = one_by_one(args.sample)
    per_service = calls / services
    alone = sample_calls / sampled
    latency_ms = PER_CALL_LATENCY * 1000
    print(f"fleet: {services} EC services over 3 foundations, cfsim answering in {latency_ms:.0f} ms a call")
    print(f"{'sync':<34}{'CF calls':>10}{'calls/service':>15}{'s/service':>12}{'seconds':>10}")
    print(f"{'batched (the portal)':<34}{calls:>10}{per_service:>15.4f}{took / services:>12.5f}{took:>10.1f}")
    print(
        f"{f'one by one ({sampled} sampled)':<34}{sample_calls:>10}{alone:>15.4f}"
        f"{sample_took / sampled:>12.5f}{sample_took / sampled * services:>10.1f} (extrapolated)"
    )
    speedup = sample_took / sampled * services / took
    print(f"batched makes {alone / per_service:.0f}x fewer calls and is {speedup:.0f}x faster")
    print()

    from upgrades.models import FleetService

    pages = {
        "/healthz/ (trivial view)": "/healthz/",
        "Fleet, first page": "/fleet/",
        "Fleet, a foundation and release": "/fleet/?foundation=predix-west&release=okinawa.130",
        "Fleet, a search": "/fleet/?q=acme",
    }
    rows = {name: render_times(path, args.renders) for name, path in pages.items()}
    trivial = rows["/healthz/ (trivial view)"][1]
    heading = f"page ({FleetService.objects.count()} services)"
    print(f"{heading:<36}{'p50 ms':>9}{'p95 ms':>9}{'x healthz p95':>15}{'queries':>9}")
    for name, (p50, p95, queries) in rows.items():
        print(f"{name:<36}{p50:>9.1f}{p95:>9.1f}{p95 / trivial:>15.1f}{queries:>9}")
    keep = set(FleetService.objects.order_by("id").values_list("id", flat=True)[: services // 10])
    FleetService.objects.exclude(id__in=keep).delete()
    small = {name: render_times(path, 5)[2] for name, path in pages.items()}
    same = all(small[name] == rows[name][2] for name in pages)
    print(f"queries with {len(keep)} services: {small} ({'the same' if same else 'NOT the same'} in number)")


if __name__ == "__main__":
    main()
