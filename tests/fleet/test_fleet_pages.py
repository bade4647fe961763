"""The Fleet page and /api/fleet/: what the EC team sees and can narrow, and what others are refused;
"Refresh now" carried out by a real worker."""

import re

import pytest
from django.conf import settings
from django.db import connection
from django.urls import reverse

from testkit.stack import Stack, database_url
from tests.engine.conftest import wait_for
from upgrades import inventory
from upgrades.models import FleetService, FleetSync

from .conftest import FLEET_SIZE


@pytest.fixture
def synced(fleet, cast):
    inventory.sync_all()
    return fleet


def test_only_the_ec_team_sees_the_fleet(synced, cast, client, api):
    client.force_login(cast["alice"])
    assert client.get(reverse("fleet")).status_code == 403
    assert client.post(reverse("fleet-refresh")).status_code == 403
    assert api(cast["alice"]).get("/api/fleet/").status_code == 403
    assert api(cast["alice"]).post("/api/fleet/refresh/").status_code == 403
    assert api().get("/api/fleet/").status_code in (401, 403)
    client.logout()
    assert client.get(reverse("fleet"))["Location"].startswith(reverse("login"))


def test_the_fleet_page_charts_releases_per_foundation_and_filters_by_a_bar(synced, cast, client):
    client.force_login(cast["olga"])
    page = client.get(reverse("fleet")).content.decode()

    assert f"{FLEET_SIZE} services on 3 foundations" in page
    west = FleetService.objects.filter(foundation="predix-west", release="sendai.120").count()
    label = f'aria-label="Predix West / Basic, sendai.120: {west} services"'
    assert label in page
    link = re.search(r'<a href="([^"]+)" ' + re.escape(label), page).group(1).replace("&amp;", "&")

    narrowed = client.get(link).content.decode()
    assert f"{west} services</p>" in narrowed
    shown = re.findall(r'<code class="zone">([0-9a-f-]{36})</code>', narrowed)
    expected = FleetService.objects.filter(foundation="predix-west", release="sendai.120")
    assert set(shown) == set(expected.order_by("foundation", "name").values_list("zone_id", flat=True)[:50])


def test_the_fleet_is_searched_by_name_or_zone_id_and_paginated(synced, cast, client, api):
    client.force_login(cast["olga"])
    one = FleetService.objects.order_by("name").first()
    by_name = client.get(reverse("fleet"), {"q": one.name.upper()}).content.decode()
    assert one.zone_id in by_name and "1 service</p>" in by_name
    by_zone = api(cast["olga"]).get("/api/fleet/", {"q": one.zone_id[:13]}).json()
    assert by_zone["count"] >= 1 and one.zone_id in {item["zone_id"] for item in by_zone["results"]}

    listed = api(cast["olga"]).get("/api/fleet/", {"foundation": "cf3", "release": "okinawa.130"}).json()
    expected = FleetService.objects.filter(foundation="cf3", release="okinawa.130").count()
    assert listed["count"] == expected
    assert set(listed["results"][0]) == {"zone_id", "name", "foundation", "release", "instances", "state"}
    assert all(item["state"] is None for item in listed["results"])

    second = client.get(reverse("fleet"), {"page": 2}).content.decode()
    assert "Page 2 of" in second


def test_bad_filters_get_a_clear_answer_never_a_500(synced, cast, client, api):
    client.force_login(cast["olga"])
    assert (
        client.get(reverse("fleet"), {"state": "bogus", "sort": "drop table", "page": "x"}).status_code == 200
    )
    response = api(cast["olga"]).get("/api/fleet/", {"q": "x" * 500})
    assert response.status_code == 400 and "q" in response.json()


@pytest.fixture
def fleet_worker(fleet_sim, django_db_blocker, tmp_path_factory):
    with django_db_blocker.unblock():
        running = Stack(
            database=database_url(connection.settings_dict),
            broker=settings.CELERY_BROKER_URL,
            api_url=fleet_sim.api_url,
            log_dir=tmp_path_factory.mktemp("fleet-worker"),
        )
    running.start_worker()
    yield running
    running.stop()


@pytest.mark.django_db(transaction=True)
def test_refresh_now_reads_every_foundation_in_the_worker(fleet, fleet_worker, cast, client):
    client.force_login(cast["olga"])
    response = client.post(reverse("fleet-refresh"), follow=True)
    assert "Refreshing the fleet" in response.content.decode()

    finished = wait_for(
        lambda: FleetSync.objects.filter(finished_at__isnull=False).count() == 3, timeout=90, what="3 syncs"
    )
    assert finished
    assert FleetService.objects.count() == FLEET_SIZE
    page = client.get(reverse("fleet")).content.decode()
    read = re.findall(r"read <time[^>]*>[^<]+</time>, (\d+) services", page)
    assert len(read) == 3 and sum(map(int, read)) == FLEET_SIZE
