"""Nothing leaks through logs or caches: contact-link tokens never reach a log, and no shared cache keeps
a page, an API answer or a contact page."""

import logging
from datetime import timedelta
from types import SimpleNamespace

from gunicorn.config import Config

from ecportal.logredact import AccessLogger
from upgrades.notifications import links as contact_links


def test_the_access_log_line_carries_no_contact_token(filed):
    token = contact_links.token_for(filed.contacts.get())
    path = f"/c/{token}/confirm/7/"
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": path + "?x=1",
        "PATH_INFO": path,
        "QUERY_STRING": "x=1",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_REFERER": f"https://portal.example/c/{token}/",
    }
    response = SimpleNamespace(status="200 OK", sent=10, headers=[])
    atoms = AccessLogger(Config()).atoms(response, SimpleNamespace(headers=[]), environ, timedelta(seconds=0))
    line = " ".join(str(value) for value in atoms.values())
    assert token not in line and token.split(":")[1] not in line
    assert (
        atoms["r"] == "GET /c/[redacted]/confirm/7/?x=1 HTTP/1.1" and atoms["U"] == "/c/[redacted]/confirm/7/"
    )


def test_django_request_log_redacts_the_token(client, filed, caplog):
    token = contact_links.token_for(filed.contacts.get())
    with caplog.at_level(logging.WARNING, logger="django.request"):
        assert client.get(f"/c/{token}x/").status_code == 404  # a tampered link: logged as Not Found
    assert caplog.records and all(token not in record.getMessage() for record in caplog.records)
    assert any("/c/[redacted]/" in record.getMessage() for record in caplog.records)


def test_signed_in_pages_the_api_and_contact_pages_are_never_kept_by_shared_caches(client, api, cast, filed):
    token = contact_links.token_for(filed.contacts.get())
    responses = {"contact page": client.get(f"/c/{token}/"), "login": client.get("/accounts/login/")}
    client.force_login(cast["olga"])
    for path in ("/", "/queue/", "/requests/", f"/requests/{filed.pk}/", "/requests/new/"):
        responses[path] = client.get(path)
    responses["API"] = api(cast["olga"]).get("/api/requests/")
    for name, response in responses.items():
        directives = {part.strip() for part in response["Cache-Control"].split(",")}
        assert "private" in directives and directives & {"no-cache", "no-store"}, name
