"""`/metrics`: Prometheus text for every process sharing the multiprocess directory, plus figures counted
from the database at scrape time.

The metrics recorded where things happen live in `upgrades.metrics`. Here: `DatabaseCollector` (upgrades by
state, services waiting on people by state and who must act, the outbox by channel, the probes of Step 2
by foundation, which the prober process writes there) and the view.
"""

from django.conf import settings
from django.db import DatabaseError
from django.db.models import Count, F, Min, OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce
from django.http import HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily

from upgrades import metrics as upgrade_metrics
from upgrades.models import Delivery, Event, ProbeRun, ServiceUpgrade
from upgrades.workflow import WAITING_ON, State


class DatabaseCollector:
    """Figures counted from the database on each scrape (a few grouped queries)."""

    def collect(self):
        # A database that does not answer costs these figures, not the processes' own: say so instead.
        try:
            families = [self._by_state(), *self._waiting(), *self._outbox(), *self._probes()]
        except DatabaseError:
            families = []
        yield GaugeMetricFamily(
            "ecportal_database_figures_up", "1 when the figures counted from the database could be read.",
            value=1 if families else 0,
        )  # fmt: skip
        yield from families

    @staticmethod
    def _by_state() -> GaugeMetricFamily:
        family = GaugeMetricFamily("ecportal_upgrades", "Services by upgrade state.", labels=["state"])
        counts = dict(ServiceUpgrade.objects.values_list("state").annotate(n=Count("pk")).order_by())
        for state in State:
            family.add_metric([state.value], counts.get(state.value, 0))
        return family

    @staticmethod
    def _waiting():
        waiting = GaugeMetricFamily(
            "ecportal_waiting_on_people", "Services waiting on people, by state and who must act.",
            labels=["state", "party"],
        )  # fmt: skip
        oldest = GaugeMetricFamily(
            "ecportal_waiting_on_people_oldest_seconds",
            "How long the longest-waiting service in each state has waited, by who must act.",
            labels=["state", "party"],
        )
        # A service entered its state at its latest state change into it (or when it was filed).
        entered = Event.objects.filter(
            service=OuterRef("pk"), kind=Event.Kind.TRANSITION, to_state=OuterRef("state")
        ).order_by("-created_at")
        rows = (
            ServiceUpgrade.objects.filter(state__in=list(WAITING_ON))
            .annotate(entered=Coalesce(Subquery(entered.values("created_at")[:1]), F("request__created_at")))
            .values("state")
            .annotate(n=Count("pk"), since=Min("entered"))
            .order_by()
        )
        found = {row["state"]: row for row in rows}
        now = timezone.now()
        for state, party in WAITING_ON.items():
            row = found.get(state.value)
            waiting.add_metric([state.value, party.value], row["n"] if row else 0)
            oldest.add_metric([state.value, party.value], (now - row["since"]).total_seconds() if row else 0)
        yield waiting
        yield oldest

    @staticmethod
    def _outbox():
        # Mail and webhook deliveries share the outbox but not their failures: one series per channel.
        labels = ["channel"]
        pending = GaugeMetricFamily("ecportal_outbox_pending", "Deliveries not sent yet.", labels=labels)
        oldest = GaugeMetricFamily(
            "ecportal_outbox_oldest_pending_seconds", "Age of the oldest delivery not sent yet.",
            labels=labels,
        )  # fmt: skip
        attempts = GaugeMetricFamily(
            "ecportal_outbox_pending_attempts", "Failed send attempts of the deliveries not sent yet.",
            labels=labels,
        )  # fmt: skip
        rows = (
            Delivery.objects.filter(status=Delivery.Status.PENDING)
            .values("channel")
            .annotate(n=Count("pk"), since=Min("created_at"), attempts=Coalesce(Sum("attempts"), 0))
            .order_by()
        )
        found = {row["channel"]: row for row in rows}
        now = timezone.now()
        for channel in Delivery.Channel:
            row = found.get(channel.value)
            pending.add_metric([channel.value], row["n"] if row else 0)
            oldest.add_metric([channel.value], (now - row["since"]).total_seconds() if row else 0)
            attempts.add_metric([channel.value], row["attempts"] if row else 0)
        yield pending
        yield oldest
        yield attempts

    @staticmethod
    def _probes():
        # The prober records every probe in the database (per-second rows and a run's tallies), so
        # the figures are counted there rather than in a process of their own.
        labels = ["foundation"]
        sent = GaugeMetricFamily(
            "ecportal_probes_sent", "Probes of original URLs through Step 2.", labels=labels
        )
        failed = GaugeMetricFamily(
            "ecportal_probe_failures", "Probes of original URLs through Step 2 that failed.", labels=labels
        )
        rows = ProbeRun.objects.values("service__foundation").annotate(sent=Sum("sent"), failed=Sum("failed"))
        for row in rows.order_by():
            sent.add_metric([row["service__foundation"]], row["sent"])
            failed.add_metric([row["service__foundation"]], row["failed"])
        yield sent
        yield failed


def _refusal(request) -> HttpResponse | None:
    refused = upgrade_metrics.refusal(request.headers.get("Authorization", ""), settings.METRICS_TOKEN)
    if refused is None:
        return None
    status, text = refused
    response = HttpResponse(text + "\n", status=status, content_type="text/plain")
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response


@never_cache
@require_safe
def metrics(request):
    """Prometheus text: what every process recorded, and the figures counted from the database now."""
    refused = _refusal(request)
    if refused is not None:
        return refused
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(settings.PROMETHEUS_MULTIPROC_DIR))
    registry.register(DatabaseCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
