"""Webhook subscriptions as people make them (pages and API), the URLs refused, the formats sent."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.conftest import campaign_of, file_request
from tests.webhooks.conftest import self_signed
from upgrades import subscriptions
from upgrades.models import Delivery, Notification, ServiceUpgrade, Webhook
from upgrades.notifications import outbox, webhook_sender

SLACK_LIKE = "https://hooks.slack.example/services/T0/B0/x"
SHOWN_AS = "https://hooks.slack.example/…B0/x"


def send_now() -> webhook_sender.sender.SendReport:
    """Close every grouping window and retry delay, then send the webhook deliveries."""
    past = timezone.now() - timedelta(seconds=1)
    Notification.objects.update(ready_at=past)
    Delivery.objects.filter(status=Delivery.Status.PENDING).update(next_attempt_at=past)
    return webhook_sender.send_due()


@pytest.fixture
def production(settings):
    """The production settings' webhook rules (ecportal/settings/production.py)."""
    settings.WEBHOOK_ALLOW_HTTP = False
    settings.WEBHOOK_ALLOW_PRIVATE = False


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://127.0.0.1:8443/hook", "Refused: 127.0.0.1 is a loopback address."),
        ("https://[::1]/hook", "Refused: ::1 is a loopback address."),
        ("https://localhost/hook", "Refused: localhost resolves to 127.0.0.1, a loopback address."),
        ("https://10.1.2.3/hook", "Refused: 10.1.2.3 is a private or reserved address."),
        ("https://169.254.169.254/latest", "Refused: 169.254.169.254 is a private or reserved address."),
        ("http://hooks.example.com/in", "The URL must start with https://."),
        ("https://user:pw@hooks.example.com/", "The URL must not contain a user name or password."),
        ("https://hooks.example.com:99999/", "This is not a valid URL."),
        ("hooks.example.com", "The URL must start with https://."),
    ],
)
def test_production_refuses_loopback_private_and_plain_http_with_a_clear_message(
    production, cast, releases, api, url, message
):
    request = file_request(cast["alice"])
    answer = api(cast["alice"]).post(
        "/api/webhooks/", {"url": url, "request": request.pk, "format": "json"}, format="json"
    )
    assert answer.status_code == 400
    assert answer.json()["url"][0].startswith(message)
    client = api(cast["alice"])
    page = client.post(f"/requests/{request.pk}/webhooks/", {"url": url, "format": "json"})
    assert page.status_code == 400 and message in page.content.decode().replace("&#x27;", "'")
    assert not Webhook.objects.exists()


def test_production_accepts_a_public_https_url(production, cast, releases, api):
    request = file_request(cast["alice"])
    answer = api(cast["alice"]).post(
        "/api/webhooks/", {"url": "https://93.184.215.14/hook", "request": request.pk}, format="json"
    )
    assert answer.status_code == 201, answer.json()


def test_a_name_that_resolves_to_loopback_at_delivery_is_refused_then(cast, releases, receiver, settings):
    """Allowed when made (private receivers allowed then), refused when the rules say no at delivery:
    the host is resolved and checked again before connecting, as a rebinding name would be."""
    receiver.start()
    hook, _ = subscriptions.subscribe(
        user=cast["olga"], scope=subscriptions.Scope(), url=f"http://localhost:{receiver.port}/", events=[],
        format="json",
    )  # fmt: skip
    file_request(cast["alice"])
    settings.WEBHOOK_ALLOW_PRIVATE = False
    report = send_now()
    assert report.failed == 2 and report.sent == 0
    assert receiver.all() == []
    for delivery in hook.deliveries.all():
        assert delivery.status == Delivery.Status.FAILED
        assert "localhost resolves to 127.0.0.1, a loopback address" in delivery.last_error


def test_slack_format_carries_text_and_blocks(cast, releases, receiver):
    receiver.start()
    hook, secret = subscriptions.subscribe(
        user=cast["olga"], scope=subscriptions.Scope(), url=receiver.url(), events=["new_request"],
        format=Webhook.Format.SLACK,
    )  # fmt: skip
    request = file_request(cast["alice"])
    assert send_now().sent == 1
    (hit,) = receiver.all()
    assert hit.signed_with(secret) and hit.headers["Content-Type"] == "application/json"
    body = hit.json()
    assert set(body) == {"text", "blocks"}
    assert body["text"].startswith(f"{request.reference}: New request")
    assert body["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": f"{request.reference}: New request"},
    }
    service = request.services.get()
    section = body["blocks"][1]
    assert section["type"] == "section" and service.zone_id in section["text"]["text"]
    button = body["blocks"][-1]["elements"][0]
    assert button["url"] == f"https://portal.example.test/requests/{request.pk}/"


