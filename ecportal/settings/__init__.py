"""Settings from the environment (12-factor).

The defaults are the embedded ones that `make run` uses: SQLite in `var/db.sqlite3` (WAL) and a broker
in files under `var/broker/` (ecportal/broker.py), so `.venv/bin/python manage.py …` in a checkout works
on `make run`'s database.
`DATABASE_URL` and `CELERY_BROKER_URL` switch to PostgreSQL and Redis. Production hardening lives in
`ecportal.settings.production`, which imports this module.
"""

import hashlib
import os
import secrets
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from ecportal import vcap
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
# The key that signs evidence packs (HMAC-SHA256). Embedded and development runs derive one from
# SECRET_KEY; production requires its own (ecportal.settings.production).
EVIDENCE_KEY = (
    env.str("EVIDENCE_KEY", default="")
    or hashlib.sha256(b"ecportal.evidence:" + SECRET_KEY.encode()).hexdigest()
)
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

# --- Bound services on Cloud Foundry ---------------------------------------------------------------
# On CF, the database and Redis come from the app's bound services (VCAP_SERVICES) unless DATABASE_URL,
# CELERY_BROKER_URL or CACHE_URL say otherwise (ecportal/vcap.py).
for _name, _url in vcap.bound_urls(env.str("VCAP_SERVICES", default="")).items():
    os.environ.setdefault(_name, _url)

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
    "upgrades.identity.ProviderBackend",  # sign-in through OpenID Connect, when configured below
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

