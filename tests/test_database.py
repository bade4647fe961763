"""PostgreSQL: a connection the server dropped is replaced before a request uses it, as Django's
health checks do but without a query of its own; the queue's search has its trigram indexes; the
flush after a test outlasts a deadlock with a worker's transaction."""

import http.client
import os
import socket
import subprocess
import sys
import threading
import time

import psycopg
import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client, TransactionTestCase

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


@pytest.mark.django_db(transaction=True)
def test_the_flush_after_a_test_outlasts_a_deadlock_with_a_worker_transaction():
    """A worker's transaction reads the last table the flush truncates, waits until the flush queues
    behind it, then reads the first, which the flush holds. The flush checks for the deadlock first
    (its deadlock_timeout is the shorter) and is aborted; it is run again once the worker commits."""
    make_user("alice")
    tables = connection.introspection.django_table_names(only_existing=True, include_views=False)
    first, last = connection.ops.quote_name(tables[0]), connection.ops.quote_name(tables[-1])
    outcome: list[str] = []

    def worker() -> None:
        with psycopg.connect(database_url(connection.settings_dict), autocommit=True) as peer:
            peer.execute("SET deadlock_timeout = '60s'")
            try:
                with peer.transaction():
                    peer.execute(f"SELECT 1 FROM {last} LIMIT 1")
                    read_last.set()
                    flush_waits = (
                        "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = %s::regclass"
                    )
                    deadline = time.monotonic() + 30
                    while not peer.execute(flush_waits, [last]).fetchone()[0]:
                        assert time.monotonic() < deadline, "the flush never queued behind the worker"
                        time.sleep(0.01)
                    peer.execute(f"SELECT 1 FROM {first} LIMIT 1")
                outcome.append("committed")
            except (psycopg.Error, AssertionError) as error:
                outcome.append(repr(error))

    read_last = threading.Event()
    reader = threading.Thread(target=worker)
    with connection.cursor() as cursor:
        cursor.execute("SET deadlock_timeout = '3s'")
    try:
        reader.start()
        assert read_last.wait(30)
        TransactionTestCase()._fixture_teardown()
    finally:
        reader.join(90)
        with connection.cursor() as cursor:
            cursor.execute("RESET deadlock_timeout")
    assert outcome == ["committed"]
    assert not User.objects.exists()