def test_answers_decide_retry_or_failure(cast, releases, receiver):
    receiver.start()
    subscriptions.subscribe(
        user=cast["olga"], scope=subscriptions.Scope(), url=receiver.url(), events=["new_request"],
        format="json",
    )  # fmt: skip
    file_request(cast["alice"])
    receiver.status = 503
    assert send_now().deferred == 1
    delivery = Delivery.objects.get(channel=Delivery.Channel.WEBHOOK)
    assert delivery.status == Delivery.Status.PENDING and delivery.last_status_code == 503
    receiver.status = 404
    assert send_now().failed == 1
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.FAILED and delivery.last_error.startswith("HTTP 404")
    assert {hit.delivery for hit in receiver.all()} == {str(delivery.pk)}, "a retry is the same delivery"


def test_a_receiver_that_keeps_failing_is_given_up_on_after_webhook_max_attempts(
    cast, releases, receiver, settings, api
):
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    receiver.start()
    receiver.status = 502
    hook, _ = subscriptions.subscribe(
        user=cast["olga"], scope=subscriptions.Scope(), url=receiver.url(), events=["new_request"],
        format="json",
    )  # fmt: skip
    file_request(cast["alice"])
    assert send_now().deferred == 1
    assert send_now().deferred == 1
    assert send_now().failed == 1, "the third try is the last"
    delivery = Delivery.objects.get(channel=Delivery.Channel.WEBHOOK)
    assert delivery.status == Delivery.Status.FAILED and delivery.attempts == 3
    assert delivery.last_error.startswith("Gave up after 3 tries: HTTP 502")
    assert send_now().deferred == send_now().failed == 0 and len(receiver.all()) == 3, "no fourth try"
    (listed,) = api(cast["olga"]).get("/api/webhooks/").json()["results"]
    assert listed["last_delivery"]["status"] == "failed"
    page = api(cast["olga"]).get("/webhooks/").content.decode()
    assert "Gave up after 3 tries" in page


def test_a_requester_s_every_milestone_subscription_hears_only_of_what_their_mails_cover(
    cast, releases, receiver
):
    """No events named means every milestone its maker may subscribe to: the EC team's hook hears
    of the team-only `window_ended`, the requester's does not (both hear of `window_reminder`)."""
    receiver.start()
    request = file_request(cast["alice"])
    for who in ("alice", "olga"):
        url, scope = receiver.url(f"/{who}"), subscriptions.Scope(request=request)
        subscriptions.subscribe(user=cast[who], scope=scope, url=url, events=[], format="json")
    service = request.services.get()
    outbox.on_window_reminder(service, timezone.now() + timedelta(hours=1))
    outbox.on_window_ended(service, None)
    assert send_now().sent == 3
    heard = {(hit.path, hit.json()["milestone"]) for hit in receiver.all()}
    assert heard == {("/alice", "window_reminder"), ("/olga", "window_reminder"), ("/olga", "window_ended")}


def test_a_deleted_subscription_is_skipped_and_its_record_kept(cast, releases, receiver, api):
    receiver.start()
    hook, _ = subscriptions.subscribe(
        user=cast["olga"], scope=subscriptions.Scope(), url=receiver.url(), events=[], format="json"
    )
    file_request(cast["alice"])
    assert api(cast["olga"]).delete(f"/api/webhooks/{hook.pk}/").status_code == 200
    assert send_now().skipped == 2 and receiver.all() == []
    assert Delivery.objects.filter(channel="webhook", status=Delivery.Status.SKIPPED).count() == 2


