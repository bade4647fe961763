"""Settings from the environment (12-factor).

The defaults are the embedded ones that `make run` uses: SQLite in `var/db.sqlite3` (WAL) and a broker
in files under `var/broker/` (ecportal/broker.py), so `.venv/bin/python manage.py …` in a checkout works
on `make run`'s database.
`DATABASE_URL` and `CELERY_BROKER_URL` switch to PostgreSQL and Redis. Production hardening lives in
`ecportal.settings.production`, which imports this module.
"""

import secrets
from datetime import timedelta
from pathlib import Path

import environ
from django.utils.csp import CSP

from ecportal.embedded import demo_foundations

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(environ.Env().str("ECPORTAL_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()


def _embedded_secret_key() -> str:
    """A random key kept in var/ so embedded sessions survive restarts; never a key in the repo."""
    path = VAR_DIR / "secret_key"
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="") or _embedded_secret_key()
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
# Embedded mode seeds demo users and talks to cfsim; production settings switch it off.
EMBEDDED = env.bool("ECPORTAL_EMBEDDED", default=True)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "upgrades",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "axes.middleware.AxesMiddleware",
    "ecportal.middleware.private_pages",
]

ROOT_URLCONF = "ecportal.urls"
WSGI_APPLICATION = "ecportal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "upgrades.web.context_processors.roles",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat write at once: WAL lets readers go on, immediate transactions take the
    # write lock up front (no upgrade deadlocks), and the busy timeout waits instead of failing.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        DATABASES["default"]["ENGINE"] = "ecportal.db"  # the same, checking health without a query
    # Parameters bound by the server, so psycopg prepares a statement once a connection has run it
    # five times: every page's user lookup and list queries are then planned once, not per request.
    # Set DB_PREPARE_THRESHOLD= (empty) behind a transaction-mode pooler that cannot keep them.
    _prepare_threshold = env.str("DB_PREPARE_THRESHOLD", default="5")
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        server_side_binding=True, prepare_threshold=int(_prepare_threshold) if _prepare_threshold else None
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache: sessions -----------------------------------------------------------------------------
# Redis in production (CACHE_URL=redis://…); files under var/ in embedded mode.
CACHES = {"default": env.cache("CACHE_URL", default=f"filecache://{VAR_DIR / 'cache'}")}
CACHES["default"].setdefault("KEY_PREFIX", "ecportal")
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    CACHES["default"]["BACKEND"] = "ecportal.cache.RedisCache"
    # A cache that does not answer at once counts as down: sessions are then read from the
    # database instead of waiting on it.
    CACHES["default"].setdefault("OPTIONS", {}).update(socket_connect_timeout=0.5, socket_timeout=0.5)
# Sessions are read from the cache and written through to the database (which keeps them if the
# cache is flushed or down).
SESSION_ENGINE = "ecportal.sessions"

# --- Auth ---------------------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "upgrades.permissions.PortalBackend",
]
# Argon2id first, at OWASP's recommended cost (see ecportal/hashers.py): a sign-in spent nearly all
# its time in PBKDF2. Hashes made with PBKDF2 still verify and are rehashed at their owner's next sign-in.
PASSWORD_HASHERS = [
    "ecportal.hashers.PortalArgon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
# Failed sign-ins slow that username down: after AXES_FAILURE_LIMIT failures it waits
# LOGIN_BACKOFF_SECONDS before the next try, from wherever it comes. A short pause, never a long
# lockout, so nobody can keep a colleague out for long. Behind proxies (CF's gorouter, a load balancer),
# TRUSTED_PROXY_HOPS says how many of them append to X-Forwarded-For, so the address the portal records
# is the client's own and no header a client forged is believed.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(seconds=env.int("LOGIN_BACKOFF_SECONDS", default=30))
AXES_LOCKOUT_PARAMETERS = ["username"]
TRUSTED_PROXY_HOPS = env.int("TRUSTED_PROXY_HOPS", default=0)
AXES_CLIENT_IP_CALLABLE = "ecportal.client_address.client_address"
# Throttling per username is the point (axes warns that it ignores the address): an address-based
# limit behind a shared router locks colleagues out, and a forged one is free to rotate anyway.
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False

# --- Internationalisation -----------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files -------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# --- Security headers (the same in embedded mode as in production, but for HTTPS-only ones) -----
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "object-src": [CSP.NONE],
}

# --- REST API -----------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: its WWW-Authenticate header makes anonymous calls 401, never a redirect.
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # DRF's parsers, bounded by DATA_UPLOAD_MAX_MEMORY_SIZE like Django's forms (upgrades/api/parsers.py).
    "DEFAULT_PARSER_CLASSES": [
        "upgrades.api.parsers.JSONParser",
        "upgrades.api.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "upgrades.api.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "upgrades.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "ecportal API",
    "DESCRIPTION": "Blue-green upgrades of Enterprise Connect services on Cloud Foundry.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Anonymous visitors reach only the login page; the schema and docs are for signed-in users.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # Served from our own static files: no CDN, and the strict CSP holds on the docs page too.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "/favicon.ico",  # the portal's own, as on every page
}

