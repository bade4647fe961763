"""Retries, rate limits, pagination, typed errors and call records of the client against cfsim."""

from __future__ import annotations

import socket
import time

import pytest
import requests

from testkit.demo import ACME_PROD_APP, SPACE, WEST
from tests.cf.conftest import PORTAL_CLIENT
from upgrades.cloudfoundry import (
    BadRequest,
    CFClient,
    NotFound,
    RateLimited,
    Transient,
    Uniqueness,
    Unprocessable,
)


def test_pagination_follows_next_href_across_pages(client, calls):
    resources = list(client.paginate("/v3/apps", {"per_page": 2}))
    assert len(resources) == 6
    assert len({r["guid"] for r in resources}) == 6
    pages = [c for c in calls if c.path.startswith("/v3/apps")]
    assert len(pages) == 3
    assert "page=3" in pages[-1].path and "per_page=2" in pages[-1].path


def test_list_apps_sees_every_page(client):
    for index in range(60):  # more than CF's default page size of 50
        client.create_app(f"extra-{index}", SPACE)
    apps = client.list_apps(space_guids=[SPACE])
    assert len(apps) == 66


def test_transient_5xx_on_get_is_retried(client, cfsim, calls):
    cfsim.add_fault(method="GET", path=f"^/v3/apps/{ACME_PROD_APP}$", status=503, count=2)
    app = client.get_app(ACME_PROD_APP)
    assert app.guid == ACME_PROD_APP
    assert [c.status for c in calls if c.path.startswith("/v3/apps")] == [503, 503, 200]


def test_transient_5xx_on_get_gives_up_after_max_retries(client, cfsim, calls):
    cfsim.add_fault(method="GET", path="^/v3/apps$", status=502, title="CF-ServiceUnavailable")
    with pytest.raises(Transient) as info:
        client.list_apps()
    assert info.value.status == 502 and info.value.title == "CF-ServiceUnavailable"
    assert len([c for c in calls if c.path.startswith("/v3/apps")]) == client.max_retries + 1


def test_5xx_on_post_is_not_retried(client, cfsim, calls):
    cfsim.add_fault(method="POST", path="^/v3/apps$", status=500, title="UnknownError", count=1)
    with pytest.raises(Transient) as info:
        client.create_app("green", SPACE)
    assert info.value.status == 500
    assert [c.status for c in calls if c.path.startswith("/v3/apps")] == [500]
    assert client.list_apps(names=["green"]) == []


def test_429_waits_retry_after_then_succeeds(client, cfsim, calls):
    cfsim.add_fault(
        method="GET",
        path="^/v3/apps$",
        status=429,
        title="CF-RateLimitExceeded",
        count=1,
        headers={"Retry-After": "1"},
    )
    started = time.monotonic()
    assert len(client.list_apps()) == 6
    assert time.monotonic() - started >= 0.9
    assert [c.status for c in calls if c.path.startswith("/v3/apps")] == [429, 200]


def test_rate_limiter_answers_429_with_headers_and_long_retry_after_raises(client, cfsim):
    cfsim.configure(rate_limit_enabled=True, rate_limit=3, rate_limit_reset_seconds=600)
    client.get_app(ACME_PROD_APP)
    client.get_app(ACME_PROD_APP)
    with pytest.raises(RateLimited) as info:
        for _ in range(3):
            client.get_app(ACME_PROD_APP)
    assert (
        info.value.status == 429 and info.value.title == "CF-RateLimitExceeded" and info.value.code == 10013
    )
    assert 500 < info.value.retry_after <= 600


def test_rate_limit_headers_on_every_response(cfsim):
    cfsim.configure(rate_limit_enabled=True, rate_limit=5, rate_limit_reset_seconds=60)
    token = requests.post(
        cfsim.api_url + "/uaa/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=("ecportal", "ecportal-sim-secret"),
    ).json()["access_token"]
    remaining = []
    for _ in range(6):
        response = requests.get(cfsim.api_url + "/v3/apps", headers={"Authorization": f"bearer {token}"})
        assert response.headers["X-RateLimit-Limit"] == "5"
        assert int(response.headers["X-RateLimit-Reset"]) > time.time()
        remaining.append(response.headers["X-RateLimit-Remaining"])
    assert remaining == ["4", "3", "2", "1", "0", "0"]
    assert response.status_code == 429 and int(response.headers["Retry-After"]) > 0
    assert response.json()["errors"][0]["title"] == "CF-RateLimitExceeded"