# --- Sign-in through OpenID Connect (UAA or another provider) ---------------------------------------
# mozilla-django-oidc runs the authorization code flow with PKCE (upgrades/identity.py). OIDC_UAA_URL
# (e.g. https://uaa.sys.example.com) gives every endpoint as UAA names them; each may be set on its
# own for another provider. Without a client ID and endpoints, the "Sign in with UAA" button is hidden.
OIDC_UAA_URL = env.str("OIDC_UAA_URL", default="").rstrip("/")
OIDC_RP_CLIENT_ID = env.str("OIDC_RP_CLIENT_ID", default="")
OIDC_RP_CLIENT_SECRET = env.str("OIDC_RP_CLIENT_SECRET", default="")
OIDC_OP_AUTHORIZATION_ENDPOINT = env.str(
    "OIDC_OP_AUTHORIZATION_ENDPOINT", default=OIDC_UAA_URL and f"{OIDC_UAA_URL}/oauth/authorize"
)
OIDC_OP_TOKEN_ENDPOINT = env.str(
    "OIDC_OP_TOKEN_ENDPOINT", default=OIDC_UAA_URL and f"{OIDC_UAA_URL}/oauth/token"
)
OIDC_OP_USER_ENDPOINT = env.str("OIDC_OP_USER_ENDPOINT", default=OIDC_UAA_URL and f"{OIDC_UAA_URL}/userinfo")
OIDC_OP_JWKS_ENDPOINT = env.str(
    "OIDC_OP_JWKS_ENDPOINT", default=OIDC_UAA_URL and f"{OIDC_UAA_URL}/token_keys"
)
# UAA names itself by its token endpoint; ID tokens from any other issuer are refused.
OIDC_OP_ISSUER = env.str("OIDC_OP_ISSUER", default=OIDC_OP_TOKEN_ENDPOINT)
OIDC_ENABLED = bool(
    OIDC_RP_CLIENT_ID and OIDC_OP_AUTHORIZATION_ENDPOINT and OIDC_OP_TOKEN_ENDPOINT and OIDC_OP_JWKS_ENDPOINT
)
OIDC_PROVIDER_NAME = env.str("OIDC_PROVIDER_NAME", default="UAA")
OIDC_RP_SIGN_ALGO = "RS256"
OIDC_USE_PKCE = True
OIDC_PKCE_CODE_CHALLENGE_METHOD = "S256"
# UAA grants the requested scopes the user's groups hold: cloud_controller.read for the ownership
# check, and the EC team's group when the user is in it.
OIDC_RP_SCOPES = env.str("OIDC_RP_SCOPES", default="openid email cloud_controller.read ecportal.operate")
# The claim of the ID token that makes someone EC team, and the value it must hold (a list claim such
# as UAA's `scope` or a `groups` claim, or a single value).
OIDC_EC_TEAM_CLAIM = env.str("OIDC_EC_TEAM_CLAIM", default="scope")
OIDC_EC_TEAM_VALUE = env.str("OIDC_EC_TEAM_VALUE", default="ecportal.operate")
OIDC_CLOCK_LEEWAY = env.int("OIDC_CLOCK_LEEWAY", default=30)  # seconds of clock skew tolerated
# The CF access token is kept for the ownership check: in the cache, never in the database or a page.
OIDC_STORE_ACCESS_TOKEN = True
OIDC_TIMEOUT = env.float("OIDC_TIMEOUT", default=5.0)
OIDC_CREATE_USER = True
LOGIN_REDIRECT_URL_FAILURE = "/accounts/login/?signin=failed"

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
# A worker runs its tasks on threads: a sub-step spends its time waiting on CF and PostgreSQL, so one
# process runs WORKER_CONCURRENCY of them at once, where as many prefork processes would take about
# 75 MB each. Scale out with more worker processes or instances. Threads have no task time limits
# (the two below hold for `--pool prefork` only): every wait of a task is bounded by its own timeout
# (CF, SMTP, webhooks), and a sub-step stuck past ENGINE_SUBSTEP_SECONDS lets its lease expire, so
# another worker takes its service over. `make run`'s SQLite takes one writer at a time, so the
# embedded worker keeps two prefork processes.
_EMBEDDED_DB = DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
CELERY_WORKER_POOL = env.str("WORKER_POOL", default="prefork" if _EMBEDDED_DB else "threads")
CELERY_WORKER_CONCURRENCY = env.int("WORKER_CONCURRENCY", default=2 if _EMBEDDED_DB else 16)
# Celery's Django fixup closes the database connection before and after every task unless this is
# set, so each sub-step and each poll would connect to PostgreSQL anew. Connections live as
# CONN_MAX_AGE says instead: ecportal/celery.py closes the unusable or old ones around each task, as
# Django does around each request.
CELERY_DB_REUSE_MAX = 2**62
CELERY_TASK_TIME_LIMIT = 900
CELERY_TASK_SOFT_TIME_LIMIT = 840
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# --- Cloud Foundry foundations ------------------------------------------------------------------
# A JSON list of {slug, name, domains, api_url, client_id, secret_env}; the secret itself is read from
# the environment variable named by secret_env, never stored here or in the database.
# Optional per foundation: `health_path` (where the EC Service names its release, default `/v1/info/`)
# and `router_url` (send requests for its apps there, with their host in `Host`, as to cfsim's router).
CFSIM_PORT = env.int("CFSIM_PORT", default=9000)
CFSIM_ROUTER_PORT = env.int("CFSIM_ROUTER_PORT", default=9080)
FOUNDATIONS = env.json(
    "FOUNDATIONS",
    default=demo_foundations(f"http://127.0.0.1:{CFSIM_PORT}", f"http://127.0.0.1:{CFSIM_ROUTER_PORT}"),
)

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

# --- Metrics, readiness and structured logs ------------------------------------------------------
# `/metrics` (ecportal/metrics.py) needs `Authorization: Bearer <METRICS_TOKEN>` when it is set (production
# requires it). Every process records into PROMETHEUS_MULTIPROC_DIR (prometheus-client's multiprocess
# mode); the web serves what all processes sharing it recorded. Whoever starts them wipes it first
# (`make run`; in a container, gunicorn and the Celery worker when METRICS_WIPE_ON_START is on).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_DIR_GIVEN = env.str("PROMETHEUS_MULTIPROC_DIR", default="")


