"""The probes' verdict and timeline on the request page, and `probe` on the API's service object."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.conftest import file_request
from upgrades.models import CallLog, ProbeRun, ProbeSecond
from upgrades.workflow import Plan

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("releases")]


def probed(service, *, failed_at: int | None = None) -> ProbeRun:
    """A Step 2 attempt's probes as the prober writes them: 1,204 probes over 120 seconds, one failed
    second if asked, and the CF calls of 2.1, 2.2 and finalize along the way."""
    start = timezone.now().replace(microsecond=0) - timedelta(seconds=130)
    run = ProbeRun.objects.create(
        service=service,
        attempt_started_at=start,
        url=f"https://{service.zone_id}.{service.domain}/v1/info/",
        new_release="okinawa.130",
        old_release="sendai.120",
        sent=1204,
        failed=0 if failed_at is None else 1,
        p50_ms=12,
        p99_ms=41,
        ended_at=start + timedelta(seconds=121),
    )
    ProbeRun.objects.filter(pk=run.pk).update(started_at=start)
    run.refresh_from_db()
    seconds = []
    for n in range(120):
        sent = 14 if n < 4 else 10
        old = sent if n < 40 else (sent // 2 if n < 80 else 0)
        bad = 1 if n == failed_at else 0
        seconds.append(
            ProbeSecond(run=run, at=start + timedelta(seconds=n), sent=sent, failed=bad, old=old - bad,
                        new=sent - old, latencies_ms=[12] * sent)
        )  # fmt: skip
    ProbeSecond.objects.bulk_create(seconds)
    for step, method, path, at in (
        ("map_original", "POST", "/v3/routes/r/destinations", 40),
        ("unmap_blue", "DELETE", "/v3/routes/r/destinations/d", 80),
        ("delete_temp_route", "DELETE", "/v3/routes/t", 110),
    ):
        call = CallLog.objects.create(service=service, step=step, method=method, path=path, status=200)
        CallLog.objects.filter(pk=call.pk).update(created_at=start + timedelta(seconds=at))
    return run


def test_the_request_page_shows_each_services_verdict_and_a_timeline_with_the_cf_calls(client, cast):
    request = file_request(cast["alice"], plan=Plan.BACK_TO_BACK)
    service = request.services.get()
    probed(service)
    client.force_login(cast["olga"])
    page = client.get(f"/requests/{request.pk}/").content.decode()
    assert "0 failed of 1,204 probes · p50 12 ms · p99 41 ms" in page
    assert '<svg class="probe-timeline"' in page and page.count('class="probe-marker"') == 3
    for label in (">2.1</text>", ">2.2</text>", ">finalize</text>"):
        assert label in page
    assert 'class="probe-old"' in page and 'class="probe-new"' in page and 'class="probe-failed"' not in page
    assert "style=" not in page.split('<svg class="probe-timeline"')[1].split("</svg>")[0]


def test_a_failed_probe_shows_in_the_verdict_and_on_the_timeline(client, cast):
    request = file_request(cast["alice"])
    probed(request.services.get(), failed_at=60)
    client.force_login(cast["alice"])
    page = client.get(f"/requests/{request.pk}/").content.decode()
    assert "1 failed of 1,204 probes" in page and 'class="probe-failed"' in page


def test_the_api_gives_probe_null_before_step_2_then_the_verdict(client, cast):
    request = file_request(cast["alice"])
    client.force_login(cast["alice"])
    body = client.get(f"/api/requests/{request.pk}/").json()
    assert body["services"][0]["probe"] is None
    probed(request.services.get())
    body = client.get(f"/api/requests/{request.pk}/").json()
    assert body["services"][0]["probe"] == {"sent": 1204, "failed": 0, "p50_ms": 12, "p99_ms": 41}
    listed = client.get("/api/requests/").json()["results"][0]
    assert listed["services"][0]["probe"]["sent"] == 1204


def test_a_page_without_probes_shows_no_probe_section(client, cast):
    request = file_request(cast["alice"])
    client.force_login(cast["alice"])
    assert "Probes of the original URL" not in client.get(f"/requests/{request.pk}/").content.decode()
