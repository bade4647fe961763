"""A fleet service's contacts: those of its latest request until the EC team sets them, by hand or
from CSV (all or nothing, each bad line named); only the EC team may see or change them."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from upgrades import fleet_contacts
from upgrades.models import Contact, FleetContact, FleetService, ServiceUpgrade, UpgradeRequest

from .test_fleet_pages import synced  # noqa: F401 (a fixture)


def first(count: int) -> list[FleetService]:
    return list(FleetService.objects.order_by("zone_id")[:count])


def test_a_csv_import_gives_each_named_service_exactly_its_lines(synced, cast, client):  # noqa: F811
    one, two = first(2)
    client.force_login(cast["olga"])
    text = (
        f"zone_id,contact\n{one.zone_id},Ann@Example.com\n{one.zone_id},Slack: @ann\n\n"
        f"{two.zone_id.upper()},bob@example.com\n"
    )

    answer = client.post(reverse("fleet-contacts-import"), {"text": text}, follow=True)

    assert answer.status_code == 200
    assert "Imported 3 points of contact for 2 services." in answer.content.decode()
    found = fleet_contacts.contacts_for([one.zone_id, two.zone_id])
    assert found == {one.zone_id: ["ann@example.com", "Slack: @ann"], two.zone_id: ["bob@example.com"]}
    # Importing again replaces, never adds: the file says who the contacts are.
    client.post(reverse("fleet-contacts-import"), {"text": f"{one.zone_id},carol@example.com"})
    assert fleet_contacts.contacts_for([one.zone_id])[one.zone_id] == ["carol@example.com"]


def test_a_csv_with_bad_lines_imports_nothing_and_names_each_line(synced, cast, client):  # noqa: F811
    (one,) = first(1)
    client.force_login(cast["olga"])
    unknown = "0" * 8 + "-0000-4000-8000-" + "0" * 12
    text = "\n".join(
        [
            "zone_id,contact",
            f"{one.zone_id},ann@example.com",
            f"{one.zone_id},ann@",
            f"{unknown},bob@example.com",
            "just-one-column",
        ]
    )
    upload = _file(text)

    answer = client.post(reverse("fleet-contacts-import"), {"file": upload})

    page = answer.content.decode()
    assert answer.status_code == 400
    assert "Nothing was imported." in page
    assert "Line 3:" in page and "Line 4: zone ID " + unknown + " is not in the fleet." in page
    assert "Line 5: expected a zone ID and a contact separated by a comma." in page
    assert "Line 2:" not in page
    assert not FleetContact.objects.exists()

    binary = client.post(reverse("fleet-contacts-import"), {"file": _file("\x00\x01", name="x.xlsx")})
    assert binary.status_code == 400 and "not a text file" in binary.content.decode()
    empty = client.post(reverse("fleet-contacts-import"), {"text": "  "})
    assert empty.status_code == 400 and "Choose a CSV file or paste its lines." in empty.content.decode()


def _file(text: str, name: str = "contacts.csv"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, text.encode(), content_type="text/csv")


def test_contacts_are_the_latest_requests_until_the_ec_team_sets_them(synced, cast, client, releases):  # noqa: F811
    (service,) = first(1)
    request = UpgradeRequest.objects.create(
        requester=cast["alice"], plan="test_first", release=releases["okinawa"]
    )
    ServiceUpgrade.objects.create(
        request=request,
        url=service.url,
        zone_id=service.zone_id,
        domain=service.domain,
        foundation=service.foundation,
    )
    Contact.objects.create(request=request, email="carol@example.com")
    page = reverse("fleet-contacts", args=[service.zone_id])
    client.force_login(cast["olga"])

    shown = client.get(page).content.decode()
    assert "carol@example.com" in shown and "latest request" in shown

    refused = client.post(page, {"contacts": "dana@\nSlack: @dana"})
    assert refused.status_code == 400 and "Line 1:" in refused.content.decode()
    saved = client.post(page, {"contacts": "dana@example.com\nSlack: @dana"}, follow=True)
    assert "Saved 2 points of contact" in saved.content.decode()
    assert fleet_contacts.contacts_for([service.zone_id])[service.zone_id] == [
        "dana@example.com",
        "Slack: @dana",
    ]

    # A request filed after the EC team set them brings its own contacts again.
    UpgradeRequest.objects.filter(pk=request.pk).update(created_at=timezone.now() + timedelta(minutes=1))
    assert fleet_contacts.contacts_for([service.zone_id])[service.zone_id] == ["carol@example.com"]


@pytest.mark.parametrize("who", ["alice", "carol"])
def test_only_the_ec_team_sees_or_changes_fleet_contacts(synced, cast, client, who):  # noqa: F811
    (service,) = first(1)
    client.force_login(cast[who])
    page = reverse("fleet-contacts", args=[service.zone_id])
    importer = reverse("fleet-contacts-import")

    assert client.get(page).status_code == 403
    assert client.post(page, {"contacts": "mallory@example.com"}).status_code == 403
    assert client.get(importer).status_code == 403
    assert client.post(importer, {"text": f"{service.zone_id},mallory@example.com"}).status_code == 403
    assert not FleetContact.objects.exists()
    client.logout()
    assert client.post(page, {"contacts": "mallory@example.com"}).status_code == 302  # to the login page
    assert not FleetContact.objects.exists()