def use_metrics_dir(path: str | Path) -> Path:
    """Point prometheus-client at `path` (it reads the variable when first imported, after the settings)."""
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    return Path(path)


PROMETHEUS_MULTIPROC_DIR = use_metrics_dir(METRICS_DIR_GIVEN or VAR_DIR / "metrics")
METRICS_WIPE_ON_START = env.bool("METRICS_WIPE_ON_START", default=False)
# A Celery worker in a container of its own serves its processes' figures on this port (0: it does not),
# behind the same token.
WORKER_METRICS_PORT = env.int("WORKER_METRICS_PORT", default=0)
# `/readyz/`: each dependency must answer within this many seconds. A foundation's UAA is reported but
# only required with READYZ_REQUIRE_UAA (one foundation's outage should not take every web process out).
READYZ_TIMEOUT = env.float("READYZ_TIMEOUT", default=2.0)
READYZ_REQUIRE_UAA = env.bool("READYZ_REQUIRE_UAA", default=False)
# A foundation's UAA answer is reused this many seconds by each process, so a load balancer polling
# `/readyz/` every second does not ask every UAA every second.
READYZ_UAA_REUSE_SECONDS = env.float("READYZ_UAA_REUSE_SECONDS", default=10.0)
# Log lines carry the request id, the upgrade id and CF's request id where known (ecportal/logcontext.py);
# LOG_FORMAT=json (production's default) writes each as one JSON object.
MIDDLEWARE.insert(0, "ecportal.logcontext.request_id")
LOGGING["filters"]["log_context"] = {"()": "ecportal.logcontext.LogContext"}
LOGGING["handlers"]["console"]["filters"].append("log_context")
LOGGING["formatters"] = {
    "json": {
        "()": "pythonjsonlogger.json.JsonFormatter",
        "fmt": "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s",
        "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger", "process": "pid"},
    }
}


def use_log_format(name: str) -> str:
    """`json` or `text` for the console handler (LOGGING); Celery's worker and beat follow it when JSON."""
    LOGGING["handlers"]["console"].pop("formatter", None)
    if name == "json":
        LOGGING["handlers"]["console"]["formatter"] = "json"
    return name


LOG_FORMAT = use_log_format(env.str("LOG_FORMAT", default="text"))
# With JSON logs, Celery logs through these handlers instead of its own format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = LOG_FORMAT != "json"

