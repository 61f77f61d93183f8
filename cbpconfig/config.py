"""Settings read from the environment, validated once, with per-environment defaults.

Everything that can be wrong in a deployment's environment is checked here, so a missing or
malformed setting stops start-up with one line that names it (cookiecutter-django, NetBox).
This module imports nothing of Django so it can be tested with plain dictionaries.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict
from urllib.parse import unquote, urlsplit

ENVIRONMENTS = ("development", "staging", "production")


class EnvironmentDefaults(TypedDict):
    """One environment's row of ``ENVIRONMENT_DEFAULTS``."""

    debug: bool
    log_level: str
    audit_retention_days: int
    backups_required: bool


# One small table of per-environment choices (ARCHITECTURE.md: no thousand-line settings).
ENVIRONMENT_DEFAULTS: dict[str, EnvironmentDefaults] = {
    "development": {
        "debug": True,
        "log_level": "DEBUG",
        "audit_retention_days": 30,
        "backups_required": False,
    },
    "staging": {
        "debug": False,
        "log_level": "INFO",
        "audit_retention_days": 90,
        "backups_required": True,
    },
    "production": {
        "debug": False,
        "log_level": "INFO",
        "audit_retention_days": 365,
        "backups_required": True,
    },
}

# The audit retention is the specification's (API.md, `prune_audit_log`: production 365 days,
# staging 90, development 30). Staging and production may keep entries longer, never shorter:
# `prune_audit_log` runs unattended from a CronJob, so a short value would delete the audit
# trail before any preflight could object. Development may shorten it (tests, demos).
AUDIT_RETENTION_MINIMUM_DAYS: dict[str, int] = {
    "development": 1,
    "staging": int(ENVIRONMENT_DEFAULTS["staging"]["audit_retention_days"]),
    "production": int(ENVIRONMENT_DEFAULTS["production"]["audit_retention_days"]),
}

# Values that ship in this repository (examples, build-time keys, the development default) or
# that people type when they mean "to be replaced": never a real secret. `preflight` refuses them
# outside development (`deployment_problems`).
PLACEHOLDER_WORDS = (
    "replace",
    "changeme",
    "change-me",
    "example",
    "placeholder",
    "not-secret",
    "notsecret",
    "development-only",
    "build-only",
    "do-not-use",
    "secret-key",
    "your-",
)
DEFAULT_PASSWORDS = frozenset(
    {"password", "postgres", "redis", "cbp", "cbp-local-only", "secret", "admin", "changeme"}
)
# A random secret of 50+ characters from any alphabet of 16 or more symbols (hex included) has
# far more distinct characters than this; a repeated or hand-typed pattern has fewer.
SECRET_KEY_MIN_DISTINCT = 12
PASSWORD_MIN_LENGTH = 12

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_RATE = re.compile(r"^\d+/(s|sec|second|m|min|minute|h|hour|d|day)$")


class SettingsError(Exception):
    """A setting is missing or malformed; the message names it in one line."""


@dataclass(frozen=True)
class Config:
    environment: str
    debug: bool
    log_level: str
    audit_retention_days: int
    backups_required: bool
    secret_key: str
    database_url: str | None
    redis_url: str | None
    allowed_hosts: list[str]
    csrf_trusted_origins: list[str]
    trusted_proxies: list[str]
    flag_overrides: str
    statement_timeout_ms: int
    conn_max_age: int
    throttle_rate: str
    backup_dir: str
    bench_endpoints: bool
    extra: dict[str, str] = field(default_factory=dict)
    # A streaming replica for the hot reads (cbpconfig.routers), and how long a write pins
    # them to the primary.
    database_replica_url: str | None = None
    replica_pin_seconds: int = 5
    # REDIS_URL=redis+sentinel://...: the cache's Redis is found through these sentinels.
    redis_sentinel: RedisSentinel | None = None


@dataclass(frozen=True)
class RedisSentinel:
    """``redis+sentinel://[:password@]host:port[,host:port...]/service[/db]``: the sentinels to
    ask, the name of the master they watch, the database number and the master's password."""

    hosts: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    password: str | None = None


