"""Django settings for the CBP Configuration API: one module, driven by the environment.

All environment parsing and validation lives in cbpconfig.config (pure and tested); this module
only maps the validated values onto Django's settings.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import django_stubs_ext
import environ

from cbpconfig.config import load

# Django's generic classes (ModelAdmin[...], ModelForm[...]) subscriptable at run time, as the
# type annotations write them (django-stubs; mypy runs in `make test`).
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
CBP = load()

CBP_ENVIRONMENT = CBP.environment
CBP_AUDIT_RETENTION_DAYS = CBP.audit_retention_days
CBP_BACKUPS_REQUIRED = CBP.backups_required
CBP_TRUSTED_PROXIES = CBP.trusted_proxies
CBP_FLAG_OVERRIDES = CBP.flag_overrides
CBP_BENCH_ENDPOINTS = CBP.bench_endpoints
CBP_BACKUP_DIR = CBP.backup_dir or str(BASE_DIR / "var" / "backups")

SECRET_KEY = CBP.secret_key
DEBUG = CBP.debug
ALLOWED_HOSTS = CBP.allowed_hosts
CSRF_TRUSTED_ORIGINS = CBP.csrf_trusted_origins

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_api_key",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "auditlog",
    "waffle",
    "django_prometheus",
    "health_check",
    "dbbackup",
    "cbpconfig",
    "calendars",
    "configuration",
    "windows",
    "flags",
    "console",
    "axes",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "cbpconfig.logging.RequestIdMiddleware",
    "cbpconfig.middleware.SecurityPolicyHeadersMiddleware",
    "cbpconfig.middleware.HeadResponseMiddleware",
    "cbpconfig.middleware.TrustedProxyHeadersMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "cbpconfig.audit.AuditContextMiddleware",
    "waffle.middleware.WaffleMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
    # Last (django-axes): turns a refused console log-in into the lock-out page.
    "axes.middleware.AxesMiddleware",
]

# API-key requests to /api/ and /ofrep/ skip what only the console and sessions need
# (cbpconfig/lean.py); the order of what stays is MIDDLEWARE's.
_CONSOLE_ONLY = {
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "waffle.middleware.WaffleMiddleware",
    "axes.middleware.AxesMiddleware",
}
CBP_LEAN_MIDDLEWARE = [m for m in MIDDLEWARE if m not in _CONSOLE_ONLY]

ROOT_URLCONF = "cbpconfig.urls"
WSGI_APPLICATION = "cbpconfig.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database: PostgreSQL through psycopg 3 with persistent, health-checked connections and a
# statement_timeout below gunicorn's worker timeout; SQLite under var/ in development only.
# DATABASE_URL may name several hosts (postgres://u@h1:5432,h2:5432/db?target_session_attrs=
# read-write): libpq connects to the one that accepts writes, so after a replica is promoted the
# next connection finds it without a DNS change. Options in the URL's query win over ours.
_env = environ.Env()


def _database(url: str) -> dict[str, Any]:
    database: dict[str, Any] = _env.db_url_config(url)
    if database["ENGINE"] == "django.db.backends.postgresql":
        database["OPTIONS"] = {
            "options": f"-c statement_timeout={CBP.statement_timeout_ms}",
            "connect_timeout": 5,
            **database.get("OPTIONS", {}),
        }
        database["CONN_MAX_AGE"] = CBP.conn_max_age
        database["CONN_HEALTH_CHECKS"] = True
    return database


if CBP.database_url:
    DATABASES = {"default": _database(CBP.database_url)}
    # A streaming replica serves the hot reads (cbpconfig.routers: primary after any write for
    # CBP_REPLICA_PIN_SECONDS, and whenever the replica is behind or unreachable).
    if CBP.database_replica_url:
        DATABASES["replica"] = _database(CBP.database_replica_url)
        DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
        DATABASE_ROUTERS = ["cbpconfig.routers.PrimaryReplicaRouter"]
else:
    (BASE_DIR / "var").mkdir(exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": BASE_DIR / "var" / "db.sqlite3",
            "OPTIONS": {"timeout": 20},
        }
    }
CBP_REPLICA_PIN_SECONDS = CBP.replica_pin_seconds
DATABASES["default"].setdefault("TEST", {})
if os.environ.get("CBP_TEST_DB_NAME"):
    DATABASES["default"]["TEST"]["NAME"] = os.environ["CBP_TEST_DB_NAME"]

# Cache: Redis through django-redis. IGNORE_EXCEPTIONS makes a Redis outage a cache miss, so
# reads fall through to the database instead of failing. Each call makes one attempt bounded by
# the socket timeouts (no retries), and a circuit breaker (cbpconfig.redis_client) stops calling
# a Redis that has just failed for 5 seconds, logging one line when the cache goes
# down and one when it is back (instead of django-redis's traceback per failed call).
if CBP.redis_url:
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    CACHES: dict[str, dict[str, Any]] = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": CBP.redis_url,
            "KEY_PREFIX": os.environ.get("CBP_CACHE_PREFIX", "cbp"),
            "TIMEOUT": 3600,
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                "REDIS_CLIENT_CLASS": "cbpconfig.redis_client.CircuitBreakerRedis",
                "REDIS_CLIENT_KWARGS": {"circuit_cooldown": 5.0},
                "CONNECTION_POOL_KWARGS": {"retry": Retry(NoBackoff(), 0)},
                "IGNORE_EXCEPTIONS": True,
                "SOCKET_CONNECT_TIMEOUT": 0.5,
                "SOCKET_TIMEOUT": 0.5,
            },
        }
    }
    # REDIS_URL=redis+sentinel://h1:26379,h2:26379,h3:26379/service/db: the master is asked of
    # the sentinels (django-redis's SentinelConnectionFactory; redis-py reconnects to whichever
    # master they name after a failover). Every call goes to the master — DefaultClient, not
    # SentinelClient, whose reads from a lagging replica could return a generation token the
    # master has already replaced. The circuit breaker wraps the master's pool as before.
    if CBP.redis_sentinel:
        _sentinel = CBP.redis_sentinel
        CACHES["default"]["LOCATION"] = f"redis://{_sentinel.service}/{_sentinel.db}"
        CACHES["default"]["OPTIONS"].update(
            {
                "CONNECTION_FACTORY": "django_redis.pool.SentinelConnectionFactory",
                "SENTINELS": list(_sentinel.hosts),
                # One attempt per sentinel, bounded like every other cache call.
                "SENTINEL_KWARGS": {
                    "socket_timeout": 0.5,
                    "socket_connect_timeout": 0.5,
                    "retry": Retry(NoBackoff(), 0),
                },
            }
        )
        if _sentinel.password:
            CACHES["default"]["OPTIONS"]["PASSWORD"] = _sentinel.password
    DJANGO_REDIS_IGNORE_EXCEPTIONS = True
    DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = False  # the circuit breaker logs state changes
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "cbp",
            "TIMEOUT": 3600,
        }
    }
CBP_CACHE_IS_REDIS = bool(CBP.redis_url)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Security headers for staging and production (check --deploy clean there).
if CBP.environment != "development":
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = _env.bool("CBP_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^live$", r"^ready$", r"^health/?$", r"^metrics$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = 31536000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True

# Every response carries these (cbpconfig.middleware.SecurityPolicyHeadersMiddleware). The
# admin, the browsable API and the Swagger UI (drf-spectacular's split view: its start-up script
# is a file, not inline) load scripts from our own static files only; their templates still use
# inline style attributes, hence 'unsafe-inline' for styles alone. No page may be framed, post a
# form elsewhere or load anything from another origin.
CBP_CONTENT_SECURITY_POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'", "'unsafe-inline'"],
    "img-src": ["'self'", "data:"],
    "font-src": ["'self'", "data:"],
    "connect-src": ["'self'"],
    "worker-src": ["'self'", "blob:"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}
# No page of ours needs a device or sensor API.
CBP_PERMISSIONS_POLICY: dict[str, list[str]] = {
    feature: []
    for feature in (
        "accelerometer",
        "camera",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "payment",
        "usb",
    )
}
# A CSRF refusal answers JSON under /api/ and /ofrep/, Django's page elsewhere.
CSRF_FAILURE_VIEW = "cbpconfig.api.exceptions.csrf_failure"

REST_FRAMEWORK: dict[str, Any] = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "cbpconfig.api.authentication.APIKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["cbpconfig.api.permissions.ScopedPermission"],
    "DEFAULT_THROTTLE_CLASSES": ["cbpconfig.api.throttling.ClientRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"client": CBP.throttle_rate},
    "DEFAULT_PAGINATION_CLASS": "cbpconfig.api.pagination.StrictPageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "cbpconfig.api.exceptions.exception_handler",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": ["cbpconfig.api.parsers.SafeJSONParser"],
    "COERCE_DECIMAL_TO_STRING": True,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "CBP Configuration API",
    "DESCRIPTION": (
        "Institutions, typed configuration, business calendars, processing windows and feature "
        "flags for the payments platform. Authenticate with `Authorization: Api-Key <key>` "
        "(or `Bearer <key>`)."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Tags from the first path segment after /api/v1/ (institutions, calendars, windows, ...).
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "ENUM_NAME_OVERRIDES": {},
    # Every operation documents the status codes the shared plumbing can answer (401, 403,
    # 404, 409, 412, 304, 429, ...) with their real error bodies, written once in
    # cbpconfig.api.schema; drf-spectacular's own enum hook runs first.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "cbpconfig.api.schema.document_common_responses",
    ],
}

# Audit: django-auditlog with our own entry model (adds the textual actor: user name,
# api-key:<name> or system:<command>) and the request id as its correlation id.
AUDITLOG_LOGENTRY_MODEL = "cbpconfig.AuditEntry"
AUDITLOG_STORE_JSON_CHANGES = True
AUDITLOG_CID_GETTER = "cbpconfig.logging.get_request_id"
AUDITLOG_DISABLE_REMOTE_ADDR = False

# Feature flags: waffle's flag model is ours (extra fields for institutions); it cannot be
# swapped once migrations exist, so it is set from the first migration on.
WAFFLE_FLAG_MODEL = "flags.Flag"
WAFFLE_CREATE_MISSING_FLAGS = False
WAFFLE_CACHE_PREFIX = "waffle:"

# Backups: django-dbbackup for whole-database dumps; our own backup command writes domain archives.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "dbbackup": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": CBP_BACKUP_DIR},
    },
}

PROMETHEUS_METRIC_NAMESPACE = ""

# Domain data, in dependency order: what `backup` archives, `restore` replaces and
# `verify_integrity` re-validates (never API keys, users or the audit log).
CBP_DOMAIN_MODELS = [
    "calendars.Calendar",
    "calendars.Holiday",
    "configuration.Institution",
    "windows.ProcessingWindow",
    "windows.WindowRule",
    "windows.WindowOverride",
    "configuration.Configuration",
    "configuration.ConfigurationValue",
    "flags.Flag",
]
CBP_BACKUP_RETENTION_DAYS = {"full": 90, "incremental": 7, "dbbackup": 30}


# Observability (cbpconfig.logging, cbpconfig.metrics, cbpconfig.dbstats; docs/monitoring.md):
# the release named on every log line and audit entry, and the thresholds over which a request,
# a statement or a worker's memory is a WARNING line (and, for statements, a count in
# cbp_database_slow_queries_total).
def _positive_number(name: str, default: float) -> float:
    from cbpconfig.config import SettingsError

    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}: expected a number, got {raw!r}") from None
    if not value > 0:
        raise SettingsError(f"{name}: must be greater than 0, got {raw!r}")
    return value


CBP_RELEASE = os.environ.get("CBP_RELEASE", "").strip() or "unreleased"
CBP_SLOW_REQUEST_SECONDS = _positive_number("CBP_SLOW_REQUEST_SECONDS", 2.0)
# Warm hot reads of API keys answered from kept answers before Django and DRF (cbpconfig/ready.py).
CBP_READY_RESPONSES = os.environ.get("CBP_READY_RESPONSES", "true").strip().lower() not in {
    "0",
    "false",
    "no",
    "off",
}
CBP_SLOW_QUERY_SECONDS = _positive_number("CBP_SLOW_QUERY_SECONDS", 0.25)
CBP_WORKER_MEMORY_WARNING_BYTES = int(
    _positive_number("CBP_WORKER_MEMORY_WARNING_BYTES", 512 * 1024 * 1024)
)

# One JSON line per event on stderr, each with the request id, actor, institution,
# environment, release and host (cbpconfig.logging). The filter also connects the receivers
# that log every committed write and time every statement (cbpconfig.logging.install_receivers).
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request": {"()": "cbpconfig.logging.RequestContextFilter"}},
    "formatters": {"json": {"()": "cbpconfig.logging.JsonFormatter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "filters": ["request"],
        }
    },
    "root": {"handlers": ["console"], "level": CBP.log_level},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "django.server": {"level": "WARNING"},
        "django.request": {"level": "ERROR"},
        "health_check": {"level": "ERROR"},
        "faker": {"level": "WARNING"},
        "redis": {"level": "INFO"},  # redis-py's DEBUG chatter is not our integration detail
        "factory": {"level": "WARNING"},
    },
}

# Console log-in throttling (django-axes with cbpconfig.login): 5 failures for one account
# (from any address) or 20 from one address (across user names) within the cool-off lock that
# account or address for 15 minutes, whatever the password; `manage.py axes_reset_username`,
# `axes_reset_ip` or `axes_reset` unlock earlier. The client address is the one the audit log
# uses (X-Forwarded-For believed only from CBP_TRUSTED_PROXIES). Each failure is logged once
# (cbpconfig.login) and counted in cbp_console_login_failures_total; API keys never pass here.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_HANDLER = "cbpconfig.login.ConsoleLoginHandler"
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_FAILURE_LIMIT = 5  # per account; per address:
CBP_LOGIN_FAILURE_LIMIT_PER_ADDRESS = 20
AXES_COOLOFF_TIME = timedelta(minutes=15)
# A lock-out lasts the cool-off from the failure that caused it; attempts during it are refused
# (logged, counted) without extending it, and a success does not wipe the address's failures.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_RESET_ON_SUCCESS = False
AXES_CLIENT_IP_CALLABLE = "cbpconfig.audit.client_ip"
AXES_LOCKOUT_CALLABLE = "cbpconfig.login.lockout_response"
AXES_HTTP_RESPONSE_CODE = 429
AXES_VERBOSE = False
LOGGING["loggers"]["axes"] = {"level": "ERROR"}  # our own line per failure replaces axes's