def test_typed_errors_keep_status_title_code_and_request_id(client):
    with pytest.raises(NotFound) as missing:
        client.get_app("00000000-0000-4000-8000-000000000000")
    assert (missing.value.status, missing.value.code, missing.value.title) == (
        404,
        10010,
        "CF-ResourceNotFound",
    )
    assert missing.value.request_id

    with pytest.raises(Uniqueness) as taken:
        client.create_app("EC-SERVICE-ACME-PROD", SPACE)  # names are unique case-insensitively
    assert (taken.value.status, taken.value.code, taken.value.title) == (422, 10016, "CF-UniquenessError")
    assert isinstance(taken.value, Unprocessable)

    with pytest.raises(BadRequest) as bad:
        list(client.paginate("/v3/apps", {"per_page": 5001}))
    assert (bad.value.status, bad.value.title) == (400, "CF-BadQueryParameter")


def test_start_without_droplet_is_unprocessable(client):
    app = client.create_app("no-droplet", SPACE)
    with pytest.raises(Unprocessable) as info:
        client.start_app(app.guid)
    assert info.value.title == "CF-UnprocessableEntity" and not isinstance(info.value, Uniqueness)


def test_duplicate_route_is_unprocessable(client):
    domain = client.get_domain_by_name(WEST)
    client.create_route("dup-host", domain.guid, SPACE)
    with pytest.raises(Unprocessable) as info:
        client.create_route("dup-host", domain.guid, SPACE)
    assert info.value.title == "CF-UnprocessableEntity"


def test_every_call_is_recorded_with_request_id(client, calls):
    client.get_app(ACME_PROD_APP)
    record = calls[-1]
    assert record.method == "GET" and record.path == f"/v3/apps/{ACME_PROD_APP}" and record.status == 200
    assert record.request_id and record.duration_ms >= 0


def test_network_error_is_transient_after_retries():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again when the block ends: nothing listens there
    records = []
    dead = CFClient(f"http://127.0.0.1:{port}", **PORTAL_CLIENT, on_call=records.append, backoff_base=0.01)
    with pytest.raises(Transient) as info:
        dead.root_links()
    assert info.value.status is None
    assert [r.status for r in records] == [None] * (dead.max_retries + 1)


def test_slow_answer_times_out_and_is_transient(cfsim, calls):
    cfsim.add_fault(method="GET", path=f"^/v3/apps/{ACME_PROD_APP}$", status=0, delay=1.0, count=1)
    slow = CFClient(cfsim.api_url, **PORTAL_CLIENT, on_call=calls.append, timeout=(1, 0.3), backoff_base=0.01)
    assert slow.get_app(ACME_PROD_APP).guid == ACME_PROD_APP  # the retry after the timeout succeeds
    statuses = [c.status for c in calls if c.path.startswith("/v3/apps")]
    assert statuses == [None, 200]


def test_an_answer_lost_after_cf_acted_is_transient_and_the_work_stays_done(cfsim, calls):
    """`after` faults: CF creates the app, then holds its answer past the client's read timeout (the
    answer is lost) or swaps it for a gateway's 502. A POST is never replayed: each app exists once."""
    impatient = CFClient(
        cfsim.api_url, **PORTAL_CLIENT, on_call=calls.append, timeout=(2, 1), backoff_base=0.01
    )
    cfsim.add_fault(method="POST", path="^/v3/apps$", status=0, delay=2, after=True, count=1)
    with pytest.raises(Transient) as lost:
        impatient.create_app("answer-lost", SPACE)
    cfsim.add_fault(method="POST", path="^/v3/apps$", status=502, after=True, count=1)
    with pytest.raises(Transient) as swapped:
        impatient.create_app("answer-502", SPACE)
    assert lost.value.status is None and swapped.value.status == 502
    made = impatient.list_apps(names=["answer-lost", "answer-502"])
    assert sorted(app.name for app in made) == ["answer-502", "answer-lost"]
    assert [c.status for c in calls if c.method == "POST" and c.path == "/v3/apps"] == [None, 502]


def test_probability_fault_hits_only_some_requests(client, cfsim):
    fault = cfsim.add_fault(method="GET", path="^/v3/info$", status=503, probability=0.5)
    statuses = [requests.get(cfsim.api_url + "/v3/info").status_code for _ in range(60)]
    assert 5 < statuses.count(503) < 55
    assert set(statuses) == {200, 503}
    listed = cfsim.control("GET", "faults")["faults"]
    assert listed[0]["id"] == fault["id"] and listed[0]["hits"] == statuses.count(503)
