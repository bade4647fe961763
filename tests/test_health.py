"""`/healthz/`: the platform's liveness check answers without login and without the database."""

from django.test import Client


def test_healthz_answers_ok_without_login_or_database():
    # No `db` fixture: pytest-django fails any query made here, so this also proves it needs no database.
    response = Client().get("/healthz/")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain"
    assert response.content == b"ok"
    assert "no-cache" in response["Cache-Control"]


def test_healthz_refuses_writes():
    assert Client().post("/healthz/").status_code == 405
