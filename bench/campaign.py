"""Campaigns at scale: wall time against the ideal schedule, throughput against cfsim's bound, pages.

    .venv/bin/python bench/campaign.py [--waves-services 500] [--canary 5] [--wave 50]
        [--wave-workers threads:16x2,threads:16,prefork:4] [--throughput-services 1000] [--workers 2,4]
        [--page-services 5000] [--renders 100] [--prober] [--skip waves,throughput,pages]

Each part runs on a fresh `ecportal_campaign_bench` database (`BENCH_DATABASE_URL`), Redis
(`BENCH_BROKER_URL`, `BENCH_CACHE_URL`) and a cfsim fleet (`--fleet N`), the campaign created by
one EC team member (olga) and approved by another (admin), to a release no service runs yet, so
every service of the fleet is in it. Printed side by side:

1. Waves, cfsim's realistic profile (30 ms a call, staging 20 s, instance start 8 s, jobs 2 s), each
   worker shape in `--wave-workers` in turn (`threads:16x2`: two worker processes of the production
   pool, 16 tasks at once each, as the manifest deploys them; `threads:16`: one; `prefork:4`: one
   worker of 4 processes), and beat, with the production engine settings: a canary wave of `--canary`,
   then waves of `--wave`, at most `--wave` at once, back to back, no pause.
   Wall time from Start to the campaign saying Completed, against the ideal schedule: what the waves
   would take if the portal added no time beyond CF's own. The model: a service's CF-side time is
       staging + start + jobs × job delay + calls × latency,
   its calls being the distinct CF calls its upgrade made (a poll repeated while CF works counts once)
   and its jobs the asynchronous CF jobs it waited for, both read from the portal's call log of this
   run; a wave of n services at most P at once takes ceil(n / P) × its slowest service's time, and the
   waves follow one another. Goal: wall time ≤ 1.2 × ideal. With `--prober`, the prober process
   probes each service's original URL in Step 2 (PROBE_RATE a second, through cfsim's router, on
   the same machine) and Step 2 waits for its gates, as in production; the ideal stays CF's own
   time, so the gates' waits (PROBE_NEW_ANSWERS answers, PROBE_CLEAN_SECONDS) count as the portal's.
   A second ideal adds to each service the least time the gates take at their settings (`gates`):
   the ratio against it is the portal's own overhead, and the first ratio moves with the settings.
   The heading gives the request rate a fresh cfsim sustains on the machine at the time (as in part
   2): the ratio moves with it.
2. Throughput, the instant profile: one campaign of `--throughput-services` in a single wave (all at
   once) through 2 and through 4 worker processes of the production pool: upgrades/s against cfsim's
   own bound (its sustained requests/s for a realistic call mix, `bench/cfsim_rate.py`, ÷ CF calls per
   upgrade), CF calls per upgrade, SQL statements of the `advance` tasks per sub-step (the 18 of a
   back-to-back upgrade, its polls included) and per task (a task runs consecutive sub-steps, or one
   poll), counted in the workers by `bench/sqlcount.py`, and the workers' CPU seconds per upgrade
   (their processes' user + system time from /proc).
3. Pages at `--page-services`: the campaign page and its live fragment with a campaign of every
   service, and the Fleet page (Django's test client, `--renders` times each): p50/p95 ms and SQL
   queries; then the queries with a tenth of the services, to show they stay the same in number.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.cfsim_rate import run as cfsim_rate  # noqa: E402
from bench.fleet import render_times  # noqa: E402
from bench.sqlcount import totals  # noqa: E402
from bench.upgrade_throughput import free_port, wait_until  # noqa: E402
from ecportal.embedded import demo_foundations, demo_secrets  # noqa: E402
from ecportal.mailcatcher import serve  # noqa: E402
from testkit.cfsim import CfSim  # noqa: E402
from testkit.stack import FAST_ENGINE, Stack, children_of  # noqa: E402

DATABASE = (
    os.environ.get("BENCH_DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/ecportal_campaign_bench"
)
BROKER = os.environ.get("BENCH_BROKER_URL") or "redis://127.0.0.1:6379/13"
CACHE = os.environ.get("BENCH_CACHE_URL") or "redis://127.0.0.1:6379/14"
TARGET, TARGET_IMAGE = "okinawa.131", "ecsim/ec-service:okinawa.131"  # no fleet service runs it yet
REALISTIC = {"latency": 0.03, "staging_delay": 20.0, "start_delay": 8.0, "job_delay": 2.0}
# The production engine settings: the Stack's short test timings unset, so the settings' defaults apply.
PRODUCTION_ENGINE = dict.fromkeys(FAST_ENGINE)


def configure() -> None:
    os.environ.update(
        DATABASE_URL=DATABASE,
        CELERY_BROKER_URL=BROKER,
        CACHE_URL=CACHE,
        DJANGO_SETTINGS_MODULE="ecportal.settings",
        ALLOWED_HOSTS="127.0.0.1,testserver",
        LOG_LEVEL="WARNING",
        **demo_secrets(),
    )
    import django

    django.setup()


def fresh_portal(api_url: str) -> None:
    """A new database with the demo users and releases, the target release, an empty broker, and
    this process pointed at `api_url`'s foundations; then the inventory read from it."""
    import psycopg
    import redis
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connections

    from upgrades import foundations, inventory
    from upgrades.models import Release

    connections.close_all()
    name = DATABASE.rsplit("/", 1)[1]
    admin = psycopg.connect(DATABASE.rsplit("/", 1)[0] + "/postgres", autocommit=True)
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    redis.Redis.from_url(BROKER).flushdb()
    call_command("migrate", verbosity=0)
    call_command("seed_demo", verbosity=0)
    Release.objects.create(name=TARGET, docker_image=TARGET_IMAGE)
    settings.FOUNDATIONS = demo_foundations(api_url)
    foundations._configured.cache_clear()  # read once per process otherwise
    if failed := [s.error for s in inventory.sync_all() if s.error]:
        raise SystemExit(f"a sync failed: {failed}")


