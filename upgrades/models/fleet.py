"""The fleet: EC services as inventory syncs found them, their contacts, changes and syncs."""

from django.db import models
from django.db.models import Q


class TeamOnlyQuerySet(models.QuerySet):
    """Rows only the EC team sees (the fleet, campaigns)."""

    def visible_to(self, user) -> "TeamOnlyQuerySet":
        if user.is_authenticated and user.has_perm("upgrades.operate"):
            return self.all()
        return self.none()


class FleetService(models.Model):
    """An EC service as the last inventory sync found it on its foundation: a route on an EC domain
    whose host is a zone ID, the app on that route, the release its droplet's image holds, and the
    CF service instance's name. A service that disappears is kept, with `gone_at` set."""

    zone_id = models.CharField(max_length=36, unique=True)
    foundation = models.CharField(max_length=64)
    domain = models.CharField(max_length=253)
    name = models.CharField(max_length=255, blank=True)
    app_guid = models.CharField(max_length=36, blank=True)
    app_name = models.CharField(max_length=255, blank=True)
    image = models.CharField(max_length=255, blank=True)
    release = models.CharField(max_length=64, blank=True)
    instances = models.PositiveIntegerField(default=0)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    gone_at = models.DateTimeField(null=True, blank=True)
    # When the EC team last set this service's contacts (`contacts`); until then, and whenever a
    # later request names the service, its contacts are those of its latest request.
    contacts_set_at = models.DateTimeField(null=True, blank=True)

    objects = TeamOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["foundation", "name", "zone_id"]
        indexes = [
            models.Index(fields=["foundation", "release"]),
            models.Index(fields=["release"]),
            models.Index(fields=["name"]),
        ]

    def __str__(self) -> str:
        return self.name or self.zone_id

    @property
    def display_name(self) -> str:
        return self.name or self.zone_id

    @property
    def url(self) -> str:
        return f"https://{self.zone_id}.{self.domain}"


class FleetContact(models.Model):
    """A point of contact of a fleet service as the EC team set it (by hand or from CSV): an email
    address or other contact info, as on a request."""

    service = models.ForeignKey(FleetService, on_delete=models.CASCADE, related_name="contacts")
    email = models.EmailField(max_length=254, blank=True)
    other = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["service", "email"], condition=~Q(email=""), name="unique_fleet_contact_email"
            ),
            models.UniqueConstraint(
                fields=["service", "other"], condition=~Q(other=""), name="unique_fleet_contact_other"
            ),
            models.CheckConstraint(
                condition=(Q(email="") & ~Q(other="")) | (~Q(email="") & Q(other="")),
                name="fleet_contact_is_email_or_other",
            ),
        ]

    def __str__(self) -> str:
        return self.email or self.other


class FleetChange(models.Model):
    """What a sync saw change: a service appeared, disappeared, came back, or changed release."""

    class Kind(models.TextChoices):
        APPEARED = "appeared", "Appeared"
        DISAPPEARED = "disappeared", "Disappeared"
        RELEASE = "release", "Release changed"

    service = models.ForeignKey(FleetService, on_delete=models.CASCADE, related_name="changes")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    old_release = models.CharField(max_length=64, blank=True)
    new_release = models.CharField(max_length=64, blank=True)
    at = models.DateTimeField()

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.service_id} {self.kind}"


class FleetSync(models.Model):
    """One inventory sync of one foundation: when, how many services, how many CF calls, or why not."""

    foundation = models.CharField(max_length=64)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    services = models.PositiveIntegerField(default=0)
    changes = models.PositiveIntegerField(default=0)
    cf_calls = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["foundation", "-started_at"])]

    def __str__(self) -> str:
        return f"{self.foundation} at {self.started_at:%Y-%m-%d %H:%M}"