def test_api_who_may_do_what(cast, releases, api):
    request = file_request(cast["alice"])
    body = {"url": SLACK_LIKE, "request": request.pk, "format": "slack", "events": ["completed"]}
    made = api(cast["alice"]).post("/api/webhooks/", body, format="json")
    assert made.status_code == 201
    created = made.json()
    assert re.fullmatch(r"[0-9a-f]{64}", created["secret"])
    assert created["scope"] == "request" and created["events"] == ["completed"]
    assert created["secret"] not in str(list(Webhook.objects.values()))
    assert api(cast["carol"]).post("/api/webhooks/", body, format="json").status_code == 403, "a contact"
    assert api(cast["bob"]).post("/api/webhooks/", body, format="json").json() == {
        "request": ["No such request."]
    }
    portal_wide = {"url": SLACK_LIKE}
    assert api(cast["alice"]).post("/api/webhooks/", portal_wide, format="json").status_code == 403
    assert api(cast["olga"]).post("/api/webhooks/", portal_wide, format="json").status_code == 201
    team_only = {**body, "events": ["new_request"]}
    refused = api(cast["alice"]).post("/api/webhooks/", team_only, format="json")
    assert refused.status_code == 400 and "new_request" in refused.json()["events"][0]
    wrong = api(cast["alice"]).post("/api/webhooks/", {"url": ["x"], "events": "all"}, format="json")
    assert wrong.status_code == 400 and set(wrong.json()) == {"url", "events"}

    assert [h["id"] for h in api(cast["alice"]).get("/api/webhooks/").json()["results"]] == [created["id"]]
    assert api(cast["bob"]).get("/api/webhooks/").json()["count"] == 0
    assert api(cast["olga"]).get("/api/webhooks/").json()["count"] == 2
    assert "secret" not in api(cast["olga"]).get("/api/webhooks/").json()["results"][0]
    assert api(cast["bob"]).delete(f"/api/webhooks/{created['id']}/").status_code == 404
    assert api().get("/api/webhooks/").status_code in (401, 403)
    gone = api(cast["alice"]).delete(f"/api/webhooks/{created['id']}/")
    assert gone.status_code == 200 and gone.json()["id"] == created["id"]
    assert not Webhook.objects.filter(pk=created["id"]).exists()


def test_pages_show_each_scope_s_webhooks_to_who_manages_them(cast, releases, api):
    request = file_request(cast["alice"])
    alice, carol, olga = api(cast["alice"]), api(cast["carol"]), api(cast["olga"])
    assert 'id="webhooks"' in alice.get(f"/requests/{request.pk}/").content.decode()
    assert 'id="webhooks"' not in carol.get(f"/requests/{request.pk}/").content.decode()
    refused = carol.post(f"/requests/{request.pk}/webhooks/", {"url": SLACK_LIKE, "format": "json"})
    assert refused.status_code == 403

    created = alice.post(
        f"/requests/{request.pk}/webhooks/", {"url": SLACK_LIKE, "format": "slack", "events": ["completed"]}
    )
    page = created.content.decode()
    assert created.status_code == 200 and "Copy it now" in page
    hook = Webhook.objects.get()
    assert hook.request == request and hook.format == "slack" and hook.events == ["completed"]
    secret = re.search(r'<code id="webhook-secret">([0-9a-f]{64})</code>', page).group(1)
    shown = alice.get(f"/requests/{request.pk}/").content.decode()
    assert SHOWN_AS in shown and secret not in shown

    assert alice.get("/webhooks/").status_code == 403
    team_page = olga.get("/webhooks/").content.decode()
    assert "Portal-wide webhooks" in team_page and SHOWN_AS in team_page and request.reference in team_page
    assert olga.post("/webhooks/", {"url": "ftp://x", "format": "json"}).status_code == 400
    assert olga.post("/webhooks/", {"url": SLACK_LIKE, "format": "json"}).status_code == 200
    assert Webhook.objects.filter(request=None, campaign=None).count() == 1

    assert carol.post(f"/webhooks/{hook.pk}/delete/").status_code == 404
    deleted = alice.post(f"/webhooks/{hook.pk}/delete/")
    assert deleted.status_code == 302 and deleted["Location"] == f"/requests/{request.pk}/"
    assert not Webhook.objects.filter(pk=hook.pk).exists()


