"""Upgrade throughput against the CF-side bound, both measured in this run.

    .venv/bin/python bench/upgrade_throughput.py [--services 200] [--workers 2] [--rate-seconds 5]

N services (one app, one route each) are upgraded back to back by a real Celery worker with
`--workers` prefork processes, on PostgreSQL (a fresh `ecportal_bench` database) and Redis (db 12),
against cfsim with no delays. Prints upgrades/s, CF calls per upgrade (from the portal's own call
log), cfsim's sustained requests/s for a realistic call mix, and the ratio of upgrades/s to
(cfsim's requests/s ÷ calls per upgrade): 1.0 would mean the portal drives CF as fast as CF answers.
Loopback only; bounded by --timeout.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.cfsim_rate import run as cfsim_rate  # noqa: E402
from ecportal.mailcatcher import serve  # noqa: E402
from testkit.cfsim import CfSim  # noqa: E402
from testkit.demo import SENDAI, SPACE, WEST, WEST_DOMAIN  # noqa: E402
from testkit.stack import Stack, portal_environment  # noqa: E402

DATABASE = "postgres://postgres@127.0.0.1:5432/ecportal_bench"
BROKER = "redis://127.0.0.1:6379/12"
CACHE = "redis://127.0.0.1:6379/10"  # as in production: the engine's writes mark pages out of date there


def seed_with(count: int) -> dict:
    """The demo seed's org, space, domains and UAA, with `count` one-instance EC services."""
    seed = json.loads((ROOT / "cfsim" / "seeds" / "demo.json").read_text())
    seed["delays"] = {"staging": 0, "start": 0, "job": 0}
    seed["service_instances"], seed["apps"] = [], []
    for n in range(count):
        zone = f"be{n:06x}-0000-4000-8000-000000000000"
        seed["service_instances"].append(
            {"guid": zone, "name": f"ec-bench-{n}", "space_guid": SPACE, "type": "managed",
             "offering": "enterprise-connect", "plan": "Basic"}
        )  # fmt: skip
        route = {"guid": f"7{n:07x}-0000-4000-8000-00000000be00", "host": zone, "domain_guid": WEST_DOMAIN}
        seed["apps"].append(
            {"guid": f"a{n:07x}-0000-4000-8000-00000000be00", "name": f"ec-service-bench-{n}",
             "space_guid": SPACE, "image": SENDAI, "instances": 1,
             "env": {"ZONE": zone}, "routes": [route], "bindings": []}
        )  # fmt: skip
    return seed


def prepare_environment(api_url: str) -> None:
    os.environ.update(
        portal_environment(database=DATABASE, broker=BROKER, api_url=api_url),
        ENGINE_POLL_SECONDS="0.05",
        DJANGO_SETTINGS_MODULE="ecportal.settings",
        CACHE_URL=CACHE,
    )
    import psycopg
    import redis

    admin = psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("DROP DATABASE IF EXISTS ecportal_bench")
        cursor.execute("CREATE DATABASE ecportal_bench")
    admin.close()
    redis.Redis.from_url(BROKER).flushdb()
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    call_command("seed_demo", verbosity=0)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.2)


def upgrade_all(count: int, timeout: float) -> tuple[float, float]:
    """File, approve and trigger `count` back-to-back upgrades; (seconds to complete all, calls each)."""
    from django.contrib.auth.models import User

    from upgrades import actions, intake
    from upgrades.models import CallLog, Preflight, Release, ServiceUpgrade
    from upgrades.workflow import Action, Plan, State

    alice, olga = User.objects.get(username="alice"), User.objects.get(username="olga")
    release = Release.objects.get(recommended=True)
    requests = []
    for n in range(count):
        parsed, _ = intake.parse_service_urls([f"https://be{n:06x}-0000-4000-8000-000000000000.{WEST}"])
        requests.append(
            actions.submit_request(
                requester=alice,
                services=parsed,
                plan=Plan.BACK_TO_BACK,
                release=release,
                contacts=[],
                notes="",
            )
        )
    passed = ServiceUpgrade.objects.filter(preflight=Preflight.PASSED)
    wait_until(lambda: passed.count() == count, timeout, "preflight")
    for request in requests:
        actions.apply_request_action(request=request, action=Action.APPROVE, actor=olga)
    CallLog.objects.all().delete()
    started = time.monotonic()
    for service in ServiceUpgrade.objects.all():
        actions.apply_service_action(service=service, action=Action.TRIGGER, actor=olga)
    done = ServiceUpgrade.objects.filter(state=State.COMPLETED)
    wait_until(lambda: done.count() == count, timeout, "every upgrade to complete")
    elapsed = time.monotonic() - started
    failed = ServiceUpgrade.objects.exclude(state=State.COMPLETED).count()
    assert failed == 0, f"{failed} upgrades did not complete"
    return elapsed, CallLog.objects.count() / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rate-seconds", type=float, default=5)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        # Mail goes to a real SMTP catcher, as in `make run`, so the outbox's work is counted too.
        smtp_port = free_port()
        catcher = serve("127.0.0.1", smtp_port, Path(scratch) / "mail")
        os.environ["EMAIL_PORT"] = str(smtp_port)
        seed_path = Path(scratch) / "seed.json"
        seed_path.write_text(json.dumps(seed_with(args.services)))
        with CfSim(seed_path) as sim:
            prepare_environment(sim.api_url)
            fast = {"ENGINE_POLL_SECONDS": "0.05", "EMAIL_PORT": str(smtp_port)}
            stack = Stack(
                database=DATABASE, broker=BROKER, api_url=sim.api_url, log_dir=Path(scratch), extra_env=fast
            )
            stack.start_worker(args.workers, pool="prefork")
            try:
                elapsed, calls_per_upgrade = upgrade_all(args.services, args.timeout)
            finally:
                stack.stop()
                catcher.stop()
        with CfSim() as fresh:
            counts, _, rate_elapsed = cfsim_rate(fresh.api_url, args.rate_seconds, 8)
    cfsim_rps = sum(counts.values()) / rate_elapsed
    upgrades_per_second = args.services / elapsed
    bound = cfsim_rps / calls_per_upgrade
    print(f"{args.services} back-to-back upgrades through {args.workers} worker processes in {elapsed:.1f} s")
    print(f"  upgrades/s:              {upgrades_per_second:.2f}")
    print(f"  CF calls per upgrade:    {calls_per_upgrade:.1f}")
    print(f"  cfsim max requests/s:    {cfsim_rps:.0f}")
    print(f"  CF-side bound upgrades/s: {bound:.2f}  (requests/s ÷ calls per upgrade)")
    print(f"  ratio upgrades/s ÷ bound: {upgrades_per_second / bound:.2f}")


if __name__ == "__main__":
    main()
