"""A campaign's contacts get one mail per milestone covering all their services in it, read from a
real SMTP listener after a real worker moved the services."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.conftest import campaign_of
from tests.notifications.conftest import SITE, send_all, smtp  # noqa: F401 (a fixture)
from upgrades import fleet_contacts, foundations
from upgrades.models import Campaign, Delivery, Notification, ServiceUpgrade
from upgrades.notifications import outbox

from .conftest import approved_and_started, behind, create, wait_campaign


@pytest.fixture(autouse=True)
def _mail_settings(settings):
    settings.SITE_URL = SITE
    settings.CAMPAIGN_NOTIFY_GROUP_SECONDS = 600  # as the worker's: the test closes windows itself
    settings.EC_TEAM_EMAILS = []


def test_a_contact_of_three_services_gets_one_mail_per_milestone(fleet, cast, smtp):  # noqa: F811
    services = behind(4)
    ann, bob = services[:3], services[3]
    lines = [f"{s.zone_id},ann@example.com" for s in ann] + [f"{bob.zone_id},bob@example.com"]
    fleet_contacts.import_csv(user=cast["olga"], text="\n".join([*lines, f"{bob.zone_id},Slack: @bob"]))
    campaign = create(cast["olga"], services, canary_size=4, max_parallel=4)

    approved_and_started(campaign, cast["oscar"])
    wait_campaign(campaign, Campaign.State.COMPLETED)
    smtp.start()
    report = send_all()

    messages = smtp.messages()
    assert report.failed == 0 and report.deferred == 0
    assert sorted(m["To"] for m in messages) == ["ann@example.com"] * 2 + ["bob@example.com"] * 2
    for recipient, theirs, others in (("ann@example.com", ann, [bob]), ("bob@example.com", [bob], ann)):
        mine = [m for m in messages if m["To"] == recipient]
        subjects = sorted(m["Subject"] for m in mine)
        assert subjects[0] == f"[ecportal] {campaign.reference}: Completed"
        assert subjects[1] == f"[ecportal] {campaign.reference}: Upgrade to okinawa.130 scheduled"
        for message in mine:
            text = message.get_body(("plain",)).get_content()
            html = message.get_body(("html",)).get_content()
            for service in theirs:
                named = f"{service.name} on {foundations.name_of(service.foundation)}"
                assert named in text and service.zone_id in text and service.name in html
            for service in others:
                assert service.zone_id not in text and service.zone_id not in html
            assert f"Campaign {campaign.reference} “Roll out”" in text
            assert "What to do next:" in text and "/c/" in text  # a status page, no login
            assert "-upgrade-" not in text  # back to back: no temporary URL was ever given
        scheduled = next(m for m in mine if "scheduled" in m["Subject"]).get_body(("plain",)).get_content()
        assert "Wave 1: starts now." in scheduled and "Steps 1 and 2 run back to back" in scheduled
        completed = next(m for m in mine if "Completed" in m["Subject"]).get_body(("plain",)).get_content()
        assert "Gateways need nothing" in completed
    # The campaign's creator, who filed each request, gets no per-service mail.
    assert not Delivery.objects.filter(recipient=cast["olga"].email).exists()


@pytest.mark.django_db
def test_a_service_joining_a_campaign_mail_of_many_sends_only_its_own_facts(cast, releases):
    """A campaign's milestone mail gathers hundreds of services: each that joins adds its own
    snapshot, and those already in it are neither read back nor written again."""
    zones = [f"5e6f7081-92a3-4b44-8d5e-{n:012x}" for n in range(30)]
    campaign = campaign_of(cast["olga"], releases["okinawa"], zones, name="many", wave_size=30)
    services = list(ServiceUpgrade.objects.filter(campaign=campaign).order_by("id"))
    for service in services[:-1]:
        outbox.on_wave_scheduled(campaign_id=campaign.pk, services=[service], starts_at=None)
    with CaptureQueriesContext(connection) as last_join:
        outbox.on_wave_scheduled(campaign_id=campaign.pk, services=services[-1:], starts_at=None)
    largest = max(len(query["sql"]) for query in last_join.captured_queries)
    assert largest < 4000, f"the 30th service's join sent a statement of {largest} characters"
    outbox.on_wave_scheduled(campaign_id=campaign.pk, services=services[:1], starts_at=None)  # again
    (notification,) = Notification.objects.filter(campaign=campaign, milestone="wave_scheduled")
    assert [facts["id"] for facts in notification.facts()] == [s.pk for s in services[1:] + services[:1]]
