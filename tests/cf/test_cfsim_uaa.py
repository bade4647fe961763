"""cfsim's UAA as an OpenID Connect provider, and Cloud Controller lists as a user's roles allow."""

import json
import urllib.error
import urllib.request
from urllib.parse import urlencode

import pytest

from testkit import demo
from testkit.cfsim import CfSim
from testkit.uaa import log_in_at, public_keys, token_response
from upgrades.cloudfoundry import CFClient, NotFound
from upgrades.cloudfoundry.errors import Unauthorized

ACME_SPACE = "5ace0000-0000-4000-8000-00000000ac3e"


def get(url: str, token: str | None = None) -> tuple[int, dict]:
    headers = {"Authorization": f"bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def as_user(cfsim, username: str) -> CFClient:
    token = token_response(cfsim.api_url, username, scope="openid cloud_controller.read")["access_token"]
    return CFClient(cfsim.api_url, client_id="ecportal", client_secret="", access_token=token, max_retries=0)


def test_discovery_and_keys_name_what_a_client_needs(cfsim):
    status, config = get(f"{cfsim.api_url}/uaa/.well-known/openid-configuration")
    assert status == 200
    uaa = f"{cfsim.api_url}/uaa"
    assert config["issuer"] == f"{uaa}/oauth/token"
    assert (config["authorization_endpoint"], config["jwks_uri"], config["userinfo_endpoint"]) == (
        f"{uaa}/oauth/authorize",
        f"{uaa}/token_keys",
        f"{uaa}/userinfo",
    )
    assert "S256" in config["code_challenge_methods_supported"]
    (key,) = public_keys(cfsim.api_url)["keys"]
    assert (key["kty"], key["alg"], key["use"]) == ("RSA", "RS256", "sig")
    assert key["value"].startswith("-----BEGIN PUBLIC KEY-----")


def test_userinfo_answers_for_a_users_token_only(cfsim):
    token = token_response(cfsim.api_url, "bob")["access_token"]
    status, info = get(f"{cfsim.api_url}/uaa/userinfo", token)
    assert status == 200
    assert (info["user_name"], info["email"]) == ("bob", "bob@example.com")
    assert get(f"{cfsim.api_url}/uaa/userinfo", "not-a-token")[0] == 401
    assert get(f"{cfsim.api_url}/uaa/userinfo")[0] == 401


def test_the_login_page_refuses_a_wrong_password_and_an_unknown_client(cfsim):
    query = {"client_id": "ecportal", "response_type": "code", "redirect_uri": "http://127.0.0.1/cb"}
    assert log_in_at(f"{cfsim.api_url}/uaa/oauth/authorize?{urlencode(query)}", "alice", "wrong") == (401, "")
    unknown = urlencode(query | {"client_id": "nobody"})
    assert log_in_at(f"{cfsim.api_url}/uaa/oauth/authorize?{unknown}", "alice")[0] == 400
    status, location = log_in_at(
        f"{cfsim.api_url}/uaa/oauth/authorize?{urlencode(query | {'response_type': 'token'})}", "alice"
    )
    assert status == 302 and location.endswith("error=unsupported_response_type")


def test_a_user_sees_the_service_instances_of_their_spaces_only(cfsim):
    alice = as_user(cfsim, "alice")
    assert alice.get_service_instance(demo.ACME_PROD_ZONE).space_guid == ACME_SPACE
    with pytest.raises(NotFound):
        alice.get_service_instance(demo.GLOBEX_PROD_ZONE)
    token = token_response(cfsim.api_url, "alice", scope="openid cloud_controller.read")["access_token"]
    status, listed = get(f"{cfsim.api_url}/v3/service_instances", token)
    assert status == 200
    assert {si["name"] for si in listed["resources"]} == {"ec-acme-prod", "ec-acme-nonprod"}
    assert listed["pagination"]["total_results"] == 2
    # The portal's client sees everything, as a client with cloud_controller.admin does.
    portal = CFClient(cfsim.api_url, client_id="ecportal", client_secret="ecportal-sim-secret")
    assert portal.get_service_instance(demo.GLOBEX_PROD_ZONE).name == "ec-globex-prod"


def test_space_managers_are_listed_with_their_user_names(cfsim):
    assert as_user(cfsim, "alice").space_manager_names(ACME_SPACE) == ["dana@acme.example"]
    assert as_user(cfsim, "bob").space_manager_names(ACME_SPACE) == []  # not his space


def test_a_token_cf_does_not_know_is_refused(cfsim):
    stranger = CFClient(
        cfsim.api_url, client_id="ecportal", client_secret="", access_token="forged", max_retries=0
    )
    with pytest.raises(Unauthorized):
        stranger.get_service_instance(demo.ACME_PROD_ZONE)


def test_users_and_roles_survive_a_restart(tmp_path):
    state = tmp_path / "state.json"
    with CfSim(state=state) as first:
        first.state()  # started and saved
    with CfSim(state=state) as again:
        assert as_user(again, "alice").space_manager_names(ACME_SPACE) == ["dana@acme.example"]
