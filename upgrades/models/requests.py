"""Upgrade requests, their services, events, CF call log, contacts and notifications."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Upper
from django.utils import timezone

from upgrades.workflow import (
    ACTIVE_STATES,
    PLAN_LABELS,
    STATE_LABELS,
    Plan,
    State,
    request_status,
    wait_reason,
)


class Release(models.Model):
    """An EC service release the EC team offers, e.g. `okinawa.130`, with the image Step 1 deploys."""

    name = models.CharField(max_length=64, unique=True)
    docker_image = models.CharField(max_length=255)
    recommended = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-recommended", "-name"]
        constraints = [
            models.UniqueConstraint(
                fields=["recommended"], condition=Q(recommended=True), name="one_recommended_release"
            )
        ]

    def __str__(self) -> str:
        return self.name


class UpgradeRequestQuerySet(models.QuerySet):
    def visible_to(self, user) -> "UpgradeRequestQuerySet":
        """The one gate behind every page, fragment and API call: what `user` may see."""
        if not user.is_authenticated:
            return self.none()
        if user.has_perm("upgrades.operate"):
            return self.all()
        return self.mine(user)

    def mine(self, user) -> "UpgradeRequestQuerySet":
        """Requests `user` filed or is listed on as a contact (their email, in any case)."""
        if not user.email:
            return self.filter(requester=user)
        # One set of ids from two indexed lookups: the database then sees how few they are, where
        # an OR of the two made it guess half of all requests and walk whole lists for the first ten.
        filed = UpgradeRequest.objects.filter(requester=user).order_by().values("pk")
        listed = Contact.objects.filter(email__iexact=user.email).order_by().values("request_id")
        return self.filter(pk__in=filed.union(listed))


class UpgradeRequest(models.Model):
    requester = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    plan = models.CharField(max_length=16, choices=list(PLAN_LABELS.items()), default=Plan.TEST_FIRST)
    release = models.ForeignKey(Release, on_delete=models.PROTECT, related_name="requests")
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # Bumped by every write to the request's own rows (its contacts); with its services' versions and
    # its latest event it tells the request page's conditional GET whether anything it shows changed.
    version = models.PositiveBigIntegerField(default=0)

    objects = UpgradeRequestQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("operate", "Operate upgrades (EC team)")]

    def __str__(self) -> str:
        return f"UR-{self.pk}"

    @property
    def reference(self) -> str:
        return f"UR-{self.pk}"

    def status_from(self, services) -> State:
        """The request's status, derived from its services (pass them to avoid a query)."""
        return request_status([service.state for service in services])


class Contact(models.Model):
    """A point of contact kept informed about a request; often not a portal user.

    Either an email address (mailed at each milestone) or, as people give them, other contact
    details such as a chat handle or a phone number (shown to the EC team, never mailed).
    """

    request = models.ForeignKey(UpgradeRequest, on_delete=models.CASCADE, related_name="contacts")
    email = models.EmailField(max_length=254, blank=True)
    other = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["request", "email"],
                condition=~Q(email=""),
                name="unique_contact_per_request",
            ),
            models.UniqueConstraint(
                fields=["request", "other"],
                condition=~Q(other=""),
                name="unique_other_contact_per_request",
            ),
            models.CheckConstraint(
                condition=(Q(email="") & ~Q(other="")) | (~Q(email="") & Q(other="")),
                name="contact_is_email_or_other",
            ),
        ]
        indexes = [
            models.Index(fields=["email"]),
            # Whose requests a user sees matches their email case-insensitively (`email__iexact`).
            models.Index(Upper("email"), name="contact_email_upper"),
        ]

    def __str__(self) -> str:
        return self.email or self.other


class Preflight(models.TextChoices):
    PENDING = "pending", "Checking"
    PASSED = "passed", "Passed"
    FAILED = "failed", "Failed"
    RETRYING = "retrying", "CF unreachable, retrying"


class ServiceUpgradeQuerySet(models.QuerySet):
    def of(self, requests: models.QuerySet) -> "ServiceUpgradeQuerySet":
        """The services of `requests` (a `visible_to` queryset, perhaps narrowed further). Where it
        is not narrowed at all, as for the EC team, every service: the database then reads the
        services alone instead of matching them against every request."""
        if not requests.query.has_filters():
            return self.all()
        return self.filter(request__in=requests.values("pk"))


def version_bump() -> dict:
    """Fields for an UPDATE that changes what a page shows: its row's version goes up by one."""
    return {"version": models.F("version") + 1}


