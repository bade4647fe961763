"""Campaigns: many EC services moved to one release in waves."""

from django.conf import settings
from django.db import models

from upgrades.models.fleet import TeamOnlyQuerySet
from upgrades.models.requests import Release
from upgrades.workflow import PLAN_LABELS, Plan


class CampaignQuerySet(TeamOnlyQuerySet):
    def locked(self, *, skip_locked: bool = False) -> "CampaignQuerySet":
        """These campaigns with their rows locked until the transaction ends: the wave driver and a
        person's action take this lock to exclude each other, and nothing else.

        FOR NO KEY UPDATE, not FOR UPDATE: the foreign keys are checked when a transaction commits,
        and one that updates a service's row twice (a phase's end) checks its campaign key
        then, which waits behind FOR UPDATE. Each service of a wave would end one drive after the
        other."""
        return self.select_for_update(no_key=True, skip_locked=skip_locked)


class Campaign(models.Model):
    """Many EC services moved to one release in waves: a canary wave, then waves of `wave_size`,
    at most `max_parallel` running at once, a pause between waves, and a failure budget.

    Each of its services is an ordinary service upgrade (one request each); the campaign only
    decides when each one starts (`upgrades.campaign_driver.drive`).
    """

    class State(models.TextChoices):
        DRAFT = "draft", "Draft"
        APPROVED = "approved", "Approved"
        RUNNING = "running", "Running"
        PAUSED = "paused", "Paused"
        COMPLETED = "completed", "Completed"
        STOPPED = "stopped", "Stopped"
        ABORTED = "aborted", "Aborted"

    class Running(models.TextChoices):
        """What an abort does with the services the campaign already started."""

        FINISH = "finish", "Let running services finish"
        ROLLBACK = "rollback", "Roll back every service this campaign touched that has not completed"

    name = models.CharField(max_length=200)
    release = models.ForeignKey(Release, on_delete=models.PROTECT, related_name="campaigns")
    plan = models.CharField(max_length=16, choices=list(PLAN_LABELS.items()), default=Plan.BACK_TO_BACK)
    creator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.DRAFT)
    canary_size = models.PositiveIntegerField(default=1)
    wave_size = models.PositiveIntegerField(default=10)
    max_parallel = models.PositiveIntegerField(default=10)
    # Seconds between waves; null: wait for a person to press Continue.
    pause_seconds = models.PositiveIntegerField(null=True, blank=True)
    # Stop starting services once this many are failed or rolled back.
    failure_budget = models.PositiveIntegerField(default=1)
    # ... or once this percentage of the current wave failed, whichever comes first (null: no such limit).
    failure_budget_percent = models.PositiveSmallIntegerField(null=True, blank=True)
    # Foundation slugs whose services go first, in this order (the others after, as named).
    foundation_order = models.JSONField(default=list, blank=True)
    # When an approved campaign starts by itself (set by Start with a time; null: not scheduled).
    start_at = models.DateTimeField(null=True, blank=True)
    # The wave whose services are being started (0 before the first); when it ended, if it has;
    # and whether a person said to go on to the next without waiting.
    current_wave = models.PositiveIntegerField(default=0)
    wave_ended_at = models.DateTimeField(null=True, blank=True)
    continue_now = models.BooleanField(default=False)
    # Services named but not taken, each {zone_id, name, foundation, release, reason}.
    left_out = models.JSONField(default=list, blank=True)
    # Why the campaign stopped or was aborted, in words.
    reason = models.TextField(blank=True)
    # Aborted: what happens to the services it started ("" before an abort), and who chose it (the
    # rollbacks the driver starts later are theirs).
    abort_running = models.CharField(max_length=16, choices=Running.choices, blank=True)
    aborted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = CampaignQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["state"])]

    def __str__(self) -> str:
        return self.reference

    @property
    def reference(self) -> str:
        return f"CA-{self.pk}"
