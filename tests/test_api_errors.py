"""The API's refusals (DESIGN §5): bad input is a 400 with field messages, a body too large a 413, a path
that names nothing a JSON 404; never a 500. Each case here once got a 500 or an undocumentable answer."""

import pytest
from django.test import override_settings

from tests.conftest import PROD, file_request
from upgrades.models import UpgradeRequest


def test_json_nested_ten_thousand_deep_is_a_400(api, cast, releases):
    deep = '{"service_urls": ' + "[" * 10_000 + "]" * 10_000 + "}"
    response = api(cast["alice"]).post("/api/requests/", deep, content_type="application/json")
    assert response.status_code == 400, response.content
    assert "nested too deeply" in response.json()["detail"]
    assert UpgradeRequest.objects.count() == 0


def test_deep_json_in_an_action_body_is_a_400(api, cast, filed):
    deep = "[" * 50_000 + "]" * 50_000
    response = api(cast["olga"]).post(
        f"/api/requests/{filed.pk}/approve/", deep, content_type="application/json"
    )
    assert response.status_code == 400, response.content
    assert filed.services.filter(state="submitted").count() == 2, "nothing happened"


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1_000)
@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", '{"service_urls": ["' + "x" * 2_000 + '"]}'),
        ("application/x-www-form-urlencoded", "service_urls=" + "x" * 2_000),
    ],
)
def test_a_body_past_the_upload_limit_is_a_413(api, cast, releases, content_type, body):
    response = api(cast["alice"]).post("/api/requests/", body, content_type=content_type)
    assert response.status_code == 413, response.content
    assert response.json() == {"detail": "The request body is larger than 1,000 bytes."}


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1_000)
def test_a_multipart_body_past_the_upload_limit_is_a_413(api, cast, releases):
    response = api(cast["alice"]).post("/api/requests/", {"service_urls": ["x" * 2_000]}, format="multipart")
    assert response.status_code == 413, response.content
    assert response.json() == {"detail": "The request body is larger than 1,000 bytes."}


@override_settings(DATA_UPLOAD_MAX_NUMBER_FIELDS=10)
def test_too_many_form_fields_is_a_400(api, cast, releases):
    body = "&".join(f"contacts=c{n}@example.com" for n in range(20))
    response = api(cast["alice"]).post(
        "/api/requests/", body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 400, response.content
    assert "detail" in response.json()


@pytest.mark.parametrize("name", ["zone_id", "state", "foundation"])
def test_a_nul_byte_in_a_list_filter_is_a_400(api, cast, filed, name):
    response = api(cast["olga"]).get(f"/api/requests/?{name}=%00")
    assert response.status_code == 400, response.content
    assert list(response.json()) == [name]


@pytest.mark.parametrize(("name", "value"), [("state", "sleeping"), ("foundation", "mars")])
def test_an_unknown_state_or_foundation_filter_is_a_400_not_ignored(api, cast, filed, name, value):
    response = api(cast["olga"]).get(f"/api/requests/?{name}={value}")
    assert response.status_code == 400, response.content
    assert list(response.json()) == [name]


def test_empty_filters_filter_nothing(api, cast, filed):
    response = api(cast["olga"]).get("/api/requests/?state=&foundation=&zone_id=")
    assert response.status_code == 200 and response.json()["count"] == 1


def test_a_contact_longer_than_its_column_is_a_400(api, cast, releases):
    long_contact = "a" * 64 + "@" + ".".join(["b" * 60] * 4) + ".example.com"
    assert len(long_contact) > 254
    response = api(cast["alice"]).post(
        "/api/requests/",
        {"service_urls": [PROD], "contacts": ["ok@example.com", long_contact]},
        format="json",
    )
    assert response.status_code == 400, response.content
    assert response.json() == {"contacts": ["Line 2: Ensure this field has no more than 254 characters."]}
    assert UpgradeRequest.objects.count() == 0


def test_messages_about_list_items_name_their_line(api, cast, releases):
    response = api(cast["alice"]).post(
        "/api/requests/", {"service_urls": [PROD, {"url": PROD}], "contacts": [["x"]]}, format="json"
    )
    assert response.status_code == 400, response.content
    assert response.json() == {
        "service_urls": ["Line 2: Not a valid string."],
        "contacts": ["Line 1: Not a valid string."],
    }


@pytest.mark.parametrize(
    "path",
    [
        "/api/requests/-1/",
        "/api/requests/abc/events/",
        "/api/services/1.5/cancel/",
        "/api/nothing-here/",
    ],
)
def test_a_path_that_names_nothing_is_a_json_404(api, cast, path):
    response = api(cast["alice"]).post(path, {}, format="json")
    assert response.status_code == 404, response.content
    assert response.json() == {"detail": "Not found."}
    assert api().get(path).status_code == 401, "anonymous callers hear 401 here too"


def test_a_huge_id_is_a_404(api, cast, filed):
    response = api(cast["olga"]).get(f"/api/requests/{10**30}/")
    assert response.status_code == 404, response.content
    service = api(cast["olga"]).post(f"/api/services/{2**63}/cancel/", {}, format="json")
    assert service.status_code == 404, service.content


def test_an_unsupported_media_type_is_a_415(api, cast, filed):
    response = api(cast["olga"]).post(
        f"/api/requests/{filed.pk}/approve/", "reason=x", content_type="text/plain"
    )
    assert response.status_code == 415, response.content
    assert "detail" in response.json()


def test_a_list_page_past_the_end_is_a_404(api, cast, releases):
    file_request(cast["alice"], [PROD])
    response = api(cast["alice"]).get("/api/requests/?page=9")
    assert response.status_code == 404 and response.json() == {"detail": "Invalid page."}


def test_the_schema_documents_pagination_and_every_refusal(api, cast):
    schema = api(cast["alice"]).get("/api/schema/?format=json").json()
    for path in ("/api/requests/", "/api/requests/{request_id}/events/"):
        ok = schema["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        page = schema["components"]["schemas"][ok["$ref"].rsplit("/", 1)[1]]
        assert set(page["properties"]) == {"count", "next", "previous", "results"}, path
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            expected = {"401"}
            if method == "post":
                expected |= {"403"}
            if method == "post" and "requestBody" in operation:  # a POST that takes no body parses none
                expected |= {"400", "413", "415"} | ({"404", "409"} if "{" in path else set())
            assert expected <= set(operation["responses"]), (method, path)
            for status, response in operation["responses"].items():
                assert "application/json" in response["content"], (method, path, status)


def test_an_api_url_no_pattern_matches_answers_json_401_to_anonymous_callers_and_404_to_others(api, cast):
    anonymous = api().post("/api/requests/not-a-number/reject/", {}, format="json")
    assert anonymous.status_code == 401 and anonymous.json() == {
        "detail": "Authentication credentials were not provided."
    }
    signed_in = api(cast["olga"]).post("/api/requests/not-a-number/reject/", {}, format="json")
    assert signed_in.status_code == 404 and signed_in.json() == {"detail": "Not found."}
    page = api(cast["olga"]).get("/requests/not-a-number/")
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")
