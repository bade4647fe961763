"""On Cloud Foundry the portal finds its database and Redis in the bound services (VCAP_SERVICES) when
DATABASE_URL, CELERY_BROKER_URL and CACHE_URL are not set; manifest.yml deploys web, worker and beat."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ecportal.vcap import bound_urls
from testkit.production import production_env

ROOT = Path(__file__).resolve().parent.parent


def vcap(database: str, redis: str) -> str:
    """VCAP_SERVICES as CF writes it for a PostgreSQL and a Redis service instance."""
    return json.dumps(
        {
            "postgres": [
                {"name": "ecportal-db", "label": "postgres", "tags": ["postgresql", "relational"],
                 "plan": "small", "credentials": {"uri": database, "username": "postgres"}}
            ],
            "p.redis": [
                {"name": "ecportal-redis", "label": "p.redis", "tags": ["redis", "pivotal"],
                 "plan": "cache-small", "credentials": {"host": "127.0.0.1", "url": redis}}
            ],
            "user-provided": [{"name": "smtp", "label": "user-provided", "tags": [], "credentials": {}}],
        }
    )  # fmt: skip


def test_the_bound_postgres_and_redis_give_the_database_broker_and_cache():
    urls = bound_urls(vcap("postgres://u:p@db:5432/ec", "rediss://:s@cache:6380"))
    assert urls == {
        "DATABASE_URL": "postgres://u:p@db:5432/ec",
        "CELERY_BROKER_URL": "rediss://:s@cache:6380",
        "CACHE_URL": "rediss://:s@cache:6380",
    }
    assert bound_urls("") == {}
    assert (
        bound_urls(json.dumps({"user-provided": [{"name": "x", "credentials": {"uri": "ldap://x"}}]})) == {}
    )
    with pytest.raises(ValueError):
        bound_urls("[1]")


def test_a_portal_process_is_configured_from_vcap_services_alone(django_db_setup):
    # The real PostgreSQL and Redis of this test run, named only in VCAP_SERVICES.
    database = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ecportal")
    redis = os.environ.get("CACHE_URL", "redis://127.0.0.1:6379/14")
    env = production_env(
        VCAP_SERVICES=vcap(database, redis),
        # Not set: the settings find them in VCAP_SERVICES.
        DATABASE_URL=None,
        CELERY_BROKER_URL=None,
        CACHE_URL=None,
        # The platform's health check calls the instance by its own address.
        VCAP_APPLICATION=json.dumps({"application_name": "ecportal"}),
        CF_INSTANCE_INTERNAL_IP="10.255.0.7",
        FOUNDATIONS="[]",
    )
    script = (
        "import json, django; django.setup(); "
        "from django.conf import settings; from django.test import Client; "
        "r = Client().get('/readyz/', HTTP_HOST='10.255.0.7'); "
        "print(json.dumps({'db': settings.DATABASES['default']['NAME'], "
        "'broker': settings.CELERY_BROKER_URL, 'cache': settings.CACHES['default']['LOCATION'], "
        "'ready': r.status_code, 'lines': r.content.decode()}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["db"] == database.rsplit("/", 1)[1]
    assert seen["broker"] == redis and seen["cache"] == redis
    assert seen["ready"] == 200, seen["lines"]


def test_the_manifest_deploys_web_worker_and_beat_as_processes_of_one_app_with_the_bound_services():
    (app,) = yaml.safe_load((ROOT / "manifest.yml").read_text())["applications"]
    assert app["services"] == ["ecportal-db", "ecportal-redis"]
    assert app["env"]["DJANGO_SETTINGS_MODULE"] == "ecportal.settings.production"
    assert not {"DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL"} & set(app["env"]), "from VCAP_SERVICES"
    processes = {process["type"]: process for process in app["processes"]}
    assert set(processes) == {"web", "worker", "beat"} and processes["beat"]["instances"] == 1
    assert "gunicorn ecportal.wsgi" in processes["web"]["command"] and "$PORT" in processes["web"]["command"]
    assert processes["web"]["health-check-http-endpoint"] == "/healthz/"
    assert processes["web"]["readiness-health-check-http-endpoint"] == "/readyz/"
    assert "celery -A ecportal worker" in processes["worker"]["command"]
    assert "celery -A ecportal beat" in processes["beat"]["command"]


def test_on_cf_each_worker_serves_its_own_figures_on_the_worker_metrics_port():
    (app,) = yaml.safe_load((ROOT / "manifest.yml").read_text())["applications"]
    # A manifest's processes take no env of their own: the app's env reaches the worker, which alone
    # reads WORKER_METRICS_PORT.
    assert int(app["env"]["WORKER_METRICS_PORT"]) > 0
    assert all("env" not in process for process in app["processes"])
