"""The prober: a small process of its own (`manage.py run_prober`) that probes original URLs.

From just before 2.1 until the old app is stopped, Step 2 keeps a probe run open (`engine/probes.py`);
the prober requests that run's URL through the foundation's router at `PROBE_RATE` a second, notes
who answered and how fast, and writes what each finished second found (one row per second), so
thousands of probes cost a few hundred rows and no Celery worker waits for them. The run's tallies,
which the engine's gates read, are brought up to date every WRITE_SECONDS with every answer so far,
the current second's included: a gate never waits for a second to end. An answer that opens or
shuts a gate (a run's first, a failure, the PROBE_NEW_ANSWERS-th from the new release, the one that
completes a clean window of PROBE_CLEAN_SECONDS) has its run's tallies written at once, and a newly
opened run is adopted within ADOPT_SECONDS: Step 2 waits for CF, not for the prober. (A prober that
dies loses the rows of the seconds it had not written; the tallies keep what they had counted.) Runs
whose service left Step 2 (done, failed, rolled back) or whose old app is stopped are closed here.

One prober at a time: two would count every second twice.
"""

import logging
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from upgrades import foundations
from upgrades.cloudfoundry.apps import AppAnswer, ask
from upgrades.foundations import Foundation
from upgrades.models import ProbeRun, ProbeSecond
from upgrades.workflow import State

log = logging.getLogger(__name__)

# How often the prober looks for newly opened runs (the ids alone), and writes every open run's tallies.
ADOPT_SECONDS = 0.1
WRITE_SECONDS = 0.5


@dataclass
class _Second:
    sent: int = 0
    failed: int = 0
    new: int = 0
    old: int = 0
    latencies_ms: list[int] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)


@dataclass
class _Probing:
    """One open run as the prober works it: what is probed, what finished seconds await writing, and
    how many answers and failures the run's tallies do not count yet."""

    run_id: int
    url: str
    new_release: str
    old_release: str
    foundation: Foundation
    new_since_failure: int
    started_at: datetime  # the run's, where a clean window begins until an answer is not new
    answered: bool = False  # the run's tallies count an answer
    latencies_ms: list[int] = field(default_factory=list)  # every answer's, for the percentiles
    lock: threading.Lock = field(default_factory=threading.Lock)
    seconds: dict[datetime, _Second] = field(default_factory=dict)
    last_failure_at: datetime | None = None
    last_not_new_at: datetime | None = None
    uncounted: _Second = field(default_factory=_Second)  # `sent` and `failed` only
    urgent: bool = False  # an answer not written yet opens or shuts a gate
    clean_told: bool = False  # the answer completing the current clean window was noted

    def note(self, answer: AppAnswer) -> bool:
        """Count one answer in the second it arrived. True when it opens or shuts a gate of Step 2
        (see the module's docstring): its run's tallies are then to be written at once."""
        at = timezone.now()
        with self.lock:
            gate = not self.answered or bool(answer.failure)
            self.answered = True
            second = self.seconds.setdefault(at.replace(microsecond=0), _Second())
            second.sent += 1
            self.uncounted.sent += 1
            second.latencies_ms.append(answer.latency_ms)
            self.latencies_ms.append(answer.latency_ms)
            if answer.failure:
                second.failed += 1
                self.uncounted.failed += 1
                second.failures[answer.failure] = second.failures.get(answer.failure, 0) + 1
                self.new_since_failure, self.last_failure_at = 0, at
            if answer.runs(self.new_release):
                second.new += 1
                self.new_since_failure += 1
                gate |= self.new_since_failure == settings.PROBE_NEW_ANSWERS
                since = self.last_not_new_at or self.started_at
                clean = (at - since).total_seconds() >= settings.PROBE_CLEAN_SECONDS
                if clean and not self.clean_told:
                    self.clean_told = gate = True
            else:
                self.last_not_new_at = at
                self.clean_told = False
                second.old += answer.runs(self.old_release)
            self.urgent |= gate
            return gate

    def percentiles(self) -> dict[str, int]:
        with self.lock:
            ordered = sorted(self.latencies_ms)
        if not ordered:
            return {}
        return {"p50_ms": nearest_rank(ordered, 50), "p99_ms": nearest_rank(ordered, 99)}

    def finished(self, now: datetime) -> tuple[dict[datetime, _Second], _Second]:
        """Take the seconds that are over (an answer arriving now counts in the current one), and the
        answers and failures not yet in the run's tallies."""
        with self.lock:
            current = now.replace(microsecond=0)
            done = {at: s for at, s in self.seconds.items() if at < current}
            for at in done:
                del self.seconds[at]
            uncounted, self.uncounted = self.uncounted, _Second()
            self.urgent = False
            return done, uncounted


def nearest_rank(ordered: list[int], percent: float) -> int:
    """The `percent`-th percentile of sorted values: the smallest value at or above that share."""
    return ordered[max(0, math.ceil(percent / 100 * len(ordered)) - 1)]