def _read(env: Mapping[str, str], name: str) -> str | None:
    """Read NAME, or the file named by NAME_FILE (container secrets); never both."""
    value = env.get(name)
    file_name = env.get(f"{name}_FILE")
    if value is not None and file_name is not None:
        raise SettingsError(f"{name}: set either {name} or {name}_FILE, not both")
    if file_name is not None:
        try:
            return Path(file_name).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SettingsError(
                f"{name}_FILE: cannot read {file_name!r} ({exc.strerror})"
            ) from None
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = _read(env, name)
    if raw is None:
        return default
    low = raw.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise SettingsError(f"{name}: expected true or false, got {raw!r}")


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = _read(env, name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}: expected an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name}: must be between {low} and {high}, got {value}")
    return value


def _list(env: Mapping[str, str], name: str, default: list[str]) -> list[str]:
    raw = _read(env, name)
    if raw is None:
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def _hosts(name: str, netloc: str, default_port: int) -> list[tuple[str, int]]:
    """The ``host[:port]`` items of a netloc, comma-separated (libpq's multi-host form
    ``postgres://u@h1:5432,h2:5432/db``; a sentinel list)."""
    hosts = []
    for item in netloc.rpartition("@")[2].split(","):
        parts = urlsplit(f"//{item.strip()}")
        try:
            port = parts.port
        except ValueError:
            raise SettingsError(f"{name}: the port is not a number") from None
        hosts.append((parts.hostname or "", port or default_port))
    return hosts


def _postgres_url(env: Mapping[str, str], name: str, environment: str) -> str | None:
    url = _read(env, name)
    if url is None or url.strip() == "":
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql", "pgsql", "sqlite"):
        raise SettingsError(
            f"{name}: unsupported scheme {parts.scheme!r} (use postgres://user@host:port/name)"
        )
    if parts.scheme == "sqlite" and environment != "development":
        raise SettingsError(f"{name}: SQLite is for development only; use PostgreSQL")
    if parts.scheme != "sqlite":
        if not parts.path.strip("/"):
            raise SettingsError(f"{name}: the database name is missing")
        # Several hosts (libpq tries them in order; with ?target_session_attrs=read-write it
        # connects to the one that accepts writes, so a promoted replica needs no DNS change).
        _hosts(name, parts.netloc, 5432)
    return url


def _database_url(env: Mapping[str, str], environment: str) -> str | None:
    url = _postgres_url(env, "DATABASE_URL", environment)
    if url is None and environment != "development":
        raise SettingsError(f"DATABASE_URL: required when CBP_ENVIRONMENT={environment}")
    return url


def _database_replica_url(
    env: Mapping[str, str], environment: str, primary: str | None
) -> str | None:
    url = _postgres_url(env, "DATABASE_REPLICA_URL", environment)
    if url is None:
        return None
    if urlsplit(url).scheme == "sqlite" or primary is None or urlsplit(primary).scheme == "sqlite":
        raise SettingsError(
            "DATABASE_REPLICA_URL: a PostgreSQL streaming replica of DATABASE_URL's PostgreSQL"
        )
    return url


def _redis_sentinel(url: str) -> RedisSentinel:
    parts = urlsplit(url)
    hosts = _hosts("REDIS_URL", parts.netloc, 26379)
    if not all(host for host, _ in hosts):
        raise SettingsError("REDIS_URL: a sentinel host is missing")
    path = [p for p in parts.path.split("/") if p]
    if not path or len(path) > 2:
        raise SettingsError("REDIS_URL: expected redis+sentinel://host:port,host:port/service[/db]")
    service = path[0]
    # django-redis takes the service name from a URL's host part, which is lower-cased.
    if service != service.lower():
        raise SettingsError(
            f"REDIS_URL: the sentinel service name must be lower case, got {service!r}"
        )
    db = 0
    if len(path) == 2:
        if not path[1].isdigit():
            raise SettingsError(f"REDIS_URL: the database number is not a number: {path[1]!r}")
        db = int(path[1])
    password = parts.netloc.rpartition("@")[0].partition(":")[2] if "@" in parts.netloc else ""
    return RedisSentinel(tuple(hosts), service, db, unquote(password) or None)