# --- The blue-green engine (DESIGN §3) ----------------------------------------------------------
# A sub-step holds its lease this long, renewed by a heartbeat every third of it while its worker lives
# (however long CF takes); a worker that dies mid-sub-step is taken over after the lease expires (the
# reconciler looks every ENGINE_RECONCILE_SECONDS), so resumption takes at most about the sum.
ENGINE_LEASE_SECONDS = env.int("ENGINE_LEASE_SECONDS", default=60)
# A sub-step still at work after this long (a CF answer trickling in, never reaching the read timeout)
# is no longer renewed: another worker takes its service over once the lease expires. Retries of slow
# CF calls take a few minutes at most; by default this is the hard time limit of a prefork task.
ENGINE_SUBSTEP_SECONDS = env.float("ENGINE_SUBSTEP_SECONDS", default=float(CELERY_TASK_TIME_LIMIT))
ENGINE_RECONCILE_SECONDS = env.float("ENGINE_RECONCILE_SECONDS", default=60.0)
ENGINE_SILENCE_SECONDS = env.int("ENGINE_SILENCE_SECONDS", default=60)
ENGINE_MAX_ATTEMPTS = env.int("ENGINE_MAX_ATTEMPTS", default=6)
ENGINE_BACKOFF_BASE = env.float("ENGINE_BACKOFF_BASE", default=2.0)
ENGINE_BACKOFF_CAP = env.float("ENGINE_BACKOFF_CAP", default=60.0)
# Polling CF while it works (a build, a job, instances starting): first after ENGINE_POLL_FIRST_SECONDS,
# then after a quarter of the time waited so far, at most every ENGINE_POLL_SECONDS; short waits end
# soon after CF finishes, long ones cost one GET a second. A wave moves at the pace of its slowest
# service, so every second of polling lag is a second of the wave (bench/campaign.py: 2 s made a wave
# of 50 about 5 % longer). Raise it where the foundation's rate limit is tight. Waits of a kind a
# worker has seen before are looked at by how long they took (upgrades/engine/pacing.py).
ENGINE_POLL_FIRST_SECONDS = env.float("ENGINE_POLL_FIRST_SECONDS", default=0.25)
ENGINE_POLL_SECONDS = env.float("ENGINE_POLL_SECONDS", default=1.0)
# One task runs up to this many consecutive sub-steps (holding the lease) before it queues the next.
ENGINE_CHAIN_STEPS = env.int("ENGINE_CHAIN_STEPS", default=8)
# Deadlines of every wait (seconds since the sub-step began): staging; instances starting (green's, and
# blue's in a rollback); everything else (CF jobs, bindings, finding a free temporary route).
ENGINE_STAGING_TIMEOUT = env.int("ENGINE_STAGING_TIMEOUT", default=900)
ENGINE_START_TIMEOUT = env.int("ENGINE_START_TIMEOUT", default=300)
ENGINE_JOB_TIMEOUT = env.int("ENGINE_JOB_TIMEOUT", default=600)
ENGINE_LABEL = "ecportal.io/upgrade"

# --- Proof: probing the original URL through Step 2 (the `run_prober` process) -------------------
# Probes a second per service (0 turns probing and its gates off), and each probe's timeout.
PROBE_RATE = env.float("PROBE_RATE", default=10.0)
PROBE_TIMEOUT = env.float("PROBE_TIMEOUT", default=2.0)
# 2.2 waits for this many answers from the new release on the original URL with no failed probe since.
PROBE_NEW_ANSWERS = env.int("PROBE_NEW_ANSWERS", default=5)
# The old app is stopped only after this many seconds of probes all answered by the new release.
PROBE_CLEAN_SECONDS = env.float("PROBE_CLEAN_SECONDS", default=5.0)
# Deadlines: the prober's first answers before 2.1; the router moving traffic (2.2 and the clean
# window); the temporary URL answering with the new release after Step 1 of a back-to-back plan.
PROBE_START_TIMEOUT = env.int("PROBE_START_TIMEOUT", default=60)
PROBE_SWITCH_TIMEOUT = env.int("PROBE_SWITCH_TIMEOUT", default=180)
PROBE_CHECK_TIMEOUT = env.int("PROBE_CHECK_TIMEOUT", default=60)

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
MAX_SERVICES_PER_CAMPAIGN = env.int("MAX_SERVICES_PER_CAMPAIGN", default=5000)
# How far ahead a campaign may be scheduled to start.
MAX_SCHEDULE_DAYS = env.int("MAX_SCHEDULE_DAYS", default=30)

