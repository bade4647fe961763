"""UAA and token handling of the client against cfsim."""

from __future__ import annotations

import time

import pytest
import requests

from testkit.demo import ACME_PROD_APP
from tests.cf.conftest import PORTAL_CLIENT
from upgrades.cloudfoundry import CFClient, Unauthorized, forget_tokens


def test_discovery_reads_root_links_and_version(client, cfsim):
    links = client.root_links()
    assert links["cloud_controller_v3"]["href"] == cfsim.api_url + "/v3"
    assert links["login"]["href"] == cfsim.api_url + "/uaa"
    assert links["uaa"]["href"] == cfsim.api_url + "/uaa"
    assert client.api_version == "3.190.0"


def test_client_credentials_token_is_fetched_once_and_reused(client, calls):
    forget_tokens()
    client.get_app(ACME_PROD_APP)
    client.get_app(ACME_PROD_APP)
    token_calls = [c for c in calls if c.path == "/uaa/oauth/token"]
    assert len(token_calls) == 1
    assert [c.status for c in calls if c.path.startswith("/v3/apps")] == [200, 200]


def test_password_grant_for_development(cfsim):
    forget_tokens()
    dev = CFClient(cfsim.api_url, client_id="cf", client_secret="", username="admin", password="admin")
    assert dev.get_app(ACME_PROD_APP).guid == ACME_PROD_APP


def test_bad_client_secret_raises_unauthorized(cfsim):
    forget_tokens()
    bad = CFClient(cfsim.api_url, client_id="ecportal", client_secret="wrong")
    with pytest.raises(Unauthorized) as info:
        bad.get_app(ACME_PROD_APP)
    assert info.value.status == 401
    assert info.value.title == "unauthorized"


def test_expired_token_mid_run_is_refreshed_once_and_the_request_replayed(client, cfsim, calls):
    client.get_app(ACME_PROD_APP)
    cfsim.control("POST", "tokens/expire")
    calls.clear()
    app = client.rename_app(ACME_PROD_APP, "ec-service-acme-prod-renamed")
    assert app.name == "ec-service-acme-prod-renamed"
    assert calls.summary() == [
        ("PATCH", f"/v3/apps/{ACME_PROD_APP}", 401),
        ("POST", "/uaa/oauth/token", 200),
        ("PATCH", f"/v3/apps/{ACME_PROD_APP}", 200),
    ]


def test_second_invalid_token_is_not_replayed_again(client, cfsim, calls):
    client.get_app(ACME_PROD_APP)
    cfsim.add_fault(
        method="GET", path=f"^/v3/apps/{ACME_PROD_APP}$", status=401, title="CF-InvalidAuthToken", count=2
    )
    calls.clear()
    with pytest.raises(Unauthorized) as info:
        client.get_app(ACME_PROD_APP)
    assert info.value.title == "CF-InvalidAuthToken"
    statuses = [c.status for c in calls if c.path.startswith("/v3/apps")]
    assert statuses == [401, 401]


def test_short_lived_token_is_renewed_before_it_expires(cfsim, calls):
    forget_tokens()
    cfsim.configure(token_lifetime=2)
    quick = CFClient(cfsim.api_url, **PORTAL_CLIENT, on_call=calls.append)
    quick.get_app(ACME_PROD_APP)
    time.sleep(1.6)  # inside the renewal margin (a quarter of the lifetime), not yet expired
    quick.get_app(ACME_PROD_APP)
    assert [s for s in calls.summary() if s[1].startswith("/v3")] == [
        ("GET", f"/v3/apps/{ACME_PROD_APP}", 200),
        ("GET", f"/v3/apps/{ACME_PROD_APP}", 200),
    ]
    assert len([c for c in calls if c.path == "/uaa/oauth/token"]) == 2


def test_refresh_grant_and_oauth_errors(cfsim):
    token_url = cfsim.api_url + "/uaa/oauth/token"
    login = requests.post(
        token_url, data={"grant_type": "password", "username": "admin", "password": "admin"}, auth=("cf", "")
    )
    assert login.status_code == 200
    body = login.json()
    assert body["token_type"] == "bearer" and body["refresh_token"] and body["expires_in"] > 0
    refreshed = requests.post(
        token_url,
        data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
        auth=("cf", ""),
    )
    assert refreshed.status_code == 200 and refreshed.json()["access_token"] != body["access_token"]
    bad_refresh = requests.post(
        token_url, data={"grant_type": "refresh_token", "refresh_token": "nope"}, auth=("cf", "")
    )
    assert bad_refresh.status_code == 401 and bad_refresh.json()["error"] == "invalid_token"
    bad_password = requests.post(
        token_url, data={"grant_type": "password", "username": "admin", "password": "x"}, auth=("cf", "")
    )
    assert bad_password.status_code == 401
    assert bad_password.json() == {"error": "unauthorized", "error_description": "Bad credentials"}
    unsupported = requests.post(token_url, data={"grant_type": "implicit"}, auth=("cf", ""))
    assert unsupported.status_code == 400 and unsupported.json()["error"] == "unsupported_grant_type"
    in_body = requests.post(
        token_url,
        data={
            "grant_type": "client_credentials",
            "client_id": "ecportal",
            "client_secret": "ecportal-sim-secret",
        },
    )
    assert in_body.status_code == 200 and "refresh_token" not in in_body.json()


@pytest.mark.parametrize("scheme", ["bearer", "Bearer"])
def test_both_bearer_spellings_are_accepted(cfsim, scheme):
    token = requests.post(
        cfsim.api_url + "/uaa/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=("ecportal", "ecportal-sim-secret"),
    ).json()["access_token"]
    response = requests.get(cfsim.api_url + "/v3/apps", headers={"Authorization": f"{scheme} {token}"})
    assert response.status_code == 200


def test_missing_and_bad_tokens_get_cf_titles(cfsim):
    missing = requests.get(cfsim.api_url + "/v3/apps")
    assert missing.status_code == 401
    assert missing.json()["errors"][0] == {
        "code": 10002,
        "title": "CF-NotAuthenticated",
        "detail": "Authentication error",
    }
    bad = requests.get(cfsim.api_url + "/v3/apps", headers={"Authorization": "bearer not-a-token"})
    assert bad.status_code == 401 and bad.json()["errors"][0]["title"] == "CF-InvalidAuthToken"
    assert bad.json()["errors"][0]["code"] == 1000


def test_a_netrc_entry_for_the_api_host_leaves_the_token_alone(client, cfsim, calls, tmp_path, monkeypatch):
    """`requests` fills in credentials from `.netrc` for a request that carries no auth of its own:
    the token travels as the request's auth, so CF gets it whatever that file says."""
    host = cfsim.api_url.split("//")[1].split(":")[0]
    netrc = tmp_path / ".netrc"
    netrc.write_text(f"machine {host} login someone password something\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    assert client.get_app(ACME_PROD_APP).guid == ACME_PROD_APP
    assert calls.summary()[-1] == ("GET", f"/v3/apps/{ACME_PROD_APP}", 200)
