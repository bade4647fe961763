"""The fleet inventory read from cfsim's fleet seed over HTTP: what it finds, in how many CF calls,
and what it records when services appear, disappear, come back or change release."""

import collections
import copy

import pytest

from cfsim.fleet import fleet_seed
from upgrades import inventory
from upgrades.models import FleetChange, FleetService, FleetSync

from .conftest import FLEET_SEED, FLEET_SIZE

DOMAIN_FOUNDATION = {
    "run.aws-usw02-pr.ice.predix.io": "predix-west",
    "run.asv-pr.ice.predix.io": "predix-east",
    "run.aws-usw02.dev.ice.predix.io": "cf3",
}


def expected(seed: dict) -> dict[str, tuple[str, str, str, int]]:
    """zone ID -> (foundation, name, release, instances) as the seed made them."""
    domains = {d["guid"]: d["name"] for d in seed["domains"]}
    names = {s["guid"]: s["name"] for s in seed["service_instances"]}
    return {
        app["env"]["ZONE"]: (
            DOMAIN_FOUNDATION[domains[app["routes"][0]["domain_guid"]]],
            names[app["env"]["ZONE"]],
            app["image"].rsplit(":", 1)[1],
            app["instances"],
        )
        for app in seed["apps"]
    }


def found() -> dict[str, tuple[str, str, str, int]]:
    return {
        s.zone_id: (s.foundation, s.name, s.release, s.instances)
        for s in FleetService.objects.filter(gone_at__isnull=True)
    }


def test_a_sync_finds_every_ec_service_with_its_name_release_and_instances_in_few_calls(fleet):
    syncs = inventory.sync_all()

    assert [s.error for s in syncs] == ["", "", ""]
    assert found() == expected(fleet_seed(FLEET_SIZE, FLEET_SEED))
    assert sum(s.services for s in syncs) == FLEET_SIZE
    calls = sum(s.cf_calls for s in syncs)
    # Large pages and 100 GUIDs a call: about 10 calls a foundation, not several per service.
    assert calls / FLEET_SIZE < 0.15, f"{calls} CF calls for {FLEET_SIZE} services"
    kinds = collections.Counter(FleetChange.objects.values_list("kind", flat=True))
    assert kinds == {FleetChange.Kind.APPEARED: FLEET_SIZE}


def test_a_sync_records_what_disappeared_came_back_or_changed_release_and_deletes_nothing(fleet):
    seed = fleet_seed(FLEET_SIZE, FLEET_SEED)
    inventory.sync_all()
    changed = copy.deepcopy(seed)
    removed, upgraded = changed["apps"].pop(0), changed["apps"][0]
    upgraded["image"] = "ecsim/ec-service:okinawa.131"
    fleet.reset(changed)
    before = FleetChange.objects.latest("id").pk

    inventory.sync_all()

    gone = FleetService.objects.get(zone_id=removed["env"]["ZONE"])
    assert gone.gone_at is not None and FleetService.objects.count() == FLEET_SIZE
    moved = FleetService.objects.get(zone_id=upgraded["env"]["ZONE"])
    assert moved.release == "okinawa.131" and moved.gone_at is None
    latest = {
        (c.service_id, c.kind, c.old_release, c.new_release)
        for c in FleetChange.objects.filter(pk__gt=before)
    }
    assert latest == {
        (gone.pk, FleetChange.Kind.DISAPPEARED, gone.release, ""),
        (moved.pk, FleetChange.Kind.RELEASE, seed["apps"][1]["image"].rsplit(":", 1)[1], "okinawa.131"),
    }

    fleet.reset(seed)
    inventory.sync_all()
    gone.refresh_from_db()
    assert gone.gone_at is None
    assert gone.changes.first().kind == FleetChange.Kind.APPEARED
    assert FleetChange.objects.filter(service=gone).count() == 3


def test_a_foundation_that_fails_to_answer_changes_nothing_and_says_why(fleet):
    inventory.sync_all()
    before = found()
    fleet.add_fault(method="GET", path="^/v3/routes", status=403, count=1)

    syncs = inventory.sync_all()

    failed = [s for s in syncs if s.error]
    assert len(failed) == 1 and "403" in failed[0].error
    assert found() == before  # nobody marked gone for a read that failed
    assert FleetSync.objects.filter(error="").count() == 3 + 2


@pytest.mark.parametrize(
    "image, release",
    [("ecsim/ec-service:okinawa.130", "okinawa.130"), ("registry.example/ec:9", "9"), ("ec", "")],
)
def test_an_image_unknown_to_the_portal_is_known_by_its_tag(image, release):
    assert inventory.release_of(image) == release
