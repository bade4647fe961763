"""What the deadlines keep track of: reminders sent before a test window ends, and what the sweep found
left behind on Cloud Foundry."""

from django.db import models

from upgrades.models.fleet import TeamOnlyQuerySet
from upgrades.models.requests import ServiceUpgrade


class WindowReminder(models.Model):
    """One reminder of a test window's end, `offset_seconds` before it, in window round `round` (an
    extension starts a new round). Unique: a reminder is recorded, and so mailed, at most once."""

    service = models.ForeignKey(ServiceUpgrade, on_delete=models.CASCADE, related_name="window_reminders")
    round = models.PositiveIntegerField()
    offset_seconds = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["service", "round", "offset_seconds"], name="one_reminder_per_offset"
            )
        ]

    def __str__(self) -> str:
        return f"reminder {self.offset_seconds} s before round {self.round}'s end, service {self.service_id}"


class Leftover(models.Model):
    """A CF resource labelled by the portal that should no longer exist, as the last sweep found it."""

    class Kind(models.TextChoices):
        APP = "app", "App"
        ROUTE = "route", "Route"

    foundation = models.CharField(max_length=64)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    guid = models.CharField(max_length=36)
    name = models.CharField(max_length=300)
    # The `ecportal.io/upgrade` label's value: the service upgrade that made it.
    upgrade_label = models.CharField(max_length=63)
    reason = models.CharField(max_length=300)
    found_at = models.DateTimeField()

    objects = TeamOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["foundation", "kind", "name"]
        constraints = [models.UniqueConstraint(fields=["foundation", "guid"], name="one_leftover_per_guid")]

    def __str__(self) -> str:
        return f"{self.kind} {self.name} ({self.guid})"