# Deadlines (issue 13). The test window of a test-first plan opens when Step 1 completes and runs only
# while the service awaits the users' test; contacts are reminded TEST_WINDOW_REMINDERS seconds before
# it ends (one mail per offset); at its end the EC team is told and the service is rolled back
# (TEST_WINDOW_ON_END=rollback) or keeps waiting for them (escalate). An extension adds
# TEST_WINDOW_EXTENSION_SECONDS. After Step 2 the old app is kept, stopped and set aside, for
# RETENTION_SECONDS (0: deleted at once), restorable meanwhile; beat checks every DEADLINE_CHECK_SECONDS
# and sweeps what the portal left behind on CF every SWEEP_SECONDS.
TEST_WINDOW_SECONDS = env.float("TEST_WINDOW_SECONDS", default=5 * 24 * 3600.0)
TEST_WINDOW_REMINDERS = [int(v) for v in env.list("TEST_WINDOW_REMINDERS", default=["86400", "3600"])]
TEST_WINDOW_ON_END = env.str("TEST_WINDOW_ON_END", default="escalate")
TEST_WINDOW_EXTENSION_SECONDS = env.float("TEST_WINDOW_EXTENSION_SECONDS", default=2 * 24 * 3600.0)
RETENTION_SECONDS = env.float("RETENTION_SECONDS", default=24 * 3600.0)
DEADLINE_CHECK_SECONDS = env.float("DEADLINE_CHECK_SECONDS", default=60.0)
SWEEP_SECONDS = env.float("SWEEP_SECONDS", default=3600.0)
if TEST_WINDOW_ON_END not in ("rollback", "escalate"):
    raise ImproperlyConfigured("TEST_WINDOW_ON_END is rollback or escalate.")
# --- Webhooks (issue 14) ------------------------------------------------------------------------
# Signing secrets are derived from WEBHOOK_KEY and a per-subscription nonce, never stored: changing
# the key changes every subscription's secret. Without it, a key derived from SECRET_KEY.
WEBHOOK_KEY = env.str("WEBHOOK_KEY", default="")
# Plain http and loopback/private receivers: for `make run` and tests; production allows neither
# unless WEBHOOK_ALLOW_PRIVATE says so (an in-house chat server on a private network).
WEBHOOK_ALLOW_HTTP = env.bool("WEBHOOK_ALLOW_HTTP", default=EMBEDDED)
WEBHOOK_ALLOW_PRIVATE = env.bool("WEBHOOK_ALLOW_PRIVATE", default=EMBEDDED)
WEBHOOK_CONNECT_TIMEOUT = env.float("WEBHOOK_CONNECT_TIMEOUT", default=5.0)
WEBHOOK_READ_TIMEOUT = env.float("WEBHOOK_READ_TIMEOUT", default=10.0)
MAX_WEBHOOKS_PER_SCOPE = env.int("MAX_WEBHOOKS_PER_SCOPE", default=20)
# A receiver that stays down or keeps answering 5xx is tried this many times in all (with the
# outbox's backoff: about an hour at the defaults), then its delivery fails for good.
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=12)
# Webhooks have their own beat round, apart from mail: a receiver that hangs delays no mail. Each
# round sends at most WEBHOOK_BATCH deliveries, so it ends within about that many read timeouts.
WEBHOOK_SEND_SECONDS = env.float("WEBHOOK_SEND_SECONDS", default=NOTIFY_SEND_SECONDS)
WEBHOOK_BATCH = env.int("WEBHOOK_BATCH", default=20)
# Receivers' certificates are checked against the system's CAs, or this bundle (a private CA).
WEBHOOK_CA_BUNDLE = env.str("WEBHOOK_CA_BUNDLE", default=env.str("REQUESTS_CA_BUNDLE", default=""))

CELERY_BEAT_SCHEDULE = {
    "reconcile": {"task": "upgrades.tasks.reconcile", "schedule": ENGINE_RECONCILE_SECONDS},
    "send-mail": {"task": "upgrades.tasks.send_pending", "schedule": NOTIFY_SEND_SECONDS},
    "send-webhooks": {"task": "upgrades.tasks.send_webhooks", "schedule": WEBHOOK_SEND_SECONDS},
    "fleet-sync": {"task": "upgrades.tasks.sync_fleet", "schedule": FLEET_SYNC_SECONDS},
    "campaigns": {"task": "upgrades.tasks.drive_campaigns", "schedule": CAMPAIGN_DRIVE_SECONDS},
    "deadlines": {"task": "upgrades.tasks.check_deadlines", "schedule": DEADLINE_CHECK_SECONDS},
    "sweep": {"task": "upgrades.tasks.sweep_leftovers", "schedule": SWEEP_SECONDS},
}
