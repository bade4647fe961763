"""PostgreSQL: a connection the server dropped is replaced before a request uses it, as Django's
health checks do but without a query of its own; the queue's search has its trigram indexes."""

import http.client
import os
import socket
import subprocess
import sys
import time

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client

from testkit.stack import REPO_ROOT, database_url
from tests.conftest import make_user


def _get(port: int, path: str, cookie: str) -> tuple[int, str]:
    peer = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        peer.request("GET", path, headers={"Cookie": cookie})
        response = peer.getresponse()
        return response.status, response.read().decode()
    finally:
        peer.close()


@pytest.fixture
def portal(tmp_path):
    """The portal under gunicorn (one sync worker, which keeps its connection between requests) on
    the test database; yields its port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "DATABASE_URL": database_url(connection.settings_dict), "ALLOWED_HOSTS": "127.0.0.1"}
    with (tmp_path / "gunicorn.log").open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "ecportal.wsgi", "--bind", f"127.0.0.1:{port}", "-w", "1",
             "--no-control-socket"],
            cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if _get(port, "/healthz/", "")[0] == 200:
                    break
            except OSError:
                pass
            log = (tmp_path / "gunicorn.log").read_text()
            assert server.poll() is None and time.monotonic() < deadline, log
            time.sleep(0.1)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.mark.django_db(transaction=True)
def test_a_connection_the_server_dropped_is_replaced_before_the_request_uses_it(portal):
    assert settings.DATABASES["default"]["CONN_MAX_AGE"] > 0
    browser = Client()
    browser.force_login(make_user("alice"))
    cookie = f"{settings.SESSION_COOKIE_NAME}={browser.cookies[settings.SESSION_COOKIE_NAME].value}"
    assert _get(portal, "/requests/", cookie)[0] == 200
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()) AS ended"
        )
        assert cursor.fetchone()[0] >= 1, "the portal's connection was kept between requests"
    time.sleep(0.3)
    for _ in range(3):
        status, body = _get(portal, "/requests/", cookie)
        assert status == 200 and "My requests" in body


@pytest.mark.django_db
def test_the_queue_search_has_its_trigram_indexes():
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'upgrades_serviceupgrade'")
        names = {row[0] for row in cursor.fetchall()}
    assert {"service_zone_id_trgm", "service_url_trgm", "service_foundation_trgm"} <= names
