"""The Fleet inventory learns a campaign service's new release when it completes, not at the next sync."""

from upgrades.models import Campaign, FleetChange, FleetService, FleetSync
from upgrades.workflow import State

from .conftest import TARGET, approved_and_started, behind, create, wait_campaign


def test_a_completed_service_runs_the_target_release_in_the_fleet_before_any_sync(fleet, cast):
    services = behind(2)
    before = {s.zone_id: s for s in services}
    syncs = FleetSync.objects.count()
    campaign = create(cast["olga"], services, canary_size=1, wave_size=1, max_parallel=1)

    approved_and_started(campaign, cast["oscar"])
    wait_campaign(campaign, Campaign.State.COMPLETED)

    assert FleetSync.objects.count() == syncs  # no sync ran meanwhile: the completion wrote it
    for service in campaign.services.all():
        assert service.state == State.COMPLETED
        fleet_service = FleetService.objects.get(zone_id=service.zone_id)
        assert fleet_service.release == TARGET
        assert fleet_service.image == service.request.release.docker_image
        assert fleet_service.app_guid == service.green_app_guid
        assert fleet_service.app_name == before[service.zone_id].app_name
        change = fleet_service.changes.get(kind=FleetChange.Kind.RELEASE)
        assert (change.old_release, change.new_release) == (before[service.zone_id].release, TARGET)