def _redis_url(env: Mapping[str, str], environment: str) -> str | None:
    url = _read(env, "REDIS_URL")
    if url is None or url.strip() == "":
        if environment != "development":
            raise SettingsError(f"REDIS_URL: required when CBP_ENVIRONMENT={environment}")
        return None
    parts = urlsplit(url)
    if parts.scheme == "redis+sentinel":
        _redis_sentinel(url)
        return url
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise SettingsError(
            f"REDIS_URL: unsupported scheme {parts.scheme!r} (use redis://host:port/db, or "
            "redis+sentinel://host:port,host:port/service/db)"
        )
    try:
        parts.port  # noqa: B018
    except ValueError:
        raise SettingsError("REDIS_URL: the port is not a number") from None
    return url


def load(env: Mapping[str, str] | None = None) -> Config:  # noqa: C901 - one check per setting, in order
    """Validate the environment and return the settings; raise SettingsError naming the first problem."""
    env = os.environ if env is None else env
    environment = (env.get("CBP_ENVIRONMENT") or "development").strip()
    if environment not in ENVIRONMENTS:
        raise SettingsError(
            f"CBP_ENVIRONMENT: must be one of {', '.join(ENVIRONMENTS)}, got {environment!r}"
        )
    defaults = ENVIRONMENT_DEFAULTS[environment]

    secret_key = _read(env, "SECRET_KEY")
    if not secret_key:
        if environment != "development":
            raise SettingsError(f"SECRET_KEY: required when CBP_ENVIRONMENT={environment}")
        # Refused outside development (above), so never a real secret.
        secret_key = "development-only-insecure-key-do-not-use-in-production"  # noqa: S105
    elif environment != "development" and (len(secret_key) < 50 or len(set(secret_key)) < 5):
        # Django's own deploy check (security.W009) asks for this much.
        raise SettingsError(
            "SECRET_KEY: must be at least 50 characters with at least 5 different ones outside development"
        )

    log_level = (_read(env, "LOG_LEVEL") or str(defaults["log_level"])).upper()
    if log_level not in LOG_LEVELS:
        raise SettingsError(f"LOG_LEVEL: must be one of {', '.join(LOG_LEVELS)}, got {log_level!r}")

    allowed_default = (
        ["127.0.0.1", "localhost", "testserver"] if environment == "development" else []
    )
    allowed_hosts = _list(env, "ALLOWED_HOSTS", allowed_default)
    if not allowed_hosts:
        raise SettingsError(f"ALLOWED_HOSTS: required when CBP_ENVIRONMENT={environment}")
    origins = _list(env, "CSRF_TRUSTED_ORIGINS", [])
    for origin in origins:
        if urlsplit(origin).scheme not in ("http", "https") or not urlsplit(origin).netloc:
            raise SettingsError(
                f"CSRF_TRUSTED_ORIGINS: {origin!r} is not an origin such as https://cbp.example"
            )

    proxies = _list(env, "CBP_TRUSTED_PROXIES", [])
    for proxy in proxies:
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            raise SettingsError(
                f"CBP_TRUSTED_PROXIES: {proxy!r} is not an IP address or network"
            ) from None

    throttle_rate = (_read(env, "CBP_THROTTLE_RATE") or "6000/minute").strip()
    if not _RATE.match(throttle_rate):
        raise SettingsError(
            f"CBP_THROTTLE_RATE: expected N/second|minute|hour|day, got {throttle_rate!r}"
        )

    bench_endpoints = _bool(env, "CBP_BENCH_ENDPOINTS", False)
    if bench_endpoints and environment != "development":
        raise SettingsError("CBP_BENCH_ENDPOINTS: benchmark endpoints exist in development only")

    audit_retention_days = _int(
        env, "CBP_AUDIT_RETENTION_DAYS", int(defaults["audit_retention_days"]), 1, 36500
    )
    minimum = AUDIT_RETENTION_MINIMUM_DAYS[environment]
    if audit_retention_days < minimum:
        raise SettingsError(
            f"CBP_AUDIT_RETENTION_DAYS: at least {minimum} days in {environment} (the "
            f"specification's audit retention), got {audit_retention_days}"
        )

    database_url = _database_url(env, environment)
    redis_url = _redis_url(env, environment)
    return Config(
        environment=environment,
        debug=_bool(env, "DEBUG", bool(defaults["debug"])),
        log_level=log_level,
        audit_retention_days=audit_retention_days,
        backups_required=bool(defaults["backups_required"]),
        secret_key=secret_key,
        database_url=database_url,
        redis_url=redis_url,
        allowed_hosts=allowed_hosts,
        csrf_trusted_origins=origins,
        trusted_proxies=proxies,
        flag_overrides=_read(env, "CBP_FLAG_OVERRIDES") or "",
        # Below gunicorn's 30 s worker timeout, so a runaway query is cancelled by PostgreSQL
        # (and answered 503) before gunicorn kills the worker.
        statement_timeout_ms=_int(env, "CBP_STATEMENT_TIMEOUT_MS", 20000, 100, 25000),
        conn_max_age=_int(env, "CBP_CONN_MAX_AGE", 60, 0, 3600),
        throttle_rate=throttle_rate,
        backup_dir=_read(env, "CBP_BACKUP_DIR") or "",
        bench_endpoints=bench_endpoints,
        database_replica_url=_database_replica_url(env, environment, database_url),
        replica_pin_seconds=_int(env, "CBP_REPLICA_PIN_SECONDS", 5, 1, 300),
        redis_sentinel=(
            _redis_sentinel(redis_url)
            if redis_url and urlsplit(redis_url).scheme == "redis+sentinel"
            else None
        ),
    )


