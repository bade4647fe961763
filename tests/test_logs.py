"""Nothing leaks through logs or caches: contact-link tokens never reach a log, and no shared cache keeps
a page, an API answer or a contact page. Log lines carry the request id, the upgrade id and CF's request id
(JSON in production)."""

import io
import json
import logging
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.conf import settings
from gunicorn.config import Config
from pythonjsonlogger.json import JsonFormatter

from ecportal import logcontext
from ecportal.embedded import CFSIM_CLIENT_SECRET
from ecportal.logcontext import LogContext
from ecportal.logredact import AccessLogger
from testkit.cfsim import CfSim
from testkit.production import production_env
from upgrades.cloudfoundry import CFClient
from upgrades.notifications import links as contact_links

ROOT = Path(__file__).resolve().parent.parent


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


@pytest.fixture
def json_lines():
    """The JSON log lines of the `django.request` and `upgrades` loggers, formatted as in production."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(LogContext())
    options = {k: v for k, v in settings.LOGGING["formatters"]["json"].items() if k != "()"}
    handler.setFormatter(JsonFormatter(**options))
    loggers = [logging.getLogger(name) for name in ("django.request", "upgrades")]
    for logger in loggers:
        logger.addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    for logger in loggers:
        logger.removeHandler(handler)


def test_a_request_s_log_lines_carry_its_request_id(client, db, json_lines):
    answer = client.get("/no-such-page/", HTTP_X_REQUEST_ID="req-42")
    assert answer.status_code == 404 and answer["X-Request-Id"] == "req-42"
    (line,) = [line for line in json_lines() if line["logger"] == "django.request"]
    assert line["request_id"] == "req-42" and line["level"] == "WARNING" and "Not Found" in line["message"]

    # The router's id is preferred; a header that could forge log fields is replaced by a fresh id.
    routed = client.get("/healthz/", HTTP_X_VCAP_REQUEST_ID="cf-router-1", HTTP_X_REQUEST_ID="other")
    assert routed["X-Request-Id"] == "cf-router-1"
    forged = client.get("/healthz/", HTTP_X_REQUEST_ID='x" "level": "ERROR')
    assert re.fullmatch(r"[0-9a-f]{32}", forged["X-Request-Id"])


def test_engine_log_lines_carry_the_upgrade_id_and_cf_s_request_id(json_lines):
    with CfSim() as sim, logcontext.bound(upgrade_id=7, cf_request_id=None):
        client = CFClient(sim.api_url, client_id="ecportal", client_secret=CFSIM_CLIENT_SECRET)
        client.root_links()
        logging.getLogger("upgrades.engine.runner").warning("looked at the foundation")
    (line,) = json_lines()
    assert line["upgrade_id"] == 7 and line["message"] == "looked at the foundation"
    assert re.fullmatch(r"[0-9a-f-]{36}", line["cf_request_id"] or ""), "CF's X-Vcap-Request-Id of its answer"


def test_production_writes_json_log_lines():
    env = production_env()
    script = (
        "import django, logging; django.setup(); from ecportal import logcontext\n"
        "with logcontext.bound(upgrade_id=12):\n"
        "    logging.getLogger('upgrades.engine.runner').warning('stage %s', 'failed')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    line = json.loads(result.stderr.strip().splitlines()[-1])
    assert line["message"] == "stage failed" and line["level"] == "WARNING" and line["upgrade_id"] == 12
    assert line["logger"] == "upgrades.engine.runner" and "request_id" in line and "time" in line