def test_a_webhook_s_url_is_shown_in_full_only_when_it_is_made(cast, releases, api):
    """A Slack webhook's path is its credential: lists, pages, the deletion's message and the API
    show the host and a masked path; only the answer that creates it has it in full."""
    request = file_request(cast["alice"])
    alice, olga = api(cast["alice"]), api(cast["olga"])
    body = {"url": SLACK_LIKE, "request": request.pk, "format": "slack"}
    made = alice.post("/api/webhooks/", body, format="json").json()
    assert made["url"] == SLACK_LIKE
    listed = olga.get("/api/webhooks/")
    assert [h["url"] for h in listed.json()["results"]] == [SHOWN_AS]
    pages = [alice.get(f"/requests/{request.pk}/"), olga.get("/webhooks/"), olga.get("/api/webhooks/")]
    for page in pages:
        assert "services/T0" not in page.content.decode()
    assert SHOWN_AS in pages[0].content.decode() and SHOWN_AS in pages[1].content.decode()
    assert alice.delete(f"/api/webhooks/{made['id']}/").json()["url"] == SHOWN_AS

    made = alice.post("/api/webhooks/", body, format="json").json()
    gone = alice.post(f"/webhooks/{made['id']}/delete/", follow=True).content.decode()
    assert f"Webhook to {SHOWN_AS} deleted." in gone and "services/T0" not in gone


def test_a_receiver_s_path_is_masked_in_the_errors_recorded(cast, releases, receiver, api):
    hook, _ = subscriptions.subscribe(
        user=cast["olga"], scope=subscriptions.Scope(), url=receiver.url("/services/T0/B0/token-1234"),
        events=["new_request"], format="slack",
    )  # fmt: skip
    file_request(cast["alice"])
    report = send_now()  # the receiver is down
    assert report.deferred == 1 and "ConnectionError" in report.errors[0]
    (delivery,) = hook.deliveries.all()
    assert "/…" in delivery.last_error and "token-1234" not in delivery.last_error
    assert "token-1234" not in api(cast["olga"]).get("/webhooks/").content.decode()


def test_a_campaign_s_milestone_goes_to_its_webhooks_and_each_request_hears_only_its_own(
    cast, releases, receiver, api
):
    receiver.start()
    zones = [f"5e6f7081-92a3-4b44-8d5e-6f708192a3b{n}" for n in range(3)]
    campaign = campaign_of(cast["olga"], releases["okinawa"], zones, name="hooks", wave_size=1)
    olga = api(cast["olga"])
    page = olga.get(f"/campaigns/{campaign.pk}/").content.decode()
    assert 'id="webhooks"' in page
    form = {"url": receiver.url("/campaign"), "format": "json"}
    made = olga.post(f"/campaigns/{campaign.pk}/webhooks/", form)
    assert made.status_code == 200
    services = list(ServiceUpgrade.objects.filter(campaign=campaign).order_by("id"))
    one = services[0]
    subscriptions.subscribe(
        user=cast["olga"], scope=subscriptions.Scope(request=one.request), url=receiver.url("/request"),
        events=[], format="json",
    )  # fmt: skip
    Delivery.objects.all().delete()  # what filing the campaign's requests sent is not this test's
    outbox.on_wave_scheduled(campaign_id=campaign.pk, services=services, starts_at=None)
    send_now()
    hits = {hit.path: hit.json() for hit in receiver.all()}
    assert set(hits) == {"/campaign", "/request"}
    assert hits["/campaign"]["campaign"]["id"] == campaign.pk
    assert sorted(s["zone_id"] for s in hits["/campaign"]["services"]) == sorted(zones)
    assert [s["zone_id"] for s in hits["/request"]["services"]] == [one.zone_id]


def test_https_connects_to_the_checked_address_and_still_checks_the_certificate_s_name(
    cast, releases, receiver, tmp_path, settings
):
    """The connection goes to the address resolved and checked (127.0.0.1), while TLS checks the
    certificate against the URL's host name: a certificate for another name is refused."""
    tls, bundle = self_signed(tmp_path, "localhost")
    receiver.start(tls)
    settings.WEBHOOK_CA_BUNDLE = bundle
    good, secret = subscriptions.subscribe(
        user=cast["olga"], scope=subscriptions.Scope(), url=f"https://localhost:{receiver.port}/tls",
        events=["new_request"], format="json",
    )  # fmt: skip
    wrong_name = subscriptions.subscribe(
        user=cast["olga"], scope=subscriptions.Scope(), url=f"https://127.0.0.1:{receiver.port}/tls",
        events=["new_request"], format="json",
    )[0]  # fmt: skip
    file_request(cast["alice"])
    report = send_now()
    assert report.sent == 1 and report.deferred == 1
    (hit,) = receiver.all()
    assert hit.signed_with(secret) and hit.headers["Host"] == f"localhost:{receiver.port}"
    refused = wrong_name.deliveries.get()
    assert refused.status == Delivery.Status.PENDING and "certificate" in refused.last_error.lower()
    assert good.deliveries.get().status == Delivery.Status.SENT