@dataclass(frozen=True)
class Workers:
    """`processes` worker processes, each of `pool` (None: the production pool and concurrency)."""

    processes: int = 1
    pool: str | None = None
    concurrency: int | None = None

    @classmethod
    def parse(cls, text: str) -> Workers:
        """`threads:16` or `prefork:4`: one worker process of that pool and concurrency; `threads:16x2`:
        two such processes."""
        shape, _, processes = text.partition("x")
        pool, _, concurrency = shape.partition(":")
        return cls(int(processes or 1), pool, int(concurrency))

    def __str__(self) -> str:
        if not self.pool:
            return f"{self.processes} processes"
        return f"{self.pool}:{self.concurrency}" + (f"x{self.processes}" if self.processes > 1 else "")


@contextmanager
def portal(
    sim: CfSim,
    scratch: Path,
    workers: Workers,
    engine: dict,
    *,
    count_sql: bool = False,
    prober: bool = False,
):
    """A fresh portal on `sim` with `workers` and beat, mail going to a real SMTP catcher; yields the
    Stack and the directory of the workers' SQL counts (`count_sql`: counting writes a file after
    every task, work that would weigh on the timings of the waves part). With `prober`, the prober
    process probes each service's original URL through cfsim's router in Step 2, and Step 2 waits
    for its gates, as in production; without it, probing and its gates are off."""
    fresh_portal(sim.api_url)
    counts = scratch / f"sql-{time.monotonic_ns()}"
    counts.mkdir()
    smtp_port = free_port()
    catcher = serve("127.0.0.1", smtp_port, scratch / "mail")
    extra = {"EMAIL_PORT": str(smtp_port), "CACHE_URL": CACHE, **engine}
    counting = ()
    if count_sql:
        extra["BENCH_SQL_COUNT_DIR"] = str(counts)
        counting = ("--include", "bench.sqlcount")
    router_url = sim.router_url if prober else ""
    stack = Stack(
        database=DATABASE, broker=BROKER, api_url=sim.api_url, router_url=router_url, log_dir=scratch,
        extra_env=extra,
    )  # fmt: skip
    try:
        for _ in range(workers.processes):
            stack.start_worker(workers.concurrency, *counting, pool=workers.pool)
        stack.start_beat()
        if prober:
            stack.start_prober()
        yield stack, counts
    finally:
        stack.stop()
        catcher.stop()


