"""The pages: login, roles, buttons shown only where allowed, PRG actions, CSRF, the queue."""

import pytest
from django.test import Client
from django.urls import reverse

from tests.conftest import NONPROD, PASSWORD, PROD, file_request
from upgrades.models import Event, ServiceUpgrade


def test_anonymous_visitors_reach_only_the_login_page(client, filed):
    for path in ["/", "/requests/", "/requests/new/", f"/requests/{filed.pk}/", "/queue/"]:
        response = client.get(path)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/"), path
    login = client.get("/accounts/login/").content.decode()
    assert "Username" in login and "Password" in login and ">Log in</button>" in login


def test_login_and_logout(client, cast):
    response = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/"
    home = client.get("/").content.decode()
    assert "New upgrade request" in home and 'href="/requests/new/"' in home
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/").status_code == 302


def test_repeated_failures_lock_that_username_from_that_address_only(cast, settings):
    settings.AXES_FAILURE_LIMIT = 3
    attacker = Client(REMOTE_ADDR="10.1.1.1")
    for _ in range(3):
        attacker.post("/accounts/login/", {"username": "alice", "password": "wrong"}, REMOTE_ADDR="10.1.1.1")
    locked = attacker.post(
        "/accounts/login/", {"username": "alice", "password": PASSWORD}, REMOTE_ADDR="10.1.1.1"
    )
    assert locked.status_code == 429 and "Too many failed logins" in locked.content.decode()
    colleague = Client()
    ok = colleague.post("/accounts/login/", {"username": "bob", "password": PASSWORD}, REMOTE_ADDR="10.1.1.1")
    assert ok.status_code == 302, "another user behind the same address is not locked"
    elsewhere = Client().post(
        "/accounts/login/", {"username": "alice", "password": PASSWORD}, REMOTE_ADDR="10.2.2.2"
    )
    assert elsewhere.status_code == 302, "the same user from another address is not locked"


def _page(client, user, path) -> str:
    client.force_login(user)
    return client.get(path).content.decode()


def test_buttons_show_only_where_allowed(client, cast, filed):
    path = f"/requests/{filed.pk}/"
    olga = _page(client, cast["olga"], path)
    assert ">Approve</button>" in olga and ">Reject</button>" in olga and "Cancel" in olga
    alice = _page(client, cast["alice"], path)
    assert ">Approve</button>" not in alice and ">Reject</button>" not in alice and "<summary>Cancel" in alice
    carol = _page(client, cast["carol"], path)
    assert ">Approve</button>" not in carol and "<summary>Cancel" not in carol and "Submitted" in carol


def test_request_page_is_404_for_others(client, cast, filed):
    client.force_login(cast["bob"])
    assert client.get(f"/requests/{filed.pk}/").status_code == 404
    assert client.post(f"/requests/{filed.pk}/approve/").status_code == 404
    assert client.post(f"/requests/{filed.pk}/comment/", {"text": "hi"}).status_code == 404


def test_approve_is_a_post_redirect_get(client, cast, filed):
    client.force_login(cast["olga"])
    response = client.post(f"/requests/{filed.pk}/approve/")
    assert response.status_code == 302 and response["Location"] == f"/requests/{filed.pk}/"
    page = client.get(response["Location"]).content.decode()
    assert "Approved" in page and f"UR-{filed.pk}: approved." in page
    assert set(ServiceUpgrade.objects.values_list("state", flat=True)) == {"approved"}


def test_reject_without_reason_says_so_and_changes_nothing(client, cast, filed):
    client.force_login(cast["olga"])
    page = client.post(f"/requests/{filed.pk}/reject/", {"reason": ""}, follow=True).content.decode()
    assert "A reason is required to reject." in page
    assert set(ServiceUpgrade.objects.values_list("state", flat=True)) == {"submitted"}
    client.post(f"/requests/{filed.pk}/reject/", {"reason": "Wrong foundation"})
    page = client.get(f"/requests/{filed.pk}/").content.decode()
    assert "Rejected" in page and "Wrong foundation" in page


def test_requester_cannot_approve_own_request_by_posting(client, cast, filed):
    client.force_login(cast["alice"])
    assert client.post(f"/requests/{filed.pk}/approve/").status_code == 403
    assert not Event.objects.filter(to_state="approved").exists()


def test_wrong_state_is_a_message_not_an_error(client, cast, filed):
    client.force_login(cast["alice"])
    client.post(f"/requests/{filed.pk}/cancel/")
    page = client.post(f"/requests/{filed.pk}/cancel/", follow=True).content.decode()
    assert "Cannot cancel a service that is cancelled." in page


def test_csrf_is_enforced_on_state_changes(cast, filed):
    client = Client(enforce_csrf_checks=True)
    client.force_login(cast["olga"])
    assert client.post(f"/requests/{filed.pk}/approve/").status_code == 403
    assert client.post("/requests/new/", {"service_urls": PROD}).status_code == 403
    assert set(ServiceUpgrade.objects.values_list("state", flat=True)) == {"submitted"}


def test_comments_land_on_the_timeline(client, cast, filed):
    client.force_login(cast["carol"])
    client.post(f"/requests/{filed.pk}/comment/", {"text": "Gateways are ready <b>now</b>"})
    page = client.get(f"/requests/{filed.pk}/").content.decode()
    assert "carol</strong>\n    commented: Gateways are ready &lt;b&gt;now&lt;/b&gt;" in page


def test_queue_is_for_the_ec_team_and_filters(client, cast, releases):
    west = file_request(cast["alice"], [PROD])
    cf3 = file_request(cast["bob"], [NONPROD])
    client.force_login(cast["alice"])
    assert client.get("/queue/").status_code == 403
    client.force_login(cast["olga"])
    assert f"UR-{west.pk}" in client.get("/queue/").content.decode()
    only_cf3 = client.get("/queue/?foundation=cf3").content.decode()
    assert f"UR-{cf3.pk}<" in only_cf3 and f"UR-{west.pk}<" not in only_cf3
    by_requester = client.get("/queue/?q=bob").content.decode()
    assert f"UR-{cf3.pk}<" in by_requester and f"UR-{west.pk}<" not in by_requester
    by_zone = client.get("/queue/?q=0F1E2D3C").content.decode()
    assert f"UR-{west.pk}<" in by_zone and f"UR-{cf3.pk}<" not in by_zone


@pytest.mark.parametrize("rows", [1, 30])
def test_queue_uses_a_fixed_number_of_queries(client, cast, releases, django_assert_max_num_queries, rows):
    for n in range(rows):
        file_request(
            cast["alice"], [f"https://{n:08x}-0000-4000-8000-000000000000.run.aws-usw02-pr.ice.predix.io"]
        )
    client.force_login(cast["olga"])
    with django_assert_max_num_queries(12):
        assert client.get("/queue/").status_code == 200


def test_my_requests_lists_own_and_contact_requests(client, cast, filed):
    other = file_request(
        cast["bob"],
        [f"https://{'ab' * 4}-0000-4000-8000-000000000000.run.aws-usw02-pr.ice.predix.io"],
        contacts=["alice@example.com"],
    )
    page = _page(client, cast["alice"], reverse("my-requests"))
    assert f"UR-{filed.pk}<" in page and f"UR-{other.pk}<" in page
    assert f"UR-{filed.pk}<" not in _page(client, cast["bob"], reverse("my-requests"))


def test_security_headers_and_csp(client, cast):
    response = _page_response = client.get("/accounts/login/")
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert response["X-Frame-Options"] == "DENY" and response["X-Content-Type-Options"] == "nosniff"
    assert _page_response["Referrer-Policy"] == "same-origin"
