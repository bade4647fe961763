"""cfsim's router: round-robin over RUNNING instances, 404 unknown_route, 503 when nothing runs."""

from __future__ import annotations

import time

from testkit.demo import ACME_PROD_APP, ACME_PROD_ZONE, CF3, EAST, GLOBEX_PROD_APP, GLOBEX_PROD_ZONE, WEST

ACME_HOST = f"{ACME_PROD_ZONE}.{WEST}"


def test_route_answers_round_robin_with_release(cfsim):
    answers = [cfsim.route(ACME_HOST) for _ in range(4)]
    assert all(status == 200 for status, _, _ in answers)
    assert [body["instance_index"] for _, body, _ in answers] == [0, 1, 0, 1]
    assert answers[0][1] == {
        "app_guid": ACME_PROD_APP,
        "app_name": "ec-service-acme-prod",
        "instance_index": 0,
        "version": "sendai.120",
    }


def test_host_match_ignores_case_and_port(cfsim):
    status, body, _ = cfsim.route(f"{ACME_HOST.upper()}:443")
    assert status == 200 and body["app_guid"] == ACME_PROD_APP


def test_every_demo_service_answers_on_its_route(cfsim):
    state = cfsim.state()
    urls = [r["url"] for r in state["routes"]]
    assert sum(url.endswith("." + WEST) for url in urls) >= 4
    assert sum(url.endswith("." + CF3) for url in urls) >= 2
    for url in urls:
        status, body, _ = cfsim.route(url)
        assert status == 200 and body["version"] == "sendai.120", url


def test_unknown_route_is_404_with_router_error_header(cfsim):
    status, _, headers = cfsim.route(f"{ACME_PROD_ZONE}.{EAST}")
    assert status == 404
    assert headers["X-Cf-Routererror"] == "unknown_route"


def test_stopped_app_gives_503(cfsim, client):
    client.stop_app(GLOBEX_PROD_APP)
    status, _, _ = cfsim.route(f"{GLOBEX_PROD_ZONE}.{WEST}")
    assert status == 503


def test_instances_start_then_run_after_the_start_delay(cfsim, client):
    cfsim.configure(start_delay=1.0)
    client.stop_app(GLOBEX_PROD_APP)
    client.start_app(GLOBEX_PROD_APP)
    assert [s.state for s in client.get_process_stats(GLOBEX_PROD_APP)] == ["STARTING"]
    assert cfsim.route(f"{GLOBEX_PROD_ZONE}.{WEST}")[0] == 503
    time.sleep(1.1)
    assert [s.state for s in client.get_process_stats(GLOBEX_PROD_APP)] == ["RUNNING"]
    assert cfsim.route(f"{GLOBEX_PROD_ZONE}.{WEST}")[0] == 200


def test_crashed_instances_report_crashed_with_details_and_stop_serving(cfsim, client):
    cfsim.control("POST", f"apps/{ACME_PROD_APP}/crash", {"index": 0})
    stats = client.get_process_stats(ACME_PROD_APP)
    assert [s.state for s in stats] == ["CRASHED", "RUNNING"]
    assert stats[0].details and not stats[0].is_running
    assert {cfsim.route(ACME_HOST)[1]["instance_index"] for _ in range(3)} == {1}
    cfsim.control("POST", f"apps/{ACME_PROD_APP}/crash", {})
    assert cfsim.route(ACME_HOST)[0] == 503


def test_ec_info_names_the_release_the_app_runs(cfsim):
    status, body, _ = cfsim.route(ACME_HOST, "/v1/info/")
    assert status == 200
    assert body == {"sid": ACME_PROD_ZONE, "ver": "v1", "build": "sendai.120", "plan": "Oneway-TLS"}
    assert cfsim.route(ACME_HOST, "/v1beta/info/")[1]["build"] == "sendai.120"


def test_erroring_images_answer_502_through_the_router(cfsim):
    image = next(app["image"] for app in cfsim.state()["apps"] if app["guid"] == ACME_PROD_APP)
    assert cfsim.configure(erroring_images=[image])["erroring_images"] == [image]
    assert cfsim.route(ACME_HOST)[0] == 502
    assert cfsim.route(ACME_HOST, "/v1/info/")[0] == 502
    assert cfsim.route(f"{GLOBEX_PROD_ZONE}.{WEST}")[0] == 502, "the demo apps share the release image"
    cfsim.configure(erroring_images=[])
    assert cfsim.route(ACME_HOST)[0] == 200


def test_the_router_applies_an_unmapping_only_after_the_route_delay(cfsim, client):
    cfsim.configure(route_delay=1.0)
    route = next(r for r in cfsim.state()["routes"] if r["url"] == ACME_HOST)
    client.remove_destination(route["guid"], route["destinations"][0]["guid"])
    assert client.list_destinations(route["guid"]) == [], "the Cloud Controller has it at once"
    assert cfsim.route(ACME_HOST)[0] == 200, "the router still sends requests to the old mapping"
    deadline = time.monotonic() + 10
    while cfsim.route(ACME_HOST)[0] != 404:
        assert time.monotonic() < deadline, "the router never applied the unmapping"
        time.sleep(0.1)
    client.insert_destination(route["guid"], ACME_PROD_APP)
    assert cfsim.route(ACME_HOST)[0] == 404, "a new mapping also waits for the delay"
    while cfsim.route(ACME_HOST)[0] != 200:
        assert time.monotonic() < deadline + 10, "the router never applied the mapping"
        time.sleep(0.1)


def test_a_started_instance_answers_502_while_it_warms_up(cfsim, client):
    cfsim.configure(warmup_errors=1.5)
    try:
        client.stop_app(ACME_PROD_APP)
        client.start_app(ACME_PROD_APP)
        deadline = time.monotonic() + 10
        while cfsim.route(ACME_HOST)[0] == 503:  # no instance running yet
            assert time.monotonic() < deadline, "the app never started"
            time.sleep(0.05)
        assert cfsim.route(ACME_HOST, "/v1/info/")[0] == 502, "a fresh instance answers errors at first"
        while cfsim.route(ACME_HOST)[0] != 200:
            assert time.monotonic() < deadline, "the instance never warmed up"
            time.sleep(0.1)
    finally:
        cfsim.configure(warmup_errors=0)