# --- Celery (DESIGN §3: ids in messages, late acks, no result backend) --------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    # kombu's filesystem transport, read by the worker's event loop (see ecportal/broker.py).
    CELERY_BROKER_TRANSPORT = "ecportal.broker:Transport"
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "out"),
        "data_folder_out": str(_broker_dir / "out"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
        # The filesystem broker polls its folder; 1 s (the default) would add a second per sub-step.
        "polling_interval": 0.1,
    }
    for _sub in ("out", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
else:
    # A Redis that stops answering (a partition, a failover) costs a sender seconds, not the OS's
    # two-minute TCP timeout: the web answers, and the reconciler sends the work again later.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": 3600,
        "socket_connect_timeout": 2,
        "socket_timeout": 5,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 900
CELERY_TASK_SOFT_TIME_LIMIT = 840
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# --- Cloud Foundry foundations ------------------------------------------------------------------
# A JSON list of {slug, name, domains, api_url, client_id, secret_env}; the secret itself is read from
# the environment variable named by secret_env, never stored here or in the database.
CFSIM_PORT = env.int("CFSIM_PORT", default=9000)
FOUNDATIONS = env.json("FOUNDATIONS", default=demo_foundations(f"http://127.0.0.1:{CFSIM_PORT}"))

# --- Limits on what people enter (forms, the API and its schema say them) ---------------------------
MAX_SERVICES_PER_REQUEST = env.int("MAX_SERVICES_PER_REQUEST", default=50)
MAX_CONTACTS_PER_REQUEST = env.int("MAX_CONTACTS_PER_REQUEST", default=20)
MAX_NOTES_LENGTH = env.int("MAX_NOTES_LENGTH", default=10_000)
MAX_REASON_LENGTH = env.int("MAX_REASON_LENGTH", default=2_000)
MAX_COMMENT_LENGTH = env.int("MAX_COMMENT_LENGTH", default=5_000)
MAX_COMMENTS_PER_REQUEST = env.int("MAX_COMMENTS_PER_REQUEST", default=200)
# A scheduled Step 1 may lie at most this many days ahead (and not in the past).
MAX_SCHEDULE_DAYS = env.int("MAX_SCHEDULE_DAYS", default=90)

# --- Mail ---------------------------------------------------------------------------------------
# `make run` points this at its local SMTP catcher; production sets host, port, TLS and credentials.
MAILERS = {
    "default": {
        "BACKEND": env.str("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend"),
        "OPTIONS": {
            "host": env.str("EMAIL_HOST", default="127.0.0.1"),
            "port": env.int("EMAIL_PORT", default=env.int("SMTP_PORT", default=1025)),
            "username": env.str("EMAIL_HOST_USER", default=""),
            "password": env.str("EMAIL_HOST_PASSWORD", default=""),
            "use_tls": env.bool("EMAIL_USE_TLS", default=False),
            "timeout": 10,
        },
    }
}
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="ecportal <ecportal@localhost>")
# Notifications (issue 5): services reaching a milestone within NOTIFY_GROUP_SECONDS share one mail;
# a failed send is retried with capped exponential backoff and never given up while SMTP is only down.
NOTIFY_GROUP_SECONDS = env.float("NOTIFY_GROUP_SECONDS", default=3.0)
# A campaign's services reaching a milestone within this many seconds share one mail per contact
# (a wave's services finish over minutes, not seconds).
CAMPAIGN_NOTIFY_GROUP_SECONDS = env.float("CAMPAIGN_NOTIFY_GROUP_SECONDS", default=300.0)
NOTIFY_REMINDER_HOURS = env.float("NOTIFY_REMINDER_HOURS", default=24.0)
NOTIFY_RETRY_BASE = env.float("NOTIFY_RETRY_BASE", default=10.0)
NOTIFY_RETRY_CAP = env.float("NOTIFY_RETRY_CAP", default=600.0)
NOTIFY_LEASE_SECONDS = env.int("NOTIFY_LEASE_SECONDS", default=120)
NOTIFY_TASK_RETRIES = env.int("NOTIFY_TASK_RETRIES", default=8)
NOTIFY_SEND_SECONDS = env.float("NOTIFY_SEND_SECONDS", default=30.0)
EC_TEAM_EMAILS = env.list("EC_TEAM_EMAILS", default=[])
CONTACT_LINK_DAYS = env.int("CONTACT_LINK_DAYS", default=30)
# How people reach the EC team with questions: shown in every mail's footer, on the new-request form and
# on the request page. Each part is optional; the name alone is shown when nothing else is set.
EC_TEAM_NAME = env.str("EC_TEAM_NAME", default="EC team")
EC_TEAM_CONTACT_EMAIL = env.str("EC_TEAM_CONTACT_EMAIL", default="")
EC_TEAM_CHAT_URL = env.str("EC_TEAM_CHAT_URL", default="")
EC_TEAM_PEOPLE = env.list("EC_TEAM_PEOPLE", default=[])

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Contact-link tokens never reach a log (ecportal/logredact.py).
    "filters": {"redact_contact_tokens": {"()": "ecportal.logredact.RedactContactTokens"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["redact_contact_tokens"]}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "django.request": {"filters": ["redact_contact_tokens"]},
    },
}