def _password(url: str | None) -> str | None:
    if not url:
        return None
    try:
        return urlsplit(url).password
    except ValueError:
        return None


def deployment_problems(config: Config) -> list[str]:
    """Settings that load() accepts but a staging or production deployment must not run with,
    one line each (empty in development). `manage.py preflight` refuses any of them."""
    if config.environment == "development":
        return []
    problems = []
    if config.debug:
        problems.append("DEBUG is on: it shows settings and stack traces to any client")
    minimum = AUDIT_RETENTION_MINIMUM_DAYS[config.environment]
    if (
        config.audit_retention_days < minimum
    ):  # load() refuses it too; kept for Config(...) made by hand
        problems.append(
            f"CBP_AUDIT_RETENTION_DAYS is {config.audit_retention_days}, below the "
            f"specification's {minimum} days for {config.environment}"
        )
    key = config.secret_key
    low = key.lower()
    if len(key) < 50:
        problems.append("SECRET_KEY is shorter than 50 characters")
    if len(set(key)) < SECRET_KEY_MIN_DISTINCT:
        problems.append(
            f"SECRET_KEY has fewer than {SECRET_KEY_MIN_DISTINCT} different characters: not random"
        )
    placeholder = next((word for word in PLACEHOLDER_WORDS if word in low), None)
    if placeholder:
        problems.append(f"SECRET_KEY looks like a placeholder (contains {placeholder!r})")
    for name, url in (
        ("DATABASE_URL", config.database_url),
        ("DATABASE_REPLICA_URL", config.database_replica_url),
        ("REDIS_URL", config.redis_url),
    ):
        password = _password(url)
        if password is None:
            continue  # no password in the URL: certificate, peer or network-policy access
        if password.lower() in DEFAULT_PASSWORDS or any(
            w in password.lower() for w in PLACEHOLDER_WORDS
        ):
            problems.append(f"{name} uses a default or example password")
        elif len(password) < PASSWORD_MIN_LENGTH:
            problems.append(f"{name} password is shorter than {PASSWORD_MIN_LENGTH} characters")
    return problems
