"""Reads of the probes for pages: each service's verdict in words and its timeline as SVG geometry.

A fixed number of queries for a whole request page: the latest probe run of each service, their
seconds, and the CF calls that mark 2.1, 2.2 and finalize on the timeline.
"""

from dataclasses import dataclass, field
from datetime import datetime

from upgrades.models import CallLog, ProbeRun, ProbeSecond, ServiceUpgrade

WIDTH, HEIGHT, PAD = 600, 90, 4
PLOT_TOP, PLOT_BOTTOM = 18, 84  # the bars' band; marker labels sit above it
# The CF calls marked on the timeline: (sub-step, method, label). Finalize is marked at its first call.
MARKED = (("map_original", "POST", "2.1"), ("unmap_blue", "DELETE", "2.2"))
LABEL_GAP = 44  # the least distance between two markers' labels, in SVG units
FINALIZE_STEPS = ("delete_temp_route", "stop_blue", "delete_blue", "rename_green")


@dataclass(frozen=True)
class Segment:
    kind: str  # "old", "new", "other" or "failed": a CSS class suffix
    y: float
    height: float


@dataclass(frozen=True)
class Bar:
    x: float
    width: float
    segments: tuple[Segment, ...]


@dataclass(frozen=True)
class Marker:
    x: float
    label: str
    at: datetime
    label_x: float  # where its label sits: moved right when it would overlap the previous one


@dataclass
class ProbeView:
    run: ProbeRun
    bars: list[Bar] = field(default_factory=list)
    markers: list[Marker] = field(default_factory=list)
    width: int = WIDTH
    height: int = HEIGHT
    top: int = PLOT_TOP
    bottom: int = PLOT_BOTTOM

    @property
    def words(self) -> str:
        return verdict_words(self.run)

    @property
    def described(self) -> str:
        """The chart in words, for screen readers."""
        marks = ", ".join(f"{m.label} at {m.at:%H:%M:%S}" for m in self.markers)
        return f"Probes per second of the original URL: {self.words}." + (
            f" Marked: {marks}." if marks else ""
        )


def verdict_words(run: ProbeRun) -> str:
    """ "0 failed of 1,204 probes · p50 12 ms · p99 41 ms"."""
    words = f"{run.failed:,} failed of {run.sent:,} probes"
    if run.p50_ms is not None:
        words += f" · p50 {run.p50_ms:,} ms · p99 {run.p99_ms:,} ms"
    return words


def views_for(services: list[ServiceUpgrade]) -> dict[int, ProbeView]:
    """Each service's latest probe run with its timeline, by service id (services never probed are absent)."""
    ids = [service.pk for service in services]
    latest: dict[int, ProbeRun] = {}
    for run in ProbeRun.objects.filter(service_id__in=ids).order_by("service_id", "-id"):
        latest.setdefault(run.service_id, run)
    if not latest:
        return {}
    seconds: dict[int, list[ProbeSecond]] = {}
    for second in ProbeSecond.objects.filter(run__in=list(latest.values())).order_by("run_id", "at"):
        seconds.setdefault(second.run_id, []).append(second)
    steps = [step for step, _, _ in MARKED] + list(FINALIZE_STEPS)
    calls: dict[int, list[CallLog]] = {}
    for call in CallLog.objects.filter(service_id__in=list(latest), step__in=steps).order_by("id"):
        calls.setdefault(call.service_id, []).append(call)
    return {
        service_id: _view(run, seconds.get(run.pk, []), calls.get(service_id, []))
        for service_id, run in latest.items()
    }


def _view(run: ProbeRun, seconds: list[ProbeSecond], calls: list[CallLog]) -> ProbeView:
    view = ProbeView(run)
    if not seconds:
        return view
    start = min(run.started_at, seconds[0].at)
    end = max(seconds[-1].at.timestamp() + 1, (run.ended_at or seconds[-1].at).timestamp())
    span = max(end - start.timestamp(), 1.0)
    scale = (WIDTH - 2 * PAD) / span

    def x_of(moment: datetime) -> float:
        return round(PAD + (moment.timestamp() - start.timestamp()) * scale, 1)

    tallest = max(second.sent for second in seconds) or 1
    unit = (PLOT_BOTTOM - PLOT_TOP) / tallest
    for second in seconds:
        other = second.sent - second.failed - second.new - second.old
        y, parts = float(PLOT_BOTTOM), []
        for kind, count in (
            ("old", second.old),
            ("new", second.new),
            ("other", other),
            ("failed", second.failed),
        ):
            if count > 0:
                y -= count * unit
                parts.append(Segment(kind, round(y, 1), round(count * unit, 1)))
        view.bars.append(Bar(x_of(second.at), round(max(scale - 0.5, 0.5), 1), tuple(parts)))
    view.markers = _markers(run, calls, x_of)
    return view


def _markers(run: ProbeRun, calls: list[CallLog], x_of) -> list[Marker]:
    mine = [call for call in calls if call.created_at >= run.started_at]
    found = [
        (label, next((c for c in mine if c.step == step and c.method == method), None))
        for step, method, label in MARKED
    ]
    found.append(("finalize", next((c for c in mine if c.step in FINALIZE_STEPS), None)))
    markers: list[Marker] = []
    for label, call in found:
        if call is None:
            continue
        x = x_of(call.created_at)
        label_x = max(x, markers[-1].label_x + LABEL_GAP) if markers else x
        markers.append(Marker(x, label, call.created_at, round(min(label_x, WIDTH - PAD - 20), 1)))
    return markers
