"""Webhook deliveries through a real Celery worker to a real HTTP receiver that is down, then up."""

import time

import pytest
import redis
from django.conf import settings
from django.db import connection

from testkit.stack import Stack, database_url
from tests.conftest import NONPROD, PROD, file_request
from tests.engine.conftest import wait_for
from tests.notifications.conftest import smtp  # noqa: F401 (fixture: a real SMTP listener)
from upgrades import subscriptions
from upgrades.models import Delivery

WEBHOOK = Delivery.Channel.WEBHOOK
# Short backoff and beat rounds, so the outage and the recovery fit a test's patience.
FAST_OUTBOX = {
    "NOTIFY_RETRY_BASE": "0.5",
    "NOTIFY_RETRY_CAP": "2",
    "NOTIFY_SEND_SECONDS": "1",
    "SITE_URL": "https://portal.example.test",
    "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
}


@pytest.fixture
def stack(transactional_db, tmp_path):
    broker = settings.CELERY_BROKER_URL
    assert broker.startswith("redis://"), "worker tests run on Redis"
    assert connection.vendor == "postgresql", "worker tests run on PostgreSQL"
    redis.Redis.from_url(broker).flushdb()
    running = Stack(
        database=database_url(connection.settings_dict),
        broker=broker,
        api_url="http://127.0.0.1:9",  # no foundation answers: preflight is not what this is about
        log_dir=tmp_path,
        extra_env=FAST_OUTBOX,
    )
    running.start_worker()
    running.start_beat()
    yield running
    running.stop()


def webhook_deliveries():
    return Delivery.objects.filter(channel=WEBHOOK)


def test_a_receiver_down_then_up_gets_each_delivery_once_signed(stack, receiver, cast, releases):
    events = ["received", "new_request"]
    portal = subscriptions.Scope()
    hooks = {
        fmt: subscriptions.subscribe(
            user=cast["olga"], scope=portal, url=receiver.url(f"/{fmt}"), events=events, format=fmt
        )
        for fmt in ("json", "slack")
    }
    for urls in ([PROD], [PROD.replace("0f1e", "0f1f"), NONPROD]):
        file_request(cast["alice"], urls)
    expected = 2 * len(events) * len(hooks)
    wait_for(lambda: webhook_deliveries().count() == expected, 10, "the deliveries to be recorded")
    wait_for(
        lambda: webhook_deliveries().filter(attempts__gte=2).count() == expected,
        60,
        "every delivery to be tried at least twice while the receiver is down",
    )
    assert not webhook_deliveries().exclude(status=Delivery.Status.PENDING).exists(), "none given up"
    assert "ConnectionError" in webhook_deliveries().first().last_error

    receiver.start()
    up = time.monotonic()
    wait_for(
        lambda: webhook_deliveries().filter(status=Delivery.Status.SENT).count() == expected,
        60,
        "every delivery to reach the receiver",
    )
    caught_up = time.monotonic() - up
    time.sleep(2)  # two more beat rounds: nothing is sent again

    received = receiver.all()
    ids = sorted(int(r.delivery) for r in received)
    assert ids == sorted(webhook_deliveries().values_list("id", flat=True)), "each delivery exactly once"
    for hit in received:
        fmt = hit.path.strip("/")
        _, secret = hooks[fmt]
        assert hit.signed_with(secret), "signed with the subscription's secret"
        assert not hit.signed_with(hooks["slack" if fmt == "json" else "json"][1])
        body = hit.json()
        if fmt == "json":
            assert body["delivery"] == hit.delivery and body["milestone"] in events
            service = body["services"][0]
            assert {"name", "zone_id", "foundation", "state", "links"} <= set(service)
            assert service["links"]["request"].startswith(settings.SITE_URL + "/requests/")
        else:
            assert body["text"] and body["blocks"][0]["type"] == "header"
    attempts = list(webhook_deliveries().values_list("attempts", flat=True))
    print(
        f"\nwebhooks: {expected} deliveries, {sum(attempts)} attempts ({sum(attempts) - expected} retries, "
        f"at most {max(attempts)} for one), all delivered {caught_up:.1f} s after the receiver came up"
    )


@pytest.fixture
def stack_after(transactional_db, tmp_path, smtp):  # noqa: F811 (the fixture imported above)
    """A worker and beat started by the test, once what it files is in the database, with receivers
    allowed a long read: `start()` flushes the broker first, so only beat's rounds send."""
    broker = settings.CELERY_BROKER_URL
    assert broker.startswith("redis://") and connection.vendor == "postgresql"
    running = Stack(
        database=database_url(connection.settings_dict),
        broker=broker,
        api_url="http://127.0.0.1:9",
        log_dir=tmp_path,
        extra_env=FAST_OUTBOX
        | {"EMAIL_BACKEND": None, "EMAIL_PORT": str(smtp.port)}
        | {"WEBHOOK_CONNECT_TIMEOUT": "2", "WEBHOOK_READ_TIMEOUT": "30"},
    )

    def start():
        smtp.start()
        redis.Redis.from_url(broker).flushdb()  # the send_notification tasks: as if the broker lost them
        running.start_worker()
        running.start_beat()

    running.begin = start
    yield running
    running.stop()


def test_mail_goes_out_while_a_webhook_receiver_hangs(stack_after, smtp, hanging, cast, releases):  # noqa: F811
    """A receiver that accepts and never answers holds up its own deliveries only: beat's mail round
    sends the mail meanwhile (before, webhooks went first in the same round, 30 s each)."""
    subscriptions.subscribe(
        user=cast["olga"], scope=subscriptions.Scope(), url=hanging.url(), events=[], format="json"
    )
    file_request(cast["alice"])
    mails = Delivery.objects.filter(channel=Delivery.Channel.MAIL)
    assert webhook_deliveries().count() == 2 and mails.exists()
    stack_after.begin()
    wait_for(lambda: hanging.accepted, 20, "the receiver to be posted to")
    wait_for(
        lambda: not mails.exclude(status=Delivery.Status.SENT).exists(),
        20,
        "every mail to go out while the receiver hangs",
    )
    assert {m["To"] for m in smtp.messages()} >= {cast["alice"].email}
