"""Probes of a service's original URL through Step 2: one run per Step 2 attempt, counted per second."""

from django.db import models

from upgrades.models.requests import ServiceUpgrade


class ProbeRun(models.Model):
    """The probes of one Step 2 attempt, from just before 2.1 until the old app is stopped.

    The engine opens it and reads its tallies for the gates of 2.2 and finalize; the prober process
    sends the probes and keeps the tallies (an UPDATE every half second). A retried Step 2 opens a new run.
    """

    service = models.ForeignKey(ServiceUpgrade, on_delete=models.CASCADE, related_name="probe_runs")
    # The start of the Step 2 attempt it belongs to (`step_started_at` as Step 2 began): a duplicate
    # delivery of 2.1 finds the run its first delivery opened.
    attempt_started_at = models.DateTimeField()
    url = models.CharField(max_length=500)
    new_release = models.CharField(max_length=64)
    old_release = models.CharField(max_length=64, blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    sent = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    # Answers from the new release since the latest failed probe (the gate of 2.2).
    new_since_failure = models.PositiveIntegerField(default=0)
    # Latency percentiles over every answer so far (nearest rank), kept with the tallies.
    p50_ms = models.PositiveIntegerField(null=True, blank=True)
    p99_ms = models.PositiveIntegerField(null=True, blank=True)
    last_probe_at = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    # The latest answer from anything but the new release (the old one, or a release not named).
    last_not_new_at = models.DateTimeField(null=True, blank=True)
    # How long 2.2 waited for the router to send the original URL to the new release, once it had.
    unmap_waited_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["service", "attempt_started_at"], name="one_probe_run_per_attempt"
            ),
        ]
        indexes = [models.Index(fields=["ended_at"], name="probe_run_open")]

    def __str__(self) -> str:
        return f"probes of {self.service_id}: {self.failed} failed of {self.sent}"

    @property
    def summary(self) -> dict:
        """The verdict as the API gives it (DESIGN §6): `{sent, failed, p50_ms, p99_ms}`."""
        return {"sent": self.sent, "failed": self.failed, "p50_ms": self.p50_ms, "p99_ms": self.p99_ms}


class ProbeSecond(models.Model):
    """What one second of probes found: counts by who answered, and every latency (for percentiles)."""

    run = models.ForeignKey(ProbeRun, on_delete=models.CASCADE, related_name="seconds")
    at = models.DateTimeField()
    sent = models.PositiveSmallIntegerField(default=0)
    failed = models.PositiveSmallIntegerField(default=0)
    new = models.PositiveSmallIntegerField(default=0)
    old = models.PositiveSmallIntegerField(default=0)
    latencies_ms = models.JSONField(default=list)
    # Failed probes by what they got: an HTTP status, or "timeout" / "error".
    failures = models.JSONField(default=dict)

    class Meta:
        ordering = ["run", "at"]
        constraints = [models.UniqueConstraint(fields=["run", "at"], name="one_probe_second")]

    def __str__(self) -> str:
        return f"{self.at:%H:%M:%S} {self.failed}/{self.sent}"
