"""The inventory's writes: what a sync found on a foundation, and what a completed upgrade changed.

Both record each release change as a FleetChange and never delete history. Both lock the fleet rows
they write (a sync all of its foundation's, an upgrade its own), so neither overwrites the other's
write half-way.
"""

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from upgrades.models import FleetChange, FleetService


@dataclass(frozen=True)
class Found:
    """One EC service as CF shows it now."""

    zone_id: str
    domain: str
    name: str
    app_guid: str
    app_name: str
    image: str
    release: str
    instances: int


FIELDS = ("foundation", "domain", "name", "app_guid", "app_name", "image", "release", "instances")


def record_found(foundation: str, found: list[Found]) -> int:
    """Write what a sync found for `foundation`; the number of changes recorded."""
    now = timezone.now()
    changes: list[FleetChange] = []

    def change(service: FleetService, kind: FleetChange.Kind, old: str = "", new: str = "") -> None:
        changes.append(FleetChange(service=service, kind=kind, old_release=old, new_release=new, at=now))

    with transaction.atomic():
        mine = FleetService.objects.select_for_update().filter(foundation=foundation)
        known = {service.zone_id: service for service in mine}
        # A service that moved here from another foundation is found under its zone ID.
        moved = [item.zone_id for item in found if item.zone_id not in known]
        known |= {s.zone_id: s for s in FleetService.objects.select_for_update().filter(zone_id__in=moved)}
        created, seen = [], []
        for item in found:
            values = {"foundation": foundation} | {field: getattr(item, field) for field in FIELDS[1:]}
            service = known.pop(item.zone_id, None)
            if service is None:
                service = FleetService(zone_id=item.zone_id, first_seen_at=now, last_seen_at=now, **values)
                created.append(service)
                change(service, FleetChange.Kind.APPEARED, new=item.release)
                continue
            if service.gone_at is not None:
                change(service, FleetChange.Kind.APPEARED, new=item.release)
            elif service.release != item.release:
                change(service, FleetChange.Kind.RELEASE, old=service.release, new=item.release)
            for field, value in values.items():
                setattr(service, field, value)
            service.last_seen_at, service.gone_at = now, None
            seen.append(service)
        gone = [s for s in known.values() if s.foundation == foundation and s.gone_at is None]
        for service in gone:
            service.gone_at = now
            change(service, FleetChange.Kind.DISAPPEARED, old=service.release)
        FleetService.objects.bulk_create(created, batch_size=1000)
        FleetService.objects.bulk_update(seen + gone, [*FIELDS, "last_seen_at", "gone_at"], batch_size=1000)
        FleetChange.objects.bulk_create(changes, batch_size=1000)
    return len(changes)


def record_upgraded(*, zone_id: str, release: str, image: str, app_guid: str, app_name: str) -> bool:
    """An upgrade of `zone_id` completed: its app `app_guid` (`app_name`) runs `image` of `release`.
    Written in the caller's transaction (the one that records the completion), so the Fleet page
    shows the new release at once rather than after the next sync. False when the inventory does not
    know the service (or knows it gone): the next sync finds it as CF shows it."""
    with transaction.atomic():
        known = FleetService.objects.select_for_update().filter(zone_id=zone_id, gone_at__isnull=True)
        service = known.first()
        if service is None:
            return False
        if service.release != release:
            FleetChange.objects.create(
                service=service,
                kind=FleetChange.Kind.RELEASE,
                old_release=service.release,
                new_release=release,
                at=timezone.now(),
            )
        FleetService.objects.filter(pk=service.pk).update(
            release=release, image=image, app_guid=app_guid, app_name=app_name
        )
    return True
