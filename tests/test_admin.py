"""The admin shows requests and their record; it can neither change nor delete them."""

from upgrades.models import CallLog, Event, ServiceUpgrade, UpgradeRequest


def test_the_admin_cannot_delete_a_request_or_its_record(client, cast, filed):
    service = filed.services.first()
    CallLog.objects.create(service=service, step="stage", method="GET", path="/v3/builds/x", status=200)
    counts = (UpgradeRequest.objects.count(), ServiceUpgrade.objects.count(), Event.objects.count(), 1)
    client.force_login(cast["root"])
    event, call = Event.objects.first(), CallLog.objects.get()
    for path in [
        f"/admin/upgrades/upgraderequest/{filed.pk}/delete/",
        f"/admin/upgrades/event/{event.pk}/delete/",
        f"/admin/upgrades/calllog/{call.pk}/delete/",
    ]:
        assert client.post(path, {"post": "yes"}).status_code == 403, path
    listing = client.get("/admin/upgrades/upgraderequest/")
    assert listing.status_code == 200 and "delete_selected" not in listing.content.decode()
    bulk = {"action": "delete_selected", "_selected_action": [filed.pk], "post": "yes"}
    client.post("/admin/upgrades/upgraderequest/", bulk)
    after = (UpgradeRequest.objects.count(), ServiceUpgrade.objects.count(), Event.objects.count())
    assert (*after, CallLog.objects.count()) == counts
    assert client.get(f"/admin/upgrades/upgraderequest/{filed.pk}/change/").status_code == 200
