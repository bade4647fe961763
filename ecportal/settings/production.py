"""Production settings: everything from the environment, HTTPS-only cookies, HSTS, no demo data."""

import os

from django.core.exceptions import ImproperlyConfigured

os.environ.setdefault("ECPORTAL_EMBEDDED", "false")

from ecportal.settings import *  # noqa: E402,F403
from ecportal.settings import env  # noqa: E402

if env.bool("DEBUG", default=False):
    raise ImproperlyConfigured("DEBUG must be off in production.")
if not env.str("SECRET_KEY", default=""):
    raise ImproperlyConfigured("SECRET_KEY must be set in the environment in production.")
if not env.list("ALLOWED_HOSTS", default=[]):
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set in the environment in production.")
if not env.str("CACHE_URL", default="").startswith(("redis://", "rediss://")):
    # Kept pages are marked out of date by the workers: web and workers must share one cache.
    raise ImproperlyConfigured("CACHE_URL must name the Redis that web, worker and beat share in production.")

DEBUG = False
EMBEDDED = False
SECRET_KEY = env.str("SECRET_KEY")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")

SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
# The platform's health check calls the app over plain HTTP, past the router: a redirect would fail it.
SECURE_REDIRECT_EXEMPT = [r"^healthz/$"]
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