# --- The blue-green engine (DESIGN §3) ----------------------------------------------------------
# A sub-step holds its lease this long, renewed by a heartbeat every third of it while its worker lives
# (however long CF takes); a worker that dies mid-sub-step is taken over after the lease expires (the
# reconciler looks every ENGINE_RECONCILE_SECONDS), so resumption takes at most about the sum.
ENGINE_LEASE_SECONDS = env.int("ENGINE_LEASE_SECONDS", default=60)
ENGINE_RECONCILE_SECONDS = env.float("ENGINE_RECONCILE_SECONDS", default=60.0)
ENGINE_SILENCE_SECONDS = env.int("ENGINE_SILENCE_SECONDS", default=60)
ENGINE_MAX_ATTEMPTS = env.int("ENGINE_MAX_ATTEMPTS", default=6)
ENGINE_BACKOFF_BASE = env.float("ENGINE_BACKOFF_BASE", default=2.0)
ENGINE_BACKOFF_CAP = env.float("ENGINE_BACKOFF_CAP", default=60.0)
# Polling CF while it works (a build, a job, instances starting): first after ENGINE_POLL_FIRST_SECONDS,
# then after a quarter of the time waited so far, at most every ENGINE_POLL_SECONDS; short waits end
# soon after CF finishes, long ones cost few calls.
ENGINE_POLL_FIRST_SECONDS = env.float("ENGINE_POLL_FIRST_SECONDS", default=0.25)
ENGINE_POLL_SECONDS = env.float("ENGINE_POLL_SECONDS", default=2.0)
# One task runs up to this many consecutive sub-steps (holding the lease) before it queues the next.
ENGINE_CHAIN_STEPS = env.int("ENGINE_CHAIN_STEPS", default=8)
# Deadlines of every wait (seconds since the sub-step began): staging; instances starting (green's, and
# blue's in a rollback); everything else (CF jobs, bindings, finding a free temporary route).
ENGINE_STAGING_TIMEOUT = env.int("ENGINE_STAGING_TIMEOUT", default=900)
ENGINE_START_TIMEOUT = env.int("ENGINE_START_TIMEOUT", default=300)
ENGINE_JOB_TIMEOUT = env.int("ENGINE_JOB_TIMEOUT", default=600)
ENGINE_LABEL = "ecportal.io/upgrade"

# --- Calls to Cloud Foundry ---------------------------------------------------------------------
# Workers: seconds to connect and to wait for an answer (idempotent calls are retried up to 3 times).
# A sub-step keeps its lease alive however long its calls take (engine/leases.py).
CF_CONNECT_TIMEOUT = env.float("CF_CONNECT_TIMEOUT", default=5.0)
CF_READ_TIMEOUT = env.float("CF_READ_TIMEOUT", default=30.0)
# The web server: the few CF lookups a page makes (finding a bare zone ID's foundation) are tried
# once, each bounded by this many seconds, then the form says CF did not answer.
CF_WEB_TIMEOUT = env.float("CF_WEB_TIMEOUT", default=3.0)

# The fleet inventory (every EC service on every foundation) is read again this often.
FLEET_SYNC_SECONDS = env.int("FLEET_SYNC_SECONDS", default=15 * 60)

# Campaigns: how often beat moves running campaigns on, and how many services one may name.
CAMPAIGN_DRIVE_SECONDS = env.float("CAMPAIGN_DRIVE_SECONDS", default=5.0)
# A nudge that finds another driver at work on its campaign looks once more this much later.
CAMPAIGN_NUDGE_AGAIN_SECONDS = env.float("CAMPAIGN_NUDGE_AGAIN_SECONDS", default=0.5)
MAX_SERVICES_PER_CAMPAIGN = env.int("MAX_SERVICES_PER_CAMPAIGN", default=5000)
# How far ahead a campaign may be scheduled to start.
MAX_SCHEDULE_DAYS = env.int("MAX_SCHEDULE_DAYS", default=30)

CELERY_BEAT_SCHEDULE = {
    "reconcile": {"task": "upgrades.tasks.reconcile", "schedule": ENGINE_RECONCILE_SECONDS},
    "send-mail": {"task": "upgrades.tasks.send_pending", "schedule": NOTIFY_SEND_SECONDS},
    "fleet-sync": {"task": "upgrades.tasks.sync_fleet", "schedule": FLEET_SYNC_SECONDS},
    "campaigns": {"task": "upgrades.tasks.drive_campaigns", "schedule": CAMPAIGN_DRIVE_SECONDS},
}
