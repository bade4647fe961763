"""Production settings: everything from the environment, HTTPS-only cookies, HSTS, no demo data."""

import os
import tempfile

from django.core.exceptions import ImproperlyConfigured

os.environ.setdefault("ECPORTAL_EMBEDDED", "false")

from ecportal.settings import *  # noqa: E402,F403
from ecportal.settings import METRICS_DIR_GIVEN, env, use_log_format, use_metrics_dir  # noqa: E402

if env.bool("DEBUG", default=False):
    raise ImproperlyConfigured("DEBUG must be off in production.")
if not env.str("SECRET_KEY", default=""):
    raise ImproperlyConfigured("SECRET_KEY must be set in the environment in production.")
if len(env.str("EVIDENCE_KEY", default="")) < 32:
    # Evidence packs must verify with a key of their own, not one derived from another secret.
    raise ImproperlyConfigured("EVIDENCE_KEY must be set in the environment in production (32+ characters).")
if not env.list("ALLOWED_HOSTS", default=[]):
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set in the environment in production.")
if not env.str("CACHE_URL", default="").startswith(("redis://", "rediss://")):
    # Kept pages are marked out of date by the workers: web and workers must share one cache.
    raise ImproperlyConfigured("CACHE_URL must name the Redis that web, worker and beat share in production.")
if not env.str("METRICS_TOKEN", default="") and not env.bool("METRICS_NETWORK_RULE", default=False):
    # Set METRICS_NETWORK_RULE=true instead only where a network rule keeps /metrics from the public.
    raise ImproperlyConfigured("METRICS_TOKEN must be set in production (the bearer token for /metrics).")

DEBUG = False
EMBEDDED = False
LOG_FORMAT = use_log_format(env.str("LOG_FORMAT", default="json"))
CELERY_WORKER_HIJACK_ROOT_LOGGER = LOG_FORMAT != "json"
# Each container's own, wiped by gunicorn and the Celery worker when they start (the app's files may be
# read-only to the user it runs as).
PROMETHEUS_MULTIPROC_DIR = use_metrics_dir(
    METRICS_DIR_GIVEN or os.path.join(tempfile.gettempdir(), "ecportal-metrics")
)
METRICS_WIPE_ON_START = env.bool("METRICS_WIPE_ON_START", default=True)
SECRET_KEY = env.str("SECRET_KEY")
EVIDENCE_KEY = env.str("EVIDENCE_KEY")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")
if env.str("VCAP_APPLICATION", default=""):
    # On CF the platform's health checks call an instance by its own address, not the route's host.
    ALLOWED_HOSTS += [
        env.str(name) for name in ("CF_INSTANCE_INTERNAL_IP", "CF_INSTANCE_IP") if env.str(name, "")
    ]

SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
# The platform's health check calls the app over plain HTTP, past the router: a redirect would fail it.
SECURE_REDIRECT_EXEMPT = [r"^healthz/$", r"^readyz/$"]
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_NAME = "__Host-sessionid"
CSRF_COOKIE_NAME = "__Host-csrftoken"

# --- Webhooks (issue 14): https receivers only; private addresses only when configured. ----------
WEBHOOK_ALLOW_HTTP = False
WEBHOOK_ALLOW_PRIVATE = env.bool("WEBHOOK_ALLOW_PRIVATE", default=False)