class ServiceUpgrade(models.Model):
    """One EC service (zone ID on a foundation) moving through the blue-green steps."""

    request = models.ForeignKey(UpgradeRequest, on_delete=models.CASCADE, related_name="services")
    url = models.CharField(max_length=300)
    zone_id = models.CharField(max_length=36)
    # The EC service's name: its CF service instance's name (e.g. `ec-acme-prod`), learnt at preflight;
    # empty until then (pages show the zone ID meanwhile).
    name = models.CharField(max_length=255, blank=True)
    domain = models.CharField(max_length=253)
    foundation = models.CharField(max_length=64)
    # Each service's own plan: test after Step 1, or Steps 1 and 2 back to back.
    plan = models.CharField(max_length=16, choices=list(PLAN_LABELS.items()), default=Plan.TEST_FIRST)
    # Another service of the same request whose confirmation ("It works") this one waits for before
    # its Step 1 may start (e.g. `prod` after `non-prod`).
    after = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="followers"
    )
    state = models.CharField(max_length=32, choices=list(STATE_LABELS.items()), default=State.SUBMITTED)
    # The current (or failed) sub-step, e.g. "stage"; the engine resumes from here.
    step = models.CharField(max_length=64, blank=True)
    progress = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Bumped in the same UPDATE as every change of this row, so pages can answer conditional GETs.
    version = models.PositiveBigIntegerField(default=0)

    # Preflight: does the service stand on its foundation as an upgrade needs it?
    preflight = models.CharField(max_length=16, choices=Preflight.choices, default=Preflight.PENDING)
    preflight_message = models.TextField(blank=True)
    preflight_checked_at = models.DateTimeField(null=True, blank=True)
    # One chain of checks at a time: starting one (submission, "Check again", the reconciler) takes a
    # new run number; a check applies its result only while its run is still the current one.
    preflight_run = models.PositiveIntegerField(default=0)
    preflight_requested_at = models.DateTimeField(null=True, blank=True)
    preflight_attempts = models.PositiveIntegerField(default=0)  # transient failures in this run
    # The EC team was told of this failure episode (until a check passes, no second mail).
    preflight_alerted = models.BooleanField(default=False)

    # What the EC team chose: a scheduled Step 1, and whether a confirmation starts Step 2.
    trigger_at = models.DateTimeField(null=True, blank=True)
    start_step2_on_confirmation = models.BooleanField(default=False)
    # Where a rollback ends: `rolled_back`, or `cancelled` when it undoes Step 1 for a cancellation.
    rollback_outcome = models.CharField(max_length=32, blank=True)

    # Engine bookkeeping (DESIGN §3): a lease claims the current sub-step; attempts count retries.
    attempt = models.PositiveIntegerField(default=0)
    lease_owner = models.CharField(max_length=64, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    step_started_at = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)

    # Cloud Foundry facts, each recorded before the next call is made.
    space_guid = models.CharField(max_length=36, blank=True)
    domain_guid = models.CharField(max_length=36, blank=True)
    original_route_guid = models.CharField(max_length=36, blank=True)
    blue_app_guid = models.CharField(max_length=36, blank=True)
    blue_app_name = models.CharField(max_length=255, blank=True)
    blue_release = models.CharField(max_length=64, blank=True)
    blue_snapshot = models.JSONField(default=dict, blank=True)
    blue_stopped = models.BooleanField(default=False)
    blue_deleted = models.BooleanField(default=False)
    green_app_guid = models.CharField(max_length=36, blank=True)
    green_app_name = models.CharField(max_length=255, blank=True)
    green_process_guid = models.CharField(max_length=36, blank=True)  # green's web process
    package_guid = models.CharField(max_length=36, blank=True)
    build_guid = models.CharField(max_length=36, blank=True)
    droplet_guid = models.CharField(max_length=36, blank=True)
    binding_guids = models.JSONField(default=list, blank=True)
    temp_host = models.CharField(max_length=63, blank=True)
    temp_route_guid = models.CharField(max_length=36, blank=True)
    job_guid = models.CharField(max_length=36, blank=True)
    instances_running = models.PositiveIntegerField(default=0)
    instances_desired = models.PositiveIntegerField(default=0)

    # What will happen on CF, as preflight found it (`engine.plan`): resources to create, change and
    # delete by name and GUID, never an environment variable's value. Frozen once approved.
    change_plan = models.JSONField(default=dict, blank=True)
    # The stable hash of `change_plan`, and the one the approver approved (Step 1 compares them).
    plan_fingerprint = models.CharField(max_length=64, blank=True)
    approved_fingerprint = models.CharField(max_length=64, blank=True)

    # A service moved by a campaign, and the wave it belongs to (null: left out at approval).
    campaign = models.ForeignKey(
        "Campaign", null=True, blank=True, on_delete=models.SET_NULL, related_name="services"
    )
    wave = models.PositiveIntegerField(null=True, blank=True)
    # The test window of a test-first plan (`upgrades.windows`): it runs only while the service awaits
    # the users' test (`test_window_ends_at` set); elsewhere what is left of it is kept in
    # `test_window_left` (seconds). `test_window_round` counts extensions; `test_window_ended_at` says
    # the end was handled (the EC team told, the service rolled back or left waiting for them).
    test_window_ends_at = models.DateTimeField(null=True, blank=True)
    test_window_left = models.FloatField(null=True, blank=True)
    test_window_round = models.PositiveIntegerField(default=0)
    test_window_ended_at = models.DateTimeField(null=True, blank=True)
    # After Step 2, blue is stopped and set aside until then (RETENTION_SECONDS), restorable meanwhile.
    blue_retained_until = models.DateTimeField(null=True, blank=True)
    # When the retention clean-up saw the old app gone from CF (or found it no longer ours): until then a
    # claimed deletion (`blue_deleted`) is retried by every beat round.
    blue_removed_at = models.DateTimeField(null=True, blank=True)
    # What CF showed when the service last failed (`upgrades.engine.observe`), for the EC team to
    # compare with what the failed sub-step expected; empty until then.
    cf_observed = models.JSONField(default=dict, blank=True)

    objects = ServiceUpgradeQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [
            # One active upgrade per EC service, enforced by the database even under races.
            models.UniqueConstraint(
                fields=["zone_id"],
                condition=Q(state__in=sorted(ACTIVE_STATES)),
                name="one_active_upgrade_per_zone",
            )
        ]
        indexes = [
            # The home page's lists ("steps to start", "failures", "running") are the latest services in
            # some states: read in this order from the index, not sorted out of the whole table.
            models.Index(fields=["state", "-updated_at"], name="service_state_latest"),
            # Lists over several states (failures, running) walk all services newest first and stop
            # at the tenth match, instead of joining every match before sorting.
            models.Index(fields=["-updated_at", "-id"], name="service_latest"),
            models.Index(fields=["zone_id"]),
        ]

    def __str__(self) -> str:
        return f"{self.zone_id} ({self.state})"

    @property
    def restorable(self) -> bool:
        """The old app is still kept, set aside, within its retention window."""
        kept = self.blue_retained_until
        return bool(kept and not self.blue_deleted and kept > timezone.now())

    @property
    def probe(self) -> dict | None:
        """The probes of the original URL through the latest Step 2 attempt (`sent, failed, p50_ms,
        p99_ms`), or None before Step 2 began. Reads `probe_runs`, which request selectors prefetch."""
        runs = list(self.probe_runs.all())
        return max(runs, key=lambda run: run.pk).summary if runs else None

    @property
    def display_name(self) -> str:
        """What people call the service: its name once preflight learnt it, else its zone ID."""
        return self.name or self.zone_id

    @property
    def state_label(self) -> str:
        return State(self.state).label

    def waits_for(self, siblings) -> str:
        """Why Step 1 may not start yet because this service waits for another of its request (found
        among `siblings`, the request's services as loaded), or "" when nothing holds it back."""
        if self.after_id is None or self.state not in (State.SUBMITTED, State.APPROVED):
            return ""
        awaited = next((s for s in siblings if s.pk == self.after_id), None)
        return wait_reason(awaited.display_name, State(awaited.state)) if awaited else ""

    @property
    def temporary_url(self) -> str:
        return f"https://{self.temp_host}.{self.domain}" if self.temp_host and self.temp_route_guid else ""

    @property
    def temporary_url_live(self) -> str:
        """The temporary URL while it serves green (Step 1 done, route not yet deleted)."""
        live = {State.AWAITING_VERIFICATION, State.VERIFIED, State.STEP2_RUNNING, State.STEP1_RUNNING}
        return self.temporary_url if self.state in live else ""