def create(zone_ids: list[str], canary: int, wave: int, parallel: int):
    """A campaign of `zone_ids` to the target, back to back, every preflight passed; not yet approved."""
    from django.contrib.auth.models import User

    from upgrades import campaigns
    from upgrades.models import Release
    from upgrades.workflow import Plan

    return campaigns.create_campaign(
        creator=User.objects.get(username="olga"),
        name=f"Bench {len(zone_ids)}",
        release=Release.objects.get(name=TARGET),
        plan=Plan.BACK_TO_BACK,
        named=campaigns.named_services(zone_ids, "zone_ids"),
        waves=campaigns.Waves(canary, wave, parallel, pause_seconds=0, failure_budget=len(zone_ids)),
    )


def fleet_zone_ids() -> list[str]:
    from upgrades.models import FleetService

    return list(FleetService.objects.order_by("zone_id").values_list("zone_id", flat=True))


def run(campaign, timeout: float) -> float:
    """Approve and start `campaign` once every preflight passed; seconds from Start until every
    service completed."""
    from django.contrib.auth.models import User

    from upgrades import campaigns
    from upgrades.models import CallLog, Preflight
    from upgrades.workflow import State

    services = campaign.services.filter(wave__isnull=False)
    count = services.count()
    wait_until(lambda: services.filter(preflight=Preflight.PASSED).count() == count, timeout, "preflight")
    approver = User.objects.get(username="admin")
    campaigns.act(campaign=campaign, action=campaigns.CampaignAction.APPROVE, actor=approver)
    CallLog.objects.all().delete()
    started = time.monotonic()
    campaigns.act(campaign=campaign, action=campaigns.CampaignAction.START, actor=approver)
    ended = services.filter(state__in=sorted(campaigns.ENDED_STATES))
    wait_until(lambda: ended.count() == count, timeout, "every service to end")
    took = time.monotonic() - started
    if stray := services.exclude(state=State.COMPLETED).count():
        raise SystemExit(f"{stray} of {count} services did not complete; see the campaign page")
    return took


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of processes `pids` and their live children, from /proc."""
    ticks = 0
    for each in [*pids, *(child for pid in pids for child in children_of(pid))]:
        fields = Path(f"/proc/{each}/stat").read_text().rpartition(")")[2].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


# --- 1. Waves against the ideal schedule -----------------------------------------------------------------


def ideal_seconds(campaign, delays: dict, extra: float = 0.0) -> tuple[float, float, float, float]:
    """The ideal schedule of `campaign` (see the module's docstring), from this run's call log, each
    service taking `extra` seconds beyond CF's time: (seconds, distinct calls per upgrade, jobs per
    upgrade, requests per upgrade, polls included)."""
    from upgrades.models import CallLog

    calls, jobs, requests = defaultdict(set), defaultdict(set), 0
    for service_id, method, path in CallLog.objects.values_list("service_id", "method", "path").iterator():
        requests += 1
        calls[service_id].add((method, path))
        if method == "GET" and path.startswith("/v3/jobs/"):
            jobs[service_id].add(path)
    waves = defaultdict(list)
    for service_id, wave in campaign.services.filter(wave__isnull=False).values_list("id", "wave"):
        cf_time = (
            delays["staging_delay"]
            + delays["start_delay"]
            + len(jobs[service_id]) * delays["job_delay"]
            + len(calls[service_id]) * delays["latency"]
            + extra
        )
        waves[wave].append(cf_time)
    ideal = sum(math.ceil(len(times) / campaign.max_parallel) * max(times) for times in waves.values())
    upgrades = sum(len(times) for times in waves.values())
    per = lambda found: sum(len(v) for v in found.values()) / upgrades  # noqa: E731
    return ideal, per(calls), per(jobs), requests / upgrades


def gates(delays: dict) -> float:
    """The least time Step 2's gates add to a service at the settings in force: the first answer
    (one probe interval), PROBE_NEW_ANSWERS answers from the new release while both apps serve (every
    other answer: the router goes round the same number of instances of each), and the part of the
    clean window (PROBE_CLEAN_SECONDS) that the job deleting the temporary route does not fill."""
    from django.conf import settings

    interval = 1 / settings.PROBE_RATE
    return (
        interval
        + settings.PROBE_NEW_ANSWERS * 2 * interval
        + max(0.0, settings.PROBE_CLEAN_SECONDS - delays["job_delay"])
    )


def verdict(ratio: float) -> str:
    return "met" if ratio <= 1.2 else f"missed by {(ratio - 1.2) * 100 / 1.2:.0f} %"


def cfsim_requests_per_second(args) -> float:
    """What a fresh cfsim (instant profile) sustains on this machine now: part 2's bound, and beside
    part 1's ratio how fast the machine is at the time (on a shared machine, the same code's ratio
    moves with it)."""
    with CfSim() as fresh:
        counts, _, elapsed = cfsim_rate(fresh.api_url, args.rate_seconds, 8)
    return sum(counts.values()) / elapsed


def waves_part(args, scratch: Path) -> list[str]:
    lines = [
        f"1. {args.waves_services} services, canary {args.canary} then waves of {args.wave} (at most "
        f"{args.wave} at once), back to back, realistic profile, "
        + (
            f"probed (the prober and Step 2's gates on; the gates take at least {gates(REALISTIC):.1f} s "
            "a service)"
            if args.prober
            else "not probed"
        )
        + f"; on this machine now cfsim (instant profile) sustains {cfsim_requests_per_second(args):.0f} "
        "requests/s",
        f"   {'worker':>11}{'waves':>7}{'ideal s':>9}{'last done s':>13}{'wall s':>8}{'ratio':>7}"
        f"{'portal s/wave':>15}{'calls/upgrade':>15}{'jobs/upgrade':>14}{'requests/upgrade':>18}"
        "  goal ≤ 1.2 × ideal" + ("; against the ideal with the gates' least time" if args.prober else ""),
    ]
    for workers in args.wave_workers:
        lines.append(waves_run(args, scratch, workers))
    return lines


def waves_run(args, scratch: Path, workers: Workers) -> str:
    from upgrades.models import Campaign

    with CfSim(delays=REALISTIC, args=("--fleet", str(args.waves_services)), timeout=120) as sim:
        with portal(sim, scratch, workers, PRODUCTION_ENGINE, prober=args.prober):
            campaign = create(fleet_zone_ids(), args.canary, args.wave, args.wave)
            took = run(campaign, args.timeout)
            wait_until(
                lambda: Campaign.objects.filter(pk=campaign.pk, state=Campaign.State.COMPLETED).exists(),
                60,
                "the campaign to say Completed",
            )
            campaign.refresh_from_db()
            wall = (campaign.ended_at - campaign.started_at).total_seconds()
            ideal, calls, jobs, requests = ideal_seconds(campaign, REALISTIC)
            gated = ideal_seconds(campaign, REALISTIC, gates(REALISTIC))[0] if args.prober else None
    waves = campaign.services.filter(wave__isnull=False).values("wave").distinct().count()
    ratio = wall / ideal
    line = (
        f"   {str(workers):>11}{waves:>7}{ideal:>9.1f}{took:>13.1f}{wall:>8.1f}{ratio:>7.2f}"
        f"{(wall - ideal) / waves:>15.1f}{calls:>15.1f}{jobs:>14.1f}{requests:>18.1f}  {verdict(ratio)}"
    )
    if gated is None:
        return line
    return line + f"; {wall / gated:.2f} × {gated:.1f} s, {verdict(wall / gated)}"


# --- 2. Throughput against cfsim's bound ------------------------------------------------------------------


def throughput_part(args, scratch: Path) -> list[str]:
    from upgrades import workflow
    from upgrades.models import CallLog
    from upgrades.workflow import State

    cfsim_rps = cfsim_requests_per_second(args)
    n = args.throughput_services
    lines = [
        f"2. {n} services in one wave (all at once), instant profile; "
        f"cfsim sustains {cfsim_rps:.0f} requests/s",
        f"   {'workers':>7}{'upgrades/s':>12}{'bound':>8}{'ratio':>7}{'CF calls/upgrade':>18}"
        f"{'SQL/sub-step':>14}{'SQL/task':>10}{'SQL/upgrade':>13}{'CPU s/upgrade':>15}",
    ]
    # Sub-steps of a back-to-back upgrade (Step 1 and Step 2); a task may run several, or one poll.
    substeps = n * sum(len(workflow.PHASES[state]) for state in (State.STEP1_RUNNING, State.STEP2_RUNNING))
    # The production engine settings (its timeouts allow for a long queue), polling soon.
    fast = PRODUCTION_ENGINE | {"ENGINE_POLL_SECONDS": "0.05", "CAMPAIGN_DRIVE_SECONDS": "1"}
    for processes in args.workers:
        sim = CfSim(args=("--fleet", str(n)), timeout=120)
        with sim, portal(sim, scratch, Workers(processes), fast, count_sql=True) as (stack, counts):
            campaign = create(fleet_zone_ids(), n, n, n)
            pids = [worker.pid for worker in stack.workers]
            cpu_before = cpu_seconds(pids)
            before = totals(counts)
            took = run(campaign, args.timeout)
            cpu = cpu_seconds(pids) - cpu_before
            statements, tasks = totals(counts)
            statements.subtract(before[0])
            tasks.subtract(before[1])
            calls = CallLog.objects.count() / n
        rate, bound = n / took, cfsim_rps / calls
        advance = "upgrades.tasks.advance"
        lines.append(
            f"   {processes:>7}{rate:>12.2f}{bound:>8.2f}{rate / bound:>7.2f}{calls:>18.1f}"
            f"{statements[advance] / substeps:>14.1f}{statements[advance] / tasks[advance]:>10.1f}"
            f"{statements.total() / n:>13.0f}{cpu / n:>15.3f}"
        )
    return lines


# --- 3. Pages at scale -------------------------------------------------------------------------------------


def pages_part(args, scratch: Path) -> list[str]:
    from django.contrib.auth.models import User

    from upgrades import campaigns
    from upgrades.models import FleetService

    n = args.page_services
    with CfSim(args=("--fleet", str(n)), timeout=120) as sim:
        fresh_portal(sim.api_url)

    # No worker: the preflight checks the campaigns queue wait in the broker; the pages show them pending.
    def paths(campaign) -> dict[str, str]:
        return {
            "campaign page": f"/campaigns/{campaign.pk}/",
            "campaign live fragment": f"/campaigns/{campaign.pk}/live/",
            "Fleet, first page": "/fleet/",
            "Fleet, a foundation and release": "/fleet/?foundation=predix-west&release=okinawa.130",
        }

    zone_ids = fleet_zone_ids()
    large = create(zone_ids, 5, 50, 50)
    rows = {name: render_times(path, args.renders) for name, path in paths(large).items()}
    # The same with a tenth: a draft campaign of a tenth of the services, a tenth of the fleet.
    admin = User.objects.get(username="admin")
    campaigns.act(campaign=large, action=campaigns.CampaignAction.ABORT, actor=admin)  # frees them
    small = create(zone_ids[: n // 10], 5, 50, 50)
    FleetService.objects.exclude(zone_id__in=zone_ids[: n // 10]).delete()
    tenth = {name: render_times(path, 3)[2] for name, path in paths(small).items()}
    lines = [
        f"3. pages with {n} services (a campaign of all of them)   p50 ms   p95 ms  queries"
        f"  queries at {n // 10}",
    ]
    for name, (p50, p95, queries) in rows.items():
        same = "same" if tenth[name] == queries else "DIFFERENT"
        lines.append(f"   {name:<52}{p50:>7.1f}{p95:>9.1f}{queries:>9}{tenth[name]:>9} ({same})")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--waves-services", type=int, default=500)
    parser.add_argument("--canary", type=int, default=5)
    parser.add_argument("--wave", type=int, default=50)
    parser.add_argument(
        "--wave-workers",
        type=lambda text: [Workers.parse(each) for each in text.split(",")],
        default=[Workers.parse(shape) for shape in ("threads:16x2", "threads:16", "prefork:4")],
        help="worker pools for part 1 (pool:concurrency), one run each",
    )
    parser.add_argument("--throughput-services", type=int, default=1000)
    parser.add_argument(
        "--workers",
        type=lambda text: [int(w) for w in text.split(",")],
        default=[2, 4],
        help="worker processes for part 2 (the production pool), one run each",
    )
    parser.add_argument("--page-services", type=int, default=5000)
    parser.add_argument("--renders", type=int, default=100)
    parser.add_argument("--rate-seconds", type=float, default=5)
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument(
        "--prober",
        action="store_true",
        help="part 1 with the prober and Step 2's probe gates on, as in production",
    )
    parser.add_argument("--skip", default="", help="parts to leave out: waves,throughput,pages")
    args = parser.parse_args()
    configure()
    parts = {"waves": waves_part, "throughput": throughput_part, "pages": pages_part}
    with tempfile.TemporaryDirectory() as scratch:
        for name, part in parts.items():
            if name not in args.skip.split(","):
                print("\n".join(part(args, Path(scratch))), end="\n\n", flush=True)


if __name__ == "__main__":
    main()
