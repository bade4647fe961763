"""`/healthz/`: the platform's liveness check answers without login and without the database. `/readyz/`:
a JSON line per dependency, 200 only when the required ones answer. `/metrics`: behind its bearer token."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client, override_settings

from ecportal import health
from ecportal.embedded import demo_foundations
from testkit.cfsim import CfSim
from upgrades import foundations

ROOT = Path(__file__).resolve().parent.parent


def test_healthz_answers_ok_without_login_or_database():
    # No `db` fixture: pytest-django fails any query made here, so this also proves it needs no database.
    response = Client().get("/healthz/")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain"
    assert response.content == b"ok"
    assert "no-cache" in response["Cache-Control"]


def test_healthz_refuses_writes():
    assert Client().post("/healthz/").status_code == 405


METRICS_TOKEN = "scrape-" + "k" * 32


def test_metrics_needs_the_bearer_token_when_one_is_set(db):
    with override_settings(METRICS_TOKEN=METRICS_TOKEN):
        missing = Client().get("/metrics")
        assert missing.status_code == 401 and missing["WWW-Authenticate"].startswith("Bearer")
        assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
        assert Client().get("/metrics", HTTP_AUTHORIZATION=f"Token {METRICS_TOKEN}").status_code == 401
        scraped = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}")
        assert scraped.status_code == 200 and b'ecportal_upgrades{state="completed"}' in scraped.content
        assert b"ecportal_database_figures_up 1.0" in scraped.content
        assert "no-cache" in scraped["Cache-Control"]
    with override_settings(METRICS_TOKEN=""):
        assert Client().get("/metrics").status_code == 200


@pytest.fixture
def foundations_at():
    """Point the configured foundations at `api_url` for one test."""
    overrides = []

    def point(api_url: str):
        override = override_settings(FOUNDATIONS=demo_foundations(api_url))
        override.enable()
        overrides.append(override)
        foundations._configured.cache_clear()
        health.forget_uaa_answers()

    yield point
    for override in overrides:
        override.disable()
    foundations._configured.cache_clear()
    health.forget_uaa_answers()


def ready_lines(response) -> dict:
    assert response["Content-Type"] == "application/x-ndjson" and "no-cache" in response["Cache-Control"]
    return {line["check"]: line for line in map(json.loads, response.content.decode().splitlines())}


def test_readyz_has_a_line_per_dependency_and_each_foundation_s_uaa(db, foundations_at):
    with CfSim() as sim:
        foundations_at(sim.api_url)
        response = Client().get("/readyz/")
    lines = ready_lines(response)
    assert response.status_code == 200
    assert set(lines) == {"database", "broker", "cache", "uaa:predix-west", "uaa:predix-east", "uaa:cf3"}
    assert all(line["ok"] for line in lines.values())
    assert Client().post("/readyz/").status_code == 405


def test_a_uaa_that_does_not_answer_is_reported_and_required_only_when_configured(
    transactional_db, foundations_at
):
    # transactional_db: /readyz/ closes an obsolete database connection, which inside a test's
    # transaction would fail the database line of every later hit and hide why the portal is not ready.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        nobody = probe.getsockname()[1]  # nothing listens here once the probe closes
    foundations_at(f"http://127.0.0.1:{nobody}")
    response = Client().get("/readyz/")
    lines = ready_lines(response)
    assert response.status_code == 200, "a foundation's outage does not take the portal out of rotation"
    assert not lines["uaa:cf3"]["ok"] and "ConnectionError" in lines["uaa:cf3"]["error"]
    assert lines["database"]["ok"] and lines["broker"]["ok"] and lines["cache"]["ok"]
    with override_settings(READYZ_REQUIRE_UAA=True):
        response = Client().get("/readyz/")
        lines = ready_lines(response)
        assert response.status_code == 503 and lines["database"]["ok"] and lines["cache"]["ok"]
        assert lines["uaa:cf3"]["required"] and not lines["uaa:cf3"]["ok"]


def nobody_listens() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens here once the probe closes


def test_readyz_tells_why_a_check_failed_only_to_the_holder_of_the_metrics_token(db, foundations_at):
    nobody = nobody_listens()
    foundations_at(f"http://127.0.0.1:{nobody}")
    with override_settings(METRICS_TOKEN=METRICS_TOKEN):
        for authorization in ({}, {"HTTP_AUTHORIZATION": "Bearer wrong"}):
            response = Client().get("/readyz/", **authorization)
            assert str(nobody) not in response.content.decode()
            lines = ready_lines(response)
            assert not lines["uaa:cf3"]["ok"]
            assert all(set(line) == {"check", "ok", "required", "ms"} for line in lines.values())
        told = ready_lines(Client().get("/readyz/", HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}"))
        assert "ConnectionError" in told["uaa:cf3"]["error"] and str(nobody) in told["uaa:cf3"]["error"]
    # Production without a token (a network rule guards /metrics): nobody is told.
    with override_settings(METRICS_TOKEN="", EMBEDDED=False):
        assert "error" not in ready_lines(Client().get("/readyz/"))["uaa:cf3"]


def test_readyz_reuses_each_foundation_s_uaa_answer_for_a_while(db, foundations_at):
    def uaa_calls(sim) -> int:
        return sum(1 for call in sim.calls() if call["path"] == "/uaa/info")

    with CfSim() as sim:
        foundations_at(sim.api_url)
        with override_settings(READYZ_UAA_REUSE_SECONDS=3600):
            for _ in range(3):
                lines = ready_lines(Client().get("/readyz/"))
                assert lines["uaa:cf3"]["ok"] and lines["uaa:predix-west"]["ok"]
            assert uaa_calls(sim) == 3, "one call per foundation, however often the load balancer asks"
        with override_settings(READYZ_UAA_REUSE_SECONDS=0):
            Client().get("/readyz/")
            assert uaa_calls(sim) == 6, "asked again once the kept answers are too old"


def test_metrics_still_answers_when_the_database_does_not():
    # A portal process whose PostgreSQL is a port where nothing listens.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        nobody = probe.getsockname()[1]
    env = {**os.environ, "DATABASE_URL": f"postgres://postgres@127.0.0.1:{nobody}/gone", "METRICS_TOKEN": ""}
    script = (
        "import django; django.setup(); from django.test import Client; r = Client().get('/metrics'); "
        "print(r.status_code); print(r.content.decode())"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    status, _, body = result.stdout.partition("\n")
    assert status == "200", result.stderr[-2000:]
    assert "ecportal_database_figures_up 0.0" in body and "ecportal_upgrades{" not in body


def test_metrics_count_services_waiting_on_people_by_state_and_party(db, filed):
    scraped = Client().get("/metrics").content.decode()
    assert 'ecportal_waiting_on_people{party="ec_team",state="submitted"} 2.0' in scraped
    assert 'ecportal_waiting_on_people{party="requester",state="awaiting_verification"} 0.0' in scraped
    assert 'ecportal_upgrades{state="submitted"} 2.0' in scraped
    assert 'ecportal_waiting_on_people_oldest_seconds{party="ec_team",state="submitted"}' in scraped


def test_metrics_count_the_outbox_by_channel(db, filed):
    from upgrades.models import Delivery

    mails = Delivery.objects.filter(status=Delivery.Status.PENDING, channel=Delivery.Channel.MAIL).count()
    assert mails, "filing queues mail"
    queued = Delivery.objects.filter(channel=Delivery.Channel.MAIL).first()
    Delivery.objects.create(
        notification=queued.notification, recipient="webhook 1", channel=Delivery.Channel.WEBHOOK,
        attempts=3, next_attempt_at=queued.next_attempt_at,
    )  # fmt: skip
    scraped = Client().get("/metrics").content.decode()
    assert f'ecportal_outbox_pending{{channel="mail"}} {float(mails)}' in scraped
    assert 'ecportal_outbox_pending{channel="webhook"} 1.0' in scraped
    assert 'ecportal_outbox_pending_attempts{channel="webhook"} 3.0' in scraped
    assert 'ecportal_outbox_pending_attempts{channel="mail"} 0.0' in scraped
    assert 'ecportal_outbox_oldest_pending_seconds{channel="webhook"}' in scraped


def test_metrics_count_step_2_probes_by_foundation(db, filed):
    from django.utils import timezone

    from upgrades.models import ProbeRun

    service = filed.services.first()
    for sent, failed in ((120, 3), (40, 0)):  # a failed Step 2 attempt, then a retried one
        ProbeRun.objects.create(
            service=service, attempt_started_at=timezone.now(), url="https://example/v1/info/",
            new_release="okinawa.130", sent=sent, failed=failed,
        )  # fmt: skip
    scraped = Client().get("/metrics").content.decode()
    assert f'ecportal_probes_sent{{foundation="{service.foundation}"}} 160.0' in scraped
    assert f'ecportal_probe_failures{{foundation="{service.foundation}"}} 3.0' in scraped