class Event(models.Model):
    """The timeline: every state change and comment, with who did it and when."""

    class Kind(models.TextChoices):
        SUBMITTED = "submitted", "Submitted"
        TRANSITION = "transition", "State change"
        COMMENT = "comment", "Comment"
        # What the portal records of a person's doing beside state changes (contacts changed, an
        # action that applied to only some services).
        NOTE = "note", "Note"
        # A sub-step that changes who serves the service, recorded once when the engine completes it
        # (2.1: the original route reaches the new app; 2.2: the old app leaves it).
        MILESTONE = "milestone", "Milestone"

    request = models.ForeignKey(UpgradeRequest, on_delete=models.CASCADE, related_name="events")
    service = models.ForeignKey(
        ServiceUpgrade, null=True, blank=True, on_delete=models.CASCADE, related_name="events"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Who acted, in words: a username, a contact's email, or "system".
    actor_label = models.CharField(max_length=254)
    from_state = models.CharField(max_length=32, blank=True)
    to_state = models.CharField(max_length=32, blank=True)
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.from_state}->{self.to_state}"


class CallLog(models.Model):
    """One Cloud Foundry call made for a service upgrade (shown to the EC team)."""

    service = models.ForeignKey(ServiceUpgrade, on_delete=models.CASCADE, related_name="calls")
    step = models.CharField(max_length=64, blank=True)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=500)
    status = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    request_id = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.method} {self.path} {self.status}"