class Prober:
    def __init__(self, *, rate: float | None = None, timeout: float | None = None):
        self.rate = rate if rate is not None else settings.PROBE_RATE
        self.timeout = timeout if timeout is not None else settings.PROBE_TIMEOUT
        self.active: dict[int, _Probing] = {}
        self.open_runs: set[int] = set()  # as the last refresh found them
        self.stop = threading.Event()
        self.wake = threading.Event()  # an answer opened or shut a gate
        # Enough threads that slow answers (up to the timeout) never lower the rate.
        self.pool = ThreadPoolExecutor(max_workers=64, thread_name_prefix="probe")

    def run_forever(self) -> None:
        if self.rate <= 0:
            log.info("prober: PROBE_RATE is 0, probing is off")
            self.stop.wait()
            return
        ticker = threading.Thread(target=self._tick, name="probe-ticker", daemon=True)
        ticker.start()
        log.info("prober: %g probes a second per open run", self.rate)
        next_round = time.monotonic()
        while not self.stop.is_set():
            self.wake.wait(ADOPT_SECONDS)
            self.wake.clear()
            try:
                if time.monotonic() >= next_round:
                    next_round = time.monotonic() + WRITE_SECONDS
                    self.refresh()
                    self.flush()
                else:
                    self.adopt()
                    self.flush(urgent=True)
            except Exception:  # a database hiccup: keep probing, write on the next round
                log.exception("prober: could not read or write probe runs")
                connection.close()
        self.flush(final=True)
        self.pool.shutdown(wait=False, cancel_futures=True)

    def _tick(self) -> None:
        """Send one probe per open run every 1/rate seconds, on a steady clock."""
        interval = 1.0 / self.rate
        next_at = time.monotonic()
        while not self.stop.is_set():
            for probing in list(self.active.values()):
                self.pool.submit(self._probe, probing)
            next_at += interval
            self.stop.wait(max(0.0, next_at - time.monotonic()))

    def _probe(self, probing: _Probing) -> None:
        if probing.note(ask(probing.foundation, probing.url, timeout=self.timeout)):
            self.wake.set()

    def adopt(self) -> None:
        """Refresh at once when a run was opened since the last refresh (a look at the ids alone)."""
        if set(ProbeRun.objects.filter(ended_at__isnull=True).values_list("pk", flat=True)) - self.open_runs:
            self.refresh()

    def refresh(self) -> None:
        """Adopt newly opened runs; close those whose service no longer needs probing."""
        seen = set()
        for run in ProbeRun.objects.filter(ended_at__isnull=True).select_related("service"):
            service = run.service
            if service.state != State.STEP2_RUNNING or service.blue_stopped:
                self._close(run.pk)
                continue
            seen.add(run.pk)
            foundation = foundations.by_slug(service.foundation)
            if run.pk not in self.active and foundation is not None:
                # A prober that restarts mid-run picks up the latencies already written.
                written = ProbeSecond.objects.filter(run=run).values_list("latencies_ms", flat=True)
                self.active[run.pk] = _Probing(
                    run.pk,
                    run.url,
                    run.new_release,
                    run.old_release,
                    foundation,
                    run.new_since_failure,
                    started_at=run.started_at,
                    last_not_new_at=run.last_not_new_at,
                    answered=run.sent > 0,
                    latencies_ms=[ms for second in written for ms in second],
                )
        self.open_runs = seen
        for run_id in set(self.active) - seen:
            self._write(self.active.pop(run_id), final=True)

    def _close(self, run_id: int) -> None:
        probing = self.active.pop(run_id, None)
        if probing:
            self._write(probing, final=True)
        ProbeRun.objects.filter(pk=run_id, ended_at__isnull=True).update(ended_at=timezone.now())

    def flush(self, *, final: bool = False, urgent: bool = False) -> None:
        """Write every open run (`urgent`: only those with an answer that opens or shuts a gate)."""
        for probing in list(self.active.values()):
            if probing.urgent or not urgent:
                self._write(probing, final=final)

    def _write(self, probing: _Probing, *, final: bool) -> None:
        """Write the finished seconds of one run and bring its tallies up to date with every answer
        so far, in one transaction."""
        now = timezone.now()
        seconds, uncounted = probing.finished(now + (timedelta(seconds=2) if final else timedelta()))
        if not seconds and not uncounted.sent:
            return
        rows = [ProbeSecond(run_id=probing.run_id, at=at, **vars(s)) for at, s in sorted(seconds.items())]
        with transaction.atomic():
            ProbeSecond.objects.bulk_create(rows, ignore_conflicts=True)
            fields = {
                "sent": F("sent") + uncounted.sent,
                "failed": F("failed") + uncounted.failed,
                "new_since_failure": probing.new_since_failure,
                **probing.percentiles(),
                "last_probe_at": now,  # every answer noted until then is counted
            }
            if probing.last_failure_at:
                fields["last_failure_at"] = probing.last_failure_at
            if probing.last_not_new_at:
                fields["last_not_new_at"] = probing.last_not_new_at
            ProbeRun.objects.filter(pk=probing.run_id).update(**fields)