# --- Notifications: the outbox (DESIGN §3) and what contacts without an account need ------------


class Notification(models.Model):
    """One milestone of one request, covering the services that reached it together.

    Services join while `ready_at` lies ahead and the notification is not yet `sealed`; the first send
    seals it under the request's row lock, so no service joins a notification whose mail went out.
    Each service's `NotificationEntry` holds a snapshot of it as it was when it joined (the mail says
    what happened then, whatever happens after).
    """

    class Audience(models.TextChoices):
        USERS = "users", "Requester and contacts"
        TEAM = "team", "EC team"

    # A campaign's notification has no request: it covers services of many requests, and each
    # recipient's mail lists only their own (each entry's `facts["recipients"]`).
    request = models.ForeignKey(
        UpgradeRequest, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications"
    )
    campaign = models.ForeignKey(
        "Campaign", null=True, blank=True, on_delete=models.CASCADE, related_name="notifications"
    )
    milestone = models.CharField(max_length=32)
    audience = models.CharField(max_length=8, choices=Audience.choices)
    services = models.ManyToManyField(ServiceUpgrade, blank=True, related_name="notifications")
    created_at = models.DateTimeField(auto_now_add=True)
    ready_at = models.DateTimeField(db_index=True)
    sealed = models.BooleanField(default=False)
    # A reminder points at the Step 1 mail it follows up; one reminder per such mail.
    reminder_of = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="reminder"
    )

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["request", "milestone"])]
        constraints = [
            # Services of a campaign join its one open notification per milestone; two services
            # reaching a milestone at once cannot open two.
            models.UniqueConstraint(
                fields=["campaign", "milestone"],
                condition=Q(sealed=False, campaign__isnull=False),
                name="one_open_campaign_notification",
            ),
        ]

    def __str__(self) -> str:
        if self.campaign_id:
            return f"CA-{self.campaign_id} {self.milestone}"
        return f"UR-{self.request_id} {self.milestone}"

    def facts(self) -> list[dict]:
        """Its services as they were when they joined, in the order they joined."""
        return [entry.facts for entry in self.entries.all()]


class NotificationEntry(models.Model):
    """One service in a notification, as it was when it joined (`outbox.service_facts`). A row of its
    own, so a service joining a notification of hundreds adds a row instead of rewriting them all."""

    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="entries")
    service = models.ForeignKey(ServiceUpgrade, on_delete=models.CASCADE, related_name="+")
    facts = models.JSONField()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["notification", "service"], name="one_entry_per_service")
        ]

    def __str__(self) -> str:
        return f"{self.notification} · service {self.service_id}"


class Delivery(models.Model):
    """One message of a notification to one recipient; claimed by a sender with a CAS on the lease."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    class Channel(models.TextChoices):
        MAIL = "mail", "Mail"
        WEBHOOK = "webhook", "Webhook"

    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="deliveries")
    # An email address, or "webhook <id>" for a webhook's delivery (one per notification and webhook).
    recipient = models.CharField(max_length=254)
    channel = models.CharField(max_length=8, choices=Channel.choices, default=Channel.MAIL)
    # A deleted subscription leaves its deliveries for the record; the sender skips the pending ones.
    webhook = models.ForeignKey(
        "Webhook", null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)  # a webhook's last answer
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField()
    # Held by the sender that claimed the row; an expired lease (a sender that died) frees it again.
    claimed_until = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["notification", "recipient"], name="one_delivery_per_recipient")
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.recipient} {self.status}"


class ContactLink(models.Model):
    """A contact's signed link: its per-contact secret (rotated to revoke) and its unsubscription."""

    contact = models.OneToOneField(Contact, on_delete=models.CASCADE, related_name="link")
    secret = models.CharField(max_length=64)
    revoked_at = models.DateTimeField(null=True, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"link for contact {self.contact_id}"
